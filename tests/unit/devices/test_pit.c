#include "devices/pit.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>

static struct pit pit;
static uint64_t now;
static unsigned irq_rises;
static bool irq_level;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return now;
}

static void on_irq0(void *opaque, bool level)
{
	(void)opaque;
	if (level && !irq_level)
		irq_rises++;
	irq_level = level;
}

/* The first ns at which `ticks` PIT ticks have passed since t = 0. */
static uint64_t at_tick(uint64_t ticks)
{
	return (ticks * 1000000000ULL + PIT_HZ - 1) / PIT_HZ;
}

static void setup(void)
{
	now = 1000000; /* not 0: times are relative to when counts are loaded */
	irq_level = false;
	pit_init(&pit, clock_now, NULL, on_irq0, NULL, 0);
	cr_assert(irq_level, "IRQ0 follows the unprogrammed OUT0 (high)");
	irq_rises = 0;
}

static void out8(uint16_t port, uint8_t v)
{
	pit_write(&pit, port, v);
}

static uint8_t in8(uint16_t port)
{
	return pit_read(&pit, port);
}

static void program(unsigned ch, uint8_t mode, uint16_t count)
{
	out8(PIT_PORT_CONTROL, (uint8_t)(ch << 6 | 0x30 | mode << 1));
	out8((uint16_t)(PIT_PORT_CHANNEL0 + ch), count & 0xff);
	out8((uint16_t)(PIT_PORT_CHANNEL0 + ch), count >> 8);
}

static uint16_t latched_count(unsigned ch)
{
	out8(PIT_PORT_CONTROL, (uint8_t)(ch << 6));
	uint8_t lo = in8((uint16_t)(PIT_PORT_CHANNEL0 + ch));
	uint8_t hi = in8((uint16_t)(PIT_PORT_CHANNEL0 + ch));
	return (uint16_t)(lo | hi << 8);
}

TestSuite(pit, .init = setup);

Test(pit, nothing_counts_after_reset)
{
	cr_assert_eq(pit_deadline(&pit), PIT_NEVER);
	now += 1000000000;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 0);
	cr_assert_eq(in8(PIT_PORT_CONTROL), 0xff);
}

Test(pit, linux_periodic_tick_mode2)
{
	uint64_t t0 = now;
	program(0, 2, 1193); /* Linux's LATCH for HZ=1000 */
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 0, "programming mode 2 from reset makes no edge");
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(1193));
	now = t0 + at_tick(1193) - 1;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 0);
	now = t0 + at_tick(1193);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(2 * 1193));
	/* Ten periods late: one coalesced interrupt, then back on the period grid. */
	now = t0 + at_tick(12 * 1193) + 5;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 2);
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(13 * 1193));
	for (unsigned k = 13; k < 113; k++) {
		now = pit_deadline(&pit);
		pit_advance(&pit, now);
	}
	cr_assert_eq(irq_rises, 102);
	cr_assert_eq(pit.irq0_edges, 102);
}

Test(pit, mode2_count_reads_down_and_reloads)
{
	uint64_t t0 = now;
	program(0, 2, 1000);
	now = t0 + at_tick(300);
	cr_assert_eq(latched_count(0), 700);
	now = t0 + at_tick(1000);
	cr_assert_eq(latched_count(0), 1000);
	now = t0 + at_tick(1999);
	cr_assert_eq(latched_count(0), 1);
	cr_assert_not(pit_out(&pit, 0, now), "OUT is low while the count is 1");
	now = t0 + at_tick(2000);
	cr_assert(pit_out(&pit, 0, now));
}

Test(pit, mode0_oneshot_interrupt_on_terminal_count)
{
	uint64_t t0 = now;
	program(0, 0, 100);
	cr_assert_not(pit_out(&pit, 0, now));
	pit_advance(&pit, now);
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(100));
	now = t0 + at_tick(99);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 0);
	cr_assert_eq(latched_count(0), 1);
	now = t0 + at_tick(100);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	cr_assert(irq_level, "OUT stays high after terminal count");
	cr_assert_eq(pit_deadline(&pit), PIT_NEVER);
	now = t0 + at_tick(102);
	cr_assert_eq(latched_count(0), 0xfffe, "the counter wraps and goes on");
	now += 1000000000;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
}

