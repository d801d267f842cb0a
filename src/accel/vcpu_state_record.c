/* struct vcpu_state <-> the "vcpu" state record. Composite fields (segments, descriptor tables,
 * MSRs, events) are packed here byte by byte in little endian, so the record's layout does not
 * depend on the compiler's struct layout; the XSAVE area and the LAPIC page keep the layouts
 * the CPU and KVM define for them. */
#include "accel/vcpu_state_record.h"

#include "lib/little_endian.h"
#include "lib/state_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_NAME    "vcpu"
#define RECORD_VERSION 1

#define SEGMENT_BYTES 23 /* base 8, limit 4, selector 2, nine one-byte attributes */
#define DTABLE_BYTES  10
#define MSR_BYTES     12
#define EVENTS_BYTES  32
#define DEBUG_BYTES   48 /* DR0-3, DR6, DR7 */

static const char *const segment_keys[] = {"es", "cs", "ss", "ds", "fs", "gs", "tr", "ldt"};
static const char *const record_keys[] = {
    "gpr",  "rip",   "rflags", "es",	 "cs",	     "ss",	  "ds",
    "fs",   "gs",    "tr",     "ldt",	 "gdt",	     "idt",	  "cr0",
    "cr2",  "cr3",   "cr4",    "cr8",	 "efer",     "apic_base", "msrs",
    "xcr0", "xsave", "lapic",  "events", "mp_state", "debugregs", NULL};

/* ---- packing ---- */

static const struct vcpu_segment *segment_of(const struct vcpu_state *s, unsigned i)
{
	return i < SREG_COUNT ? &s->seg[i] : i == SREG_COUNT ? &s->tr : &s->ldt;
}

static void pack_segment(const struct vcpu_segment *g, uint8_t out[SEGMENT_BYTES])
{
	uint8_t *p = le_put(out, g->base, 8);
	p = le_put(p, g->limit, 4);
	p = le_put(p, g->selector, 2);
	const uint8_t attrs[9] = {g->type, g->present, g->dpl, g->db,	   g->s,
				  g->l,	   g->g,       g->avl, g->unusable};
	memcpy(p, attrs, sizeof(attrs));
}

/* false when an attribute is out of its range (type 0-15, dpl 0-3, flags 0/1). */
static bool unpack_segment(const uint8_t *p, struct vcpu_segment *g)
{
	g->base = le_take(&p, 8);
	g->limit = (uint32_t)le_take(&p, 4);
	g->selector = (uint16_t)le_take(&p, 2);
	g->type = p[0], g->present = p[1], g->dpl = p[2], g->db = p[3], g->s = p[4];
	g->l = p[5], g->g = p[6], g->avl = p[7], g->unusable = p[8];
	bool flags_ok = true;
	for (int i = 1; i < 9; i++)
		flags_ok = flags_ok && (i == 2 ? p[i] <= 3 : p[i] <= 1);
	return g->type <= 15 && flags_ok;
}

static void pack_events(const struct vcpu_events *e, uint8_t out[EVENTS_BYTES])
{
	uint8_t *p = out;
	const uint8_t flags[] = {e->exception.injected,
				 e->exception.pending,
				 e->exception.has_error_code,
				 e->exception.has_payload,
				 e->interrupt.injected,
				 e->interrupt.soft,
				 e->nmi.injected,
				 e->nmi.pending,
				 e->nmi.masked,
				 e->smi.smm,
				 e->smi.pending,
				 e->smi.smm_inside_nmi,
				 e->smi.latched_init};
	memcpy(p, flags, sizeof(flags));
	p += sizeof(flags);
	*p++ = e->exception.vector;
	p = le_put(p, e->exception.error_code, 4);
	p = le_put(p, e->exception.payload, 8);
	*p++ = e->interrupt.vector;
	*p++ = e->interrupt.shadow;
	p = le_put(p, e->sipi_vector, 4);
}

static bool unpack_events(const uint8_t *p, struct vcpu_events *e)
{
	for (int i = 0; i < 13; i++)
		if (p[i] > 1)
			return false;
	e->exception.injected = p[0], e->exception.pending = p[1];
	e->exception.has_error_code = p[2], e->exception.has_payload = p[3];
	e->interrupt.injected = p[4], e->interrupt.soft = p[5];
	e->nmi.injected = p[6], e->nmi.pending = p[7], e->nmi.masked = p[8];
	e->smi.smm = p[9], e->smi.pending = p[10], e->smi.smm_inside_nmi = p[11];
	e->smi.latched_init = p[12];
	p += 13;
	e->exception.vector = *p++;
	e->exception.error_code = (uint32_t)le_take(&p, 4);
	e->exception.payload = le_take(&p, 8);
	e->interrupt.vector = *p++;
	e->interrupt.shadow = *p++;
	e->sipi_vector = (uint32_t)le_take(&p, 4);
	return e->exception.vector < 32;
}

