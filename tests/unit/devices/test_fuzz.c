/* Random guest accesses to every port and register of every legacy device: whatever a guest
 * writes, the VMM must not crash or touch memory outside the devices (run under ASan to see
 * the second). After the storm, each device must still work. */
#include "devices/acpi_power.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/pci_host.h"
#include "devices/uart16550.h"
#include "machine/layout.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#define DEBUG_EXIT_PORT 0x501
#define ROUNDS		200000

static uint64_t prng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t prng_next(void)
{
	/* xorshift64: fixed seed, so a failure reproduces. */
	prng_state ^= prng_state << 13;
	prng_state ^= prng_state >> 7;
	prng_state ^= prng_state << 17;
	return prng_state;
}

static unsigned events;

static void count_event(void *opaque)
{
	(void)opaque;
	events++;
}

static void count_exit(void *opaque, int status)
{
	(void)opaque;
	(void)status;
	events++;
}

static int count_level(void *opaque, uint32_t gsi, bool level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	return 0;
}

static size_t output_bytes;

static void count_output(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	output_bytes += len;
}

struct board {
	struct io_bus pio, mmio;
	struct uart16550 uart;
	struct i8042 kbc;
	struct cmos_rtc rtc;
	struct debug_exit debug_exit;
	struct acpi_power acpi;
	struct pci_host pci;
	struct pci_function fn;
};

static const struct irq_router router = {.set_level = count_level};

static void board_build(struct board *b)
{
	struct power_callbacks power = {count_event, count_event, NULL};
	io_bus_init(&b->pio, "pio");
	io_bus_init(&b->mmio, "mmio");
	cr_assert_eq(uart16550_init(&b->uart, &router, LAYOUT_GSI_UART0,
				    (struct uart_output){count_output, NULL}),
		     0);
	cr_assert_eq(uart16550_attach(&b->uart, &b->pio), 0);
	cr_assert_eq(i8042_init(&b->kbc, &router, I8042_KBD_GSI, power), 0);
	cr_assert_eq(i8042_attach(&b->kbc, &b->pio), 0);
	cr_assert_eq(cmos_rtc_init(&b->rtc, 1ULL << 30), 0);
	cr_assert_eq(cmos_rtc_attach(&b->rtc, &b->pio), 0);
	cr_assert_eq(debug_exit_init(&b->debug_exit, DEBUG_EXIT_PORT, count_exit, NULL), 0);
	cr_assert_eq(debug_exit_attach(&b->debug_exit, &b->pio), 0);
	cr_assert_eq(acpi_power_init(&b->acpi, power), 0);
	cr_assert_eq(acpi_power_attach(&b->acpi, &b->pio), 0);
	cr_assert_eq(pci_host_init(&b->pci), 0);
	cr_assert_eq(pci_host_attach(&b->pci, &b->pio, &b->mmio), 0);
	pci_function_init(&b->fn, 0x1af4, 0x1041, 0x020000, 1);
	cr_assert_eq(pci_function_add_bar(&b->fn, 0, 0x1000, false, false), 0);
	cr_assert_eq(pci_function_add_bar(&b->fn, 1, 0x40, true, false), 0);
	cr_assert_eq(pci_function_add_bar(&b->fn, 4, 0x4000, false, true), 0);
	cr_assert_eq(pci_host_add_function(&b->pci, 1, 0, &b->fn), 0);
}

static void board_destroy(struct board *b)
{
	uart16550_destroy(&b->uart);
	pci_host_destroy(&b->pci);
	io_bus_destroy(&b->pio);
	io_bus_destroy(&b->mmio);
}

/* Every claimed port, plus one on either side of each device. */
static const uint16_t port_bases[] = {
    LAYOUT_PORT_UART0,	   0x60, 0x64, LAYOUT_PORT_RTC, DEBUG_EXIT_PORT, LAYOUT_PORT_SLEEP_CTL,
    LAYOUT_PORT_PCI_CONFIG};
