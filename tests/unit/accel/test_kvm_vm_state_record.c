/* The records of KVM's VM-level state without /dev/kvm (the pure half, kvm_vm_state_record.c):
 * a state comes back field by field (the PIT's host-time load stamp excepted, by design), the
 * records load in any order, and out-of-range values, truncations, repeats, strangers and
 * unknown essential fields are refused with the target unchanged. The ioctl half is
 * test_kvm_vm_state.c, on KVM. */
#include "accel/kvm/kvm_vm_state.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct kvm_vm_state sample(void)
{
	struct kvm_vm_state s;
	memset(&s, 0, sizeof(s));
	s.pic[0] = (struct kvm_pic_state){.irr = 0x11,
					  .imr = 0xfa,
					  .isr = 0x01,
					  .last_irr = 0x10,
					  .priority_add = 3,
					  .irq_base = 0x20,
					  .auto_eoi = 1,
					  .init4 = 1,
					  .elcr = 0x08,
					  .elcr_mask = 0xf8};
	s.pic[1] = (struct kvm_pic_state){.imr = 0xef,
					  .irq_base = 0x28,
					  .init_state = 2,
					  .special_fully_nested_mode = 1,
					  .elcr = 0x0c,
					  .elcr_mask = 0xde};
	s.ioapic.base_address = 0xfec00000;
	s.ioapic.id = 2;
	s.ioapic.ioregsel = 0x13;
	s.ioapic.irr = 1u << 9;
	for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++)
		s.ioapic.redirtbl[pin].bits = 0x0100000000010030ull + pin;
	s.pit.channels[0] = (struct kvm_pit_channel_state){.count = 11932,
							   .latched_count = 0x1234,
							   .count_latched = 3,
							   .status = 0x34,
							   .read_state = 3,
							   .write_state = 4,
							   .write_latch = 0x9c,
							   .rw_mode = 3,
							   .mode = 2,
							   .gate = 1};
	s.pit.channels[1] =
	    (struct kvm_pit_channel_state){.count = 0x10000, .mode = 0xff, .gate = 1};
	s.pit.channels[2] = (struct kvm_pit_channel_state){
	    .count = 1331, .rw_mode = 3, .mode = 3, .bcd = 1, .status_latched = 1};
	s.pit.flags = KVM_PIT_FLAGS_HPET_LEGACY;
	s.clock_ns = 123456789012ull;
	s.has_realtime = true;
	s.realtime_ns = 1700000000123456789ull;
	return s;
}

static struct state_writer save(const struct kvm_vm_state *s)
{
	struct state_writer w;
	state_writer_init(&w);
	kvm_vm_state_save(s, &w);
	cr_assert_not(state_writer_failed(&w));
	return w;
}

Test(kvm_vm_state_record, every_field_comes_back)
{
	struct kvm_vm_state s = sample(), t;
	memset(&t, 0, sizeof(t));
	struct state_writer w = save(&s);
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_vm_state_load(&t, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pos, w.len);
	cr_assert_eq(memcmp(&t.pic, &s.pic, sizeof(s.pic)), 0);
	cr_assert_eq(memcmp(&t.ioapic, &s.ioapic, sizeof(s.ioapic)), 0);
	cr_assert_eq(memcmp(&t.pit, &s.pit, sizeof(s.pit)), 0);
	cr_assert_eq(t.clock_ns, s.clock_ns);
	cr_assert(t.has_realtime);
	cr_assert_eq(t.realtime_ns, s.realtime_ns);
	state_writer_free(&w);
}