/* ---- saving ---- */

static void save_tables(const struct vcpu_state *s, struct state_writer *w)
{
	for (unsigned i = 0; i < 8; i++) {
		uint8_t seg[SEGMENT_BYTES];
		pack_segment(segment_of(s, i), seg);
		state_put_bytes(w, segment_keys[i], seg, sizeof(seg), STATE_ESSENTIAL);
	}
	const struct vcpu_dtable *tables[2] = {&s->gdt, &s->idt};
	for (unsigned i = 0; i < 2; i++) {
		uint8_t t[DTABLE_BYTES];
		le_put(le_put(t, tables[i]->base, 8), tables[i]->limit, 2);
		state_put_bytes(w, i ? "idt" : "gdt", t, sizeof(t), STATE_ESSENTIAL);
	}
}

/* Optional: a reader that predates it loses only the breakpoints, which a guest rarely has
 * armed, and still resumes the guest. */
static void save_debugregs(const struct vcpu_state *s, struct state_writer *w)
{
	uint8_t dr[DEBUG_BYTES];
	uint8_t *p = dr;
	for (unsigned i = 0; i < 4; i++)
		p = le_put(p, s->dr[i], 8);
	le_put(le_put(p, s->dr6, 8), s->dr7, 8);
	state_put_bytes(w, "debugregs", dr, sizeof(dr), 0);
}

void vcpu_state_save(const struct vcpu_state *s, struct state_writer *w)
{
	state_record_begin(w, RECORD_NAME, RECORD_VERSION, RECORD_VERSION);
	uint8_t gpr[GPR_COUNT * 8];
	for (unsigned i = 0; i < GPR_COUNT; i++)
		le_put(gpr + 8 * i, s->gpr[i], 8);
	state_put_bytes(w, "gpr", gpr, sizeof(gpr), STATE_ESSENTIAL);
	const struct {
		const char *key;
		uint64_t value;
	} regs[] = {{"rip", s->rip},   {"rflags", s->rflags},	 {"cr0", s->cr0},
		    {"cr2", s->cr2},   {"cr3", s->cr3},		 {"cr4", s->cr4},
		    {"cr8", s->cr8},   {"efer", s->efer},	 {"apic_base", s->apic_base},
		    {"xcr0", s->xcr0}, {"mp_state", s->mp_state}};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		state_put_u64(w, regs[i].key, regs[i].value, STATE_ESSENTIAL);
	save_tables(s, w);
	uint8_t msrs[VCPU_MAX_MSRS * MSR_BYTES];
	uint32_t nr = s->nr_msrs <= VCPU_MAX_MSRS ? s->nr_msrs : VCPU_MAX_MSRS;
	for (uint32_t i = 0; i < nr; i++)
		le_put(le_put(msrs + MSR_BYTES * i, s->msrs[i].index, 4), s->msrs[i].value, 8);
	state_put_bytes(w, "msrs", msrs, nr * MSR_BYTES, STATE_ESSENTIAL);
	state_put_bytes(w, "xsave", s->xsave, VCPU_XSAVE_BYTES, STATE_ESSENTIAL);
	if (s->has_lapic)
		state_put_bytes(w, "lapic", s->lapic, VCPU_LAPIC_BYTES, STATE_ESSENTIAL);
	uint8_t events[EVENTS_BYTES] = {0};
	pack_events(&s->events, events);
	state_put_bytes(w, "events", events, sizeof(events), STATE_ESSENTIAL);
	save_debugregs(s, w);
	state_record_end(w);
}

/* ---- loading ---- */

/* A bytes field of exactly `len` bytes, or NULL. */
static const uint8_t *exact_bytes(const struct state_record *rec, const char *key, uint32_t len)
{
	const void *data;
	uint32_t got;
	return state_get_bytes(rec, key, &data, &got) == 0 && got == len ? data : NULL;
}