Test(pit, mode0_rearm_gives_a_new_interrupt)
{
	program(0, 0, 10);
	now += at_tick(10);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	uint64_t t1 = now;
	program(0, 0, 50);
	pit_advance(&pit, now);
	cr_assert_not(irq_level, "reprogramming mode 0 drops OUT");
	cr_assert_eq(pit_deadline(&pit), t1 + at_tick(50));
	now = t1 + at_tick(50);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 2);
}

Test(pit, mode0_first_byte_stops_the_count)
{
	uint64_t t0 = now;
	program(0, 0, 1000);
	now = t0 + at_tick(100);
	out8(PIT_PORT_CHANNEL0, 0x20);
	cr_assert_eq(pit_deadline(&pit), PIT_NEVER);
	now = t0 + at_tick(5000);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 0);
	uint64_t t1 = now;
	out8(PIT_PORT_CHANNEL0, 0x00); /* count 0x0020 */
	cr_assert_eq(pit_deadline(&pit), t1 + at_tick(0x20));
}

Test(pit, linux_pit_calibrate_tsc_polls_port_61)
{
	/* arch/x86/kernel/tsc.c pit_calibrate_tsc(): gate high, speaker off, channel 2 in mode
	 * 0 with a 50 ms count, then poll port 0x61 bit 5 until OUT2 rises. */
	const uint16_t latch = (uint16_t)(PIT_HZ / 20);
	out8(PIT_PORT_PORTB,
	     (uint8_t)((in8(PIT_PORT_PORTB) & ~PIT_PORTB_SPEAKER) | PIT_PORTB_GATE2));
	out8(PIT_PORT_CONTROL, 0xb0);
	uint64_t t0 = now;
	out8(0x42, latch & 0xff);
	out8(0x42, latch >> 8);
	unsigned polls = 0;
	while (!(in8(PIT_PORT_PORTB) & PIT_PORTB_OUT2)) {
		now += 1000; /* 1 us per poll */
		polls++;
		cr_assert_lt(polls, 100000);
	}
	cr_assert_geq(now - t0, at_tick(latch));
	cr_assert_lt(now - t0, at_tick(latch) + 1000);
	cr_assert_eq(in8(PIT_PORT_PORTB) & 0x0f, PIT_PORTB_GATE2);
	cr_assert_eq(irq_rises, 0, "channel 2 does not drive IRQ0");
}

Test(pit, linux_quick_pit_calibrate_reads_the_msb)
{
	/* quick_pit_calibrate(): mode 0, count 0xffff, then read LSB and MSB of the live count
	 * (no latch) and watch the MSB go down by one every 256 ticks. */
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	out8(PIT_PORT_CONTROL, 0xb0);
	uint64_t t0 = now;
	out8(0x42, 0xff);
	out8(0x42, 0xff);
	for (unsigned k = 0; k < 200; k++) {
		now = t0 + at_tick(256 * k + 10);
		(void)in8(0x42);
		cr_assert_eq(in8(0x42), 0xff - k);
	}
}

Test(pit, channel2_gate_holds_mode0)
{
	out8(PIT_PORT_CONTROL, 0xb0);
	uint64_t t0 = now;
	out8(0x42, 100);
	out8(0x42, 0);
	now = t0 + at_tick(1000);
	cr_assert_eq(latched_count(2), 100, "gate low: no counting");
	cr_assert_eq(in8(PIT_PORT_PORTB) & PIT_PORTB_OUT2, 0);
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	uint64_t t1 = now;
	now = t1 + at_tick(40);
	cr_assert_eq(latched_count(2), 60);
	out8(PIT_PORT_PORTB, 0);
	now += at_tick(500);
	cr_assert_eq(latched_count(2), 60, "paused");
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	now += at_tick(60);
	cr_assert(in8(PIT_PORT_PORTB) & PIT_PORTB_OUT2);
}

Test(pit, mode1_hardware_oneshot_and_retrigger)
{
	program(2, 1, 50);
	cr_assert(pit_out(&pit, 2, now), "OUT high until triggered");
	now += at_tick(100);
	cr_assert(pit_out(&pit, 2, now));
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2); /* trigger */
	uint64_t t0 = now;
	cr_assert_not(pit_out(&pit, 2, now));
	now = t0 + at_tick(30);
	cr_assert_eq(latched_count(2), 20);
	out8(PIT_PORT_PORTB, 0);
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2); /* retrigger: 50 more */
	uint64_t t1 = now;
	now = t1 + at_tick(49);
	cr_assert_not(pit_out(&pit, 2, now));
	now = t1 + at_tick(50);
	cr_assert(pit_out(&pit, 2, now));
}