static const unsigned port_spans[] = {8, 1, 1, 2, 1, 3, 8};

static uint16_t random_port(void)
{
	unsigned i = (unsigned)(prng_next() % (sizeof(port_bases) / sizeof(port_bases[0])));
	return (uint16_t)(port_bases[i] - 1 + prng_next() % (port_spans[i] + 2));
}

static uint64_t random_ecam_address(void)
{
	/* Mostly bus 0 (where functions live), sometimes anywhere in the window. */
	uint64_t offset = prng_next() % (prng_next() % 4 ? 0x100000 : LAYOUT_PCI_ECAM_SIZE + 16);
	return LAYOUT_PCI_ECAM_START - 8 + offset;
}

static unsigned random_size(void)
{
	static const unsigned sizes[] = {1, 1, 1, 2, 4, 8};
	return sizes[prng_next() % 6];
}

/* The guest is relentless: for the conf1 ports, aim the address register at a real function
 * often enough that the data port writes reach its config space. */
static void random_access(struct board *b)
{
	uint64_t value = prng_next();
	unsigned size = random_size();
	switch (prng_next() % 8) {
	case 0: {
		uint32_t address =
		    0x80000000U | (uint32_t)(prng_next() % 2) << 11 | (uint32_t)(value & 0xfc);
		io_bus_write(&b->pio, LAYOUT_PORT_PCI_CONFIG, &address, 4);
		break;
	}
	case 1: {
		uint8_t bytes[20] = {0};
		uart16550_receive(&b->uart, bytes, prng_next() % 20);
		break;
	}
	case 2:
		if (prng_next() % 2)
			io_bus_write(&b->mmio, random_ecam_address(), &value, size);
		else
			io_bus_read(&b->mmio, random_ecam_address(), &value, size);
		break;
	default:
		if (prng_next() % 2)
			io_bus_write(&b->pio, random_port(), &value, size);
		else
			io_bus_read(&b->pio, random_port(), &value, size);
		break;
	}
}

Test(device_fuzz, random_accesses_never_crash_and_devices_survive)
{
	struct board *b = calloc(1, sizeof(*b));
	cr_assert(b);
	board_build(b);
	for (int i = 0; i < ROUNDS; i++)
		random_access(b);
	cr_assert_gt(events, 0, "the storm did reach the reset/poweroff/exit registers");

	/* Read-only identity survived. */
	uint32_t address = 0x80000000U | 1 << 11, id = 0;
	io_bus_write(&b->pio, LAYOUT_PORT_PCI_CONFIG, &address, 4);
	io_bus_read(&b->pio, LAYOUT_PORT_PCI_CONFIG + 4, &id, 4);
	cr_assert_eq(id, 0x10411af4);
	/* The UART still transmits once put back in a sane mode. */
	uint8_t lcr = 0x03, mcr = 0x0b, ch = 'k';
	io_bus_write(&b->pio, LAYOUT_PORT_UART0 + UART_LCR, &lcr, 1);
	io_bus_write(&b->pio, LAYOUT_PORT_UART0 + UART_MCR, &mcr, 1);
	size_t before = output_bytes;
	io_bus_write(&b->pio, LAYOUT_PORT_UART0 + UART_THR, &ch, 1);
	cr_assert_eq(output_bytes, before + 1);
	/* The keyboard controller still self-tests. */
	uint8_t cmd = 0xaa, reply = 0, status;
	for (int i = 0; i < 2 * I8042_QUEUE_SIZE; i++) /* drain what the storm queued */
		io_bus_read(&b->pio, 0x60, &reply, 1);
	io_bus_write(&b->pio, 0x64, &cmd, 1);
	io_bus_read(&b->pio, 0x64, &status, 1);
	cr_assert(status & I8042_STR_OBF);
	io_bus_read(&b->pio, 0x60, &reply, 1);
	cr_assert_eq(reply, 0x55);
	board_destroy(b);
	free(b);
}
