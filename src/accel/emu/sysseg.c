/* Segmentation and control transfers of system mode: descriptors from the GDT/LDT, segment
 * register loads with their checks (SDM Vol. 3 ch. 5, Vol. 2 MOV/POP/LDS), far JMP/CALL/RET,
 * IRET, and the delivery of exceptions and interrupts through the IVT (real mode) or the IDT
 * (protected and long mode: SDM Vol. 3 6.12, 6.14), with stack switches from the TSS, IST,
 * error codes, double and triple faults (6.15, Table 6-5).
 *
 * Not implemented (an internal error names them): hardware task switches (task gates, JMP or
 * CALL to a TSS, IRET with NT), call gates, virtual-8086 mode. A 64-bit OS uses none. */
#include "accel/emu/sys.h"

#include <string.h>

#define SEL_RPL(s)   ((unsigned)(s)&3u)
#define SEL_INDEX(s) ((s)&0xfff8u)
#define SEL_TI	     4u

#define DESC_TYPE(d)  ((unsigned)((d) >> 40) & 0xfu)
#define DESC_S(d)     (((d) >> 44) & 1u)
#define DESC_DPL(d)   ((unsigned)((d) >> 45) & 3u)
#define DESC_P(d)     (((d) >> 47) & 1u)
#define DESC_L(d)     (((d) >> 53) & 1u)
#define DESC_DB(d)    (((d) >> 54) & 1u)
#define TYPE_CODE     8u
#define TYPE_CONFORM  4u /* code */
#define TYPE_READABLE 2u /* code */
#define TYPE_WRITABLE 2u /* data */
#define TYPE_ACCESSED 1u
#define IS_CODE(d)    (DESC_S(d) && (DESC_TYPE(d) & TYPE_CODE))
#define IS_DATA(d)    (DESC_S(d) && !(DESC_TYPE(d) & TYPE_CODE))
#define CONFORMING(d) (IS_CODE(d) && (DESC_TYPE(d) & TYPE_CONFORM))

static int fault(struct emu_cpu *cpu, uint8_t vector, uint32_t code)
{
	return emu_raise(cpu, vector, true, code);
}

static bool fail(struct emu_cpu *cpu, uint8_t vector, uint32_t code)
{
	fault(cpu, vector, code);
	return false;
}

#define VEC_NMI 2
#define VEC_DF	8
#define VEC_TS	10
#define VEC_NP	11
#define VEC_SS	12
#define VEC_GP	13
#define VEC_PF	14

void emu_sys_unpack_descriptor(uint64_t d, uint16_t selector, struct vcpu_segment *s)
{
	uint32_t limit = (uint32_t)(d & 0xffff) | (uint32_t)((d >> 32) & 0xf0000);
	*s = (struct vcpu_segment){.selector = selector,
				   .type = (uint8_t)DESC_TYPE(d),
				   .s = (uint8_t)DESC_S(d),
				   .dpl = (uint8_t)DESC_DPL(d),
				   .present = (uint8_t)DESC_P(d),
				   .avl = (uint8_t)((d >> 52) & 1),
				   .l = (uint8_t)DESC_L(d),
				   .db = (uint8_t)DESC_DB(d),
				   .g = (uint8_t)((d >> 55) & 1)};
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000ULL);
}

/* Where the descriptor of `selector` is: false with #GP(selector) raised when outside the
 * table. */
static bool descriptor_address(struct emu_cpu *cpu, uint16_t selector, unsigned size, uint64_t *lin)
{
	const struct vcpu_state *st = &cpu->state;
	uint64_t base, limit;
	if (selector & SEL_TI) {
		if (st->ldt.unusable || !st->ldt.present)
			return fail(cpu, VEC_GP, selector & 0xfffc);
		base = st->ldt.base;
		limit = st->ldt.limit;
	} else {
		base = st->gdt.base;
		limit = st->gdt.limit;
	}
	if (SEL_INDEX(selector) + size - 1 > limit)
		return fail(cpu, VEC_GP, selector & 0xfffc);
	*lin = base + SEL_INDEX(selector);
	return true;
}

bool emu_sys_read_descriptor(struct emu_cpu *cpu, uint16_t selector, uint64_t *desc)
{
	uint64_t lin;
	return descriptor_address(cpu, selector, 8, &lin) && emu_sys_read_sup(cpu, lin, desc, 8);
}

