#include "accel/irq.h"
#include "devices/io_bus.h"
#include "devices/uart16550.h"
#include "machine/layout.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>
#include <string.h>

#define COM1 LAYOUT_PORT_UART0

/* An irq router that remembers every level change, as the accelerator would see them. */
struct irq_recorder {
	uint32_t gsi;
	bool level;
	unsigned changes;
};

static int record_level(void *opaque, uint32_t gsi, bool level)
{
	struct irq_recorder *r = opaque;
	r->gsi = gsi;
	r->level = level;
	r->changes++;
	return 0;
}

struct captured {
	uint8_t bytes[256];
	size_t len;
};

static void capture(void *opaque, const uint8_t *buf, size_t len)
{
	struct captured *c = opaque;
	for (size_t i = 0; i < len && c->len < sizeof(c->bytes); i++)
		c->bytes[c->len++] = buf[i];
}

static struct io_bus bus;
static struct uart16550 uart;
static struct irq_recorder recorder;
static struct irq_router router = {.set_level = record_level, .opaque = &recorder};
static struct captured output;

static void setup(void)
{
	memset(&recorder, 0, sizeof(recorder));
	memset(&output, 0, sizeof(output));
	io_bus_init(&bus, "pio");
	cr_assert_eq(uart16550_init(&uart, &router, LAYOUT_GSI_UART0,
				    (struct uart_output){capture, &output}),
		     0);
	cr_assert_eq(uart16550_attach(&uart, &bus), 0);
}

static void teardown(void)
{
	uart16550_destroy(&uart);
	io_bus_destroy(&bus);
}

static void outb(unsigned reg, uint8_t value)
{
	cr_assert(io_bus_write(&bus, COM1 + reg, &value, 1));
}

static uint8_t inb(unsigned reg)
{
	uint8_t value;
	cr_assert(io_bus_read(&bus, COM1 + reg, &value, 1));
	return value;
}

static void receive(const char *s)
{
	size_t len = strlen(s);
	cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)s, len), len);
}

TestSuite(uart, .init = setup, .fini = teardown);