static bool load_registers(struct vcpu_state *s, const struct state_record *rec)
{
	const uint8_t *gpr = exact_bytes(rec, "gpr", GPR_COUNT * 8);
	if (!gpr)
		return false;
	for (unsigned i = 0; i < GPR_COUNT; i++)
		s->gpr[i] = le_take(&gpr, 8);
	uint64_t *regs[] = {&s->rip, &s->rflags, &s->cr0,  &s->cr2,	  &s->cr3,
			    &s->cr4, &s->cr8,	 &s->efer, &s->apic_base, &s->xcr0};
	const char *keys[] = {"rip", "rflags", "cr0",  "cr2",	    "cr3",
			      "cr4", "cr8",    "efer", "apic_base", "xcr0"};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (state_get_u64(rec, keys[i], regs[i]) < 0)
			return false;
	uint64_t mp;
	if (state_get_u64(rec, "mp_state", &mp) < 0 || mp > VCPU_MP_HALTED)
		return false;
	s->mp_state = (enum vcpu_mp_state)mp;
	return true;
}

static bool load_tables(struct vcpu_state *s, const struct state_record *rec)
{
	for (unsigned i = 0; i < 8; i++) {
		const uint8_t *seg = exact_bytes(rec, segment_keys[i], SEGMENT_BYTES);
		if (!seg || !unpack_segment(seg, (struct vcpu_segment *)segment_of(s, i)))
			return false;
	}
	struct vcpu_dtable *tables[2] = {&s->gdt, &s->idt};
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *t = exact_bytes(rec, i ? "idt" : "gdt", DTABLE_BYTES);
		if (!t)
			return false;
		tables[i]->base = le_take(&t, 8);
		tables[i]->limit = (uint16_t)le_take(&t, 2);
	}
	return true;
}

static bool load_blobs(struct vcpu_state *s, const struct state_record *rec)
{
	const void *msrs;
	uint32_t len;
	if (state_get_bytes(rec, "msrs", &msrs, &len) < 0 || len % MSR_BYTES != 0 ||
	    len / MSR_BYTES > VCPU_MAX_MSRS)
		return false;
	s->nr_msrs = len / MSR_BYTES;
	const uint8_t *p = msrs;
	for (uint32_t i = 0; i < s->nr_msrs; i++) {
		s->msrs[i].index = (uint32_t)le_take(&p, 4);
		s->msrs[i].reserved = 0;
		s->msrs[i].value = le_take(&p, 8);
	}
	const uint8_t *xsave = exact_bytes(rec, "xsave", VCPU_XSAVE_BYTES);
	const uint8_t *events = exact_bytes(rec, "events", EVENTS_BYTES);
	if (!xsave || !events || !unpack_events(events, &s->events))
		return false;
	memcpy(s->xsave, xsave, VCPU_XSAVE_BYTES);
	const void *lapic;
	s->has_lapic = state_get_bytes(rec, "lapic", &lapic, &len) == 0;
	if (s->has_lapic && len != VCPU_LAPIC_BYTES)
		return false;
	if (s->has_lapic)
		memcpy(s->lapic, lapic, VCPU_LAPIC_BYTES);
	return true;
}

/* A record written before the field existed loads with the registers' reset values. DR6 and
 * DR7 are 32-bit registers: KVM_SET_DEBUGREGS refuses set upper halves, and so does this. */
static bool load_debugregs(struct vcpu_state *s, const struct state_record *rec)
{
	const void *data;
	uint32_t len;
	if (state_get_bytes(rec, "debugregs", &data, &len) < 0) {
		memset(s->dr, 0, sizeof(s->dr));
		s->dr6 = X86_DR6_RESET;
		s->dr7 = X86_DR7_RESET;
		return true;
	}
	if (len != DEBUG_BYTES)
		return false;
	const uint8_t *p = data;
	for (unsigned i = 0; i < 4; i++)
		s->dr[i] = le_take(&p, 8);
	s->dr6 = le_take(&p, 8);
	s->dr7 = le_take(&p, 8);
	return (s->dr6 >> 32) == 0 && (s->dr7 >> 32) == 0;
}

int vcpu_state_load(struct vcpu_state *s, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {RECORD_NAME, RECORD_VERSION, 1, record_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	struct vcpu_state *next = calloc(1, sizeof(*next));
	if (!next) {
		snprintf(err, err_len, "vcpu state: out of memory");
		return -1;
	}
	next->version = VCPU_STATE_VERSION;
	bool ok = load_registers(next, rec) && load_tables(next, rec) && load_blobs(next, rec) &&
		  load_debugregs(next, rec);
	if (ok)
		*s = *next;
	else
		snprintf(err, err_len,
			 "vcpu state: a field is missing, has the wrong size or is out of range");
	free(next);
	return ok ? 0 : -1;
}