Test(kvm_vm_state_record, the_load_stamp_is_not_saved_and_realtime_is_optional)
{
	struct kvm_vm_state s = sample(), t;
	s.pit.channels[0].count_load_time = 987654321;
	s.has_realtime = false;
	struct state_writer w = save(&s);
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_vm_state_load(&t, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(t.pit.channels[0].count_load_time, 0);
	cr_assert_not(t.has_realtime);
	state_writer_free(&w);
}

/* The kvmclock a load sets: the saved clock plus the wall-clock time since the save, never
 * less than the saved clock, never wrapped. */
Test(kvm_vm_state_record, the_clock_advances_by_the_time_since_the_save)
{
	struct kvm_vm_state s = sample();
	uint64_t c = s.clock_ns, r = s.realtime_ns;
	cr_assert_eq(kvm_vm_state_clock_at(&s, r + 3000000000ull), c + 3000000000ull);
	cr_assert_eq(kvm_vm_state_clock_at(&s, r + 1), c + 1);
	cr_assert_eq(kvm_vm_state_clock_at(&s, r), c, "no time passed");
	cr_assert_eq(kvm_vm_state_clock_at(&s, r - 1), c, "this host's clock is behind");
	cr_assert_eq(kvm_vm_state_clock_at(&s, 0), c);
	s.has_realtime = false;
	cr_assert_eq(kvm_vm_state_clock_at(&s, r + 3000000000ull), c, "no saved realtime");
	s.has_realtime = true;
	s.realtime_ns = 0;
	s.clock_ns = UINT64_MAX - 5;
	cr_assert_eq(kvm_vm_state_clock_at(&s, 10), UINT64_MAX, "wrapped");
}

/* Saves the sample after `spoil`, loads into a marked target: refused, target and pos kept. */
static void expect_refused(void (*spoil)(struct kvm_vm_state *), const char *what)
{
	struct kvm_vm_state s = sample(), t;
	memset(&t, 0, sizeof(t));
	t.clock_ns = 77;
	spoil(&s);
	struct state_writer w = save(&s);
	size_t pos = 0;
	char err[256] = "";
	cr_assert_eq(kvm_vm_state_load(&t, w.buf, w.len, &pos, err, sizeof(err)), -1,
		     "%s was accepted", what);
	cr_log_info("%s: %s", what, err);
	cr_assert_gt(strlen(err), 0);
	cr_assert_eq(pos, 0);
	cr_assert_eq(t.clock_ns, 77, "a refused load changed the target (%s)", what);
	state_writer_free(&w);
}

static void pic_base(struct kvm_vm_state *s)
{
	s->pic[1].irq_base = 0x29;
}
static void pic_priority(struct kvm_vm_state *s)
{
	s->pic[0].priority_add = 8;
}
static void pic_init_state(struct kvm_vm_state *s)
{
	s->pic[0].init_state = 4;
}
static void pic_flag(struct kvm_vm_state *s)
{
	s->pic[1].poll = 2;
}
static void pic_elcr(struct kvm_vm_state *s)
{
	s->pic[0].elcr = 0x04; /* IRQ2 is the cascade: never level */
}
static void ioapic_base(struct kvm_vm_state *s)
{
	s->ioapic.base_address = 0xfec01000;
}
static void ioapic_id(struct kvm_vm_state *s)
{
	s->ioapic.id = 16;
}
static void ioapic_irr(struct kvm_vm_state *s)
{
	s->ioapic.irr = 1u << 24;
}
static void pit_mode(struct kvm_vm_state *s)
{
	s->pit.channels[1].mode = 7;
}
static void pit_count(struct kvm_vm_state *s)
{
	s->pit.channels[0].count = 0x10001;
}
static void pit_rw(struct kvm_vm_state *s)
{
	s->pit.channels[2].read_state = 5;
}
static void pit_gate(struct kvm_vm_state *s)
{
	s->pit.channels[2].gate = 2;
}
static void pit_flags(struct kvm_vm_state *s)
{
	s->pit.flags = 4;
}

Test(kvm_vm_state_record, out_of_range_values_are_refused_and_change_nothing)
{
	expect_refused(pic_base, "a PIC vector base of 0x29");
	expect_refused(pic_priority, "a PIC lowest priority of 8");
	expect_refused(pic_init_state, "a PIC initialisation step of 4");
	expect_refused(pic_flag, "a PIC poll flag of 2");
	expect_refused(pic_elcr, "an ELCR outside its mask");
	expect_refused(ioapic_base, "a moved I/O APIC");
	expect_refused(ioapic_id, "an I/O APIC ID of 16");
	expect_refused(ioapic_irr, "a 25th I/O APIC pin");
	expect_refused(pit_mode, "a PIT mode of 7");
	expect_refused(pit_count, "a PIT count of 65537");
	expect_refused(pit_rw, "a PIT read state of 5");
	expect_refused(pit_gate, "a PIT gate of 2");
	expect_refused(pit_flags, "an unknown PIT flag");
}

Test(kvm_vm_state_record, every_truncation_is_refused)
{
	struct kvm_vm_state s = sample(), t;
	struct state_writer w = save(&s);
	char err[256];
	for (size_t len = 0; len < w.len; len++) {
		size_t pos = 0;
		cr_assert_eq(kvm_vm_state_load(&t, w.buf, len, &pos, err, sizeof(err)), -1,
			     "%zu of %zu bytes accepted", len, w.len);
		cr_assert_eq(pos, 0);
	}
	state_writer_free(&w);
}

/* The sample's records picked by index (0 pic, 1 ioapic, 2 pit, 3 clock: the save order),
 * then the records `extra` writes. Returns the length; *out is malloc'd. */
static size_t pick(const int *index, int n, void (*extra)(struct state_writer *), uint8_t **out)
{
	struct kvm_vm_state s = sample();
	struct state_writer full = save(&s), tail;
	size_t at[5] = {0};
	struct state_record rec;
	char err[256];
	for (int i = 0; i < 4; i++) {
		at[i + 1] = at[i];
		cr_assert_eq(
		    state_record_parse(full.buf, full.len, &at[i + 1], &rec, err, sizeof(err)), 0);
	}
	state_writer_init(&tail);
	if (extra)
		extra(&tail);
	cr_assert_not(state_writer_failed(&tail));
	uint8_t *buf = malloc(full.len * 2 + tail.len);
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(buf + len, full.buf + at[index[i]], at[index[i] + 1] - at[index[i]]);
		len += at[index[i] + 1] - at[index[i]];
	}
	if (tail.len)
		memcpy(buf + len, tail.buf, tail.len);
	len += tail.len;
	state_writer_free(&full);
	state_writer_free(&tail);
	*out = buf;
	return len;
}

