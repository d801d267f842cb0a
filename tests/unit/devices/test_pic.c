#include "devices/pic.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>

static struct pic pic;
static unsigned intr_changes;
static bool intr_level;

static void on_intr(void *opaque, bool level)
{
	(void)opaque;
	intr_changes++;
	intr_level = level;
}

/* Linux's init_8259A(): vectors 0x30 and 0x38, slave on IR2, 8086 mode, normal EOI. */
static void linux_init(bool auto_eoi)
{
	pic_write(&pic, PIC_MASTER_DATA, 0xff);
	pic_write(&pic, PIC_SLAVE_DATA, 0xff);
	pic_write(&pic, PIC_MASTER_CMD, 0x11);
	pic_write(&pic, PIC_MASTER_DATA, 0x30);
	pic_write(&pic, PIC_MASTER_DATA, 1u << PIC_CASCADE_IRQ);
	pic_write(&pic, PIC_MASTER_DATA, auto_eoi ? 0x03 : 0x01);
	pic_write(&pic, PIC_SLAVE_CMD, 0x11);
	pic_write(&pic, PIC_SLAVE_DATA, 0x38);
	pic_write(&pic, PIC_SLAVE_DATA, PIC_CASCADE_IRQ);
	pic_write(&pic, PIC_SLAVE_DATA, 0x01);
	pic_write(&pic, PIC_MASTER_DATA, 0x00);
	pic_write(&pic, PIC_SLAVE_DATA, 0x00);
}

static void setup(void)
{
	intr_changes = 0;
	intr_level = false;
	pic_init(&pic, on_intr, NULL);
	linux_init(false);
}

static void pulse(unsigned irq)
{
	pic_set_irq(&pic, irq, true);
	pic_set_irq(&pic, irq, false);
}

static uint8_t read_isr(uint16_t cmd)
{
	pic_write(&pic, cmd, PIC_OCW3_READ_ISR);
	uint8_t v = pic_read(&pic, cmd);
	pic_write(&pic, cmd, PIC_OCW3_READ_IRR);
	return v;
}

static uint8_t read_irr(uint16_t cmd)
{
	pic_write(&pic, cmd, PIC_OCW3_READ_IRR);
	return pic_read(&pic, cmd);
}

TestSuite(pic, .init = setup);

Test(pic, linux_probe_reads_back_the_mask)
{
	pic_write(&pic, PIC_MASTER_DATA, 0xfb);
	cr_assert_eq(pic_read(&pic, PIC_MASTER_DATA), 0xfb);
	pic_write(&pic, PIC_SLAVE_DATA, 0x5a);
	cr_assert_eq(pic_read(&pic, PIC_SLAVE_DATA), 0x5a);
}

Test(pic, timer_interrupt_ack_and_eoi)
{
	pulse(0);
	cr_assert(pic_intr(&pic));
	cr_assert(intr_level);
	cr_assert_eq(pic_acknowledge(&pic), 0x30);
	cr_assert_not(pic_intr(&pic));
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x01);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x00);
	cr_assert_not(pic_intr(&pic));
}

Test(pic, intr_callback_only_on_change)
{
	unsigned before = intr_changes;
	pulse(1);
	pulse(3);
	cr_assert_eq(intr_changes, before + 1);
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	/* IRQ 3 is lower priority than the in-service IRQ 1: INT drops. */
	cr_assert_eq(intr_changes, before + 2);
	cr_assert_not(intr_level);
}

Test(pic, fixed_priority_and_nesting)
{
	pulse(5);
	pulse(3);
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
	cr_assert_not(pic_intr(&pic), "IRQ 5 waits for IRQ 3's EOI");
	pulse(1);
	cr_assert(pic_intr(&pic), "IRQ 1 preempts IRQ 3");
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x0a);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI); /* ends IRQ 1 */
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x08);
	cr_assert_not(pic_intr(&pic));
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI); /* ends IRQ 3 */
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x35);
}

Test(pic, masked_request_waits_in_irr)
{
	pic_write(&pic, PIC_MASTER_DATA, 0x10);
	pulse(4);
	cr_assert_not(pic_intr(&pic));
	cr_assert_eq(read_irr(PIC_MASTER_CMD), 0x10);
	pic_write(&pic, PIC_MASTER_DATA, 0x00);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x34);
}

Test(pic, slave_interrupt_through_cascade)
{
	pulse(12);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(read_irr(PIC_MASTER_CMD) & 0x04, 0x04);
	cr_assert_eq(pic_acknowledge(&pic), 0x3c);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x04);
	cr_assert_eq(read_isr(PIC_SLAVE_CMD), 0x10);
	pic_write(&pic, PIC_SLAVE_CMD, PIC_OCW2_NS_EOI);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0);
	cr_assert_eq(read_isr(PIC_SLAVE_CMD), 0);
	cr_assert_not(pic_intr(&pic));
}

