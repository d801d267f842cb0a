#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/ps2_scancodes.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <string.h>

struct counters {
	unsigned resets, poweroffs, irq_changes;
	bool irq_level;
};

static void count_reset(void *opaque)
{
	((struct counters *)opaque)->resets++;
}

static void count_poweroff(void *opaque)
{
	((struct counters *)opaque)->poweroffs++;
}

static int record_level(void *opaque, uint32_t gsi, bool level)
{
	struct counters *c = opaque;
	cr_assert_eq(gsi, I8042_KBD_GSI);
	c->irq_level = level;
	c->irq_changes++;
	return 0;
}

static struct io_bus bus;
static struct i8042 kbc;
static struct counters counters;
static struct irq_router router = {.set_level = record_level, .opaque = &counters};

static void setup(void)
{
	counters = (struct counters){0};
	io_bus_init(&bus, "pio");
	struct power_callbacks power = {count_reset, count_poweroff, &counters};
	cr_assert_eq(i8042_init(&kbc, &router, I8042_KBD_GSI, power), 0);
	cr_assert_eq(i8042_attach(&kbc, &bus), 0);
}

static void teardown(void)
{
	io_bus_destroy(&bus);
	i8042_destroy(&kbc);
}

static void outb(uint16_t port, uint8_t value)
{
	cr_assert(io_bus_write(&bus, port, &value, 1));
}

static uint8_t inb(uint16_t port)
{
	uint8_t value;
	cr_assert(io_bus_read(&bus, port, &value, 1));
	return value;
}

/* What Linux's i8042_command() does: wait for OBF, then read the byte. */
static uint8_t read_reply(void)
{
	cr_assert(inb(0x64) & I8042_STR_OBF, "a reply is waiting");
	return inb(0x60);
}

static void assert_nothing_waiting(void)
{
	cr_assert_eq(inb(0x64) & I8042_STR_OBF, 0);
}

TestSuite(i8042, .init = setup, .fini = teardown);

Test(i8042, controller_self_test_answers_0x55)
{
	assert_nothing_waiting();
	outb(0x64, 0xaa);
	cr_assert_eq(read_reply(), 0x55);
	assert_nothing_waiting();
	cr_assert(inb(0x64) & I8042_STR_SYSFLAG);
}

Test(i8042, keyboard_interface_test_answers_0)
{
	outb(0x64, 0xab);
	cr_assert_eq(read_reply(), 0x00);
}

Test(i8042, command_byte_round_trips)
{
	outb(0x64, 0x60);
	outb(0x60, 0x47);
	outb(0x64, 0x20);
	cr_assert_eq(read_reply(), 0x47);
	outb(0x64, 0xad); /* disable keyboard */
	outb(0x64, 0xa7); /* disable aux */
	outb(0x64, 0x20);
	cr_assert_eq(read_reply(), 0x47 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	outb(0x64, 0xae);
	outb(0x64, 0xa8);
	outb(0x64, 0x20);
	cr_assert_eq(read_reply(), 0x47);
}

Test(i8042, reset_command_pulses_the_cpu_reset_line)
{
	outb(0x64, 0xfe);
	cr_assert_eq(counters.resets, 1);
	cr_assert_eq(counters.poweroffs, 0);
	outb(0x64, 0xff); /* pulses nothing */
	cr_assert_eq(counters.resets, 1);
}

Test(i8042, clearing_the_output_port_reset_bit_resets)
{
	outb(0x64, 0xd0);
	uint8_t port = read_reply();
	cr_assert(port & 0x01);
	outb(0x64, 0xd1);
	outb(0x60, port & ~0x01);
	cr_assert_eq(counters.resets, 1);
}

Test(i8042, keyboard_answers_reset_and_get_id_at_once)
{
	outb(0x60, 0xff);
	cr_assert_eq(read_reply(), 0xfa);
	cr_assert_eq(read_reply(), 0xaa);
	outb(0x60, 0xf2);
	cr_assert_eq(read_reply(), 0xfa);
	cr_assert_eq(read_reply(), 0xab);
	cr_assert_eq(read_reply(), 0x41, "translated ID while XLATE is on");
	outb(0x60, 0xed); /* set LEDs, then its parameter */
	cr_assert_eq(read_reply(), 0xfa);
	outb(0x60, 0x07);
	cr_assert_eq(read_reply(), 0xfa);
	assert_nothing_waiting();
}

Test(i8042, aux_loop_fails_fast_because_there_is_no_aux_port)
{
	outb(0x64, 0xd3);
	outb(0x60, 0x5a);
	uint8_t status = inb(0x64);
	cr_assert(status & I8042_STR_OBF, "answered, so Linux does not wait for a timeout");
	cr_assert_eq(status & I8042_STR_AUXDATA, 0, "but not from an aux device");
	cr_assert_eq(inb(0x60), 0x5a);
	outb(0x64, 0xa9);
	cr_assert_neq(read_reply(), 0x00, "aux interface test fails");
}

Test(i8042, interrupt_follows_output_buffer_when_enabled)
{
	outb(0x64, 0xaa);
	cr_assert(counters.irq_level, "KBDINT is on after init");
	inb(0x60);
	cr_assert_not(counters.irq_level);
	outb(0x64, 0x60);
	outb(0x60, 0x00); /* interrupts off */
	outb(0x64, 0xaa);
	cr_assert_not(counters.irq_level);
	cr_assert_eq(read_reply(), 0x55);
}

Test(i8042, each_byte_of_a_multi_byte_reply_gets_its_own_interrupt_edge)
{
	outb(0x60, 0xff); /* keyboard reset: ACK, then 0xaa */
	cr_assert(counters.irq_level);
	unsigned before = counters.irq_changes;
	cr_assert_eq(inb(0x60), 0xfa);
	cr_assert(counters.irq_level, "the second byte is waiting");
	cr_assert_eq(counters.irq_changes, before + 2, "the line fell and rose again");
	cr_assert_eq(inb(0x60), 0xaa);
	cr_assert_not(counters.irq_level);
}

Test(i8042, wide_accesses_are_not_claimed)
{
	uint16_t value;
	cr_assert_not(io_bus_read(&bus, 0x60, &value, 2));
	cr_assert_eq(value, 0xffff);
}

/* ---- keys ---- */

static void expect_bytes(const uint8_t *bytes, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cr_assert(counters.irq_level, "byte %u of the code raised the interrupt", i);
		uint8_t got = read_reply();
		cr_assert_eq(got, bytes[i], "byte %u is 0x%02x, expected 0x%02x", i, got, bytes[i]);
	}
	assert_nothing_waiting();
}

