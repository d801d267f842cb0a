/* KVM's VM-level state through accel_ops.vm_save_state/vm_load_state, on /dev/kvm (the nested
 * lab when this host has none): a VM's in-kernel PICs, I/O APIC and PIT, put into a state no
 * fresh VM has, come back the same in a second VM; the kvmclock advances by the wall-clock time
 * between the save and the load (through KVM_CLOCK_REALTIME when KVM offers it, computed by the
 * VMM otherwise: both are tested), and a save whose realtime is ahead of this host's loads the
 * clock as saved; bad records are refused with the second VM's state unchanged. */
#include "accel/kvm/kvm_internal.h"
#include "accel/kvm/kvm_vm_state.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

static struct accel_vm *create_vm(void)
{
	char why[256], note[256], err[256];
	cr_assert(kvm_accel_ops.probe(why, sizeof(why), note, sizeof(note)), "%s", why);
	struct accel_vm_config config = {.nr_vcpus = 1};
	struct accel_vm *vm;
	cr_assert_eq(kvm_accel_ops.vm_create(&config, &vm, err, sizeof(err)), 0, "%s", err);
	return vm;
}

static struct kvm_irqchip get_chip(struct accel_vm *vm, uint32_t id)
{
	struct kvm_irqchip chip = {.chip_id = id};
	cr_assert_eq(ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip), 0, "%s", strerror(errno));
	return chip;
}

static struct kvm_pit_state2 get_pit(struct accel_vm *vm)
{
	struct kvm_pit_state2 pit;
	cr_assert_eq(ioctl(vm->vm_fd, KVM_GET_PIT2, &pit), 0, "%s", strerror(errno));
	return pit;
}

static uint64_t get_clock(struct accel_vm *vm)
{
	struct kvm_clock_data clock = {0};
	cr_assert_eq(ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock), 0, "%s", strerror(errno));
	return clock.clock;
}

/* A state no fresh VM has: both PICs initialised (vector bases 0x20/0x28, masks, an ELCR),
 * I/O APIC ID 3 with programmed pins, PIT channel 0 in mode 2 and channel 2 in mode 3 with a
 * count latched, and a kvmclock 5 s ahead. */
static void program(struct accel_vm *vm)
{
	struct kvm_irqchip pic[2] = {get_chip(vm, 0), get_chip(vm, 1)};
	pic[0].chip.pic.irq_base = 0x20, pic[0].chip.pic.imr = 0xb8, pic[0].chip.pic.init4 = 1;
	pic[0].chip.pic.priority_add = 3, pic[0].chip.pic.elcr = 0x08;
	pic[1].chip.pic.irq_base = 0x28, pic[1].chip.pic.imr = 0x8f, pic[1].chip.pic.auto_eoi = 1;
	pic[1].chip.pic.elcr = 0x0c;
	struct kvm_irqchip io = get_chip(vm, 2);
	io.chip.ioapic.id = 3;
	io.chip.ioapic.ioregsel = 0x12;
	io.chip.ioapic.redirtbl[4].bits = 0x0100000000000024ull;  /* COM1: vector 0x24, CPU 1 */
	io.chip.ioapic.redirtbl[11].bits = 0x000000000001a0b1ull; /* masked, level, low */
	for (int i = 0; i < 2; i++)
		cr_assert_eq(ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &pic[i]), 0, "%s", strerror(errno));
	cr_assert_eq(ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &io), 0, "%s", strerror(errno));
	struct kvm_pit_state2 pit = get_pit(vm);
	pit.channels[0].mode = 2, pit.channels[0].rw_mode = 3, pit.channels[0].count = 11932;
	pit.channels[0].read_state = pit.channels[0].write_state = 3;
	pit.channels[2].mode = 3, pit.channels[2].rw_mode = 3, pit.channels[2].count = 1331;
	pit.channels[2].count_latched = 3, pit.channels[2].latched_count = 0x0123;
	pit.channels[2].read_state = pit.channels[2].write_state = 3;
	cr_assert_eq(ioctl(vm->vm_fd, KVM_SET_PIT2, &pit), 0, "%s", strerror(errno));
	struct kvm_clock_data clock = {.clock = 5000000000ull};
	cr_assert_eq(ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock), 0, "%s", strerror(errno));
}

