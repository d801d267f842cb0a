/* MMX forms with a general register, an immediate or an XMM operand, and SSSE3 on MM
 * registers (ops_mmx_ext.h).
 *
 * Like ops_mmx.c, every change to the x87/MMX state is made by the host FPU with the guest's
 * state loaded (fpu_host_run), so TOP = 0, all tags valid and the exponent bits of a written
 * register are the hardware's own. Forms that the stub tables cannot spell (an imm8 or a
 * general register in ModRM) are reduced to forms they can: the value goes in or out through
 * MOVQ mm <-> [rdi], a shift count through the memory-count form. MMX instructions leave
 * FIP/FDP/FOP alone, so the bounce buffer never shows in the guest state. */
#include "accel/emu/ops_mmx_ext.h"

#include "accel/emu/cpu.h"
#include "accel/emu/fpu_host.h"
#include "accel/emu/mmx.h"
#include "accel/emu/sse_host.h"
#include "accel/emu/x87.h"
#include "accel/emu/xmm.h"

/* SSSE3 opcodes (0F 38 xx) that have an MMX form, and their stubs: per opcode 72 stubs of 8
 * bytes, "0F 38 op modrm ret", the 64 register forms then the 8 [rdi] forms by ModRM.reg. */
static const uint8_t ssse3_opcodes[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					0x08, 0x09, 0x0a, 0x0b, 0x1c, 0x1d, 0x1e};

#define SSSE3_STUBS_FOR(op)                                                                        \
	".set gureum_ssse3_r, 0\n.rept 64\n.balign 8\n"                                            \
	".byte 0x0f, 0x38, " #op ", 0xc0 + gureum_ssse3_r, 0xc3\n"                                 \
	".set gureum_ssse3_r, gureum_ssse3_r + 1\n.endr\n"                                         \
	".set gureum_ssse3_r, 0\n.rept 8\n.balign 8\n"                                             \
	".byte 0x0f, 0x38, " #op ", 0x07 + (gureum_ssse3_r << 3), 0xc3\n"                          \
	".set gureum_ssse3_r, gureum_ssse3_r + 1\n.endr\n"

__asm__(".pushsection .text\n"
	".balign 16\n"
	".globl gureum_mmx_ssse3_stubs\n"
	".hidden gureum_mmx_ssse3_stubs\n"
	"gureum_mmx_ssse3_stubs:\n" SSSE3_STUBS_FOR(0x00) SSSE3_STUBS_FOR(0x01)
	    SSSE3_STUBS_FOR(0x02) SSSE3_STUBS_FOR(0x03) SSSE3_STUBS_FOR(0x04) SSSE3_STUBS_FOR(0x05)
		SSSE3_STUBS_FOR(0x06) SSSE3_STUBS_FOR(0x07) SSSE3_STUBS_FOR(0x08)
		    SSSE3_STUBS_FOR(0x09) SSSE3_STUBS_FOR(0x0a) SSSE3_STUBS_FOR(0x0b)
			SSSE3_STUBS_FOR(0x1c) SSSE3_STUBS_FOR(0x1d)
			    SSSE3_STUBS_FOR(0x1e) ".popsection\n");

extern const uint8_t gureum_mmx_ssse3_stubs[] __attribute__((visibility("hidden")));

static unsigned stub_slot(unsigned modrm)
{
	return (modrm >> 6) == 3 ? (modrm & 0x3f) : 64 + ((modrm >> 3) & 7);
}

static const void *ssse3_stub(unsigned opcode, unsigned modrm)
{
	for (unsigned k = 0; k < sizeof(ssse3_opcodes); k++)
		if (ssse3_opcodes[k] == opcode)
			return gureum_mmx_ssse3_stubs + 8 * (72 * k + stub_slot(modrm));
	return NULL;
}

/* The [rdi] form of 0F `opcode` with ModRM.reg = `reg` from the plain MMX stub table. */
static const void *mem_form(unsigned opcode, unsigned reg)
{
	return mmx_host_stub(opcode, 0x07 | (reg & 7) << 3);
}

static void run(struct emu_cpu *cpu, const void *stub, void *mem)
{
	struct fpu_host_regs regs = {.rflags = emu_get_flags(cpu)};
	fpu_host_run(stub, cpu->state.xsave, mem, &regs);
}