Test(uart, bytes_written_to_thr_reach_the_host_output)
{
	outb(UART_THR, 'h');
	outb(UART_THR, 'i');
	cr_assert_eq(output.len, 2);
	cr_assert_arr_eq(output.bytes, "hi", 2);
	cr_assert_eq(inb(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
		     UART_LSR_THRE | UART_LSR_TEMT);
}

Test(uart, dlab_switches_ports_0_and_1_to_the_divisor_latch)
{
	outb(UART_IER, 0x05);
	outb(UART_LCR, UART_LCR_DLAB | 0x03);
	outb(UART_DLL, 0x01); /* 115200 baud */
	outb(UART_DLM, 0x02);
	cr_assert_eq(inb(UART_DLL), 0x01);
	cr_assert_eq(inb(UART_DLM), 0x02);
	cr_assert_eq(output.len, 0, "a divisor write must not transmit");
	outb(UART_LCR, 0x03);
	cr_assert_eq(inb(UART_LCR), 0x03);
	cr_assert_eq(inb(UART_IER), 0x05, "IER kept while DLAB was set");
	outb(UART_THR, 'x');
	cr_assert_eq(output.len, 1);
	outb(UART_LCR, UART_LCR_DLAB);
	cr_assert_eq(inb(UART_DLL), 0x01, "THR write did not touch the divisor");
}

Test(uart, scratch_register_holds_a_value)
{
	outb(UART_SCR, 0xa5);
	cr_assert_eq(inb(UART_SCR), 0xa5);
}

Test(uart, fifo_accepts_16_bytes_and_delivers_them_in_order)
{
	outb(UART_FCR, UART_FCR_ENABLE);
	const uint8_t twenty[20] = "abcdefghijklmnopqrst";
	cr_assert_eq(uart16550_receive(&uart, twenty, sizeof(twenty)), 16);
	cr_assert_eq(uart16550_receive(&uart, twenty, 1), 0, "FIFO full");
	cr_assert(inb(UART_LSR) & UART_LSR_DR);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(inb(UART_RBR), twenty[i]);
	cr_assert_eq(inb(UART_LSR) & UART_LSR_DR, 0);
	cr_assert_eq(inb(UART_LSR) & UART_LSR_OE, 0, "the host never overruns");
}

Test(uart, without_fifo_holds_one_byte)
{
	const uint8_t two[2] = {'1', '2'};
	cr_assert_eq(uart16550_receive(&uart, two, 2), 1);
	cr_assert_eq(inb(UART_RBR), '1');
	cr_assert_eq(uart16550_receive(&uart, two + 1, 1), 1);
	cr_assert_eq(inb(UART_RBR), '2');
}

Test(uart, loopback_overrun_past_16_bytes_sets_oe_until_lsr_is_read)
{
	outb(UART_FCR, UART_FCR_ENABLE);
	outb(UART_MCR, UART_MCR_LOOP);
	for (int i = 0; i < 17; i++)
		outb(UART_THR, (uint8_t)('A' + i));
	cr_assert_eq(output.len, 0, "loopback does not transmit to the host");
	uint8_t lsr = inb(UART_LSR);
	cr_assert(lsr & UART_LSR_OE);
	cr_assert(lsr & UART_LSR_DR);
	cr_assert_eq(inb(UART_LSR) & UART_LSR_OE, 0, "OE clears when LSR is read");
	for (int i = 0; i < 16; i++)
		cr_assert_eq(inb(UART_RBR), 'A' + i, "byte %d", i);
	cr_assert_eq(inb(UART_LSR) & UART_LSR_DR, 0, "the 17th byte was lost");
}

Test(uart, loopback_wires_mcr_to_msr)
{
	/* Linux's 8250 autoconfig: loopback with RTS and OUT2 must read CTS and DCD. */
	outb(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);
	cr_assert_eq(inb(UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
	outb(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	uint8_t msr = inb(UART_MSR);
	cr_assert_eq(msr & 0xf0, UART_MSR_DSR | UART_MSR_RI);
	cr_assert(msr & UART_MSR_DCTS);
	cr_assert(msr & UART_MSR_DDCD);
	cr_assert(msr & UART_MSR_DDSR);
	cr_assert_eq(inb(UART_MSR) & UART_MSR_DELTA_MASK, 0, "deltas clear on read");
	outb(UART_MCR, UART_MCR_LOOP); /* RI falls */
	cr_assert(inb(UART_MSR) & UART_MSR_TERI);
	outb(UART_MCR, 0);
	cr_assert_eq(inb(UART_MSR) & 0xf0, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD,
		     "out of loopback a terminal is present");
	outb(UART_MCR, UART_MCR_LOOP);
	outb(UART_THR, 'L');
	cr_assert_eq(inb(UART_RBR), 'L');
}

Test(uart, thre_interrupt_fires_on_enable_and_clears_on_iir_read_or_thr_write)
{
	cr_assert_eq(inb(UART_IIR), UART_IIR_NO_INT);
	cr_assert_not(recorder.level);
	outb(UART_IER, UART_IER_THRI);
	cr_assert_eq(inb(UART_IIR), UART_IIR_THRI, "THR is empty, so enabling ETBEI fires");
	cr_assert_not(recorder.level, "reading IIR acknowledged it");
	cr_assert_eq(inb(UART_IIR), UART_IIR_NO_INT);
	outb(UART_THR, 'x');
	cr_assert(recorder.level, "transmission done, THR empty again");
	cr_assert_eq(recorder.gsi, LAYOUT_GSI_UART0);
	cr_assert_eq(inb(UART_IIR), UART_IIR_THRI);
	/* Re-enabling re-arms it (Linux probes for this at startup). */
	outb(UART_IER, 0);
	outb(UART_IER, UART_IER_THRI);
	cr_assert(recorder.level);
	outb(UART_IER, 0);
	cr_assert_not(recorder.level, "disabling the source lowers the line");
}

Test(uart, iir_reports_sources_by_priority)
{
	outb(UART_FCR, UART_FCR_ENABLE | 0x40); /* trigger level 4 */
	outb(UART_IER, 0x0f);
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_THRI);
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_NO_INT);

	receive("ab");
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_TIMEOUT,
		     "below the trigger level: character timeout");
	receive("cd");
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_RDI);

	outb(UART_THR, 'x'); /* THRE pending, but below RX data */
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_RDI);

	/* Overrun through loopback: line status beats everything. */
	outb(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	for (int i = 0; i < 13; i++)
		outb(UART_THR, 'y');
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_RLSI);
	inb(UART_LSR);
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_RDI);

	outb(UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR | 0x40);
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_THRI);
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_MSI,
		     "entering loopback changed the modem lines");
	inb(UART_MSR);
	cr_assert_eq(inb(UART_IIR), UART_IIR_FIFO_BITS | UART_IIR_NO_INT);
	cr_assert_not(recorder.level);
}