Test(pit, mode3_square_wave)
{
	uint64_t t0 = now;
	program(0, 3, 10);
	for (unsigned d = 0; d < 30; d++) {
		now = t0 + at_tick(d);
		cr_assert_eq(pit_out(&pit, 0, now), d % 10 < 5, "tick %u", d);
	}
	program(0, 3, 7); /* odd: high 4, low 3 */
	uint64_t t1 = now;
	for (unsigned d = 0; d < 14; d++) {
		now = t1 + at_tick(d);
		cr_assert_eq(pit_out(&pit, 0, now), d % 7 < 4, "tick %u", d);
	}
	now = t1 + at_tick(1);
	cr_assert_eq(latched_count(0), 5, "counts down by two");
}

Test(pit, mode3_interrupts_every_period)
{
	uint64_t t0 = now;
	program(0, 3, 100);
	for (unsigned k = 1; k <= 5; k++) {
		cr_assert_eq(pit_deadline(&pit), t0 + at_tick(100 * k));
		now = t0 + at_tick(100 * k) + at_tick(70); /* sampled in the low phase */
		pit_advance(&pit, now);
		cr_assert_eq(irq_rises, k);
		cr_assert_not(irq_level);
	}
}

Test(pit, mode4_software_strobe)
{
	uint64_t t0 = now;
	program(0, 4, 20);
	cr_assert(pit_out(&pit, 0, now));
	now = t0 + at_tick(20);
	cr_assert_not(pit_out(&pit, 0, now));
	now = t0 + at_tick(21);
	cr_assert(pit_out(&pit, 0, now));
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(21));
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	cr_assert_eq(pit_deadline(&pit), PIT_NEVER);
}

Test(pit, mode5_hardware_strobe)
{
	program(2, 5, 8);
	now += at_tick(50);
	cr_assert(pit_out(&pit, 2, now));
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	uint64_t t0 = now;
	now = t0 + at_tick(8);
	cr_assert_not(pit_out(&pit, 2, now));
	now = t0 + at_tick(9);
	cr_assert(pit_out(&pit, 2, now));
}

Test(pit, gate_low_stops_mode2_and_rise_reloads)
{
	program(2, 2, 10);
	cr_assert(pit_out(&pit, 2, now));
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	uint64_t t0 = now;
	now = t0 + at_tick(4);
	cr_assert_eq(latched_count(2), 6);
	out8(PIT_PORT_PORTB, 0);
	now += at_tick(100);
	cr_assert(pit_out(&pit, 2, now), "gate low forces OUT high");
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	uint64_t t1 = now;
	now = t1 + at_tick(3);
	cr_assert_eq(latched_count(2), 7, "reloaded on the rising gate");
}

Test(pit, bcd_counting)
{
	uint64_t t0 = now;
	out8(PIT_PORT_CONTROL, 0x31); /* ch0, LSB/MSB, mode 0, BCD */
	out8(PIT_PORT_CHANNEL0, 0x00);
	out8(PIT_PORT_CHANNEL0, 0x10); /* 1000 decimal */
	now = t0 + at_tick(1);
	cr_assert_eq(latched_count(0), 0x0999);
	now = t0 + at_tick(1000);
	cr_assert(pit_out(&pit, 0, now));
	now = t0 + at_tick(1001);
	cr_assert_eq(latched_count(0), 0x9999, "BCD wraps to 9999");
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	out8(PIT_PORT_CONTROL, 0x35); /* mode 2 BCD, count 0 = 10000 */
	uint64_t t1 = now;
	out8(PIT_PORT_CHANNEL0, 0);
	out8(PIT_PORT_CHANNEL0, 0);
	cr_assert_eq(pit_deadline(&pit), t1 + at_tick(10000));
}

