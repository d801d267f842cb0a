/* KVM's in-kernel PIC pair, I/O APIC, PIT and kvmclock <-> their state records. The kernel's
 * structs are never written out as they are: every field is packed here by name, in the order
 * docs/snapshot-format.md gives, so the format does not follow the kernel's struct layout, and
 * every value is range-checked on the way in, since KVM_SET_IRQCHIP and KVM_SET_PIT2 take
 * what they are given. */
#include "accel/kvm/kvm_vm_state.h"

#include "lib/little_endian.h"

#include <string.h>

#define RECORD_VERSION 1
#define PIC_BYTES      16
#define PIT_BYTES      16 /* per channel */
#define IOAPIC_PINS    24
#define PIT_MODE_UNSET 0xff /* KVM's mode of a channel the guest never programmed */
#define PIT_FLAGS      (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)
#define RW_STATE_MAX   4	     /* KVM's RW_STATE_WORD1 */
#define IOAPIC_BASE    0xfec00000ULL /* KVM's I/O APIC cannot be moved */

_Static_assert(KVM_IOAPIC_NUM_PINS == IOAPIC_PINS, "the record holds 24 redirection entries");

static const char *const chip_keys[] = {"master", "slave"};
static const char *const channel_keys[] = {"ch0", "ch1", "ch2"};

/* ---- the 8259A pair ---- */

/* Byte order of a chip's field. */
#define PIC_FIELDS(X)                                                                              \
	X(irr)                                                                                     \
	X(imr)                                                                                     \
	X(isr)                                                                                     \
	X(last_irr)                                                                                \
	X(priority_add)                                                                            \
	X(irq_base)                                                                                \
	X(read_reg_select)                                                                         \
	X(poll)                                                                                    \
	X(special_mask)                                                                            \
	X(init_state)                                                                              \
	X(auto_eoi)                                                                                \
	X(rotate_on_auto_eoi)                                                                      \
	X(special_fully_nested_mode)                                                               \
	X(init4)                                                                                   \
	X(elcr)                                                                                    \
	X(elcr_mask)

static void save_pic(const struct kvm_vm_state *s, struct state_writer *w)
{
	state_record_begin(w, "kvm-pic", RECORD_VERSION, RECORD_VERSION);
	for (unsigned i = 0; i < 2; i++) {
		const struct kvm_pic_state *c = &s->pic[i];
		uint8_t bytes[PIC_BYTES], *p = bytes;
#define PUT(field) *p++ = c->field;
		PIC_FIELDS(PUT)
#undef PUT
		state_put_bytes(w, chip_keys[i], bytes, sizeof(bytes), STATE_ESSENTIAL);
	}
	state_record_end(w);
}

/* NULL, or what is wrong with the chip. */
static const char *check_pic(const struct kvm_pic_state *c)
{
	if (c->irq_base & 7)
		return "vector base is not a multiple of 8";
	if (c->priority_add > 7)
		return "lowest priority is not an IRQ 0-7";
	if (c->init_state > 3) /* 0: initialised; 1-3: waiting for ICW2-ICW4 */
		return "initialisation step is not 0-3";
	const uint8_t flags[] = {c->read_reg_select,
				 c->poll,
				 c->special_mask,
				 c->auto_eoi,
				 c->rotate_on_auto_eoi,
				 c->special_fully_nested_mode,
				 c->init4};
	for (size_t i = 0; i < sizeof(flags); i++)
		if (flags[i] > 1)
			return "mode flag is neither 0 nor 1";
	if (c->elcr & ~c->elcr_mask)
		return "ELCR sets a bit its mask does not allow";
	return NULL;
}