/* mm`n` := v, as MOVQ mm, m64 leaves it. */
static void mm_write(struct emu_cpu *cpu, unsigned n, uint64_t v)
{
	uint64_t buf = v;
	run(cpu, mem_form(0x6f, n), &buf);
}

/* The value of mm`n`, read the way MOVQ m64, mm reads it (so the MMX state transition
 * happens as on the hardware). */
static uint64_t mm_read(struct emu_cpu *cpu, unsigned n)
{
	uint64_t buf = 0;
	run(cpu, mem_form(0x7f, n), &buf);
	return buf;
}

/* mm`n` without side effects: physical register n sits at stack slot (n - TOP) & 7. */
static uint64_t mm_peek(struct emu_cpu *cpu, unsigned n)
{
	const uint8_t *fx = cpu->state.xsave;
	unsigned top = (x87_get16(fx, X87_FSW) >> 11) & 7;
	return x87_get64(fx, X87_ST0 + 16 * ((n - top) & 7));
}

/* A store that faults has still read its MMX register on some models: TOP = 0 as ops_mmx.c
 * does it. */
static void reset_top(uint8_t *fx)
{
	uint16_t fsw = x87_get16(fx, X87_FSW);
	unsigned top = (fsw >> 11) & 7;
	if (top == 0)
		return;
	uint8_t old[128];
	memcpy(old, fx + X87_ST0, sizeof(old));
	for (unsigned k = 0; k < 8; k++)
		memcpy(fx + X87_ST0 + 16 * k, old + 16 * ((k - top) & 7), 16);
	x87_set16(fx, X87_FSW, fsw & ~0x3800);
}

/* The 64-bit source operand: mm`rm` or m64. */
static bool read_src64(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t *v)
{
	if (!i->is_mem) {
		*v = mm_peek(cpu, i->modrm & 7);
		return true;
	}
	return emu_read_bytes(cpu, emu_ea(cpu, i), v, 8);
}

HANDLER(op_mmx_movd_to_mm)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	unsigned size = i->rex & 8 ? 8 : 4;
	uint64_t v = 0;
	if (!i->is_mem)
		v = gpr_get(cpu, i->rmnum, size);
	else if (!emu_read_bytes(cpu, emu_ea(cpu, i), &v, size))
		return EMU_STOP;
	mm_write(cpu, i->regnum & 7, v);
	return EMU_NEXT;
}

HANDLER(op_mmx_movd_from_mm)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	unsigned size = i->rex & 8 ? 8 : 4;
	if (!i->is_mem) {
		gpr_set(cpu, i->rmnum, size, mm_read(cpu, i->regnum & 7));
		return EMU_NEXT;
	}
	uint64_t addr = emu_ea(cpu, i);
	if (!emu_probe_write(cpu, addr, size)) {
		if (cpu->model->mmx_faulting_store_sets_top)
			reset_top(cpu->state.xsave);
		return EMU_STOP;
	}
	uint64_t v = mm_read(cpu, i->regnum & 7);
	emu_write_bytes(cpu, addr, &v, size);
	return EMU_NEXT;
}

HANDLER(op_mmx_pshufw)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t src, res = 0;
	if (!read_src64(cpu, i, &src))
		return EMU_STOP;
	for (unsigned k = 0; k < 4; k++) {
		unsigned pick = (i->imm >> (2 * k)) & 3;
		res |= ((src >> (16 * pick)) & 0xffff) << (16 * k);
	}
	mm_write(cpu, i->regnum & 7, res);
	return EMU_NEXT;
}

/* 0F 71/72/73 /reg ib on mm: the same shift with the count in m64 (0F D1.. F3), which treats
 * the count exactly as the immediate form does (unsigned, saturating). */
HANDLER(op_mmx_shift_imm)
{
	static const uint8_t by_count[3][8] = {
	    {[2] = 0xd1, [4] = 0xe1, [6] = 0xf1},
	    {[2] = 0xd2, [4] = 0xe2, [6] = 0xf2},
	    {[2] = 0xd3, [6] = 0xf3},
	};
	unsigned opcode = by_count[(i->opcode - 0x71) % 3][(i->modrm >> 3) & 7];
	if (!opcode)
		return emu_raise_ud(cpu);
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t count = i->imm & 0xff;
	run(cpu, mem_form(opcode, i->modrm & 7), &count);
	return EMU_NEXT;
}

