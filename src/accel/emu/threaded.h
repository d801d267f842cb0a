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

#endif
