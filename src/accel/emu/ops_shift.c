/* Shifts and rotates (group 2), SHLD/SHRD. A masked count of zero changes nothing, flags
 * included. OF is architecturally defined only for 1-bit counts; the value produced for larger
 * counts follows what current Intel cores do (OF from the last step). */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

enum { ROL, ROR, RCL, RCR, SHL, SHR, SAL, SAR };

struct shift_result {
	uint64_t value;
	uint64_t flags; /* the new arithmetic flags */
	uint64_t mask;	/* which arithmetic flags changed */
};

static uint64_t msb(uint64_t v, unsigned size)
{
	return (v >> (size * 8 - 1)) & 1;
}

static struct shift_result do_rotate(unsigned op, unsigned size, uint64_t a, unsigned count,
				     bool cf_in)
{
	unsigned w = size * 8;
	uint64_t m = size_mask(size);
	struct shift_result s = {.mask = FL_CF | FL_OF};
	uint64_t r = a & m;
	bool cf = cf_in;
	if (op == ROL || op == ROR) {
		unsigned c = count % w;
		if (c)
			r = op == ROL ? ((r << c) | (r >> (w - c))) & m
				      : ((r >> c) | (r << (w - c))) & m;
		cf = op == ROL ? (r & 1) : msb(r, size);
	} else {
		unsigned c = size < 4 ? count % (w + 1) : count;
		for (unsigned k = 0; k < c; k++) {
			bool out;
			if (op == RCL) {
				out = msb(r, size);
				r = ((r << 1) | cf) & m;
			} else {
				out = r & 1;
				r = (r >> 1) | ((uint64_t)cf << (w - 1));
			}
			cf = out;
		}
	}
	bool of;
	if (op == ROL || op == RCL)
		of = msb(r, size) ^ cf;
	else
		of = msb(r, size) ^ ((r >> (w - 2)) & 1);
	s.value = r;
	s.flags = (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	return s;
}

static struct shift_result do_shift(unsigned op, unsigned size, uint64_t a, unsigned count)
{
	unsigned w = size * 8;
	uint64_t m = size_mask(size);
	struct shift_result s = {.mask = FL_ARITH};
	uint64_t r;
	bool cf, of;
	a &= m;
	if (op == SHL || op == SAL) {
		r = count >= w ? 0 : (a << count) & m;
		cf = count <= w ? (a >> (w - count)) & 1 : 0;
		of = msb(r, size) ^ cf;
	} else if (op == SHR) {
		r = count >= w ? 0 : a >> count;
		cf = count <= w ? (a >> (count - 1)) & 1 : 0;
		of = msb(a, size);
		if (count > 1)
			of = msb(r, size) ^ ((r >> (w - 2)) & 1);
	} else {
		int64_t sa = (int64_t)sign_extend(a, size);
		r = (uint64_t)(sa >> (count >= w ? w - 1 : count)) & m;
		cf = (sa >> (count - 1 >= w ? w - 1 : count - 1)) & 1;
		of = false;
	}
	s.value = r;
	s.flags = emu_zsp(r, size) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	return s;
}

/* A zero count changes no flags, but a 32-bit register destination is still written (its
 * upper half cleared), as on the host. */
static int rmw_write_zero_count(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t a)
{
	if (!i->is_mem && i->opsize == 4)
		reg_write(cpu, i->rm, 4, a);
	return EMU_NEXT;
}

static int shift_rm(struct emu_cpu *cpu, const struct emu_insn *i, unsigned count)
{
	uint64_t addr = 0, a;
	count &= i->opsize == 8 ? 0x3f : 0x1f;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	if (count == 0)
		return rmw_write_zero_count(cpu, i, a);
	struct shift_result s;
	if (i->sub <= RCR)
		s = do_rotate(i->sub, i->opsize, a, count, emu_cf(cpu));
	else
		s = do_shift(i->sub, i->opsize, a, count);
	if (!rmw_write(cpu, i, addr, s.value))
		return EMU_STOP;
	emu_set_flags(cpu, s.mask, s.flags);
	return EMU_NEXT;
}

HANDLER(op_shift_imm)
{
	return shift_rm(cpu, i, (unsigned)i->imm);
}

HANDLER(op_shift_one)
{
	return shift_rm(cpu, i, 1);
}

HANDLER(op_shift_cl)
{
	return shift_rm(cpu, i, (unsigned)(cpu->state.gpr[GPR_RCX] & 0xff));
}

/* SHLD/SHRD through a double-width value; 16-bit counts above 16 shift in the source again,
 * as P6-and-later cores do. */
static struct shift_result do_shxd(bool right, unsigned size, uint64_t a, uint64_t b,
				   unsigned count)
{
	unsigned w = size * 8;
	uint64_t m = size_mask(size);
	uint64_t r;
	bool cf;
	a &= m;
	b &= m;
	if (size == 2) {
		if (!right) {
			uint32_t t = (uint32_t)(a << 16 | b);
			uint32_t res = t << count;
			if (count > 16)
				res |= (uint32_t)(b << (count - 16));
			r = (res >> 16) & 0xffff;
			cf = (t >> (32 - count)) & 1;
		} else {
			uint32_t t = (uint32_t)(b << 16 | a);
			uint32_t res = t >> count;
			if (count > 16)
				res |= (uint32_t)(a << (32 - count));
			r = res & 0xffff;
			cf = (t >> (count - 1)) & 1;
		}
	} else if (!right) {
		r = ((a << count) | (b >> (w - count))) & m;
		cf = (a >> (w - count)) & 1;
	} else {
		r = ((a >> count) | (b << (w - count))) & m;
		cf = (a >> (count - 1)) & 1;
	}
	bool of = msb(r, size) ^ msb(a, size);
	struct shift_result s = {.value = r, .mask = FL_ARITH};
	s.flags = emu_zsp(r, size) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	return s;
}

static int shxd_rm(struct emu_cpu *cpu, const struct emu_insn *i, unsigned count)
{
	uint64_t addr = 0, a;
	count &= i->opsize == 8 ? 0x3f : 0x1f;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	if (count == 0)
		return rmw_write_zero_count(cpu, i, a);
	struct shift_result s =
	    do_shxd(i->sub, i->opsize, a, reg_read(cpu, i->reg, i->opsize), count);
	if (!rmw_write(cpu, i, addr, s.value))
		return EMU_STOP;
	emu_set_flags(cpu, s.mask, s.flags);
	return EMU_NEXT;
}

HANDLER(op_shxd_imm)
{
	return shxd_rm(cpu, i, (unsigned)i->imm);
}

HANDLER(op_shxd_cl)
{
	return shxd_rm(cpu, i, (unsigned)(cpu->state.gpr[GPR_RCX] & 0xff));
}