HANDLER(op_mmx_pinsrw)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t w = 0;
	if (!i->is_mem)
		w = gpr_get(cpu, i->rmnum, 2);
	else if (!emu_read_bytes(cpu, emu_ea(cpu, i), &w, 2))
		return EMU_STOP;
	unsigned shift = 16 * (i->imm & 3);
	uint64_t v = mm_peek(cpu, i->regnum & 7);
	v = (v & ~(0xffffull << shift)) | w << shift;
	mm_write(cpu, i->regnum & 7, v);
	return EMU_NEXT;
}

HANDLER(op_mmx_pextrw)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t v = mm_read(cpu, i->modrm & 7);
	gpr_set(cpu, i->regnum, 8, (v >> (16 * (i->imm & 3))) & 0xffff);
	return EMU_NEXT;
}

HANDLER(op_mmx_pmovmskb)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t v = mm_read(cpu, i->modrm & 7), mask = 0;
	for (unsigned k = 0; k < 8; k++)
		mask |= ((v >> (8 * k + 7)) & 1) << k;
	gpr_set(cpu, i->regnum, 8, mask);
	return EMU_NEXT;
}

/* MASKMOVQ: the bytes of mm1 whose byte in mm2 has its top bit set go to DS:rDI. Like the
 * host, all 8 bytes are checked whatever the mask, first for a missing page, then for write
 * permission, and either fault is reported as a write at the start of the quadword, or of the
 * page of the faulting byte if that is later. */
static bool maskmovq_writable(struct emu_cpu *cpu, uint64_t base)
{
	for (int pass = 0; pass < 2; pass++)
		for (unsigned k = 0; k < 8; k++) {
			uint8_t b;
			uint64_t a = base + k;
			bool ok =
			    pass == 0 ? emu_read_bytes(cpu, a, &b, 1) : emu_probe_write(cpu, a, 1);
			if (ok)
				continue;
			if (!emu_probe_write(cpu, a, 1) && cpu->pending.vector == EMU_VEC_PF) {
				uint64_t page = a & EMU_PAGE_MASK;
				cpu->pending.fault_address = cpu->state.cr2 =
				    base > page ? base : page;
			}
			return false;
		}
	return true;
}

/* Both registers are read (the MMX state transition happens) before the store can fault. */
HANDLER(op_mmx_maskmovq)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t base = addr_mask(i, cpu->state.gpr[GPR_RDI]);
	if (i->seg != EMU_NO_SEG)
		base += cpu->state.seg[i->seg].base;
	uint64_t mask = mm_read(cpu, i->modrm & 7);
	uint64_t data = mm_peek(cpu, i->regnum & 7);
	if (!maskmovq_writable(cpu, base))
		return EMU_STOP;
	for (unsigned k = 0; k < 8; k++)
		if ((mask >> (8 * k + 7)) & 1)
			emu_write(cpu, base + k, 1, (data >> (8 * k)) & 0xff);
	return EMU_NEXT;
}

HANDLER(op_mmx_movq2dq)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	xmm_t x = {.q = {mm_read(cpu, i->modrm & 7), 0}};
	xmm_set(cpu, i->regnum, &x);
	return EMU_NEXT;
}

HANDLER(op_mmx_movdq2q)
{
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	xmm_t x;
	xmm_get(cpu, i->rmnum, &x);
	mm_write(cpu, i->regnum & 7, x.q[0]);
	return EMU_NEXT;
}

HANDLER(op_mmx_ssse3)
{
	const void *stub = ssse3_stub(i->opcode, i->modrm);
	if (!stub || sse_host_level() < LVL_SSSE3)
		return emu_raise_ud(cpu);
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t buf = 0;
	if (i->is_mem && !emu_read_bytes(cpu, emu_ea(cpu, i), &buf, 8))
		return EMU_STOP;
	run(cpu, stub, i->is_mem ? &buf : NULL);
	return EMU_NEXT;
}