static int load_pic(struct kvm_vm_state *s, const struct state_record *rec, char *err,
		    size_t err_len)
{
	for (unsigned i = 0; i < 2; i++) {
		const void *data;
		uint32_t len;
		if (state_get_bytes(rec, chip_keys[i], &data, &len) < 0 || len != PIC_BYTES) {
			state_set_error(err, err_len,
					"kvm-pic record: the %s chip is missing or not %d bytes",
					chip_keys[i], PIC_BYTES);
			return -1;
		}
		struct kvm_pic_state *c = &s->pic[i];
		const uint8_t *p = data;
#define TAKE(field) c->field = *p++;
		PIC_FIELDS(TAKE)
#undef TAKE
		const char *why = check_pic(c);
		if (why) {
			state_set_error(err, err_len, "kvm-pic record: the %s chip's %s",
					chip_keys[i], why);
			return -1;
		}
	}
	return 0;
}

/* ---- the I/O APIC ---- */

static void save_ioapic(const struct kvm_vm_state *s, struct state_writer *w)
{
	const struct kvm_ioapic_state *io = &s->ioapic;
	state_record_begin(w, "kvm-ioapic", RECORD_VERSION, RECORD_VERSION);
	state_put_u64(w, "base_address", io->base_address, STATE_ESSENTIAL);
	state_put_u64(w, "id", io->id, STATE_ESSENTIAL);
	state_put_u64(w, "ioregsel", io->ioregsel, STATE_ESSENTIAL);
	state_put_u64(w, "irr", io->irr, STATE_ESSENTIAL);
	uint8_t table[IOAPIC_PINS * 8];
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		le_put(table + 8 * pin, io->redirtbl[pin].bits, 8);
	state_put_bytes(w, "redirtbl", table, sizeof(table), STATE_ESSENTIAL);
	state_record_end(w);
}

static int load_ioapic(struct kvm_vm_state *s, const struct state_record *rec, char *err,
		       size_t err_len)
{
	uint64_t base, id, sel, irr;
	const void *table;
	uint32_t len;
	if (state_get_u64(rec, "base_address", &base) < 0 || state_get_u64(rec, "id", &id) < 0 ||
	    state_get_u64(rec, "ioregsel", &sel) < 0 || state_get_u64(rec, "irr", &irr) < 0 ||
	    state_get_bytes(rec, "redirtbl", &table, &len) < 0 || len != IOAPIC_PINS * 8) {
		state_set_error(err, err_len,
				"kvm-ioapic record: a field is missing or has the wrong size (24 "
				"redirection entries of 8 bytes)");
		return -1;
	}
	if (base != IOAPIC_BASE || id > 0xf || sel > 0xff || irr >> IOAPIC_PINS) {
		state_set_error(err, err_len,
				"kvm-ioapic record: its base (%#llx), ID (%llu), register select "
				"(%llu) or pin levels (%#llx) are out of range",
				(unsigned long long)base, (unsigned long long)id,
				(unsigned long long)sel, (unsigned long long)irr);
		return -1;
	}
	struct kvm_ioapic_state *io = &s->ioapic;
	memset(io, 0, sizeof(*io));
	io->base_address = base;
	io->id = (uint32_t)id;
	io->ioregsel = (uint32_t)sel;
	io->irr = (uint32_t)irr;
	const uint8_t *p = table;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redirtbl[pin].bits = le_take(&p, 8);
	return 0;
}

/* ---- the 8254 PIT ---- */

/* count_load_time is left out: it is a host-kernel time, meaningless in another process or on
 * another host, and KVM_SET_PIT2 overwrites it anyway (every channel's count restarts). */
static void pack_channel(const struct kvm_pit_channel_state *c, uint8_t out[PIT_BYTES])
{
	uint8_t *p = le_put(out, c->count, 4);
	p = le_put(p, c->latched_count, 2);
	const uint8_t bytes[] = {
	    c->count_latched, c->status_latched, c->status, c->read_state, c->write_state,
	    c->write_latch,   c->rw_mode,	 c->mode,   c->bcd,	   c->gate};
	_Static_assert(sizeof(bytes) == PIT_BYTES - 6, "PIT channel layout");
	memcpy(p, bytes, sizeof(bytes));
}

