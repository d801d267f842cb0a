/* Control transfer: JMP, Jcc, CALL, RET, LOOP/JrCXZ. Relative targets were resolved by the
 * decoder (insn->imm is the absolute target). */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* A jump to a non-canonical address faults on the jump itself (#GP), not at the target. */
static int jump_to(struct emu_cpu *cpu, uint64_t target)
{
	if (cpu->mode == EMU_MODE_64 && !canonical(target))
		return emu_raise_gp0(cpu);
	cpu->next_rip = target;
	return EMU_BRANCH;
}

static uint64_t branch_target(const struct emu_insn *i, uint64_t v)
{
	return i->opsize == 8 ? v : v & size_mask(i->opsize);
}

HANDLER(op_jmp_rel)
{
	return jump_to(cpu, i->imm);
}

HANDLER(op_jmp_rm)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	return jump_to(cpu, branch_target(i, v));
}

HANDLER(op_jcc)
{
	if (emu_condition(cpu, i->sub))
		return jump_to(cpu, i->imm);
	return EMU_NEXT;
}

/* A non-canonical target faults (#GP) with RSP unchanged, after the return address slot was
 * found writable (else that faults first); Intel has stored the return address by then, AMD
 * has not. */
static int call_to(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t target)
{
	uint64_t old_rsp = cpu->state.gpr[GPR_RSP];
	if (cpu->mode == EMU_MODE_64 && !canonical(target) &&
	    !cpu->model->call_noncanonical_stores_return) {
		if (!emu_probe_write(cpu, old_rsp - i->opsize, i->opsize))
			return EMU_STOP;
		return emu_raise_gp0(cpu);
	}
	if (!emu_push(cpu, i->opsize, i->next_rip))
		return EMU_STOP;
	if (cpu->mode == EMU_MODE_64 && !canonical(target)) {
		cpu->state.gpr[GPR_RSP] = old_rsp;
		return emu_raise_gp0(cpu);
	}
	cpu->next_rip = target;
	return EMU_BRANCH;
}

HANDLER(op_call_rel)
{
	return call_to(cpu, i, i->imm);
}

HANDLER(op_call_rm)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	return call_to(cpu, i, branch_target(i, v));
}

HANDLER(op_ret)
{
	uint64_t old_rsp = cpu->state.gpr[GPR_RSP], v;
	if (!emu_pop(cpu, i->opsize, &v))
		return EMU_STOP;
	int step = jump_to(cpu, branch_target(i, v));
	if (step == EMU_STOP) {
		cpu->state.gpr[GPR_RSP] = old_rsp;
		return step;
	}
	cpu->state.gpr[GPR_RSP] += i->imm & 0xffff;
	return step;
}

HANDLER(op_loop)
{
	unsigned asz = i->addrsize;
	uint64_t count = gpr_get(cpu, GPR_RCX, asz);
	bool taken;
	if (i->sub == 3) {
		taken = count == 0;
	} else {
		count = (count - 1) & size_mask(asz);
		gpr_set(cpu, GPR_RCX, asz == 2 ? 2 : asz, count);
		taken = count != 0;
		if (i->sub == 0)
			taken = taken && !(emu_get_flags(cpu) & FL_ZF);
		else if (i->sub == 1)
			taken = taken && (emu_get_flags(cpu) & FL_ZF);
	}
	return taken ? jump_to(cpu, i->imm) : EMU_NEXT;
}
