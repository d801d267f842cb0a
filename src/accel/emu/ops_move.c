/* Data movement: MOV forms, MOVZX/MOVSX/MOVSXD, LEA, XCHG/XADD/CMPXCHG(8B/16B), CBW/CWD
 * families, CMOVcc/SETcc, LAHF/SAHF, XLAT, and the flag instructions. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"

HANDLER(op_mov_rm_reg)
{
	return rm_write(cpu, i, i->opsize, reg_read(cpu, i->reg, i->opsize)) ? EMU_NEXT : EMU_STOP;
}

HANDLER(op_mov_reg_rm)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	reg_write(cpu, i->reg, i->opsize, v);
	return EMU_NEXT;
}

HANDLER(op_mov_rm_imm)
{
	return rm_write(cpu, i, i->opsize, i->imm) ? EMU_NEXT : EMU_STOP;
}

HANDLER(op_movzx)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->sub, &v))
		return EMU_STOP;
	reg_write(cpu, i->reg, i->opsize, v);
	return EMU_NEXT;
}

HANDLER(op_movsx)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->sub, &v))
		return EMU_STOP;
	reg_write(cpu, i->reg, i->opsize, sign_extend(v, i->sub));
	return EMU_NEXT;
}

HANDLER(op_movsxd)
{
	if (cpu->mode != EMU_MODE_64) /* 63 is ARPL outside 64-bit mode */
		return emu_arpl(cpu, i);
	unsigned src = i->opsize == 8 ? 4 : i->opsize;
	uint64_t v;
	if (!rm_read(cpu, i, src, &v))
		return EMU_STOP;
	reg_write(cpu, i->reg, i->opsize, sign_extend(v, src));
	return EMU_NEXT;
}

HANDLER(op_lea)
{
	reg_write(cpu, i->reg, i->opsize, emu_ea_offset(cpu, i));
	return EMU_NEXT;
}

HANDLER(op_xchg)
{
	uint64_t addr = 0, a;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	uint64_t b = reg_read(cpu, i->reg, i->opsize);
	if (!rmw_write(cpu, i, addr, b))
		return EMU_STOP;
	reg_write(cpu, i->reg, i->opsize, a);
	return EMU_NEXT;
}

HANDLER(op_xadd)
{
	uint64_t addr = 0, a;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	uint64_t b = reg_read(cpu, i->reg, i->opsize);
	uint64_t r = a + b;
	if (i->is_mem && !emu_write(cpu, addr, i->opsize, r))
		return EMU_STOP;
	/* Source gets the old destination, then the destination the sum (wins when both are one
	 * register). */
	reg_write(cpu, i->reg, i->opsize, a);
	if (!i->is_mem)
		reg_write(cpu, i->rm, i->opsize, r);
	emu_set_lazy(cpu, LF_ADD, i->opsize, r, a, b);
	return EMU_NEXT;
}

HANDLER(op_cmpxchg)
{
	uint64_t addr = 0, dst;
	unsigned size = i->opsize;
	if (!rmw_read(cpu, i, &addr, &dst))
		return EMU_STOP;
	uint64_t acc = gpr_get(cpu, GPR_RAX, size);
	if (acc == dst) {
		if (!rmw_write(cpu, i, addr, reg_read(cpu, i->reg, size)))
			return EMU_STOP;
	} else {
		/* The destination is written back unchanged (memory) and the accumulator loaded. */
		if (i->is_mem && !emu_write(cpu, addr, size, dst))
			return EMU_STOP;
		gpr_set(cpu, GPR_RAX, size, dst);
	}
	emu_set_lazy(cpu, LF_SUB, size, acc - dst, acc, dst);
	return EMU_NEXT;
}

HANDLER(op_cmpxchg8b)
{
	uint64_t addr = emu_ea(cpu, i);
	unsigned half = i->opsize == 8 ? 8 : 4;
	uint64_t lo, hi;
	if (half == 8 && (addr & 15))
		return emu_raise_gp0(cpu);
	if (!emu_probe_write(cpu, addr, half * 2) || !emu_read(cpu, addr, half, &lo) ||
	    !emu_read(cpu, addr + half, half, &hi))
		return EMU_STOP;
	uint64_t ra = gpr_get(cpu, GPR_RAX, half), rd = gpr_get(cpu, GPR_RDX, half);
	bool equal = lo == ra && hi == rd;
	if (equal) {
		emu_write(cpu, addr, half, gpr_get(cpu, GPR_RBX, half));
		emu_write(cpu, addr + half, half, gpr_get(cpu, GPR_RCX, half));
	} else {
		emu_write(cpu, addr, half, lo);
		emu_write(cpu, addr + half, half, hi);
		gpr_set(cpu, GPR_RAX, half, lo);
		gpr_set(cpu, GPR_RDX, half, hi);
	}
	emu_set_flags(cpu, FL_ZF, equal ? FL_ZF : 0);
	return EMU_NEXT;
}