/* The PIT's count_load_time is the host kernel's time of the (re)load: not state. */
static void assert_same_pit(const struct kvm_pit_state2 *a, const struct kvm_pit_state2 *b)
{
	for (int i = 0; i < 3; i++) {
		struct kvm_pit_channel_state x = a->channels[i], y = b->channels[i];
		x.count_load_time = y.count_load_time = 0;
		cr_assert_eq(memcmp(&x, &y, sizeof(x)), 0, "PIT channel %d differs", i);
	}
	cr_assert_eq(a->flags, b->flags);
}

/* The chip without the request bits of IRQ0: PIT channel 0 runs in both VMs from the moment
 * it is (re)loaded and raises IRQ0 (master PIC pin 0, I/O APIC pin 2) whenever it wraps, so
 * those bits depend on when each VM was read, not on what was saved. */
static struct kvm_irqchip without_irq0(struct kvm_irqchip c)
{
	if (c.chip_id == KVM_IRQCHIP_PIC_MASTER) {
		c.chip.pic.irr &= ~1u;
		c.chip.pic.last_irr &= ~1u;
	} else if (c.chip_id == KVM_IRQCHIP_IOAPIC) {
		c.chip.ioapic.irr &= ~(1u << 2);
	}
	return c;
}

static void assert_same_chips(struct accel_vm *a, struct accel_vm *b)
{
	for (uint32_t id = 0; id < 3; id++) {
		struct kvm_irqchip x = without_irq0(get_chip(a, id));
		struct kvm_irqchip y = without_irq0(get_chip(b, id));
		if (memcmp(&x.chip, &y.chip, sizeof(x.chip)) != 0)
			for (size_t i = 0; i < sizeof(x.chip); i++)
				if (x.chip.dummy[i] != y.chip.dummy[i])
					cr_log_error("irqchip %u byte %zu: %#x, %#x", id, i,
						     x.chip.dummy[i], y.chip.dummy[i]);
		cr_assert_eq(memcmp(&x.chip, &y.chip, sizeof(x.chip)), 0, "irqchip %u differs", id);
	}
	struct kvm_pit_state2 x = get_pit(a), y = get_pit(b);
	assert_same_pit(&x, &y);
}

static struct state_writer save(struct accel_vm *vm)
{
	struct state_writer w;
	state_writer_init(&w);
	char err[256];
	cr_assert_eq(kvm_accel_ops.vm_save_state(vm, &w, err, sizeof(err)), 0, "%s", err);
	return w;
}

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