static void clock_with_unknown_essential(struct state_writer *w)
{
	state_record_begin(w, "kvm-clock", 1, 1);
	state_put_u64(w, "clock", 5, STATE_ESSENTIAL);
	state_put_u64(w, "leap-seconds", 1, STATE_ESSENTIAL);
	state_record_end(w);
}

static void clock_with_unknown_optional(struct state_writer *w)
{
	state_record_begin(w, "kvm-clock", 1, 1);
	state_put_u64(w, "clock", 5, STATE_ESSENTIAL);
	state_put_u64(w, "hint", 1, 0);
	state_record_end(w);
}

static void stranger(struct state_writer *w)
{
	state_record_begin(w, "uart16550", 1, 1);
	state_record_end(w);
}

static int load(const uint8_t *buf, size_t len, struct kvm_vm_state *t, const char *what)
{
	size_t pos = 0;
	char err[256] = "";
	int rc = kvm_vm_state_load(t, buf, len, &pos, err, sizeof(err));
	cr_log_info("%s: %s", what, rc ? err : "loaded");
	cr_assert_eq(pos, rc ? 0 : len);
	return rc;
}

Test(kvm_vm_state_record, any_order_loads_but_repeats_strangers_and_unknown_essentials_do_not)
{
	const int reversed[] = {3, 2, 1, 0}, repeat[] = {0, 1, 2, 2}, three[] = {0, 1, 2};
	const struct {
		const int *index;
		int n;
		void (*extra)(struct state_writer *);
		int want;
		const char *what;
	} cases[] = {
	    {reversed, 4, NULL, 0, "the records in reverse order"},
	    {three, 3, clock_with_unknown_optional, 0, "an unknown optional field"},
	    {three, 3, clock_with_unknown_essential, -1, "an unknown essential field"},
	    {repeat, 4, NULL, -1, "the PIT record twice"},
	    {three, 3, stranger, -1, "another device's record among them"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *buf;
		size_t len = pick(cases[i].index, cases[i].n, cases[i].extra, &buf);
		struct kvm_vm_state t;
		memset(&t, 0, sizeof(t));
		t.clock_ns = 77;
		cr_assert_eq(load(buf, len, &t, cases[i].what), cases[i].want, "%s", cases[i].what);
		if (cases[i].want < 0)
			cr_assert_eq(t.clock_ns, 77, "a refused load changed the target");
		free(buf);
	}
}
