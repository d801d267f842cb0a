/* chaos: a hostile guest. It writes and reads random values of random widths at random I/O
 * ports and at random addresses of the MMIO holes (PCI window, ECAM, the space around the
 * IOAPIC), then reports that it survived and powers off. The VMM must neither crash nor stop:
 * a guest owns its own fate, not the host's. Spared: the ports and pages whose effect is to
 * end or reset this very VM (reset, sleep control, debug-exit, i8042 command, APIC pages),
 * since the test checks the run to its end. */
#include "console.h"
#include "guest.h"
#include "guest_exit.h"
#include "portio.h"

#include <stdint.h>

#define PORT_ACCESSES 20000
#define MMIO_ACCESSES 4000

void guest_main(uint32_t magic, const void *info);

static uint32_t rng_state = 0x12345678;

static uint32_t next_random(void)
{
	/* xorshift32: deterministic, so a failure reproduces. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static int port_spared(uint16_t port)
{
	return port == PORT_RESET || port == PORT_SLEEP_CTL || port == PORT_DEBUG_EXIT ||
	       port == PORT_I8042_CMD || port == 0xcf9 /* chipset reset on PCs */ ||
	       (port >= PORT_UART0 && port < PORT_UART0 + 8) /* keep the report readable */;
}

/* A quarter each: anywhere, the first 256 ports, the legacy range, PCI configuration. */
static uint16_t random_port(uint32_t r)
{
	switch ((r >> 24) & 3) {
	case 0:
		return (uint16_t)r;
	case 1:
		return (uint16_t)(r & 0xff);
	case 2:
		return (uint16_t)(r & 0x7ff);
	default:
		return (uint16_t)(0xcf8 + (r & 7));
	}
}

static void port_access(uint16_t port, uint32_t value, unsigned width, int write)
{
	if (width == 1) {
		if (write)
			outb(port, (uint8_t)value);
		else
			(void)inb(port);
	} else if (width == 2) {
		if (write)
			__asm__ volatile("outw %0, %1" : : "a"((uint16_t)value), "Nd"(port));
		else {
			uint16_t ignored;
			__asm__ volatile("inw %1, %0" : "=a"(ignored) : "Nd"(port));
		}
	} else {
		if (write)
			outl(port, value);
		else
			(void)inl(port);
	}
}

static uintptr_t random_mmio_address(void)
{
	/* The PCI 32-bit window and ECAM (0xc0000000-0xefffffff), and the hole above it up to
	 * the IOAPIC page; 4-byte aligned so a 32-bit access never straddles two regions. */
	uint32_t r = next_random();
	if (r & 1)
		return 0xc0000000u + (next_random() % 0x30000000u & ~3u);
	return 0xf0000000u + (next_random() % (IOAPIC_BASE - 0xf0000000u) & ~3u);
}

void guest_main(uint32_t magic, const void *info)
{
	(void)magic;
	(void)info;
	unsigned port_count = 0, mmio_count = 0;
	for (unsigned i = 0; i < PORT_ACCESSES; i++) {
		uint32_t r = next_random();
		uint16_t port = random_port(r);
		if (port_spared(port))
			continue;
		unsigned width = 1u << ((r >> 16) % 3);
		port_access(port, next_random(), width, (r >> 20) & 1);
		port_count++;
	}
	for (unsigned i = 0; i < MMIO_ACCESSES; i++) {
		uintptr_t addr = random_mmio_address();
		if (next_random() & 1)
			mmio_write32(addr, next_random());
		else
			(void)mmio_read32(addr);
		mmio_count++;
	}
	con_puts("chaos survived: ");
	con_put_dec(port_count);
	con_puts(" port and ");
	con_put_dec(mmio_count);
	con_puts(" MMIO accesses\n");
	power_off();
}