Test(kvm_vm_state, irqchip_pit_and_clock_come_back_in_a_new_vm)
{
	struct accel_vm *a = create_vm(), *b = create_vm();
	program(a);
	struct state_writer w = save(a);
	struct kvm_vm_state saved;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_vm_state_load(&saved, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s", err);
	struct kvm_clock_data got = {0};
	cr_assert_eq(ioctl(a->vm_fd, KVM_GET_CLOCK, &got), 0, "%s", strerror(errno));
	cr_log_info("saved kvmclock %llu ns, realtime %s (host KVM_GET_CLOCK flags %#x, "
		    "KVM_SET_CLOCK flags %#x)",
		    (unsigned long long)saved.clock_ns, saved.has_realtime ? "saved" : "not saved",
		    got.flags, b->clock_flags);
	uint64_t away = 300000000; /* ns the VM is "away" between save and load */
	uint64_t before = now_ns(CLOCK_MONOTONIC);
	nanosleep(&(struct timespec){0, (long)away}, NULL);
	pos = 0;
	cr_assert_eq(kvm_accel_ops.vm_load_state(b, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s",
		     err);
	uint64_t clock = get_clock(b), elapsed = now_ns(CLOCK_MONOTONIC) - before;
	cr_assert_eq(pos, w.len);
	assert_same_chips(a, b);
	cr_assert_geq(clock, saved.clock_ns, "the clock went back");
	cr_assert(saved.has_realtime, "the save has no realtime");
	cr_assert_geq(clock, saved.clock_ns + away, "the load did not advance the clock");
	cr_assert_lt(clock, saved.clock_ns + elapsed + 2000000000ull, "advanced too far");
	cr_log_info("kvmclock after the load: saved + %llu ns (%s)",
		    (unsigned long long)(clock - saved.clock_ns),
		    (b->clock_flags & KVM_CLOCK_REALTIME) ? "KVM_CLOCK_REALTIME" : "computed");
	state_writer_free(&w);
	kvm_accel_ops.vm_destroy(a);
	kvm_accel_ops.vm_destroy(b);
}

/* Loads `buf` into a fresh VM, through KVM_CLOCK_REALTIME when `kvm_realtime` and this KVM
 * offers it, or with the VMM's own computation (the flag hidden from gureum); returns the
 * kvmclock right after the load. */
static uint64_t load_clock_into_new_vm(const uint8_t *buf, size_t len, bool kvm_realtime,
				       bool *used_kvm)
{
	struct accel_vm *vm = create_vm();
	if (!kvm_realtime)
		vm->clock_flags &= ~(uint32_t)KVM_CLOCK_REALTIME;
	*used_kvm = vm->clock_flags & KVM_CLOCK_REALTIME;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_accel_ops.vm_load_state(vm, buf, len, &pos, err, sizeof(err)), 0, "%s",
		     err);
	uint64_t clock = get_clock(vm);
	kvm_accel_ops.vm_destroy(vm);
	return clock;
}

/* A VM restored 1.5 s after its save: its kvmclock is the saved one plus the 1.5 s (at least
 * 1.2 s, and not more than the time measured here plus 0.5 s), not the saved one. */
Test(kvm_vm_state, the_clock_advances_by_the_time_between_save_and_load, .timeout = 60)
{
	struct accel_vm *a = create_vm();
	program(a);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct state_writer w = save(a);
	kvm_accel_ops.vm_destroy(a);
	struct kvm_vm_state saved;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_vm_state_load(&saved, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s", err);
	nanosleep(&(struct timespec){1, 500000000}, NULL);
	for (int kvm_realtime = 0; kvm_realtime < 2; kvm_realtime++) {
		bool used_kvm;
		uint64_t clock = load_clock_into_new_vm(w.buf, w.len, kvm_realtime, &used_kvm);
		uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
		cr_log_info("%s: kvmclock after the load = saved + %.3f s, %.3f s after the save",
			    used_kvm ? "KVM_CLOCK_REALTIME" : "computed by the VMM",
			    (double)(clock - saved.clock_ns) / 1e9, (double)elapsed / 1e9);
		cr_assert_geq(clock, saved.clock_ns + 1200000000ull,
			      "%s: the clock did not advance by the time away (saved + %lld ns)",
			      used_kvm ? "KVM_CLOCK_REALTIME" : "computed",
			      (long long)(clock - saved.clock_ns));
		cr_assert_lt(clock, saved.clock_ns + elapsed + 500000000ull, "advanced too far");
	}
	state_writer_free(&w);
}

/* A save whose realtime is a minute ahead of this host's clock (a negative time away): the
 * kvmclock is loaded as saved, neither stepped back nor wrapped. */
Test(kvm_vm_state, a_save_from_the_future_loads_the_clock_as_saved, .timeout = 60)
{
	struct accel_vm *a = create_vm();
	program(a);
	struct state_writer w = save(a);
	kvm_accel_ops.vm_destroy(a);
	struct kvm_vm_state s;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_vm_state_load(&s, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s", err);
	s.has_realtime = true;
	s.realtime_ns = now_ns(CLOCK_REALTIME) + 60000000000ull;
	struct state_writer f;
	state_writer_init(&f);
	kvm_vm_state_save(&s, &f);
	for (int kvm_realtime = 0; kvm_realtime < 2; kvm_realtime++) {
		bool used_kvm;
		uint64_t clock = load_clock_into_new_vm(f.buf, f.len, kvm_realtime, &used_kvm);
		cr_log_info("%s: kvmclock after loading a save 60 s ahead = saved + %lld ns",
			    used_kvm ? "KVM_CLOCK_REALTIME" : "computed by the VMM",
			    (long long)(clock - s.clock_ns));
		cr_assert_geq(clock, s.clock_ns, "the clock went back");
		cr_assert_lt(clock, s.clock_ns + 1000000000ull, "the clock jumped");
	}
	state_writer_free(&f);
	state_writer_free(&w);
}

static void pic_base(struct kvm_vm_state *s)
{
	s->pic[0].irq_base = 0x21;
}

static void pit_mode(struct kvm_vm_state *s)
{
	s->pit.channels[0].mode = 7;
}

/* The saved state of `a` after `spoil`, or cut to `len` bytes, or with a fifth field. */
static void assert_refused(struct accel_vm *a, struct accel_vm *b, const uint8_t *buf, size_t len,
			   const char *what)
{
	struct kvm_irqchip chips[3] = {get_chip(b, 0), get_chip(b, 1), get_chip(b, 2)};
	struct kvm_pit_state2 pit = get_pit(b);
	size_t pos = 0;
	char err[256] = "";
	cr_assert_eq(kvm_accel_ops.vm_load_state(b, buf, len, &pos, err, sizeof(err)), -1,
		     "%s was accepted", what);
	cr_log_info("%s: %s", what, err);
	cr_assert_gt(strlen(err), 0);
	cr_assert_eq(pos, 0);
	for (uint32_t id = 0; id < 3; id++) {
		struct kvm_irqchip now = get_chip(b, id);
		cr_assert_eq(memcmp(&now.chip, &chips[id].chip, sizeof(now.chip)), 0,
			     "%s changed irqchip %u", what, id);
	}
	struct kvm_pit_state2 now = get_pit(b);
	assert_same_pit(&now, &pit);
	(void)a;
}

Test(kvm_vm_state, bad_records_are_refused_and_the_vm_is_unchanged)
{
	struct accel_vm *a = create_vm(), *b = create_vm();
	program(a);
	struct state_writer w = save(a);
	struct kvm_vm_state s;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(kvm_vm_state_load(&s, w.buf, w.len, &pos, err, sizeof(err)), 0, "%s", err);
	void (*spoils[])(struct kvm_vm_state *) = {pic_base, pit_mode};
	const char *what[] = {"a PIC vector base of 0x21", "a PIT mode of 7"};
	for (int i = 0; i < 2; i++) {
		struct kvm_vm_state bad = s;
		spoils[i](&bad);
		struct state_writer bw;
		state_writer_init(&bw);
		kvm_vm_state_save(&bad, &bw);
		assert_refused(a, b, bw.buf, bw.len, what[i]);
		state_writer_free(&bw);
	}
	assert_refused(a, b, w.buf, w.len - 1, "a truncated stream");
	/* the clock record again, now with a field this reader does not know */
	struct state_writer x;
	state_writer_init(&x);
	size_t three = 0;
	struct state_record rec;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(state_record_parse(w.buf, w.len, &three, &rec, err, sizeof(err)), 0);
	state_record_begin(&x, "kvm-clock", 1, 1);
	state_put_u64(&x, "clock", 1, STATE_ESSENTIAL);
	state_put_u64(&x, "tsc-scale", 1, STATE_ESSENTIAL);
	state_record_end(&x);
	uint8_t *buf = malloc(three + x.len);
	memcpy(buf, w.buf, three);
	memcpy(buf + three, x.buf, x.len);
	assert_refused(a, b, buf, three + x.len, "an unknown essential field");
	free(buf);
	state_writer_free(&x);
	state_writer_free(&w);
	kvm_accel_ops.vm_destroy(a);
	kvm_accel_ops.vm_destroy(b);
}