Test(pit, invalid_bcd_digits_are_harmless)
{
	out8(PIT_PORT_CONTROL, 0x35);
	out8(PIT_PORT_CHANNEL0, 0xff);
	out8(PIT_PORT_CHANNEL0, 0xff);
	now += at_tick(12345);
	uint16_t v = latched_count(0);
	cr_assert_leq(v >> 12, 9);
	cr_assert_leq(v >> 8 & 15, 9);
	pit_advance(&pit, now);
}

Test(pit, lsb_only_and_msb_only_access)
{
	uint64_t t0 = now;
	out8(PIT_PORT_CONTROL, 0x14); /* ch0, LSB only, mode 2 */
	out8(PIT_PORT_CHANNEL0, 0x80);
	now = t0 + at_tick(0x10);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 0x70);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 0x70, "no flip-flop with one byte");
	out8(PIT_PORT_CONTROL, 0x24); /* MSB only */
	uint64_t t1 = now;
	out8(PIT_PORT_CHANNEL0, 0x02); /* 0x200 */
	now = t1 + at_tick(0x100);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 0x01);
	out8(PIT_PORT_CONTROL, 0x00); /* latch */
	now += at_tick(0x80);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 0x01, "latched MSB");
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 0x00, "live MSB again");
}

Test(pit, latch_holds_until_read_and_second_latch_is_ignored)
{
	uint64_t t0 = now;
	program(0, 2, 5000);
	now = t0 + at_tick(100);
	out8(PIT_PORT_CONTROL, 0x00);
	now = t0 + at_tick(200);
	out8(PIT_PORT_CONTROL, 0x00);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), (4900 & 0xff));
	now = t0 + at_tick(300);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 4900 >> 8);
	cr_assert_eq(latched_count(0), 4700);
}

Test(pit, read_back_status_and_count)
{
	uint64_t t0 = now;
	program(0, 2, 300);
	now = t0 + at_tick(10);
	out8(PIT_PORT_CONTROL, 0xc2); /* read-back ch0: count and status */
	now = t0 + at_tick(20);
	uint8_t status = in8(PIT_PORT_CHANNEL0);
	cr_assert_eq(status, PIT_STATUS_OUT | 0x30 | 2 << 1);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 290 & 0xff);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0), 290 >> 8);
	/* Status only, two channels. */
	program(2, 0, 7);
	out8(PIT_PORT_CONTROL, 0xe0 | 0x08 | 0x02);
	cr_assert_eq(in8(0x42), 0x30, "ch2: OUT low in mode 0, gate low");
	cr_assert_eq(in8(PIT_PORT_CHANNEL0) & 0x3f, 0x34);
}

Test(pit, null_count_until_loaded)
{
	out8(PIT_PORT_CONTROL, 0xb2); /* ch2, mode 1 */
	out8(PIT_PORT_CONTROL, 0xe8);
	cr_assert(in8(0x42) & PIT_STATUS_NULL_COUNT);
	out8(0x42, 5);
	out8(0x42, 0);
	out8(PIT_PORT_CONTROL, 0xe8);
	cr_assert(in8(0x42) & PIT_STATUS_NULL_COUNT, "mode 1 loads at the trigger");
	out8(PIT_PORT_PORTB, PIT_PORTB_GATE2);
	out8(PIT_PORT_CONTROL, 0xe8);
	cr_assert_not(in8(0x42) & PIT_STATUS_NULL_COUNT);
}

Test(pit, new_count_in_mode2_waits_for_the_period_end)
{
	uint64_t t0 = now;
	program(0, 2, 100);
	now = t0 + at_tick(30);
	pit_advance(&pit, now);
	out8(PIT_PORT_CHANNEL0, 50);
	out8(PIT_PORT_CHANNEL0, 0);
	cr_assert_eq(latched_count(0), 70, "old count runs on");
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(100));
	uint64_t at = t0 + at_tick(100);
	now = at;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	cr_assert_eq(pit_deadline(&pit), at + at_tick(50));
	now = at + at_tick(10);
	cr_assert_eq(latched_count(0), 40);
}

Test(pit, edge_not_lost_when_reprogrammed_before_advance)
{
	uint64_t t0 = now;
	program(0, 2, 100);
	now = t0 + at_tick(150);
	program(0, 2, 1000); /* the edge at tick 100 had not been reported */
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
}