/* Sets the accessed bit of a code/data descriptor (SDM 3.4.5.1) when it is clear. */
static bool set_accessed(struct emu_cpu *cpu, uint16_t selector, uint64_t *desc)
{
	if (DESC_TYPE(*desc) & TYPE_ACCESSED)
		return true;
	uint64_t lin;
	if (!descriptor_address(cpu, selector, 8, &lin))
		return false;
	uint8_t b = (uint8_t)(*desc >> 40) | TYPE_ACCESSED;
	if (!emu_sys_write_sup(cpu, lin + 5, &b, 1))
		return false;
	*desc |= 1ULL << 40;
	return true;
}

void emu_sys_mode_changed(struct emu_cpu *cpu)
{
	const struct vcpu_state *st = &cpu->state;
	if ((st->efer & X86_EFER_LMA) && st->seg[SREG_CS].l)
		cpu->mode = EMU_MODE_64;
	else
		cpu->mode = st->seg[SREG_CS].db ? EMU_MODE_32 : EMU_MODE_16;
	cpu->ctx = emu_compute_ctx(cpu);
	emu_sys_tlb_select(cpu);
}

/* Real mode and virtual-8086 mode: base = selector << 4, attributes kept (real mode) or those
 * of virtual-8086 mode. */
static void load_real(struct emu_cpu *cpu, unsigned sreg, uint16_t selector)
{
	struct vcpu_segment *s = &cpu->state.seg[sreg];
	s->selector = selector;
	s->base = (uint64_t)selector << 4;
	if (emu_sys_vm86(cpu)) {
		*s = (struct vcpu_segment){.selector = selector,
					   .base = (uint64_t)selector << 4,
					   .limit = 0xffff,
					   .type = sreg == SREG_CS ? 0xb : 0x3,
					   .s = 1,
					   .dpl = 3,
					   .present = 1};
	}
	s->unusable = 0;
}

bool emu_sys_load_seg(struct emu_cpu *cpu, unsigned sreg, uint16_t selector)
{
	struct vcpu_segment *s = &cpu->state.seg[sreg];
	if (!emu_sys_protected(cpu) || emu_sys_vm86(cpu)) {
		load_real(cpu, sreg, selector);
		if (sreg == SREG_SS)
			cpu->sys->shadow = 2;
		return true;
	}
	unsigned cpl = cpu->cpl, rpl = SEL_RPL(selector);
	if ((selector & 0xfffc) == 0) {
		if (sreg == SREG_SS) {
			/* A null SS only in 64-bit mode, below CPL 3, with RPL = CPL. */
			if (!(cpu->mode == EMU_MODE_64 && cpl != 3 && rpl == cpl))
				return fail(cpu, VEC_GP, 0);
			*s = (struct vcpu_segment){
			    .selector = selector, .unusable = 1, .dpl = (uint8_t)cpl, .db = 1};
			cpu->sys->shadow = 2;
			return true;
		}
		s->selector = selector;
		s->unusable = 1;
		s->present = 0;
		if (cpu->mode != EMU_MODE_64 || (sreg != SREG_FS && sreg != SREG_GS))
			s->base = 0;
		return true;
	}
	uint64_t d;
	if (!emu_sys_read_descriptor(cpu, selector, &d))
		return false;
	unsigned dpl = DESC_DPL(d), type = DESC_TYPE(d);
	if (sreg == SREG_SS) {
		if (rpl != cpl || dpl != cpl || !IS_DATA(d) || !(type & TYPE_WRITABLE))
			return fail(cpu, VEC_GP, selector & 0xfffc);
		if (!DESC_P(d))
			return fail(cpu, VEC_SS, selector & 0xfffc);
	} else {
		if (!DESC_S(d) || (IS_CODE(d) && !(type & TYPE_READABLE)))
			return fail(cpu, VEC_GP, selector & 0xfffc);
		if (!CONFORMING(d) && (cpl > dpl || rpl > dpl))
			return fail(cpu, VEC_GP, selector & 0xfffc);
		if (!DESC_P(d))
			return fail(cpu, VEC_NP, selector & 0xfffc);
	}
	if (!set_accessed(cpu, selector, &d))
		return false;
	emu_sys_unpack_descriptor(d, selector, s);
	if (sreg == SREG_SS)
		cpu->sys->shadow = 2;
	return true;
}

/* ---- CS loads ---- */

static void load_cs(struct emu_cpu *cpu, uint16_t selector, uint64_t desc, unsigned new_cpl)
{
	struct vcpu_segment *cs = &cpu->state.seg[SREG_CS];
	emu_sys_unpack_descriptor(desc, (uint16_t)((selector & ~3u) | new_cpl), cs);
	cpu->cpl = (uint8_t)new_cpl;
	emu_sys_mode_changed(cpu);
}

/* The checks of a code segment that a far JMP/CALL to it makes (SDM Vol. 2 JMP): false with
 * the fault raised. */