HANDLER(op_cbw)
{
	unsigned half = i->opsize / 2;
	gpr_set(cpu, GPR_RAX, i->opsize, sign_extend(gpr_get(cpu, GPR_RAX, half), half));
	return EMU_NEXT;
}

HANDLER(op_cwd)
{
	uint64_t a = gpr_get(cpu, GPR_RAX, i->opsize);
	gpr_set(cpu, GPR_RDX, i->opsize, (a >> (i->opsize * 8 - 1)) & 1 ? ~0ULL : 0);
	return EMU_NEXT;
}

HANDLER(op_cmovcc)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	if (emu_condition(cpu, i->sub))
		reg_write(cpu, i->reg, i->opsize, v);
	else if (i->opsize == 4)
		reg_write(cpu, i->reg, 4, reg_read(cpu, i->reg, 4)); /* zero-extends anyway */
	return EMU_NEXT;
}

HANDLER(op_setcc)
{
	return rm_write(cpu, i, 1, emu_condition(cpu, i->sub)) ? EMU_NEXT : EMU_STOP;
}

HANDLER(op_mov_from_sreg)
{
	unsigned sreg = i->regnum & 7; /* REX.R does not extend a segment register number */
	if (sreg >= SREG_COUNT)
		return emu_raise_ud(cpu);
	uint64_t sel = cpu->state.seg[sreg].selector;
	/* Register destinations take the operand size (zero-extended); memory takes 16 bits. */
	if (i->is_mem)
		return emu_write(cpu, emu_ea(cpu, i), 2, sel) ? EMU_NEXT : EMU_STOP;
	reg_write(cpu, i->rm, i->opsize, sel);
	return EMU_NEXT;
}

/* Only null selectors into DS/ES are accepted (no descriptor tables in user mode); CS and
 * nonexistent registers are #UD. */
HANDLER(op_mov_to_sreg)
{
	unsigned sreg = i->regnum & 7;
	if (sreg == SREG_CS || sreg >= SREG_COUNT)
		return emu_raise_ud(cpu);
	uint64_t sel;
	if (!rm_read(cpu, i, 2, &sel))
		return EMU_STOP;
	if (cpu->sys)
		return emu_sys_mov_sreg(cpu, i, sreg, (uint16_t)sel);
	if ((sel & 0xfffc) != 0 || sreg == SREG_SS)
		return emu_raise(cpu, EMU_VEC_GP, true, (uint32_t)(sel & 0xfffc));
	if (sreg == SREG_DS || sreg == SREG_ES)
		cpu->state.seg[sreg].selector = 0;
	else
		return emu_raise(cpu, EMU_VEC_GP, true, 0);
	return EMU_NEXT;
}

HANDLER(op_xlat)
{
	uint64_t addr = addr_mask(i, cpu->state.gpr[GPR_RBX] + (cpu->state.gpr[GPR_RAX] & 0xff));
	if (i->seg != EMU_NO_SEG)
		addr += cpu->state.seg[i->seg].base;
	uint64_t v;
	if (!emu_read(cpu, addr, 1, &v))
		return EMU_STOP;
	gpr_set(cpu, GPR_RAX, 1, v);
	return EMU_NEXT;
}

HANDLER(op_lahf)
{
	(void)i;
	uint64_t f = emu_get_flags(cpu);
	reg_write(cpu, 1, 1, (f & 0xd5) | 2); /* AH */
	return EMU_NEXT;
}

HANDLER(op_sahf)
{
	(void)i;
	uint64_t ah = (cpu->state.gpr[GPR_RAX] >> 8) & 0xff;
	emu_set_flags(cpu, FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF, ah);
	return EMU_NEXT;
}

HANDLER(op_flagop)
{
	uint64_t f = emu_get_flags(cpu);
	switch (i->sub) {
	case 0:
		f &= ~(uint64_t)FL_CF;
		break;
	case 1:
		f |= FL_CF;
		break;
	case 2:
		f ^= FL_CF;
		break;
	case 3:
		f &= ~(uint64_t)FL_DF;
		break;
	default:
		f |= FL_DF;
		break;
	}
	cpu->flags = f;
	return EMU_NEXT;
}