static const char *unpack_channel(const uint8_t *p, struct kvm_pit_channel_state *c)
{
	memset(c, 0, sizeof(*c));
	c->count = (uint32_t)le_take(&p, 4);
	c->latched_count = (uint16_t)le_take(&p, 2);
	c->count_latched = p[0], c->status_latched = p[1], c->status = p[2];
	c->read_state = p[3], c->write_state = p[4], c->write_latch = p[5];
	c->rw_mode = p[6], c->mode = p[7], c->bcd = p[8], c->gate = p[9];
	if (c->count > 0x10000)
		return "count is above 65536";
	if (c->mode > 5 && c->mode != PIT_MODE_UNSET)
		return "mode is not 0-5";
	if (c->rw_mode > 3)
		return "access mode is not 0-3";
	if (c->read_state > RW_STATE_MAX || c->write_state > RW_STATE_MAX ||
	    c->count_latched > RW_STATE_MAX)
		return "read, write or latch state is out of range";
	if (c->status_latched > 1 || c->bcd > 1 || c->gate > 1)
		return "status latch, BCD or gate is neither 0 nor 1";
	return NULL;
}

static void save_pit(const struct kvm_vm_state *s, struct state_writer *w)
{
	state_record_begin(w, "kvm-pit", RECORD_VERSION, RECORD_VERSION);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t bytes[PIT_BYTES];
		pack_channel(&s->pit.channels[i], bytes);
		state_put_bytes(w, channel_keys[i], bytes, sizeof(bytes), STATE_ESSENTIAL);
	}
	state_put_u64(w, "flags", s->pit.flags, STATE_ESSENTIAL);
	state_record_end(w);
}

static int load_pit(struct kvm_vm_state *s, const struct state_record *rec, char *err,
		    size_t err_len)
{
	struct kvm_pit_state2 *pit = &s->pit;
	memset(pit, 0, sizeof(*pit));
	for (unsigned i = 0; i < 3; i++) {
		const void *data;
		uint32_t len;
		if (state_get_bytes(rec, channel_keys[i], &data, &len) < 0 || len != PIT_BYTES) {
			state_set_error(err, err_len,
					"kvm-pit record: channel %u is missing or not %d bytes", i,
					PIT_BYTES);
			return -1;
		}
		const char *why = unpack_channel(data, &pit->channels[i]);
		if (why) {
			state_set_error(err, err_len, "kvm-pit record: channel %u's %s", i, why);
			return -1;
		}
	}
	uint64_t flags;
	if (state_get_u64(rec, "flags", &flags) < 0 || (flags & ~(uint64_t)PIT_FLAGS)) {
		state_set_error(err, err_len,
				"kvm-pit record: its flags are missing or name an unknown mode");
		return -1;
	}
	pit->flags = (uint32_t)flags;
	return 0;
}

/* ---- the clock ---- */

static void save_clock(const struct kvm_vm_state *s, struct state_writer *w)
{
	state_record_begin(w, "kvm-clock", RECORD_VERSION, RECORD_VERSION);
	state_put_u64(w, "clock", s->clock_ns, STATE_ESSENTIAL);
	/* Optional: a reader without it continues the clock from the saved value, which is
	 * still a working guest (its wall clock is behind by the time the VM was away). Every
	 * save has it since the VMM reads CLOCK_REALTIME itself when KVM does not report it;
	 * readers of version 1 already knew the key, so the version stays 1. */
	if (s->has_realtime)
		state_put_u64(w, "realtime", s->realtime_ns, 0);
	state_record_end(w);
}

static int load_clock(struct kvm_vm_state *s, const struct state_record *rec, char *err,
		      size_t err_len)
{
	if (state_get_u64(rec, "clock", &s->clock_ns) < 0) {
		state_set_error(err, err_len,
				"kvm-clock record: its clock is missing or not a u64");
		return -1;
	}
	int rc = state_get_u64(rec, "realtime", &s->realtime_ns);
	if (rc == -2) {
		state_set_error(err, err_len, "kvm-clock record: its realtime is not a u64");
		return -1;
	}
	s->has_realtime = rc == 0;
	return 0;
}