static bool check_code_target(struct emu_cpu *cpu, uint16_t selector, uint64_t d)
{
	unsigned cpl = cpu->cpl, dpl = DESC_DPL(d);
	if (CONFORMING(d)) {
		if (dpl > cpl)
			return fail(cpu, VEC_GP, selector & 0xfffc);
	} else if (SEL_RPL(selector) > cpl || dpl != cpl) {
		return fail(cpu, VEC_GP, selector & 0xfffc);
	}
	if (!DESC_P(d))
		return fail(cpu, VEC_NP, selector & 0xfffc);
	if (emu_sys_long_mode(cpu) && DESC_L(d) && DESC_DB(d))
		return fail(cpu, VEC_GP, selector & 0xfffc);
	return true;
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* The offset as the target code segment sees it: a 64-bit target must be canonical. */
static bool target_offset(struct emu_cpu *cpu, uint64_t d, uint64_t *off)
{
	if (emu_sys_long_mode(cpu) && DESC_L(d)) {
		if (!canonical(*off))
			return fail(cpu, VEC_GP, 0);
		return true;
	}
	*off &= 0xffffffffULL;
	return true;
}

/* The code descriptor for a far transfer to `selector`, or false with the fault raised
 * (including gates and TSSs, which are not implemented). */
static bool far_target(struct emu_cpu *cpu, uint16_t selector, uint64_t *d)
{
	if ((selector & 0xfffc) == 0)
		return fail(cpu, VEC_GP, 0);
	if (!emu_sys_read_descriptor(cpu, selector, d))
		return false;
	if (!DESC_S(*d)) {
		emu_sys_internal(cpu,
				 "far transfer through system descriptor type %u (selector %#x)",
				 DESC_TYPE(*d), selector);
		return false;
	}
	if (!IS_CODE(*d))
		return fail(cpu, VEC_GP, selector & 0xfffc);
	return true;
}

/* Pushes `n` values of `size` bytes at once (nothing is written or changed if any faults). */
static bool push_values(struct emu_cpu *cpu, unsigned size, const uint64_t *v, unsigned n)
{
	uint8_t buf[6 * 8];
	uint64_t sp_mask = emu_stack_mask(cpu);
	uint64_t sp = (cpu->state.gpr[GPR_RSP] - n * size) & sp_mask;
	for (unsigned k = 0; k < n; k++)
		store_host(buf + (n - 1 - k) * size, size, v[k]);
	uint64_t lin = emu_stack_linear(cpu, sp);
	if (!emu_write_bytes(cpu, lin, buf, n * size))
		return false;
	cpu->state.gpr[GPR_RSP] = (cpu->state.gpr[GPR_RSP] & ~sp_mask) | sp;
	return true;
}

/* A far JMP (`ret` NULL) or CALL (`ret`: the CS and return offset it pushes) to sel:off. In
 * protected mode the target's checks come before the pushes, and nothing changes if either
 * faults. */
static int far_transfer(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t sel, uint64_t off,
			const uint64_t ret[2])
{
	bool real = !emu_sys_protected(cpu) || emu_sys_vm86(cpu);
	uint64_t d = 0;
	if (!real && (!far_target(cpu, sel, &d) || !check_code_target(cpu, sel, d) ||
		      !target_offset(cpu, d, &off) || !set_accessed(cpu, sel, &d)))
		return EMU_STOP;
	if (ret && !push_values(cpu, i->opsize, ret, 2))
		return EMU_STOP;
	if (real) {
		load_real(cpu, SREG_CS, sel);
		emu_sys_mode_changed(cpu);
		off &= size_mask(i->opsize);
	} else {
		load_cs(cpu, sel, d, cpu->cpl);
	}
	cpu->next_rip = off;
	return EMU_BRANCH;
}

int emu_sys_far_jmp(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t sel, uint64_t off)
{
	return far_transfer(cpu, i, sel, off, NULL);
}

int emu_sys_far_call(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t sel, uint64_t off)
{
	uint64_t ret[2] = {cpu->state.seg[SREG_CS].selector, i->next_rip};
	return far_transfer(cpu, i, sel, off, ret);
}

/* Reads `n` values of `size` bytes from the stack at RSP + `skip` without popping. */
static bool peek_values(struct emu_cpu *cpu, unsigned size, uint64_t skip, uint64_t *v, unsigned n)
{
	uint8_t buf[6 * 8];
	uint64_t sp_mask = emu_stack_mask(cpu);
	uint64_t sp = (cpu->state.gpr[GPR_RSP] + skip) & sp_mask;
	uint64_t lin = emu_stack_linear(cpu, sp);
	if (!emu_read_bytes(cpu, lin, buf, n * size))
		return false;
	for (unsigned k = 0; k < n; k++)
		v[k] = load_host(buf + k * size, size);
	return true;
}

static void add_rsp(struct emu_cpu *cpu, uint64_t bytes)
{
	uint64_t sp_mask = emu_stack_mask(cpu);
	uint64_t sp = (cpu->state.gpr[GPR_RSP] + bytes) & sp_mask;
	cpu->state.gpr[GPR_RSP] = (cpu->state.gpr[GPR_RSP] & ~sp_mask) | sp;
}

/* Checks the SS a return to privilege `rpl` pops (SDM Vol. 2 RET/IRET); `code_d` is the
 * descriptor of the CS being returned to. */
static bool check_return_ss(struct emu_cpu *cpu, uint16_t ss_sel, unsigned rpl, uint64_t code_d,
			    uint64_t *ss_d, bool *null_ss)
{
	*null_ss = false;
	if ((ss_sel & 0xfffc) == 0) {
		/* 64-bit mode may return to a 64-bit CPL 0-2 with a null SS */
		if (cpu->mode == EMU_MODE_64 && DESC_L(code_d) && rpl != 3) {
			*null_ss = true;
			return true;
		}
		return fail(cpu, VEC_GP, 0);
	}
	if (!emu_sys_read_descriptor(cpu, ss_sel, ss_d))
		return false;
	if (SEL_RPL(ss_sel) != rpl || DESC_DPL(*ss_d) != rpl || !IS_DATA(*ss_d) ||
	    !(DESC_TYPE(*ss_d) & TYPE_WRITABLE))
		return fail(cpu, VEC_GP, ss_sel & 0xfffc);
	if (!DESC_P(*ss_d))
		return fail(cpu, VEC_SS, ss_sel & 0xfffc);
	return set_accessed(cpu, ss_sel, ss_d);
}

/* After a return to an outer privilege: data segments the new CPL may not use become null
 * (SDM Vol. 2 RET, "return to outer privilege level"). */
static void clear_inner_segments(struct emu_cpu *cpu)
{
	static const unsigned regs[] = {SREG_ES, SREG_DS, SREG_FS, SREG_GS};
	for (unsigned k = 0; k < 4; k++) {
		struct vcpu_segment *s = &cpu->state.seg[regs[k]];
		bool conforming_code = s->s && (s->type & TYPE_CODE) && (s->type & TYPE_CONFORM);
		if (!s->unusable && !conforming_code && s->dpl < cpu->cpl) {
			s->selector = 0;
			s->unusable = 1;
			s->present = 0;
		}
	}
}

static void load_ss(struct emu_cpu *cpu, uint16_t sel, uint64_t d, bool null_ss, unsigned rpl)
{
	struct vcpu_segment *ss = &cpu->state.seg[SREG_SS];
	if (null_ss)
		*ss = (struct vcpu_segment){
		    .selector = sel, .unusable = 1, .dpl = (uint8_t)rpl, .db = 1};
	else
		emu_sys_unpack_descriptor(d, sel, ss);
}

/* Return-CS checks of RETF and IRET. */
static bool check_return_cs(struct emu_cpu *cpu, uint16_t sel, uint64_t *d)
{
	if ((sel & 0xfffc) == 0)
		return fail(cpu, VEC_GP, 0);
	if (!emu_sys_read_descriptor(cpu, sel, d))
		return false;
	unsigned rpl = SEL_RPL(sel), dpl = DESC_DPL(*d);
	if (!IS_CODE(*d) || rpl < cpu->cpl)
		return fail(cpu, VEC_GP, sel & 0xfffc);
	if (CONFORMING(*d) ? dpl > rpl : dpl != rpl)
		return fail(cpu, VEC_GP, sel & 0xfffc);
	if (!DESC_P(*d))
		return fail(cpu, VEC_NP, sel & 0xfffc);
	if (emu_sys_long_mode(cpu) && DESC_L(*d) && DESC_DB(*d))
		return fail(cpu, VEC_GP, sel & 0xfffc);
	return set_accessed(cpu, sel, d);
}

int emu_sys_far_ret(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t pop_bytes)
{
	unsigned size = i->opsize;
	uint64_t v[4];
	if (!peek_values(cpu, size, 0, v, 2))
		return EMU_STOP;
	uint16_t sel = (uint16_t)v[1];
	uint64_t off = v[0];
	if (!emu_sys_protected(cpu) || emu_sys_vm86(cpu)) {
		add_rsp(cpu, 2 * size + pop_bytes);
		load_real(cpu, SREG_CS, sel);
		emu_sys_mode_changed(cpu);
		cpu->next_rip = off & size_mask(size);
		return EMU_BRANCH;
	}
	uint64_t d;
	if (!check_return_cs(cpu, sel, &d) || !target_offset(cpu, d, &off))
		return EMU_STOP;
	unsigned rpl = SEL_RPL(sel);
	if (rpl == cpu->cpl) {
		add_rsp(cpu, 2 * size + pop_bytes);
		load_cs(cpu, sel, d, rpl);
		cpu->next_rip = off;
		return EMU_BRANCH;
	}
	/* To an outer privilege level: SS:RSP follow the parameters. */
	uint64_t sv[2], ss_d = 0;
	bool null_ss;
	if (!peek_values(cpu, size, 2 * size + pop_bytes, sv, 2) ||
	    !check_return_ss(cpu, (uint16_t)sv[1], rpl, d, &ss_d, &null_ss))
		return EMU_STOP;
	load_cs(cpu, sel, d, rpl);
	load_ss(cpu, (uint16_t)sv[1], ss_d, null_ss, rpl);
	cpu->state.gpr[GPR_RSP] = sv[0] & size_mask(size);
	add_rsp(cpu, pop_bytes);
	clear_inner_segments(cpu);
	cpu->next_rip = off;
	return EMU_BRANCH;
}

/* EFLAGS bits a POPF/IRET may change (SDM Vol. 2 POPF table, IRET). */
static uint64_t writable_flags(const struct emu_cpu *cpu, unsigned cpl)
{
	uint64_t m = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_RF | FL_AC | FL_ID;
	if (cpl <= emu_iopl(cpu))
		m |= FL_IF;
	if (cpl == 0)
		m |= FL_IOPL | FL_VIF | FL_VIP;
	return m;
}

int emu_sys_iret(struct emu_cpu *cpu, const struct emu_insn *i)
{
	unsigned size = i->opsize;
	struct emu_sys *s = cpu->sys;
	uint64_t v[5];
	uint64_t old_flags = emu_get_flags(cpu);
	if (!emu_sys_protected(cpu)) {
		if (!peek_values(cpu, size, 0, v, 3))
			return EMU_STOP;
		add_rsp(cpu, 3 * size);
		load_real(cpu, SREG_CS, (uint16_t)v[1]);
		uint64_t m =
		    size == 2 ? 0xffff : (0x3f7fd7ULL & ~(uint64_t)(FL_VM | FL_VIF | FL_VIP));
		cpu->flags = (old_flags & ~m) | (v[2] & m) | 2;
		cpu->lf.op = LF_NONE;
		emu_sys_mode_changed(cpu);
		s->nmi_masked = false;
		cpu->next_rip = v[0] & size_mask(size);
		return EMU_BRANCH;
	}
	if (emu_sys_vm86(cpu))
		return emu_sys_internal(cpu, "IRET in virtual-8086 mode");
	if ((old_flags & FL_NT) && !emu_sys_long_mode(cpu))
		return emu_sys_internal(cpu, "IRET with NT set (task return)");
	bool pops_stack = cpu->mode == EMU_MODE_64;
	if (!peek_values(cpu, size, 0, v, pops_stack ? 5 : 3))
		return EMU_STOP;
	uint64_t off = v[0], new_flags = v[2];
	uint16_t sel = (uint16_t)v[1];
	if ((new_flags & FL_VM) && cpu->cpl == 0 && !emu_sys_long_mode(cpu))
		return emu_sys_internal(cpu, "IRET to virtual-8086 mode");
	uint64_t d;
	if (!check_return_cs(cpu, sel, &d) || !target_offset(cpu, d, &off))
		return EMU_STOP;
	unsigned rpl = SEL_RPL(sel), old_cpl = cpu->cpl;
	bool outer = rpl > old_cpl;
	uint64_t ss_d = 0;
	bool null_ss = false;
	if (outer && !pops_stack && !peek_values(cpu, size, 3 * size, v + 3, 2))
		return EMU_STOP;
	if ((outer || pops_stack) && !check_return_ss(cpu, (uint16_t)v[4], rpl, d, &ss_d, &null_ss))
		return EMU_STOP;
	/* Everything checked: commit. */
	uint64_t m = writable_flags(cpu, old_cpl);
	if (size == 2)
		m &= 0xffff;
	else if (size == 4)
		m &= 0xffffffffULL;
	cpu->flags = (old_flags & ~m) | (new_flags & m) | 2;
	cpu->lf.op = LF_NONE;
	load_cs(cpu, sel, d, rpl);
	if (outer || pops_stack) {
		load_ss(cpu, (uint16_t)v[4], ss_d, null_ss, rpl);
		cpu->state.gpr[GPR_RSP] = size == 8 ? v[3] : v[3] & size_mask(size);
		if (size == 4 && cpu->mode != EMU_MODE_64)
			cpu->state.gpr[GPR_RSP] = (uint32_t)v[3];
	} else {
		add_rsp(cpu, 3 * size);
	}
	if (outer)
		clear_inner_segments(cpu);
	emu_sys_tlb_select(cpu); /* AC may have changed */
	s->nmi_masked = false;
	cpu->next_rip = off;
	return EMU_BRANCH;
}

/* ---- event delivery ---- */

/* A stack write for a frame, as an access at privilege `cpl` (the new one). */
static bool write_frame(struct emu_cpu *cpu, unsigned cpl, uint64_t lin, const void *buf,
			unsigned len)
{
	uint8_t old = cpu->cpl;
	cpu->cpl = (uint8_t)cpl;
	emu_sys_tlb_select(cpu);
	bool ok = emu_write_bytes(cpu, lin, buf, len);
	cpu->cpl = old;
	emu_sys_tlb_select(cpu);
	return ok;
}

static bool deliver_real(struct emu_cpu *cpu, uint8_t vector)
{
	struct vcpu_state *st = &cpu->state;
	uint32_t entry;
	if ((uint32_t)vector * 4 + 3 > st->idt.limit)
		return fail(cpu, VEC_GP, (uint32_t)vector * 8 + 2);
	if (!emu_sys_read_sup(cpu, st->idt.base + (uint64_t)vector * 4, &entry, 4))
		return false;
	uint64_t v[3] = {cpu->flags & 0xffff, st->seg[SREG_CS].selector, st->rip & 0xffff};
	if (!push_values(cpu, 2, v, 3))
		return false;
	cpu->flags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF);
	load_real(cpu, SREG_CS, (uint16_t)(entry >> 16));
	st->rip = entry & 0xffff;
	emu_sys_mode_changed(cpu);
	return true;
}

