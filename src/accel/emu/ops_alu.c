/* Two-operand integer ALU (ADD OR ADC SBB AND SUB XOR CMP), TEST, INC/DEC, NOT, NEG. Flags are
 * recorded lazily. Memory destinations are read as writes (a read-only page faults before any
 * change) and written before flags change. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* Computes `a op b`, records the flags; returns the result. */
static uint64_t alu(struct emu_cpu *cpu, unsigned op, unsigned size, uint64_t a, uint64_t b)
{
	uint64_t r;
	bool carry;
	switch (op) {
	case ALU_ADD:
		r = a + b;
		emu_set_lazy(cpu, LF_ADD, size, r, a, b);
		return r;
	case ALU_OR:
		r = a | b;
		break;
	case ALU_ADC:
		carry = emu_cf(cpu);
		r = a + b + carry;
		emu_set_lazy(cpu, LF_ADC, size, r, a, b);
		cpu->lf.cf_in = carry;
		return r;
	case ALU_SBB:
		carry = emu_cf(cpu);
		r = a - b - carry;
		emu_set_lazy(cpu, LF_SBB, size, r, a, b);
		cpu->lf.cf_in = carry;
		return r;
	case ALU_AND:
		r = a & b;
		break;
	case ALU_XOR:
		r = a ^ b;
		break;
	default: /* SUB, CMP */
		r = a - b;
		emu_set_lazy(cpu, LF_SUB, size, r, a, b);
		return r;
	}
	emu_set_lazy(cpu, LF_LOGIC, size, r, a, b);
	return r;
}

/* Applies the operation to the r/m destination (register or memory). */
static int alu_to_rm(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t src)
{
	unsigned size = i->opsize;
	uint64_t m = size_mask(size), a;
	if (!i->is_mem) {
		a = reg_read(cpu, i->rm, size);
		uint64_t r = alu(cpu, i->sub, size, a, src & m);
		if (i->sub != ALU_CMP)
			reg_write(cpu, i->rm, size, r);
		return EMU_NEXT;
	}
	uint64_t addr = emu_ea(cpu, i);
	if (i->sub == ALU_CMP) {
		if (!emu_read(cpu, addr, size, &a))
			return EMU_STOP;
		alu(cpu, ALU_CMP, size, a, src & m);
		return EMU_NEXT;
	}
	if (!emu_read_rmw(cpu, addr, size, &a))
		return EMU_STOP;
	struct lazy_flags saved = cpu->lf;
	uint64_t saved_flags = cpu->flags;
	uint64_t r = alu(cpu, i->sub, size, a, src & m);
	if (!emu_write(cpu, addr, size, r)) {
		cpu->lf = saved;
		cpu->flags = saved_flags;
		return EMU_STOP;
	}
	return EMU_NEXT;
}

HANDLER(op_alu_rm_reg)
{
	return alu_to_rm(cpu, i, reg_read(cpu, i->reg, i->opsize));
}

HANDLER(op_alu_rm_imm)
{
	return alu_to_rm(cpu, i, i->imm);
}

HANDLER(op_alu_reg_rm)
{
	uint64_t b;
	if (!rm_read(cpu, i, i->opsize, &b))
		return EMU_STOP;
	uint64_t r = alu(cpu, i->sub, i->opsize, reg_read(cpu, i->reg, i->opsize), b);
	if (i->sub != ALU_CMP)
		reg_write(cpu, i->reg, i->opsize, r);
	return EMU_NEXT;
}

HANDLER(op_test_rm_reg)
{
	uint64_t a;
	if (!rm_read(cpu, i, i->opsize, &a))
		return EMU_STOP;
	alu(cpu, ALU_AND, i->opsize, a, reg_read(cpu, i->reg, i->opsize));
	return EMU_NEXT;
}

HANDLER(op_test_rm_imm)
{
	uint64_t a;
	if (!rm_read(cpu, i, i->opsize, &a))
		return EMU_STOP;
	alu(cpu, ALU_AND, i->opsize, a, i->imm & size_mask(i->opsize));
	return EMU_NEXT;
}

HANDLER(op_incdec)
{
	uint64_t addr = 0, a;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	uint64_t r = i->sub ? a - 1 : a + 1;
	if (!rmw_write(cpu, i, addr, r))
		return EMU_STOP;
	bool carry = emu_cf(cpu);
	emu_set_lazy(cpu, i->sub ? LF_DEC : LF_INC, i->opsize, r, a, 1);
	cpu->lf.cf_in = carry;
	return EMU_NEXT;
}

HANDLER(op_not)
{
	uint64_t addr = 0, a;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	return rmw_write(cpu, i, addr, ~a) ? EMU_NEXT : EMU_STOP;
}

HANDLER(op_neg)
{
	uint64_t addr = 0, a;
	if (!rmw_read(cpu, i, &addr, &a))
		return EMU_STOP;
	uint64_t r = 0 - a;
	if (!rmw_write(cpu, i, addr, r))
		return EMU_STOP;
	emu_set_lazy(cpu, LF_SUB, i->opsize, r, 0, a);
	return EMU_NEXT;
}