uint64_t kvm_vm_state_clock_at(const struct kvm_vm_state *s, uint64_t now_realtime_ns)
{
	/* A negative elapsed time means the loading host's wall clock is behind the saving
	 * host's (clocks not in step, or a record from the future): stepping the kvmclock back
	 * would run the guest's clocks backwards, so it goes on from the saved value, as
	 * KVM_SET_CLOCK does with KVM_CLOCK_REALTIME. */
	if (!s->has_realtime || now_realtime_ns <= s->realtime_ns)
		return s->clock_ns;
	uint64_t elapsed = now_realtime_ns - s->realtime_ns;
	return elapsed > UINT64_MAX - s->clock_ns ? UINT64_MAX : s->clock_ns + elapsed;
}

/* ---- the four records ---- */

void kvm_vm_state_save(const struct kvm_vm_state *s, struct state_writer *w)
{
	save_pic(s, w);
	save_ioapic(s, w);
	save_pit(s, w);
	save_clock(s, w);
}

struct record_kind {
	const char *const *keys;
	int (*load)(struct kvm_vm_state *s, const struct state_record *rec, char *err,
		    size_t err_len);
};

static const char *const pic_keys[] = {"master", "slave", NULL};
static const char *const ioapic_keys[] = {"base_address", "id",	      "ioregsel",
					  "irr",	  "redirtbl", NULL};
static const char *const pit_keys[] = {"ch0", "ch1", "ch2", "flags", NULL};
static const char *const clock_keys[] = {"clock", "realtime", NULL};
static const char *const record_names[] = {"kvm-pic", "kvm-ioapic", "kvm-pit", "kvm-clock"};
static const struct record_kind kinds[] = {{pic_keys, load_pic},
					   {ioapic_keys, load_ioapic},
					   {pit_keys, load_pit},
					   {clock_keys, load_clock}};
#define NR_RECORDS 4

/* Loads one record into the scratch state; `seen` marks which kinds came already. */
static int load_one(struct kvm_vm_state *s, const struct state_record *rec, bool seen[], char *err,
		    size_t err_len)
{
	for (unsigned k = 0; k < NR_RECORDS; k++) {
		if (strcmp(rec->name, record_names[k]) != 0)
			continue;
		if (seen[k]) {
			state_set_error(err, err_len, "KVM VM state: the %s record comes twice",
					rec->name);
			return -1;
		}
		seen[k] = true;
		struct state_reader_spec spec = {record_names[k], RECORD_VERSION, 1, kinds[k].keys};
		if (state_record_check(rec, &spec, err, err_len) < 0)
			return -1;
		return kinds[k].load(s, rec, err, err_len);
	}
	state_set_error(err, err_len,
			"KVM VM state: expected the kvm-pic, kvm-ioapic, kvm-pit and kvm-clock "
			"records, found '%s'",
			rec->name);
	return -1;
}

int kvm_vm_state_load(struct kvm_vm_state *s, const uint8_t *buf, size_t len, size_t *pos,
		      char *err, size_t err_len)
{
	struct kvm_vm_state next;
	memset(&next, 0, sizeof(next));
	bool seen[NR_RECORDS] = {false};
	size_t at = *pos;
	for (unsigned i = 0; i < NR_RECORDS; i++) {
		struct state_record rec;
		if (at >= len) {
			state_set_error(err, err_len,
					"KVM VM state: the stream ends after %u of its 4 records",
					i);
			return -1;
		}
		if (state_record_parse(buf, len, &at, &rec, err, err_len) < 0 ||
		    load_one(&next, &rec, seen, err, err_len) < 0)
			return -1;
	}
	*s = next;
	*pos = at;
	return 0;
}