/* The stack pointer for privilege `dpl` (or IST entry `ist`) from the TSS (SDM 7.7, 6.14.5). */
static bool tss_stack(struct emu_cpu *cpu, unsigned dpl, unsigned ist, uint32_t ext, uint64_t *rsp,
		      uint16_t *ss)
{
	const struct vcpu_segment *tr = &cpu->state.tr;
	if (tr->unusable || !tr->present)
		return fail(cpu, VEC_TS, (tr->selector & 0xfffc) | ext);
	if (emu_sys_long_mode(cpu)) {
		unsigned off = ist ? 36 + (ist - 1) * 8 : 4 + dpl * 8;
		if (off + 7 > tr->limit)
			return fail(cpu, VEC_TS, (tr->selector & 0xfffc) | ext);
		if (!emu_sys_read_sup(cpu, tr->base + off, rsp, 8))
			return false;
		*ss = (uint16_t)dpl;
		return true;
	}
	bool tss16 = (tr->type & 7) == 1 || (tr->type & 7) == 3;
	unsigned off = tss16 ? 2 + dpl * 4 : 4 + dpl * 8, width = tss16 ? 2 : 4;
	if (off + width + 1 + (tss16 ? 0 : 2) > tr->limit)
		return fail(cpu, VEC_TS, (tr->selector & 0xfffc) | ext);
	uint32_t sp = 0;
	uint16_t sel = 0;
	if (!emu_sys_read_sup(cpu, tr->base + off, &sp, width) ||
	    !emu_sys_read_sup(cpu, tr->base + off + width, &sel, 2))
		return false;
	*rsp = sp;
	*ss = sel;
	return true;
}

