/* Lazy arithmetic flags: the hot ALU operations record (operation, size, result, operands) and
 * the six arithmetic flags are computed only when something reads them. */
#include "accel/emu/cpu.h"

bool emu_parity(uint64_t v)
{
	return !__builtin_parity((unsigned)(v & 0xff));
}

uint64_t emu_zsp(uint64_t res, unsigned size)
{
	uint64_t f = 0;
	res &= size_mask(size);
	if (res == 0)
		f |= FL_ZF;
	if (res >> (size * 8 - 1))
		f |= FL_SF;
	if (emu_parity(res))
		f |= FL_PF;
	return f;
}

static uint64_t add_flags(const struct lazy_flags *lf, bool carry_in)
{
	uint64_t m = size_mask(lf->size), top = 1ULL << (lf->size * 8 - 1);
	uint64_t a = lf->a & m, b = lf->b & m, r = lf->res & m;
	uint64_t f = emu_zsp(r, lf->size);
	if (carry_in ? r <= a : r < a)
		f |= FL_CF;
	if ((a ^ r) & (b ^ r) & top)
		f |= FL_OF;
	if ((a ^ b ^ r) & 0x10)
		f |= FL_AF;
	return f;
}

static uint64_t sub_flags(const struct lazy_flags *lf, bool borrow_in)
{
	uint64_t m = size_mask(lf->size), top = 1ULL << (lf->size * 8 - 1);
	uint64_t a = lf->a & m, b = lf->b & m, r = lf->res & m;
	uint64_t f = emu_zsp(r, lf->size);
	if (borrow_in ? a <= b : a < b)
		f |= FL_CF;
	if ((a ^ b) & (a ^ r) & top)
		f |= FL_OF;
	if ((a ^ b ^ r) & 0x10)
		f |= FL_AF;
	return f;
}

/* SHL/SHR/SAR by a count of 1 to width-1: CF is the last bit shifted out; OF is defined for
 * one-bit shifts and follows current Intel cores otherwise (SHL: MSB(result) ^ CF; SHR: the
 * top two result bits differ; SAR: 0); AF is cleared. */
static uint64_t shift_flags(const struct lazy_flags *lf)
{
	unsigned w = lf->size * 8, count = (unsigned)lf->b;
	uint64_t m = size_mask(lf->size), a = lf->a & m, r = lf->res & m;
	uint64_t f = emu_zsp(r, lf->size);
	bool cf, of;
	if (lf->op == LF_SHL) {
		cf = (a >> (w - count)) & 1;
		of = ((r >> (w - 1)) & 1) ^ cf;
	} else if (lf->op == LF_SHR) {
		cf = (a >> (count - 1)) & 1;
		of = count == 1 ? (a >> (w - 1)) & 1 : ((r >> (w - 1)) ^ (r >> (w - 2))) & 1;
	} else {
		cf = ((int64_t)sign_extend(a, lf->size) >> (count - 1)) & 1;
		of = false;
	}
	return f | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
}

static uint64_t lazy_arith_flags(const struct lazy_flags *lf)
{
	switch (lf->op) {
	case LF_ADD:
		return add_flags(lf, false);
	case LF_ADC:
		return add_flags(lf, lf->cf_in);
	case LF_SUB:
		return sub_flags(lf, false);
	case LF_SBB:
		return sub_flags(lf, lf->cf_in);
	case LF_INC:
		return (add_flags(lf, false) & ~FL_CF) | (lf->cf_in ? FL_CF : 0);
	case LF_DEC:
		return (sub_flags(lf, false) & ~FL_CF) | (lf->cf_in ? FL_CF : 0);
	case LF_SHL:
	case LF_SHR:
	case LF_SAR:
		return shift_flags(lf);
	case LF_MUL: /* SF ZF PF of the low half, AF clear, as mul_flags() did eagerly */
		return emu_zsp(lf->res, lf->size) | (lf->cf_in ? FL_CF | FL_OF : 0);
	default: /* LF_LOGIC: CF = OF = 0; AF is undefined and cleared as hardware does */
		return emu_zsp(lf->res, lf->size);
	}
}

bool emu_lazy_cf(const struct emu_cpu *cpu)
{
	const struct lazy_flags *lf = &cpu->lf;
	uint64_t m = size_mask(lf->size), a = lf->a & m, b = lf->b & m, r = lf->res & m;
	switch (lf->op) {
	case LF_NONE:
		return cpu->flags & FL_CF;
	case LF_ADD:
		return r < a;
	case LF_ADC:
		return lf->cf_in ? r <= a : r < a;
	case LF_SUB:
		return a < b;
	case LF_SBB:
		return lf->cf_in ? a <= b : a < b;
	case LF_INC:
	case LF_DEC:
	case LF_MUL:
		return lf->cf_in;
	case LF_SHL:
	case LF_SHR:
	case LF_SAR:
		return shift_flags(lf) & FL_CF;
	default:
		return false;
	}
}

uint64_t emu_flags_materialize(struct emu_cpu *cpu)
{
	cpu->flags = (cpu->flags & ~(uint64_t)FL_ARITH) | lazy_arith_flags(&cpu->lf);
	cpu->lf.op = LF_NONE;
	return cpu->flags;
}

/* Condition codes in encoding order: O NO B AE E NE BE A S NS P NP L GE LE G. */
bool emu_condition(struct emu_cpu *cpu, unsigned cc)
{
	bool result;
	if (emu_condition_from_record(&cpu->lf, cc, &result))
		return result;
	uint64_t f = emu_get_flags(cpu);
	bool r;
	switch (cc >> 1) {
	case 0:
		r = f & FL_OF;
		break;
	case 1:
		r = f & FL_CF;
		break;
	case 2:
		r = f & FL_ZF;
		break;
	case 3:
		r = f & (FL_CF | FL_ZF);
		break;
	case 4:
		r = f & FL_SF;
		break;
	case 5:
		r = f & FL_PF;
		break;
	case 6:
		r = !!(f & FL_SF) != !!(f & FL_OF);
		break;
	default:
		r = (f & FL_ZF) || (!!(f & FL_SF) != !!(f & FL_OF));
		break;
	}
	return (cc & 1) ? !r : r;
}