Test(pic, slave_requests_queue_behind_the_cascade)
{
	pulse(14);
	pulse(9);
	cr_assert_eq(pic_acknowledge(&pic), 0x39);
	cr_assert_not(pic_intr(&pic), "the master's IR2 is in service");
	pic_write(&pic, PIC_SLAVE_CMD, PIC_OCW2_NS_EOI);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x3e);
}

Test(pic, master_irq_1_beats_the_slave)
{
	pulse(8);
	pulse(1);
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_eq(pic_acknowledge(&pic), 0x38);
}

Test(pic, special_fully_nested_mode_lets_the_slave_nest)
{
	pic_write(&pic, PIC_MASTER_CMD, 0x11);
	pic_write(&pic, PIC_MASTER_DATA, 0x30);
	pic_write(&pic, PIC_MASTER_DATA, 0x04);
	pic_write(&pic, PIC_MASTER_DATA, PIC_ICW4_8086 | PIC_ICW4_SFNM);
	pulse(12);
	cr_assert_eq(pic_acknowledge(&pic), 0x3c);
	pulse(9); /* higher priority at the slave than the in-service IRQ 12 */
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x39);
	pulse(13); /* lower than IRQ 9 and 12 at the slave: waits */
	cr_assert_not(pic_intr(&pic));
}

Test(pic, without_fully_nested_mode_the_slave_waits)
{
	pulse(12);
	cr_assert_eq(pic_acknowledge(&pic), 0x3c);
	pulse(9);
	cr_assert_not(pic_intr(&pic));
}

Test(pic, spurious_irq7_when_a_level_request_goes_away)
{
	pic_write(&pic, PIC_ELCR_MASTER, 0x20); /* IRQ 5 level */
	pic_set_irq(&pic, 5, true);
	cr_assert(pic_intr(&pic));
	pic_set_irq(&pic, 5, false);
	cr_assert_not(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x37);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0, "a spurious IRQ7 is not in service");
	cr_assert_eq(pic.spurious, 1);
}

Test(pic, withdrawn_slave_request_drops_the_cascade)
{
	/* The INTA cycle is atomic here, so a slave request that goes away takes the master's
	 * IR2 request with it: the CPU sees INT drop (or, had it started INTA, IRQ7). */
	pic_write(&pic, PIC_ELCR_SLAVE, 0x08); /* IRQ 11 level */
	pic_set_irq(&pic, 11, true);
	cr_assert(pic_intr(&pic));
	pic_set_irq(&pic, 11, false);
	cr_assert_not(pic_intr(&pic));
	cr_assert_eq(read_irr(PIC_MASTER_CMD) & 0x04, 0);
	cr_assert_eq(pic_acknowledge(&pic), 0x37);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0);
}

Test(pic, edge_needs_a_new_edge_level_repeats)
{
	/* Edge: one interrupt per rising edge, however long the line stays high. */
	pic_set_irq(&pic, 4, true);
	cr_assert_eq(pic_acknowledge(&pic), 0x34);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_not(pic_intr(&pic));
	pic_set_irq(&pic, 4, false);
	pic_set_irq(&pic, 4, true);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x34);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	pic_set_irq(&pic, 4, false);

	/* Level: after EOI the still-asserted line interrupts again. */
	pic_write(&pic, PIC_ELCR_SLAVE, 0x02); /* IRQ 9 level */
	pic_set_irq(&pic, 9, true);
	cr_assert_eq(pic_acknowledge(&pic), 0x39);
	pic_write(&pic, PIC_SLAVE_CMD, PIC_OCW2_NS_EOI);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x39);
	pic_set_irq(&pic, 9, false);
	pic_write(&pic, PIC_SLAVE_CMD, PIC_OCW2_NS_EOI);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_not(pic_intr(&pic));
}

Test(pic, edge_request_survives_a_pulse)
{
	pulse(3);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
}

Test(pic, elcr_has_fixed_edge_bits)
{
	pic_write(&pic, PIC_ELCR_MASTER, 0xff);
	pic_write(&pic, PIC_ELCR_SLAVE, 0xff);
	cr_assert_eq(pic_read(&pic, PIC_ELCR_MASTER), 0xf8);
	cr_assert_eq(pic_read(&pic, PIC_ELCR_SLAVE), 0xde);
	/* IRQ 0 stays edge: a held line gives one interrupt. */
	pic_set_irq(&pic, 0, true);
	cr_assert_eq(pic_acknowledge(&pic), 0x30);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_not(pic_intr(&pic));
}