static bool deliver_protected(struct emu_cpu *cpu, enum emu_event_kind kind, uint8_t vector,
			      bool has_code, uint32_t code)
{
	struct vcpu_state *st = &cpu->state;
	struct emu_sys *s = cpu->sys;
	bool lm = emu_sys_long_mode(cpu);
	uint32_t ext = kind == EMU_EVENT_SOFTWARE ? 0 : 1;
	uint32_t idt_code = (uint32_t)vector * 8 + 2 + ext;
	unsigned gsize = lm ? 16 : 8;
	if (emu_sys_vm86(cpu))
		return emu_sys_internal(cpu, "interrupt %u in virtual-8086 mode", vector), false;
	if ((uint32_t)vector * gsize + gsize - 1 > st->idt.limit)
		return fail(cpu, VEC_GP, idt_code);
	uint64_t g[2] = {0, 0};
	if (!emu_sys_read_sup(cpu, st->idt.base + (uint64_t)vector * gsize, g, gsize))
		return false;
	unsigned type = DESC_TYPE(g[0]), gdpl = DESC_DPL(g[0]);
	bool valid = lm ? (type == 0xe || type == 0xf)
			: (type == 0x6 || type == 0x7 || type == 0xe || type == 0xf);
	if (!lm && type == 0x5)
		return emu_sys_internal(cpu, "task gate for vector %u", vector), false;
	if (!valid || DESC_S(g[0]))
		return fail(cpu, VEC_GP, idt_code);
	if (kind == EMU_EVENT_SOFTWARE && gdpl < cpu->cpl)
		return fail(cpu, VEC_GP, idt_code);
	if (!DESC_P(g[0]))
		return fail(cpu, VEC_NP, idt_code);
	uint16_t sel = (uint16_t)(g[0] >> 16);
	uint64_t off = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000ULL);
	if (lm)
		off |= (g[1] & 0xffffffffULL) << 32;
	unsigned ist = lm ? (unsigned)(g[0] >> 32) & 7 : 0;
	bool gate32 = type & 8;
	if ((sel & 0xfffc) == 0)
		return fail(cpu, VEC_GP, ext);
	uint64_t d;
	if (!emu_sys_read_descriptor(cpu, sel, &d)) {
		cpu->pending.error_code |= ext;
		return false;
	}
	unsigned dpl = DESC_DPL(d);
	if (!IS_CODE(d) || dpl > cpu->cpl)
		return fail(cpu, VEC_GP, (sel & 0xfffc) | ext);
	if (!DESC_P(d))
		return fail(cpu, VEC_NP, (sel & 0xfffc) | ext);
	if (lm && (!DESC_L(d) || DESC_DB(d)))
		return fail(cpu, VEC_GP, (sel & 0xfffc) | ext);
	unsigned new_cpl = CONFORMING(d) ? cpu->cpl : dpl;
	bool inner = new_cpl < cpu->cpl;

	uint64_t flags = cpu->flags | 2;
	uint64_t old_rsp = st->gpr[GPR_RSP];
	uint16_t old_ss = st->seg[SREG_SS].selector;
	uint64_t new_rsp = old_rsp, ss_d = 0;
	uint16_t new_ss = old_ss;
	bool switch_stack = inner || (lm && ist);
	if (switch_stack) {
		if (!tss_stack(cpu, new_cpl, ist, ext, &new_rsp, &new_ss))
			return false;
		if (!lm) {
			if ((new_ss & 0xfffc) == 0)
				return fail(cpu, VEC_TS, ext);
			if (!emu_sys_read_descriptor(cpu, new_ss, &ss_d)) {
				cpu->pending.vector = VEC_TS;
				cpu->pending.error_code = (new_ss & 0xfffc) | ext;
				return false;
			}
			if (SEL_RPL(new_ss) != new_cpl || DESC_DPL(ss_d) != new_cpl ||
			    !IS_DATA(ss_d) || !(DESC_TYPE(ss_d) & TYPE_WRITABLE))
				return fail(cpu, VEC_TS, (new_ss & 0xfffc) | ext);
			if (!DESC_P(ss_d))
				return fail(cpu, VEC_SS, (new_ss & 0xfffc) | ext);
		} else if (!inner) {
			new_ss = old_ss; /* IST without a privilege change keeps SS */
		}
	}
	/* The frame, from the lowest address up. */
	uint64_t frame[6];
	unsigned n = 0, width;
	if (lm) {
		width = 8;
		if (has_code)
			frame[n++] = code;
		frame[n++] = st->rip;
		frame[n++] = st->seg[SREG_CS].selector;
		frame[n++] = flags;
		frame[n++] = old_rsp;
		frame[n++] = old_ss;
		new_rsp &= ~0xfULL;
	} else {
		width = gate32 ? 4 : 2;
		if (has_code)
			frame[n++] = code;
		frame[n++] = st->rip;
		frame[n++] = st->seg[SREG_CS].selector;
		frame[n++] = flags;
		if (inner) {
			frame[n++] = old_rsp;
			frame[n++] = old_ss;
		}
	}
	uint8_t buf[6 * 8];
	for (unsigned k = 0; k < n; k++)
		store_host(buf + k * width, width, frame[k]);
	uint64_t sp, lin;
	if (lm) {
		sp = new_rsp - n * width;
		lin = sp;
	} else {
		bool big = switch_stack ? DESC_DB(ss_d) : st->seg[SREG_SS].db;
		uint64_t base = switch_stack
				    ? (((ss_d >> 16) & 0xffffff) | ((ss_d >> 32) & 0xff000000ULL))
				    : st->seg[SREG_SS].base;
		uint64_t mask = big ? 0xffffffffULL : 0xffffULL;
		sp = (new_rsp - n * width) & mask;
		lin = (base + sp) & 0xffffffffULL;
		if (!switch_stack)
			sp = (old_rsp & ~mask) | sp;
	}
	if (!write_frame(cpu, new_cpl, lin, buf, n * width))
		return false;
	/* Commit. */
	/* Long mode: a privilege change loads a null SS with RPL = the new CPL; IST alone
	 * keeps SS. */
	if (lm && inner)
		load_ss(cpu, (uint16_t)new_cpl, 0, true, new_cpl);
	else if (!lm && switch_stack)
		emu_sys_unpack_descriptor(ss_d, new_ss, &st->seg[SREG_SS]);
	st->gpr[GPR_RSP] = sp;
	load_cs(cpu, sel, d, new_cpl);
	st->rip = lm ? off : gate32 ? off & 0xffffffffULL : off & 0xffff;
	cpu->flags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
	if (!(type & 1))
		cpu->flags &= ~(uint64_t)FL_IF;
	emu_sys_tlb_select(cpu);
	if (vector == VEC_NMI && kind == EMU_EVENT_NMI)
		s->nmi_masked = true;
	return true;
}

