/* Stack instructions: PUSH/POP forms, PUSHF/POPF, ENTER/LEAVE. A push that faults leaves RSP
 * unchanged (emu_push commits RSP only after the store). */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"

HANDLER(op_push_reg)
{
	return emu_push(cpu, i->opsize, reg_read(cpu, i->rm, i->opsize)) ? EMU_NEXT : EMU_STOP;
}

HANDLER(op_pop_reg)
{
	uint64_t v;
	if (!emu_pop(cpu, i->opsize, &v))
		return EMU_STOP;
	reg_write(cpu, i->rm, i->opsize, v);
	return EMU_NEXT;
}

HANDLER(op_push_imm)
{
	return emu_push(cpu, i->opsize, i->imm) ? EMU_NEXT : EMU_STOP;
}

HANDLER(op_push_rm)
{
	uint64_t v;
	if (!rm_read(cpu, i, i->opsize, &v))
		return EMU_STOP;
	return emu_push(cpu, i->opsize, v) ? EMU_NEXT : EMU_STOP;
}

/* POP r/m: the address is computed with RSP already incremented. */
HANDLER(op_pop_rm)
{
	uint64_t old_rsp = cpu->state.gpr[GPR_RSP], v;
	if (!emu_pop(cpu, i->opsize, &v))
		return EMU_STOP;
	if (!rm_write(cpu, i, i->opsize, v)) {
		cpu->state.gpr[GPR_RSP] = old_rsp;
		return EMU_STOP;
	}
	return EMU_NEXT;
}

HANDLER(op_push_seg)
{
	return emu_push(cpu, i->opsize, cpu->state.seg[i->sub].selector) ? EMU_NEXT : EMU_STOP;
}

/* Loading a segment register needs descriptor tables: only the null selector for FS/GS, which
 * keeps the base (as 64-bit Linux user mode sees it). */
HANDLER(op_pop_seg)
{
	uint64_t old_rsp = cpu->state.gpr[GPR_RSP], v;
	if (!emu_pop(cpu, i->opsize, &v))
		return EMU_STOP;
	if (cpu->sys) {
		int step = emu_sys_mov_sreg(cpu, i, i->sub, (uint16_t)v);
		if (step == EMU_STOP && cpu->pending.reason == EMU_EXIT_EXCEPTION)
			cpu->state.gpr[GPR_RSP] = old_rsp;
		return step;
	}
	if ((v & 0xffff) != 0) {
		cpu->state.gpr[GPR_RSP] = old_rsp;
		return emu_raise(cpu, EMU_VEC_GP, true, (uint32_t)(v & 0xfffc));
	}
	cpu->state.seg[i->sub].selector = 0;
	return EMU_NEXT;
}

#define PUSHF_MASK 0x00fcffffULL /* VM and RF read as zero */
#define POPF_USER  (FL_ARITH | FL_TF | FL_DF | FL_OF | FL_AC | FL_ID | 0x4000u /* NT */)

HANDLER(op_pushf)
{
	if (cpu->sys)
		return emu_sys_pushf(cpu, i);
	uint64_t f = (emu_get_flags(cpu) | X86_RFLAGS_FIXED) & PUSHF_MASK;
	return emu_push(cpu, i->opsize, f) ? EMU_NEXT : EMU_STOP;
}

/* At CPL 3 with IOPL 0, POPF silently keeps IF and IOPL. */
HANDLER(op_popf)
{
	if (cpu->sys)
		return emu_sys_popf(cpu, i);
	uint64_t v;
	if (!emu_pop(cpu, i->opsize, &v))
		return EMU_STOP;
	uint64_t mask = POPF_USER & size_mask(i->opsize);
	cpu->flags = (emu_get_flags(cpu) & ~mask) | (v & mask);
	return EMU_NEXT;
}

HANDLER(op_enter)
{
	unsigned size = i->opsize, level = i->imm2 & 31;
	uint64_t rsp = cpu->state.gpr[GPR_RSP], rbp = cpu->state.gpr[GPR_RBP];
	uint64_t frame = rsp - size;
	if (!emu_write(cpu, frame, size, rbp))
		return EMU_STOP;
	uint64_t sp = frame;
	for (unsigned k = 1; k < level; k++) {
		uint64_t v;
		if (!emu_read(cpu, rbp - k * size, size, &v))
			return EMU_STOP;
		sp -= size;
		if (!emu_write(cpu, sp, size, v))
			return EMU_STOP;
	}
	if (level > 0) {
		sp -= size;
		if (!emu_write(cpu, sp, size, frame))
			return EMU_STOP;
	}
	/* Like the host: the frame is stored first, then the final stack pointer is checked; a
	 * fault leaves the stores in memory but RSP/RBP unchanged. */
	if (!emu_probe_write(cpu, sp - i->imm, size))
		return EMU_STOP;
	gpr_set(cpu, GPR_RBP, size, frame);
	cpu->state.gpr[GPR_RSP] = sp - i->imm;
	return EMU_NEXT;
}

HANDLER(op_leave)
{
	uint64_t old_rsp = cpu->state.gpr[GPR_RSP], v;
	cpu->state.gpr[GPR_RSP] = cpu->state.gpr[GPR_RBP];
	if (!emu_pop(cpu, i->opsize, &v)) {
		cpu->state.gpr[GPR_RSP] = old_rsp;
		return EMU_STOP;
	}
	gpr_set(cpu, GPR_RBP, i->opsize, v);
	return EMU_NEXT;
}