Test(pic, switching_a_held_line_to_level_requests)
{
	pic_set_irq(&pic, 10, true);
	cr_assert_eq(pic_acknowledge(&pic), 0x3a);
	pic_write(&pic, PIC_SLAVE_CMD, PIC_OCW2_NS_EOI);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_not(pic_intr(&pic));
	pic_write(&pic, PIC_ELCR_SLAVE, 0x04);
	cr_assert(pic_intr(&pic));
}

Test(pic, auto_eoi_leaves_nothing_in_service)
{
	linux_init(true);
	pulse(3);
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0);
	pulse(5);
	cr_assert(pic_intr(&pic), "nothing blocks IRQ 5");
	cr_assert_eq(pic_acknowledge(&pic), 0x35);
}

Test(pic, rotate_in_auto_eoi_mode)
{
	linux_init(true);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_ROT_AEOI);
	pulse(3);
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
	/* IRQ 3 is now the lowest priority: order 4 5 6 7 0 1 2 3. */
	pulse(3);
	pulse(1);
	pulse(6);
	cr_assert_eq(pic_acknowledge(&pic), 0x36);
	/* Now 6 is lowest: 7 0 1 ... */
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NO_ROT);
	pulse(3);
	pulse(5);
	cr_assert_eq(pic_acknowledge(&pic), 0x35, "3 is the lowest priority");
	pulse(4);
	cr_assert_eq(pic_acknowledge(&pic), 0x34, "rotation stopped: 3 is still the lowest");
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
}

Test(pic, rotate_on_non_specific_eoi)
{
	pulse(3);
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_ROT_NS_EOI);
	pulse(3);
	pulse(5);
	cr_assert_eq(pic_acknowledge(&pic), 0x35);
}

Test(pic, rotate_on_specific_eoi_and_set_priority)
{
	pulse(1);
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_ROT_SP_EOI | 1);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0);
	pulse(1);
	pulse(7);
	cr_assert_eq(pic_acknowledge(&pic), 0x37, "1 is lowest: 2 3 ... 7 0 1");
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_SPEC_EOI | 7);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_SET_PRIO | 0); /* 0 lowest: 1 is highest */
	pulse(0);
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
}

Test(pic, specific_eoi_clears_only_that_level)
{
	pulse(5);
	cr_assert_eq(pic_acknowledge(&pic), 0x35);
	pulse(3);
	cr_assert_eq(pic_acknowledge(&pic), 0x33);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_SPEC_EOI | 5);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x08);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_SPEC_EOI | 3);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x00);
}

Test(pic, poll_command)
{
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW3_POLL);
	cr_assert_eq(pic_read(&pic, PIC_MASTER_CMD), 0x00, "no request");
	pulse(6);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW3_POLL);
	cr_assert_eq(pic_read(&pic, PIC_MASTER_CMD), 0x86);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x40, "a poll read acknowledges");
	cr_assert_eq(pic_read(&pic, PIC_MASTER_CMD), 0x00, "poll mode ends after one read");
	/* A slave request polls as 2 at the master, then as its level at the slave. */
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	pulse(13);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW3_POLL);
	cr_assert_eq(pic_read(&pic, PIC_MASTER_DATA), 0x82);
	pic_write(&pic, PIC_SLAVE_CMD, PIC_OCW3_POLL);
	cr_assert_eq(pic_read(&pic, PIC_SLAVE_CMD), 0x85);
}

Test(pic, special_mask_mode_enables_lower_levels)
{
	pulse(1);
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	pulse(5);
	cr_assert_not(pic_intr(&pic));
	pic_write(&pic, PIC_MASTER_DATA, 0x02); /* mask the level in service */
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW3_SET_SMM);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x35);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW3_CLEAR_SMM);
	pulse(6);
	cr_assert_not(pic_intr(&pic), "normal nesting again");
}

Test(pic, icw1_resets_mask_and_edge_detector)
{
	pic_write(&pic, PIC_MASTER_DATA, 0xff);
	pic_set_irq(&pic, 4, true);
	pic_write(&pic, PIC_MASTER_CMD, 0x11);
	cr_assert_eq(pic_read(&pic, PIC_MASTER_DATA), 0, "IMR cleared by ICW1");
	pic_write(&pic, PIC_MASTER_DATA, 0x40);
	pic_write(&pic, PIC_MASTER_DATA, 0x04);
	pic_write(&pic, PIC_MASTER_DATA, 0x01);
	cr_assert_not(pic_intr(&pic), "the held line needs a new edge");
	pic_set_irq(&pic, 4, false);
	pic_set_irq(&pic, 4, true);
	cr_assert_eq(pic_acknowledge(&pic), 0x44);
}