/* SDM Vol. 3 Table 6-4/6-5. */
enum fault_class { BENIGN, CONTRIBUTORY, PAGE_FAULT };

static enum fault_class classify(enum emu_event_kind kind, uint8_t vector)
{
	if (kind != EMU_EVENT_EXCEPTION)
		return BENIGN;
	if (vector == 0 || (vector >= 10 && vector <= 13))
		return CONTRIBUTORY;
	if (vector == VEC_PF)
		return PAGE_FAULT;
	return BENIGN;
}

bool emu_sys_deliver(struct emu_cpu *cpu, enum emu_event_kind kind, uint8_t vector, bool has_code,
		     uint32_t code)
{
	struct emu_sys *s = cpu->sys;
	/* The state between runs holds RFLAGS; delivery works on the live copy. */
	cpu->flags = cpu->state.rflags;
	cpu->lf.op = LF_NONE;
	uint64_t cr2 = cpu->pending.fault_address;
	uint8_t insn_len = cpu->pending.insn_len;
	for (int round = 0;; round++) {
		if (kind == EMU_EVENT_EXCEPTION && vector == VEC_PF)
			cpu->state.cr2 = cr2;
		bool ok = emu_sys_protected(cpu)
			      ? deliver_protected(cpu, kind, vector, has_code, code)
			      : deliver_real(cpu, vector);
		if (ok) {
			cpu->state.rflags = cpu->flags | 2;
			if (kind == EMU_EVENT_EXTERNAL || kind == EMU_EVENT_NMI)
				s->stats.interrupts++;
			else
				s->stats.exceptions++;
			return true;
		}
		if (cpu->pending.reason != EMU_EXIT_EXCEPTION)
			return false; /* internal error */
		if (kind == EMU_EVENT_SOFTWARE) {
			/* INT n, INT3, INTO whose delivery faults: the fault is the instruction's
			 * (RIP at it, RF in the image), not a trap after it */
			cpu->state.rip -= insn_len;
			if (cpu->mode != EMU_MODE_64)
				cpu->state.rip &=
				    cpu->mode == EMU_MODE_32 ? 0xffffffffULL : 0xffffULL;
			cpu->flags |= FL_RF;
		}
		uint8_t second = cpu->pending.vector;
		if (kind == EMU_EVENT_EXCEPTION && vector == VEC_DF) {
			/* a fault while delivering a double fault: shutdown */
			cpu->pending.vector = VEC_DF;
			cpu->pending.reason = EMU_EXIT_EXCEPTION;
			cpu->state.rflags = cpu->flags | 2;
			s->delivering = -2; /* tells the run loop: triple fault */
			return false;
		}
		enum fault_class a = classify(kind, vector),
				 b = classify(EMU_EVENT_EXCEPTION, second);
		if ((a == CONTRIBUTORY && b == CONTRIBUTORY) ||
		    (a == PAGE_FAULT && (b == CONTRIBUTORY || b == PAGE_FAULT))) {
			vector = VEC_DF;
			has_code = true;
			code = 0;
		} else {
			vector = second;
			has_code = cpu->pending.has_error_code;
			code = cpu->pending.error_code;
			cr2 = cpu->pending.fault_address;
		}
		kind = EMU_EVENT_EXCEPTION;
		if (round > 8) { /* cannot happen: each round climbs towards #DF */
			s->delivering = -2;
			return false;
		}
	}
}
