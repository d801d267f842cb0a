/* Bit instructions: BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT/POPCNT, BSWAP, BMI1/BMI2, MOVBE, CRC32. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

static uint64_t bit_apply(unsigned op, uint64_t v, unsigned bit)
{
	switch (op & 3) {
	case 1:
		return v | (1ULL << bit);
	case 2:
		return v & ~(1ULL << bit);
	case 3:
		return v ^ (1ULL << bit);
	default:
		return v;
	}
}

/* CF = the bit; OF SF AF PF are undefined and left as they were. */
static int bit_test(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t addr, unsigned bit)
{
	unsigned size = i->opsize;
	uint64_t v;
	bool write = (i->sub & 3) != 0;
	if (i->is_mem) {
		if (!(write ? emu_read_rmw(cpu, addr, size, &v) : emu_read(cpu, addr, size, &v)))
			return EMU_STOP;
	} else {
		v = reg_read(cpu, i->rm, size);
	}
	bool cf = (v >> bit) & 1;
	if (write) {
		uint64_t r = bit_apply(i->sub, v, bit);
		if (i->is_mem ? !emu_write(cpu, addr, size, r)
			      : (reg_write(cpu, i->rm, size, r), 0))
			return EMU_STOP;
	}
	emu_set_flags(cpu, FL_CF, cf ? FL_CF : 0);
	return EMU_NEXT;
}

HANDLER(op_bt_reg)
{
	unsigned bits = i->opsize * 8;
	uint64_t off = reg_read(cpu, i->reg, i->opsize);
	if (!i->is_mem)
		return bit_test(cpu, i, 0, (unsigned)(off & (bits - 1)));
	/* A register bit offset addresses memory beyond the operand, signed: the operand-sized
	 * unit is the offset divided by the width rounded down (an arithmetic shift, exact for
	 * INT64_MIN too, which negating is not), the bit its remainder. */
	int64_t soff = (int64_t)sign_extend(off, i->opsize);
	int64_t unit = soff >> __builtin_ctz(bits);
	uint64_t addr = addr_mask(i, emu_ea_offset(cpu, i) + (uint64_t)unit * i->opsize);
	if (i->seg != EMU_NO_SEG)
		addr += cpu->state.seg[i->seg].base;
	return bit_test(cpu, i, addr, (unsigned)(off & (bits - 1)));
}

HANDLER(op_bt_imm)
{
	unsigned bit = (unsigned)(i->imm & (i->opsize * 8 - 1));
	return bit_test(cpu, i, i->is_mem ? emu_ea(cpu, i) : 0, bit);
}

HANDLER(op_bsf)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	if (v == 0) {
		emu_set_flags(cpu, FL_ARITH, FL_ZF);
		return EMU_NEXT;
	}
	reg_write(cpu, i->reg, i->opsize, (uint64_t)__builtin_ctzll(v));
	emu_set_flags(cpu, FL_ARITH, 0);
	return EMU_NEXT;
}

HANDLER(op_bsr)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	if (v == 0) {
		emu_set_flags(cpu, FL_ARITH, FL_ZF);
		return EMU_NEXT;
	}
	reg_write(cpu, i->reg, i->opsize, (uint64_t)(63 - __builtin_clzll(v)));
	emu_set_flags(cpu, FL_ARITH, 0);
	return EMU_NEXT;
}

HANDLER(op_tzcnt)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	uint64_t n = v ? (uint64_t)__builtin_ctzll(v) : i->opsize * 8u;
	reg_write(cpu, i->reg, i->opsize, n);
	emu_set_flags(cpu, FL_CF | FL_ZF, (v == 0 ? FL_CF : 0) | (n == 0 ? FL_ZF : 0));
	return EMU_NEXT;
}

HANDLER(op_lzcnt)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	unsigned bits = i->opsize * 8;
	uint64_t n = v ? (uint64_t)(__builtin_clzll(v) - (64 - bits)) : bits;
	reg_write(cpu, i->reg, i->opsize, n);
	emu_set_flags(cpu, FL_CF | FL_ZF, (v == 0 ? FL_CF : 0) | (n == 0 ? FL_ZF : 0));
	return EMU_NEXT;
}