static void press(unsigned key, bool down)
{
	cr_assert_eq(i8042_key(&kbc, key, down), 0);
}

Test(i8042, keys_arrive_in_set_1_while_the_controller_translates)
{
	press(KEY_A, true);
	expect_bytes((uint8_t[]){0x1e}, 1);
	press(KEY_A, false);
	expect_bytes((uint8_t[]){0x9e}, 1);
	press(KEY_UP, true); /* extended: E0 and the keypad 8's code */
	press(KEY_UP, false);
	expect_bytes((uint8_t[]){0xe0, 0x48, 0xe0, 0xc8}, 4);
	press(KEY_F7, true); /* set 2 0x83, the one code above 0x7f */
	expect_bytes((uint8_t[]){0x41}, 1);
}

Test(i8042, keys_arrive_in_set_2_without_translation)
{
	outb(0x64, 0x60);
	outb(0x60, I8042_CTR_KBDINT | I8042_CTR_SYSFLAG); /* XLATE off */
	press(KEY_A, true);
	press(KEY_A, false);
	expect_bytes((uint8_t[]){0x1c, 0xf0, 0x1c}, 3);
	press(KEY_RIGHTCTRL, false);
	expect_bytes((uint8_t[]){0xe0, 0xf0, 0x14}, 3);
	outb(0x60, 0xf2); /* get ID: untranslated */
	expect_bytes((uint8_t[]){0xfa, 0xab, 0x83}, 3);
}

Test(i8042, no_keys_while_the_keyboard_is_off)
{
	outb(0x60, 0xf5); /* the keyboard stops scanning (atkbd while it probes) */
	expect_bytes((uint8_t[]){0xfa}, 1);
	press(KEY_B, true);
	assert_nothing_waiting();
	outb(0x60, 0xf4);
	expect_bytes((uint8_t[]){0xfa}, 1);
	press(KEY_B, true);
	expect_bytes((uint8_t[]){0x30}, 1);
	outb(0x64, 0xad); /* the controller disables the keyboard */
	press(KEY_B, false);
	assert_nothing_waiting();
	outb(0x64, 0xae);
	press(KEY_B, false);
	expect_bytes((uint8_t[]){0xb0}, 1);
	cr_assert_eq(i8042_key(&kbc, KEY_PLAYPAUSE, true), 0, "a key it lacks: dropped");
	assert_nothing_waiting();
}

Test(i8042, a_full_queue_refuses_a_key_whole)
{
	unsigned accepted = 0;
	while (i8042_key(&kbc, KEY_DELETE, accepted % 2 == 0) == 0) /* two bytes each */
		accepted++;
	cr_assert_eq(i8042_key(&kbc, KEY_DELETE, true), -EAGAIN);
	cr_assert_eq(accepted, I8042_QUEUE_SIZE / 2);
	for (unsigned i = 0; i < accepted; i++) {
		cr_assert_eq(read_reply(), 0xe0, "key %u was cut in half", i);
		cr_assert_eq(read_reply(), i % 2 ? 0xd3 : 0x53);
	}
	assert_nothing_waiting();
	press(KEY_DELETE, true); /* room again */
	expect_bytes((uint8_t[]){0xe0, 0x53}, 2);
}

