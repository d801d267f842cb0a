/* A vCPU's state through its "vcpu" state record: every field comes back (saving the loaded
 * state gives the same bytes again, and spot checks of each kind of field), a state without a
 * LAPIC stays without one, a record from before the debug registers loads them at their reset
 * values, and records with out-of-range values are refused without touching the target. */
#include "accel/vcpu_state_record.h"
#include "lib/state_record.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct vcpu_state *sample_state(void)
{
	struct vcpu_state *s = calloc(1, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	for (unsigned i = 0; i < GPR_COUNT; i++)
		s->gpr[i] = 0x1111111111111111ull * (i + 1);
	s->rip = 0xffffffff81000000ull;
	s->rflags = 0x246;
	for (unsigned i = 0; i < SREG_COUNT; i++)
		s->seg[i] = (struct vcpu_segment){.base = i * 0x1000,
						  .limit = 0xfffff,
						  .selector = (uint16_t)(0x10 + 8 * i),
						  .type = (uint8_t)(0xb - i),
						  .present = 1,
						  .dpl = (uint8_t)(i % 4),
						  .s = 1,
						  .l = i == SREG_CS,
						  .g = 1};
	s->tr = (struct vcpu_segment){
	    .base = 0xfffffe0000003000ull, .limit = 0x67, .type = 0xb, .present = 1};
	s->ldt.unusable = 1;
	s->gdt = (struct vcpu_dtable){0xfffffe0000001000ull, 0x7f};
	s->idt = (struct vcpu_dtable){0xfffffe0000000000ull, 0xfff};
	s->cr0 = 0x80050033, s->cr2 = 0x7f0012340000ull, s->cr3 = 0x1234000, s->cr4 = 0x3506f0;
	s->cr8 = 2, s->efer = 0xd01, s->apic_base = 0xfee00900, s->xcr0 = 7;
	s->nr_msrs = 3;
	s->msrs[0] = (struct vcpu_msr){.index = 0xc0000080, .value = 0xd01};
	s->msrs[1] = (struct vcpu_msr){.index = 0x10, .value = 0x123456789abcull};
	s->msrs[2] = (struct vcpu_msr){.index = 0xc0000102, .value = 0xffff888000000000ull};
	for (unsigned i = 0; i < VCPU_XSAVE_BYTES; i++)
		s->xsave[i] = (uint8_t)(i * 7);
	s->has_lapic = true;
	for (unsigned i = 0; i < VCPU_LAPIC_BYTES; i++)
		s->lapic[i] = (uint8_t)(i * 13);
	s->events.exception.pending = true;
	s->events.exception.vector = 14;
	s->events.exception.has_error_code = true;
	s->events.exception.error_code = 6;
	s->events.exception.payload = 0xdeadbeef;
	s->events.interrupt.shadow = 1;
	s->events.nmi.masked = true;
	s->events.sipi_vector = 0x9a;
	s->mp_state = VCPU_MP_HALTED;
	for (unsigned i = 0; i < 4; i++)
		s->dr[i] = 0xffffffff81000000ull + i;
	s->dr6 = 0xffff4ff1;
	s->dr7 = 0x000d0703;
	return s;
}

static struct state_writer save(const struct vcpu_state *s)
{
	struct state_writer w;
	state_writer_init(&w);
	vcpu_state_save(s, &w);
	cr_assert_not(state_writer_failed(&w));
	return w;
}

static struct state_record parse(const struct state_writer *w)
{
	struct state_record rec;
	char err[200];
	size_t pos = 0;
	cr_assert_eq(state_record_parse(w->buf, w->len, &pos, &rec, err, sizeof(err)), 0, "%s",
		     err);
	return rec;
}

Test(vcpu_state_record, every_field_comes_back)
{
	struct vcpu_state *s = sample_state(), *t = calloc(1, sizeof(*t));
	struct state_writer w = save(s);
	struct state_record rec = parse(&w);
	char err[200];
	cr_assert_eq(vcpu_state_load(t, &rec, err, sizeof(err)), 0, "%s", err);
	struct state_writer again = save(t);
	cr_assert_eq(again.len, w.len);
	cr_assert_eq(memcmp(again.buf, w.buf, w.len), 0, "the loaded state saves differently");
	cr_assert_eq(t->gpr[GPR_R15], s->gpr[GPR_R15]);
	cr_assert_eq(t->rip, s->rip);
	cr_assert_eq(t->seg[SREG_CS].l, 1);
	cr_assert_eq(t->seg[SREG_GS].dpl, SREG_GS % 4);
	cr_assert_eq(t->tr.base, s->tr.base);
	cr_assert_eq(t->ldt.unusable, 1);
	cr_assert_eq(t->idt.limit, 0xfff);
	cr_assert_eq(t->nr_msrs, 3);
	cr_assert_eq(t->msrs[2].value, s->msrs[2].value);
	cr_assert_eq(memcmp(t->xsave, s->xsave, VCPU_XSAVE_BYTES), 0);
	cr_assert(t->has_lapic);
	cr_assert_eq(memcmp(t->lapic, s->lapic, VCPU_LAPIC_BYTES), 0);
	cr_assert_eq(t->events.exception.error_code, 6);
	cr_assert_eq(t->events.exception.payload, 0xdeadbeef);
	cr_assert(t->events.nmi.masked);
	cr_assert_eq(t->events.sipi_vector, 0x9a);
	cr_assert_eq(t->mp_state, VCPU_MP_HALTED);
	cr_assert_eq(t->dr[3], s->dr[3]);
	cr_assert_eq(t->dr6, 0xffff4ff1);
	cr_assert_eq(t->dr7, 0x000d0703);
	state_writer_free(&w);
	state_writer_free(&again);
	free(s);
	free(t);
}

Test(vcpu_state_record, a_state_without_lapic_stays_without)
{
	struct vcpu_state *s = sample_state(), *t = sample_state();
	s->has_lapic = false;
	struct state_writer w = save(s);
	struct state_record rec = parse(&w);
	char err[200];
	cr_assert_eq(vcpu_state_load(t, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(t->has_lapic);
	state_writer_free(&w);
	free(s);
	free(t);
}

/* "debugregs" is the last field vcpu_state_save writes: dropping it from the record's end (and
 * from its body_len) gives the record a writer from before the field wrote. */
#define DEBUGREGS_FIELD_BYTES (1 + 9 + 1 + 4 + 48)
#define VCPU_BODY_LEN_AT      (1 + 4 + 4 + 4)

Test(vcpu_state_record, a_record_without_debug_registers_loads_them_at_reset)
{
	struct vcpu_state *s = sample_state(), *t = sample_state();
	struct state_writer w = save(s);
	uint32_t body_len;
	memcpy(&body_len, w.buf + VCPU_BODY_LEN_AT, 4);
	body_len -= DEBUGREGS_FIELD_BYTES;
	memcpy(w.buf + VCPU_BODY_LEN_AT, &body_len, 4);
	w.len -= DEBUGREGS_FIELD_BYTES;
	struct state_record rec = parse(&w);
	const void *data;
	uint32_t len;
	cr_assert_eq(state_get_bytes(&rec, "debugregs", &data, &len), -1);
	char err[200];
	cr_assert_eq(vcpu_state_load(t, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(t->dr[0], 0);
	cr_assert_eq(t->dr6, X86_DR6_RESET);
	cr_assert_eq(t->dr7, X86_DR7_RESET);
	cr_assert_eq(t->rip, s->rip);
	state_writer_free(&w);
	free(s);
	free(t);
}

/* Saves `s` after `spoil` changed it, loads into a sample state: must be refused, unchanged. */
static void expect_refused(void (*spoil)(struct vcpu_state *), const char *what)
{
	struct vcpu_state *s = sample_state(), *t = sample_state();
	t->rip = 0x1234;
	spoil(s);
	struct state_writer w = save(s);
	struct state_record rec = parse(&w);
	char err[200] = "";
	cr_assert_eq(vcpu_state_load(t, &rec, err, sizeof(err)), -1, "%s was accepted", what);
	cr_assert_gt(strlen(err), 0);
	cr_assert_eq(t->rip, 0x1234, "a refused load changed the target (%s)", what);
	state_writer_free(&w);
	free(s);
	free(t);
}

static void bad_dpl(struct vcpu_state *s)
{
	s->seg[SREG_SS].dpl = 4;
}

static void bad_type(struct vcpu_state *s)
{
	s->tr.type = 16;
}

static void bad_mp_state(struct vcpu_state *s)
{
	s->mp_state = (enum vcpu_mp_state)9;
}

static void bad_exception_vector(struct vcpu_state *s)
{
	s->events.exception.vector = 200;
}

static void bad_dr7(struct vcpu_state *s)
{
	s->dr7 = 1ull << 32;
}

Test(vcpu_state_record, out_of_range_values_are_refused_and_change_nothing)
{
	expect_refused(bad_dr7, "a DR7 with its upper half set");
	expect_refused(bad_dpl, "a DPL of 4");
	expect_refused(bad_type, "a segment type of 16");
	expect_refused(bad_mp_state, "an unknown MP state");
	expect_refused(bad_exception_vector, "an exception vector of 200");
}

Test(vcpu_state_record, a_truncated_msr_list_is_refused)
{
	struct state_writer w;
	state_writer_init(&w);
	state_record_begin(&w, "vcpu", 1, 1);
	state_put_bytes(&w, "msrs", "0123456789a", 11, STATE_ESSENTIAL);
	state_record_end(&w);
	struct state_record rec = parse(&w);
	struct vcpu_state *t = sample_state();
	char err[200];
	cr_assert_eq(vcpu_state_load(t, &rec, err, sizeof(err)), -1);
	state_writer_free(&w);
	free(t);
}