HANDLER(op_popcnt)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	reg_write(cpu, i->reg, i->opsize, (uint64_t)__builtin_popcountll(v));
	emu_set_flags(cpu, FL_ARITH, v == 0 ? FL_ZF : 0);
	return EMU_NEXT;
}

HANDLER(op_bswap)
{
	uint64_t v = reg_read(cpu, i->rm, i->opsize);
	if (i->opsize == 8)
		v = __builtin_bswap64(v);
	else if (i->opsize == 4)
		v = __builtin_bswap32((uint32_t)v);
	else
		v = 0; /* BSWAP of a 16-bit register is undefined; cores clear it */
	reg_write(cpu, i->rm, i->opsize, v);
	return EMU_NEXT;
}

/* Flags of the BMI logic group: SF ZF from the result, OF = 0, CF as given. */
static void bmi_flags(struct emu_cpu *cpu, unsigned size, uint64_t r, bool cf)
{
	uint64_t f = emu_zsp(r, size) & (FL_ZF | FL_SF);
	emu_set_flags(cpu, FL_CF | FL_OF | FL_ZF | FL_SF, f | (cf ? FL_CF : 0));
}

static uint64_t vreg(struct emu_cpu *cpu, const struct emu_insn *i)
{
	return gpr_get(cpu, i->vex_v, i->opsize);
}

HANDLER(op_andn)
{
	uint64_t b;
	if (!rm_read(cpu, i, i->opsize, &b))
		return EMU_STOP;
	uint64_t r = ~vreg(cpu, i) & b & size_mask(i->opsize);
	reg_write(cpu, i->reg, i->opsize, r);
	bmi_flags(cpu, i->opsize, r, false);
	return EMU_NEXT;
}

HANDLER(op_bextr)
{
	uint64_t src;
	if (!rm_read(cpu, i, i->opsize, &src))
		return EMU_STOP;
	uint64_t ctl = vreg(cpu, i);
	unsigned start = ctl & 0xff, len = (ctl >> 8) & 0xff, bits = i->opsize * 8;
	uint64_t r = start >= bits ? 0 : src >> start;
	if (len < 64)
		r &= (1ULL << len) - 1;
	r &= size_mask(i->opsize);
	reg_write(cpu, i->reg, i->opsize, r);
	emu_set_flags(cpu, FL_CF | FL_OF | FL_ZF, r == 0 ? FL_ZF : 0);
	return EMU_NEXT;
}

HANDLER(op_blsx)
{
	uint64_t s;
	if (!rm_read(cpu, i, i->opsize, &s))
		return EMU_STOP;
	uint64_t m = size_mask(i->opsize), r;
	bool cf;
	if (i->sub == 1) { /* BLSR */
		r = (s - 1) & s & m;
		cf = s == 0;
	} else if (i->sub == 2) { /* BLSMSK */
		r = ((s - 1) ^ s) & m;
		cf = s == 0;
	} else { /* BLSI */
		r = (0 - s) & s & m;
		cf = s != 0;
	}
	gpr_set(cpu, i->vex_v, i->opsize, r);
	bmi_flags(cpu, i->opsize, r, cf);
	return EMU_NEXT;
}

HANDLER(op_bzhi)
{
	uint64_t s;
	if (!rm_read(cpu, i, i->opsize, &s))
		return EMU_STOP;
	unsigned n = vreg(cpu, i) & 0xff, bits = i->opsize * 8;
	uint64_t r = n < bits ? s & ((1ULL << n) - 1) : s & size_mask(i->opsize);
	reg_write(cpu, i->reg, i->opsize, r);
	bmi_flags(cpu, i->opsize, r, n > bits - 1);
	return EMU_NEXT;
}

HANDLER(op_mulx)
{
	uint64_t s;
	if (!rm_read(cpu, i, i->opsize, &s))
		return EMU_STOP;
	unsigned __int128 p = (unsigned __int128)gpr_get(cpu, GPR_RDX, i->opsize) * s;
	unsigned w = i->opsize * 8;
	/* When both destinations are one register, it ends up with the high half. */
	gpr_set(cpu, i->vex_v, i->opsize, (uint64_t)p);
	reg_write(cpu, i->reg, i->opsize, (uint64_t)(p >> w));
	return EMU_NEXT;
}

