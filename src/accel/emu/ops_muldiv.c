/* MUL, IMUL (one, two and three operand forms), DIV, IDIV. Results of 8 bits go to AX, wider
 * ones to rDX:rAX; division by zero or a quotient that does not fit raises #DE. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

/* CF = OF = `overflow`; SF/ZF/PF follow the low result as current hardware does (undefined). */
static void write_pair(struct emu_cpu *cpu, unsigned size, uint64_t lo, uint64_t hi)
{
	if (size == 1) {
		gpr_set(cpu, GPR_RAX, 2, (lo & 0xff) | ((hi & 0xff) << 8));
		return;
	}
	gpr_set(cpu, GPR_RAX, size, lo);
	gpr_set(cpu, GPR_RDX, size, hi);
}

static void do_mul(struct emu_cpu *cpu, unsigned size, uint64_t src, bool is_signed)
{
	uint64_t m = size_mask(size);
	uint64_t a = gpr_get(cpu, GPR_RAX, size);
	uint64_t lo, hi;
	bool overflow;
	if (is_signed) {
		s128 p = (s128)(int64_t)sign_extend(a, size) * (int64_t)sign_extend(src, size);
		lo = (uint64_t)p & m;
		hi = (uint64_t)(p >> (size * 8)) & m;
		overflow = p != (s128)(int64_t)sign_extend(lo, size);
	} else {
		u128 p = (u128)a * src;
		lo = (uint64_t)p & m;
		hi = (uint64_t)(p >> (size * 8)) & m;
		overflow = hi != 0;
	}
	write_pair(cpu, size, lo, hi);
	emu_set_lazy(cpu, LF_MUL, size, lo, 0, 0);
	cpu->lf.cf_in = overflow;
}

static int do_div(struct emu_cpu *cpu, unsigned size, uint64_t src, bool is_signed)
{
	uint64_t m = size_mask(size);
	uint64_t lo, hi;
	if (size == 1) {
		lo = cpu->state.gpr[GPR_RAX] & 0xff;
		hi = (cpu->state.gpr[GPR_RAX] >> 8) & 0xff;
	} else {
		lo = gpr_get(cpu, GPR_RAX, size);
		hi = gpr_get(cpu, GPR_RDX, size);
	}
	if (src == 0)
		return emu_raise(cpu, EMU_VEC_DE, false, 0);
	u128 dividend = ((u128)hi << (size * 8)) | lo;
	uint64_t q, r;
	if (is_signed) {
		s128 sd = size == 8 ? (s128)dividend
				    : (s128)(int64_t)sign_extend((uint64_t)dividend, size * 2);
		s128 ss = (int64_t)sign_extend(src, size);
		if (ss == -1 && size == 8 && sd == (s128)((u128)1 << 127))
			return emu_raise(cpu, EMU_VEC_DE, false, 0);
		s128 sq = sd / ss, sr = sd % ss;
		s128 lim = (s128)1 << (size * 8 - 1);
		if (sq >= lim || sq < -lim)
			return emu_raise(cpu, EMU_VEC_DE, false, 0);
		q = (uint64_t)sq & m;
		r = (uint64_t)sr & m;
	} else {
		u128 uq = dividend / src;
		if (uq > m)
			return emu_raise(cpu, EMU_VEC_DE, false, 0);
		q = (uint64_t)uq;
		r = (uint64_t)(dividend % src);
	}
	write_pair(cpu, size, q, r);
	return EMU_NEXT;
}

HANDLER(op_muldiv)
{
	uint64_t src;
	if (!rm_read(cpu, i, i->opsize, &src))
		return EMU_STOP;
	switch (i->sub) {
	case 4:
		do_mul(cpu, i->opsize, src, false);
		return EMU_NEXT;
	case 5:
		do_mul(cpu, i->opsize, src, true);
		return EMU_NEXT;
	case 6:
		return do_div(cpu, i->opsize, src, false);
	default:
		return do_div(cpu, i->opsize, src, true);
	}
}

static void imul_to_reg(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t a, uint64_t b)
{
	unsigned size = i->opsize;
	s128 p = (s128)(int64_t)sign_extend(a, size) * (int64_t)sign_extend(b, size);
	uint64_t lo = (uint64_t)p & size_mask(size);
	reg_write(cpu, i->reg, size, lo);
	emu_set_lazy(cpu, LF_MUL, size, lo, 0, 0);
	cpu->lf.cf_in = p != (s128)(int64_t)sign_extend(lo, size);
}

HANDLER(op_imul_reg_rm)
{
	uint64_t b;
	if (!rm_read(cpu, i, i->opsize, &b))
		return EMU_STOP;
	imul_to_reg(cpu, i, reg_read(cpu, i->reg, i->opsize), b);
	return EMU_NEXT;
}

HANDLER(op_imul_reg_rm_imm)
{
	uint64_t a;
	if (!rm_read(cpu, i, i->opsize, &a))
		return EMU_STOP;
	imul_to_reg(cpu, i, a, i->imm);
	return EMU_NEXT;
}