Test(uart, received_data_raises_the_line_until_read)
{
	receive("z");
	cr_assert_not(recorder.level, "receive interrupt not enabled");
	outb(UART_IER, UART_IER_RDI);
	cr_assert(recorder.level);
	cr_assert_eq(inb(UART_IIR), UART_IIR_RDI);
	cr_assert_eq(inb(UART_RBR), 'z');
	cr_assert_not(recorder.level);
	receive("y");
	cr_assert(recorder.level, "the host's receive raises the line");
}

Test(uart, iir_fifo_bits_follow_fcr)
{
	cr_assert_eq(inb(UART_IIR) & UART_IIR_FIFO_BITS, 0);
	outb(UART_FCR, UART_FCR_ENABLE);
	cr_assert_eq(inb(UART_IIR) & UART_IIR_FIFO_BITS, UART_IIR_FIFO_BITS);
	outb(UART_FCR, 0);
	cr_assert_eq(inb(UART_IIR) & UART_IIR_FIFO_BITS, 0);
}

Test(uart, trigger_levels_1_4_8_14)
{
	static const struct {
		uint8_t fcr;
		unsigned level;
	} cases[] = {{0x00, 1}, {0x40, 4}, {0x80, 8}, {0xc0, 14}};
	outb(UART_IER, UART_IER_RDI);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		outb(UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR | cases[c].fcr);
		for (unsigned i = 1; i <= cases[c].level; i++) {
			receive("q");
			uint8_t expect = i < cases[c].level ? UART_IIR_TIMEOUT : UART_IIR_RDI;
			cr_assert_eq(inb(UART_IIR) & 0x0f, expect, "level %u byte %u",
				     cases[c].level, i);
		}
	}
}

Test(uart, can_receive_waits_for_the_guest_to_enable_receive_interrupts)
{
	cr_assert_not(uart16550_can_receive(&uart));
	outb(UART_IER, UART_IER_RDI);
	cr_assert(uart16550_can_receive(&uart));
	receive("1");
	cr_assert_not(uart16550_can_receive(&uart), "no FIFO: one byte fills it");
	outb(UART_FCR, UART_FCR_ENABLE);
	cr_assert(uart16550_can_receive(&uart));
	receive("0123456789abcdef");
	cr_assert_not(uart16550_can_receive(&uart));
	inb(UART_RBR);
	cr_assert(uart16550_can_receive(&uart));
}

Test(uart, wide_accesses_act_bytewise_and_stay_in_range)
{
	uint32_t value = 0;
	cr_assert(io_bus_read(&bus, COM1 + 4, &value, 4)); /* MCR, LSR, MSR, SCR */
	cr_assert_eq((value >> 8) & 0xff, UART_LSR_THRE | UART_LSR_TEMT);
	cr_assert_not(io_bus_read(&bus, COM1 + 6, &value, 4), "would cross the device's end");
}

/* ---- saved state ---- */

