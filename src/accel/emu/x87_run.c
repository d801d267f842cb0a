/* Runs of x87 register instructions (FLD ST(i), FADD/FMUL/FXCH/FCHS/FSQRT... on the stack,
 * the bulk of x87 arithmetic once operands are loaded) executed with one FXRSTOR and one
 * FXSAVE for the whole run instead of one pair per instruction.
 *
 * The outcome equals running them one at a time: FXSAVE/FXRSTOR carry the x87 state
 * losslessly; the x87 pointers after the run are those the last instruction sets (x87.h), since
 * register forms leave FDP alone and each sets FIP (and, by the model, FOP) afresh; the run
 * stops right after an instruction that leaves an unmasked exception pending, so that the next
 * one raises #MF through the generic handler. */
#include "accel/emu/x87_run.h"
#include "accel/emu/fpu_host.h"
#include "accel/emu/threaded.h"
#include "accel/emu/x87.h"

#define MAX_RUN 16

static int x87_run(struct emu_cpu *cpu, const struct emu_insn *i)
{
	/* #MF is due before the first one: the generic handler raises it. */
	if (emu_x87_pending(cpu))
		return EXIT(i->fn(cpu, i));
	const void *stubs[MAX_RUN];
	unsigned n = 0;
	do {
		stubs[n] = fpu_host_x87_stub(i[n].opcode, i[n].modrm, false);
		n++;
	} while (n < MAX_RUN && i[n].fast == x87_run);
	unsigned ran = fpu_host_run_seq(stubs, n, cpu->state.xsave);
	/* Register forms: the last one's FIP and FOP are what one at a time leaves (an earlier
	 * one with an unmasked exception would have ended the run), FDP stays. */
	x87_pointers_after(cpu, &i[ran - 1], 0);
	return emu_next_insn(cpu, &i[ran - 1]);
}

emu_handler emu_x87_run_handler(const struct emu_insn *i)
{
	return emu_x87_plain(i) ? x87_run : NULL;
}