/* Every key of the table: its set 2 code, translated as the controller does, is its set 1
 * code; keys of one kind (plain or E0) never share a code. */
Test(i8042, the_scan_code_table_agrees_with_its_translation)
{
	unsigned seen = 0;
	for (unsigned key = 0; key < KEY_MAX; key++) {
		const struct ps2_scancode *c = ps2_scancode_of_key(key);
		if (!c)
			continue;
		seen++;
		cr_assert_eq(ps2_translate_set2(c->set2), c->set1, "key %u", key);
		cr_assert(c->set1 < 0x80 && (c->set2 < 0x80 || c->set2 == 0x83), "key %u", key);
		for (unsigned other = key + 1; other < KEY_MAX; other++) {
			const struct ps2_scancode *o = ps2_scancode_of_key(other);
			if (o && o->extended == c->extended)
				cr_assert(o->set2 != c->set2 && o->set1 != c->set1,
					  "keys %u and %u share a code", key, other);
		}
	}
	cr_assert_geq(seen, 100, "a full 102-key keyboard");
}

/* ---- saved state ---- */

/* Mid-reply (a keyboard reset's ACK read, 0xaa still queued), with a command byte set and a
 * controller command waiting for its data: a power-cycled controller loaded from the record
 * continues exactly there, interrupt line included. */
Test(i8042, saved_state_restores_a_controller_mid_conversation)
{
	outb(0x64, 0x60);
	outb(0x60, 0x47);
	outb(0x60, 0xff); /* keyboard reset: ACK, then 0xaa */
	cr_assert_eq(inb(0x60), 0xfa);
	outb(0x64, 0xd1); /* write output port: waits for its data byte */
	struct state_writer w;
	state_writer_init(&w);
	i8042_save(&kbc, &w);
	cr_assert_not(state_writer_failed(&w));

	struct power_callbacks power = {count_reset, count_poweroff, &counters};
	cr_assert_eq(i8042_init(&kbc, &router, I8042_KBD_GSI, power), 0);
	counters.irq_level = false;
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(i8042_load(&kbc, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert(counters.irq_level, "the queued byte raises the line again");
	cr_assert_eq(inb(0x60), 0xaa);
	outb(0x60, 0xfe); /* the output port's data byte: bit 0 clear pulses reset */
	cr_assert_eq(counters.resets, 1, "the waiting command took its data after the load");
	outb(0x64, 0x20);
	cr_assert_eq(read_reply(), 0x47);
	state_writer_free(&w);
}

Test(i8042, a_bad_record_is_refused_and_changes_nothing)
{
	outb(0x64, 0x60);
	outb(0x60, 0x47);
	struct state_writer w;
	state_writer_init(&w);
	state_record_begin(&w, "i8042", 1, 1);
	uint8_t ram[32] = {0};
	state_put_bytes(&w, "ram", ram, 31, STATE_ESSENTIAL); /* one byte short */
	state_record_end(&w);
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(i8042_load(&kbc, &rec, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "i8042 state"), "%s", err);
	outb(0x64, 0x20);
	cr_assert_eq(read_reply(), 0x47, "a refused load changed the command byte");
	state_writer_free(&w);
}

/* A keyboard told to stop scanning stays so across a snapshot; a record from before the field
 * existed loads with the keyboard scanning. */
Test(i8042, saved_state_keeps_the_keyboard_off)
{
	outb(0x60, 0xf5);
	expect_bytes((uint8_t[]){0xfa}, 1);
	struct state_writer w;
	state_writer_init(&w);
	i8042_save(&kbc, &w);
	struct power_callbacks power = {count_reset, count_poweroff, &counters};
	i8042_destroy(&kbc);
	cr_assert_eq(i8042_init(&kbc, &router, I8042_KBD_GSI, power), 0);
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(i8042_load(&kbc, &rec, err, sizeof(err)), 0, "%s", err);
	press(KEY_C, true);
	assert_nothing_waiting();
	state_writer_free(&w);

	state_writer_init(&w);
	state_record_begin(&w, "i8042", 1, 1);
	uint8_t ram[32] = {I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_XLATE};
	state_put_bytes(&w, "ram", ram, sizeof(ram), STATE_ESSENTIAL);
	const char *bytes[] = {"status", "output_port", "pending_command", "pending_kbd_command",
			       "last_read"};
	for (unsigned i = 0; i < 5; i++)
		state_put_u64(&w, bytes[i], 0, STATE_ESSENTIAL);
	state_put_bytes(&w, "queue", NULL, 0, STATE_ESSENTIAL);
	state_record_end(&w);
	rec = parse_record(&w);
	cr_assert_eq(i8042_load(&kbc, &rec, err, sizeof(err)), 0, "%s", err);
	press(KEY_C, true);
	expect_bytes((uint8_t[]){0x2e}, 1);
	state_writer_free(&w);
}