/* Replaces the UART by one in its power-on state (still on the bus), as a restore target. */
static void power_cycle(void)
{
	uart16550_destroy(&uart);
	cr_assert_eq(uart16550_init(&uart, &router, LAYOUT_GSI_UART0,
				    (struct uart_output){capture, &output}),
		     0);
}

/* A guest mid-conversation: FIFO on with a trigger level of 4, two bytes waiting (a timeout
 * interrupt pending), divisor and scratch set. After save, power cycle and load, the guest
 * reads exactly what it would have read, and the interrupt line is up again. */
Test(uart, saved_state_restores_what_the_guest_sees)
{
	outb(UART_LCR, UART_LCR_DLAB);
	outb(UART_DLL, 1);
	outb(UART_DLM, 0);
	outb(UART_LCR, 0x03);
	outb(UART_FCR, UART_FCR_ENABLE | 0x40);
	outb(UART_SCR, 0x5a);
	outb(UART_IER, UART_IER_RDI);
	receive("hi");
	cr_assert(recorder.level);
	uint8_t iir = inb(UART_IIR), lsr = inb(UART_LSR);
	struct state_writer w;
	state_writer_init(&w);
	uart16550_save(&uart, &w);
	cr_assert_not(state_writer_failed(&w));

	power_cycle();
	recorder.level = false;
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(uart16550_load(&uart, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert(recorder.level, "the interrupt line is raised again after load");
	cr_assert_eq(inb(UART_IIR), iir);
	cr_assert_eq(inb(UART_LSR), lsr);
	cr_assert_eq(inb(UART_SCR), 0x5a);
	cr_assert_eq(inb(UART_LCR), 0x03);
	cr_assert_eq(inb(UART_RBR), 'h');
	cr_assert_eq(inb(UART_RBR), 'i');
	cr_assert_eq(inb(UART_LSR) & UART_LSR_DR, 0);
	outb(UART_LCR, UART_LCR_DLAB);
	cr_assert_eq(inb(UART_DLL), 1);
	state_writer_free(&w);
}

/* A record that is wrong (too many FIFO bytes for the FIFO mode, a register out of range, an
 * essential field this version does not know) is refused and the UART keeps its state. */
Test(uart, a_bad_record_is_refused_and_changes_nothing)
{
	outb(UART_SCR, 0x11);
	struct state_writer w;
	state_writer_init(&w);
	state_record_begin(&w, "uart16550", 1, 1);
	const char *regs[] = {"ier", "lcr", "mcr", "msr", "scr", "dll", "dlm", "fcr"};
	for (size_t i = 0; i < 8; i++)
		state_put_u64(&w, regs[i], 0, STATE_ESSENTIAL);
	state_put_u64(&w, "overrun", 0, STATE_ESSENTIAL);
	state_put_u64(&w, "thr_ipending", 0, STATE_ESSENTIAL);
	state_put_bytes(&w, "rx_fifo", "ab", 2, STATE_ESSENTIAL); /* FIFO off: room for one */
	state_record_end(&w);
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(uart16550_load(&uart, &rec, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "RX FIFO"), "%s", err);
	cr_assert_eq(inb(UART_SCR), 0x11, "a refused load changed the UART");

	w.len = 0;
	state_record_begin(&w, "uart16550", 1, 1);
	state_put_u64(&w, "ier", 0x100, STATE_ESSENTIAL);
	state_record_end(&w);
	rec = parse_record(&w);
	cr_assert_eq(uart16550_load(&uart, &rec, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "\"ier\""), "%s", err);

	w.len = 0;
	state_record_begin(&w, "uart16550", 2, 1);
	state_put_bytes(&w, "tx_fifo", "z", 1, STATE_ESSENTIAL);
	state_record_end(&w);
	rec = parse_record(&w);
	cr_assert_eq(uart16550_load(&uart, &rec, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "tx_fifo"), "%s", err);
	cr_assert_eq(inb(UART_SCR), 0x11);
	state_writer_free(&w);
}
