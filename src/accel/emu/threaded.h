/* Threaded dispatch between the specialised handlers (fast_ops.c, fast_sse.c): a handler ends
 * by jumping straight into the next instruction's handler (a sibling call, which the compiler
 * turns into an indirect jump: one predicted branch per guest instruction instead of a call, a
 * return and a loop test). Each decoded block ends with a sentinel entry whose handler returns
 * to the run loop. Leaving early records the instruction that left in cpu->exit_insn. Handlers
 * that store check for a write that hit decoded code, which must end the block.
 * The macros expect the handler's parameters to be named `cpu` and `i`. */
#ifndef GUREUM_ACCEL_EMU_THREADED_H
#define GUREUM_ACCEL_EMU_THREADED_H

#include "accel/emu/cpu.h"

static inline int emu_next_insn(struct emu_cpu *cpu, const struct emu_insn *i)
{
	return i[1].fast(cpu, i + 1);
}

#define EXIT(step) (cpu->exit_insn = i, (step))
#define NEXT	   emu_next_insn(cpu, i)
#define NEXT_W	   (unlikely(cpu->code_written) ? EXIT(EMU_NEXT) : NEXT)

/* A taken branch `i` (cpu->next_rip already set) whose target is an instruction of the running
 * block (insn->imm2 = its offset from `i` + 128, set by emu_specialize_block; 0: none): a loop
 * inside one block goes on without a trip through the run loop, as long as the budget still
 * covers the rest of the block after the target; else it leaves as an ordinary branch. The
 * handlers return EMU_LOOP to the block's runner rather than calling the target themselves:
 * sibling calls are an optimisation the compiler may not make (a handler whose local has its
 * address taken keeps its frame), and a loop must not grow the stack. */
static inline int emu_branch(struct emu_cpu *cpu, const struct emu_insn *i)
{
	if (i->imm2) {
		const struct emu_insn *target = i + ((int)i->imm2 - 128);
		int64_t done = cpu->run_extra + (i - cpu->run_first) + 1;
		if ((uint64_t)(done + (cpu->run_end - target)) <= cpu->run_allowed) {
			cpu->run_extra += (i - target) + 1;
			cpu->loop_target = target;
			return EMU_LOOP;
		}
	}
	return EXIT(EMU_BRANCH);
}

#endif