Test(pit, throttle_spaces_interrupts)
{
	pit_init(&pit, clock_now, NULL, on_irq0, NULL, 200000);
	irq_rises = 0;
	program(0, 2, 2); /* 600 kHz asked */
	uint64_t first = pit_deadline(&pit);
	now = first;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1);
	cr_assert_eq(pit_deadline(&pit), now + 200000);
	now += 100000;
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 1, "deferred");
	now = pit_deadline(&pit);
	pit_advance(&pit, now);
	cr_assert_eq(irq_rises, 2);
}

Test(pit, port61_bits)
{
	out8(PIT_PORT_PORTB, 0xff);
	cr_assert_eq(in8(PIT_PORT_PORTB) & 0xcf, 0x0f, "bits 6-7 read 0; 0-3 as written");
	now = 0;
	uint8_t a = in8(PIT_PORT_PORTB) & PIT_PORTB_REFRESH;
	now = 15085;
	uint8_t b = in8(PIT_PORT_PORTB) & PIT_PORTB_REFRESH;
	cr_assert_neq(a, b, "refresh toggles every 15 us");
	cr_assert_eq(pit_read(&pit, 0x44), 0xff);
}

Test(pit, control_word_modes_6_and_7_are_2_and_3)
{
	out8(PIT_PORT_CONTROL, 0x3c); /* mode 6 */
	out8(PIT_PORT_CONTROL, 0xe2);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0) & 0x0e, 2 << 1);
	out8(PIT_PORT_CONTROL, 0x3e); /* mode 7 */
	out8(PIT_PORT_CONTROL, 0xe2);
	cr_assert_eq(in8(PIT_PORT_CHANNEL0) & 0x0e, 3 << 1);
}

Test(pit, count_65536_with_zero)
{
	uint64_t t0 = now;
	program(0, 2, 0);
	cr_assert_eq(pit_deadline(&pit), t0 + at_tick(65536));
	now = t0 + at_tick(1);
	cr_assert_eq(latched_count(0), 0xffff);
}

/* ---- saved state ---- */

/* Linux's periodic tick 300 ticks into its period, saved, and loaded into a fresh PIT whose
 * clock is somewhere else entirely (another process, another host): the count goes on from
 * 700 as if nothing happened, OUT rises at the end of the period, and the next period
 * reloads 1000. A record with an impossible mode is refused and changes nothing. */
Test(pit, saved_state_goes_on_from_the_same_count_on_another_clock)
{
	uint64_t t0 = now;
	program(0, 2, 1000);
	now = t0 + at_tick(300);
	cr_assert_eq(latched_count(0), 700);
	struct state_writer w;
	state_writer_init(&w);
	pit_save(&pit, &w);
	cr_assert_not(state_writer_failed(&w));

	now = 987654321000ull; /* the new clock */
	pit_init(&pit, clock_now, NULL, on_irq0, NULL, 0);
	struct state_record rec = parse_record(&w);
	char err[200];
	uint64_t t1 = now;
	cr_assert_eq(pit_load(&pit, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(latched_count(0), 700);
	now = t1 + at_tick(200);
	cr_assert_eq(latched_count(0), 500);
	now = t1 + at_tick(699);
	cr_assert_not(pit_out(&pit, 0, now), "OUT is low while the count is 1");
	now = t1 + at_tick(700);
	cr_assert(pit_out(&pit, 0, now));
	cr_assert_eq(latched_count(0), 1000, "the period reloaded");

	state_writer_free(&w);
	state_writer_init(&w);
	state_record_begin(&w, "pit", 1, 1);
	uint8_t bad[53] = {7, 3}; /* mode 7 */
	state_put_bytes(&w, "ch0", bad, sizeof(bad), STATE_ESSENTIAL);
	state_put_bytes(&w, "ch1", bad, sizeof(bad), STATE_ESSENTIAL);
	state_put_bytes(&w, "ch2", bad, sizeof(bad), STATE_ESSENTIAL);
	state_put_u64(&w, "portb", 0, STATE_ESSENTIAL);
	state_put_u64(&w, "irq_level", 0, STATE_ESSENTIAL);
	state_record_end(&w);
	rec = parse_record(&w);
	cr_assert_eq(pit_load(&pit, &rec, err, sizeof(err)), -1);
	cr_assert_eq(latched_count(0), 1000, "a refused load changed the PIT");
	state_writer_free(&w);
}
