/* smp: the BSP starts the second vCPU the way an OS does (INIT, SIPI, SIPI through its LAPIC)
 * at a real-mode trampoline it copied below 1 MiB. The AP says "ap up" and counts itself; the
 * BSP waits a bounded time for the count, reports it and powers off. */
#include "console.h"
#include "guest.h"
#include "guest_exit.h"
#include "portio.h"

#include <stdint.h>

#define LAPIC_SVR	     0xf0
#define LAPIC_SVR_ENABLE     (1u << 8)
#define LAPIC_ICR_LOW	     0x300
#define LAPIC_ICR_HIGH	     0x310
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_INIT	     0x00000500u
#define ICR_STARTUP	     0x00000600u
#define ICR_LEVEL_ASSERT     0x00004000u
#define ICR_ALL_BUT_SELF     0x000c0000u
#define SPURIOUS_VECTOR	     0xff

/* How long the BSP waits for the AP, in TSC ticks: a time bound rather than a number of polls,
 * since a poll costs nanoseconds on hardware KVM but about 8 us under PVM's emulation. 5e9
 * ticks are 1.5-5 s at today's TSC rates, well inside the test's 60 s limit. */
#define AP_WAIT_TSC_TICKS 5000000000ull
#define ICR_WAIT_POLLS	  100000u

extern const char ap_trampoline[], ap_trampoline_end[];
static volatile uint32_t aps_started;

void guest_main(uint32_t magic, const void *info);
void ap_main(void);

void ap_main(void)
{
	/* Print before counting: once counted, the BSP may power the machine off. */
	con_puts("ap up\n");
	__atomic_add_fetch(&aps_started, 1, __ATOMIC_SEQ_CST);
	halt_forever();
}

static void copy_trampoline(void)
{
	volatile char *dst = (volatile char *)AP_TRAMPOLINE_ADDR;
	for (const char *src = ap_trampoline; src < ap_trampoline_end; src++)
		*dst++ = *src;
}

static void send_ipi(uint32_t command)
{
	mmio_write32(LAPIC_BASE + LAPIC_ICR_HIGH, 0);
	mmio_write32(LAPIC_BASE + LAPIC_ICR_LOW, command);
	for (uint32_t i = 0; i < ICR_WAIT_POLLS; i++)
		if (!(mmio_read32(LAPIC_BASE + LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING))
			return;
	con_puts("ipi not delivered\n");
}

static void start_aps(void)
{
	mmio_write32(LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | SPURIOUS_VECTOR);
	send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
	/* Two SIPIs, as the MP specification asks: a CPU that took the first ignores the second. */
	send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP | AP_SIPI_VECTOR);
	send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP | AP_SIPI_VECTOR);
}

void guest_main(uint32_t magic, const void *info)
{
	(void)info;
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		con_puts("bad multiboot magic\n");
	copy_trampoline();
	start_aps();
	uint64_t deadline = __builtin_ia32_rdtsc() + AP_WAIT_TSC_TICKS;
	while (aps_started == 0 && __builtin_ia32_rdtsc() < deadline)
		__asm__ volatile("pause");
	con_puts("aps started: ");
	con_put_dec(aps_started);
	con_putc('\n');
	power_off();
}