HANDLER(op_pdep)
{
	uint64_t mask;
	if (!rm_read(cpu, i, i->opsize, &mask))
		return EMU_STOP;
	uint64_t src = vreg(cpu, i), r = 0;
	for (uint64_t bit = 1; mask; bit <<= 1) {
		uint64_t low = mask & (0 - mask);
		if (src & bit)
			r |= low;
		mask &= mask - 1;
	}
	reg_write(cpu, i->reg, i->opsize, r);
	return EMU_NEXT;
}

HANDLER(op_pext)
{
	uint64_t mask;
	if (!rm_read(cpu, i, i->opsize, &mask))
		return EMU_STOP;
	uint64_t src = vreg(cpu, i), r = 0;
	for (uint64_t bit = 1; mask; bit <<= 1) {
		uint64_t low = mask & (0 - mask);
		if (src & low)
			r |= bit;
		mask &= mask - 1;
	}
	reg_write(cpu, i->reg, i->opsize, r);
	return EMU_NEXT;
}

HANDLER(op_rorx)
{
	uint64_t s;
	if (!rm_read(cpu, i, i->opsize, &s))
		return EMU_STOP;
	unsigned w = i->opsize * 8, c = (unsigned)i->imm & (w - 1);
	uint64_t m = size_mask(i->opsize);
	uint64_t r = c ? ((s >> c) | (s << (w - c))) & m : s;
	reg_write(cpu, i->reg, i->opsize, r);
	return EMU_NEXT;
}

HANDLER(op_shiftx)
{
	uint64_t s;
	if (!rm_read(cpu, i, i->opsize, &s))
		return EMU_STOP;
	unsigned c = (unsigned)vreg(cpu, i) & (i->opsize == 8 ? 63 : 31);
	uint64_t r;
	if (i->sub == 0)
		r = s << c;
	else if (i->sub == 1)
		r = (uint64_t)((int64_t)sign_extend(s, i->opsize) >> c);
	else
		r = s >> c;
	reg_write(cpu, i->reg, i->opsize, r & size_mask(i->opsize));
	return EMU_NEXT;
}

/* sub 0: MOVBE Gv, Mv (load); sub 1: MOVBE Mv, Gv (store). */
static uint64_t byte_swap(uint64_t v, unsigned size)
{
	if (size == 8)
		return __builtin_bswap64(v);
	if (size == 4)
		return __builtin_bswap32((uint32_t)v);
	return __builtin_bswap16((uint16_t)v);
}

HANDLER(op_movbe)
{
	uint64_t addr = emu_ea(cpu, i), v;
	if (i->sub == 0) {
		if (!emu_read(cpu, addr, i->opsize, &v))
			return EMU_STOP;
		reg_write(cpu, i->reg, i->opsize, byte_swap(v, i->opsize));
		return EMU_NEXT;
	}
	v = byte_swap(reg_read(cpu, i->reg, i->opsize), i->opsize);
	return emu_write(cpu, addr, i->opsize, v) ? EMU_NEXT : EMU_STOP;
}

/* CRC-32C (Castagnoli), bit-reflected, as SSE4.2 defines it. */
static uint32_t crc32c_bytes(uint32_t crc, uint64_t v, unsigned bytes)
{
	for (unsigned k = 0; k < bytes; k++) {
		crc ^= (uint8_t)(v >> (8 * k));
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0 - (crc & 1)));
	}
	return crc;
}

HANDLER(op_crc32)
{
	unsigned src_size = i->sub == 1 ? 1 : i->opsize;
	unsigned dst_size = i->opsize == 8 ? 8 : 4;
	uint64_t v;
	if (!rm_read(cpu, i, src_size, &v))
		return EMU_STOP;
	uint32_t crc = (uint32_t)reg_read(cpu, i->reg, 4);
	reg_write(cpu, i->reg, dst_size, crc32c_bytes(crc, v, src_size));
	return EMU_NEXT;
}