Test(pic, single_mode_skips_icw3_and_ignores_the_cascade)
{
	pic_write(&pic, PIC_MASTER_CMD, PIC_ICW1 | PIC_ICW1_SNGL | PIC_ICW1_IC4);
	pic_write(&pic, PIC_MASTER_DATA, 0x50);
	pic_write(&pic, PIC_MASTER_DATA, 0x01); /* ICW4, not ICW3 */
	pic_write(&pic, PIC_MASTER_DATA, 0xf0); /* OCW1 */
	cr_assert_eq(pic_read(&pic, PIC_MASTER_DATA), 0xf0);
	pulse(9);
	cr_assert_eq(pic_acknowledge(&pic), 0x52, "no slave INTA in single mode");
}

Test(pic, no_icw4_means_no_auto_eoi)
{
	pic_write(&pic, PIC_MASTER_CMD, PIC_ICW1);
	pic_write(&pic, PIC_MASTER_DATA, 0x20);
	pic_write(&pic, PIC_MASTER_DATA, 0x04); /* ICW3; no ICW4 expected */
	pic_write(&pic, PIC_MASTER_DATA, 0x00); /* OCW1 */
	pulse(1);
	cr_assert_eq(pic_acknowledge(&pic), 0x21);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x02);
}

Test(pic, reset_keeps_line_levels)
{
	pic_write(&pic, PIC_ELCR_MASTER, 0x08);
	pic_set_irq(&pic, 3, true);
	pic_reset(&pic);
	cr_assert_eq(pic_read(&pic, PIC_ELCR_MASTER), 0);
	cr_assert_not(pic_intr(&pic), "edge again after reset; no new edge yet");
	cr_assert_eq(pic_read(&pic, 0x22), 0xff);
}

Test(pic, ack_with_nothing_pending_is_spurious_irq7)
{
	cr_assert_eq(pic_acknowledge(&pic), 0x37);
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0);
}

Test(pic, cascade_irq2_is_not_an_input)
{
	pic_set_irq(&pic, 2, true);
	cr_assert_not(pic_intr(&pic));
	pic_set_irq(&pic, 16, true);
	pic_set_irq(&pic, 1000, true);
	cr_assert_not(pic_intr(&pic));
}

/* ---- saved state ---- */

/* The timer in service, the keyboard and a slave IRQ requested behind it, a mask set: a PIC
 * loaded from the record after a power cycle holds them back the same way, then raises INT and
 * acknowledges in the same order with the same vectors; a bad record is refused without a
 * change. */
Test(pic, saved_state_continues_where_it_was)
{
	pic_write(&pic, PIC_MASTER_DATA, 0x20); /* mask IR5 */
	pulse(0);
	cr_assert_eq(pic_acknowledge(&pic), 0x30);
	pulse(1);
	pulse(12);
	cr_assert_not(pic_intr(&pic), "IR0 in service holds the others back");
	struct state_writer w;
	state_writer_init(&w);
	pic_save(&pic, &w);
	cr_assert_not(state_writer_failed(&w));

	pic_init(&pic, on_intr, NULL);
	intr_level = false;
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(pic_load(&pic, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(pic_intr(&pic));
	cr_assert_eq(read_isr(PIC_MASTER_CMD), 0x01, "IR0 still in service");
	cr_assert_eq(pic_read(&pic, PIC_MASTER_DATA), 0x20);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert(intr_level, "the EOI lets the requests saved behind IR0 through");
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	pic_write(&pic, PIC_MASTER_CMD, PIC_OCW2_NS_EOI);
	cr_assert_eq(pic_acknowledge(&pic), 0x3c, "the slave's IR4 (IRQ12)");

	state_writer_free(&w);
	state_writer_init(&w);
	state_record_begin(&w, "pic", 1, 1);
	uint8_t bad[20] = {0};
	bad[8] = 9; /* lowest priority IR 9 */
	state_put_bytes(&w, "master", bad, sizeof(bad), STATE_ESSENTIAL);
	state_put_bytes(&w, "slave", bad, sizeof(bad), STATE_ESSENTIAL);
	state_record_end(&w);
	rec = parse_record(&w);
	pic_write(&pic, PIC_MASTER_DATA, 0x44);
	cr_assert_eq(pic_load(&pic, &rec, err, sizeof(err)), -1);
	cr_assert_eq(pic_read(&pic, PIC_MASTER_DATA), 0x44, "a refused load changed the PIC");
	state_writer_free(&w);
}