/* PALIGNR mm: the bytes imm8..imm8+7 of dest:src (src the low half), zeros past the end. */
HANDLER(op_mmx_palignr)
{
	if (sse_host_level() < LVL_SSSE3)
		return emu_raise_ud(cpu);
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	uint64_t src, res = 0;
	if (!read_src64(cpu, i, &src))
		return EMU_STOP;
	uint64_t dst = mm_peek(cpu, i->regnum & 7);
	for (unsigned k = 0; k < 8; k++) {
		unsigned index = (unsigned)(i->imm & 0xff) + k;
		uint64_t byte = index < 8    ? src >> (8 * index)
				: index < 16 ? dst >> (8 * (index - 8))
					     : 0;
		res |= (byte & 0xff) << (8 * k);
	}
	mm_write(cpu, i->regnum & 7, res);
	return EMU_NEXT;
}

/* SSE <-> MMX conversions (insn->sub): each is the host's packed conversion on a register
 * whose unused lanes are zero (which converts without raising anything), so rounding, the
 * integer indefinite and the MXCSR flags are the hardware's own. */
enum mmx_cvt { CVTPI2PS, CVTPI2PD, CVTTPS2PI, CVTTPD2PI, CVTPS2PI, CVTPD2PI };

#define MXCSR_FLAGS    0x3fu
#define MXCSR_MASKS    0x1f80u
#define CR4_OSXMMEXCPT (1ULL << 10)

static const uint8_t cvt_host_op[] = {
    [CVTPI2PS] = SH_CVTDQ2PS,	[CVTPI2PD] = SH_CVTDQ2PD, [CVTTPS2PI] = SH_CVTTPS2DQ,
    [CVTTPD2PI] = SH_CVTTPD2DQ, [CVTPS2PI] = SH_CVTPS2DQ, [CVTPD2PI] = SH_CVTPD2DQ,
};

/* The source: mm/m64 for the PI2 forms, xmm/m64 for PS2PI, xmm/m128 (aligned) for PD2PI. */
static bool cvt_source(struct emu_cpu *cpu, const struct emu_insn *i, uint8_t v[16])
{
	memset(v, 0, 16);
	bool from_mm = i->sub == CVTPI2PS || i->sub == CVTPI2PD;
	bool packed_double = i->sub == CVTTPD2PI || i->sub == CVTPD2PI;
	if (!i->is_mem) {
		if (from_mm) {
			uint64_t q = mm_read(cpu, i->modrm & 7);
			memcpy(v, &q, 8);
		} else {
			memcpy(v, emu_xmm(cpu, i->rmnum), packed_double ? 16 : 8);
		}
		return true;
	}
	uint64_t addr = emu_ea(cpu, i);
	if (packed_double && (addr & 15)) {
		emu_raise_gp0(cpu);
		return false;
	}
	return emu_read_bytes(cpu, addr, v, packed_double ? 16 : 8);
}

HANDLER(op_mmx_cvt)
{
	bool to_mm = i->sub != CVTPI2PS && i->sub != CVTPI2PD;
	if ((to_mm || !i->is_mem) && emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	struct sse_host_regs r = {0};
	if (!cvt_source(cpu, i, r.xmm2))
		return EMU_STOP;
	uint32_t mxcsr = emu_mxcsr(cpu);
	r.mxcsr = (mxcsr & ~MXCSR_FLAGS) | MXCSR_MASKS;
	sse_host_run(sse_host_ops[cvt_host_op[i->sub]].stub, &r);
	uint32_t raised = r.mxcsr & MXCSR_FLAGS;
	mxcsr |= raised;
	memcpy(cpu->state.xsave + 24, &mxcsr, 4);
	if (raised & ~(mxcsr >> 7) & MXCSR_FLAGS) {
		bool xm = cpu->state.cr4 & CR4_OSXMMEXCPT;
		return emu_raise(cpu, xm ? EMU_VEC_XM : EMU_VEC_UD, false, 0);
	}
	uint64_t low;
	memcpy(&low, r.xmm1, 8);
	if (to_mm)
		mm_write(cpu, i->regnum & 7, low);
	else if (i->sub == CVTPI2PS)
		memcpy(emu_xmm(cpu, i->regnum), &low, 8);
	else
		memcpy(emu_xmm(cpu, i->regnum), r.xmm1, 16);
	return EMU_NEXT;
}
