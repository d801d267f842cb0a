/* Runs of x87 register instructions (FLD ST(i), FADD/FMUL/FXCH/FCHS/FSQRT... on the stack,
 * the bulk of x87 arithmetic once operands are loaded) executed with one FXRSTOR and one
 * FXSAVE for the whole run instead of one pair per instruction.
 *
 * The outcome equals running them one at a time: FXSAVE/FXRSTOR carry the x87 state
 * losslessly; the stub of a register form is the guest's own opcode and ModRM, so a FOP the
 * host records is already the guest's; every non-control instruction records FIP, so after
 * the run FIP is the last stub's address and becomes that instruction's RIP; the run stops
 * right after an instruction that leaves an unmasked exception pending, so that the next one
 * raises #MF through the generic handler. */
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
	uint8_t *fx = cpu->state.xsave;
	unsigned ran = fpu_host_run_seq(stubs, n, fx);
	/* The host's FIP names the stub of the last instruction that recorded one. */
	uint64_t fip = x87_get64(fx, X87_FIP);
	for (unsigned k = ran; k-- > 0;) {
		if (fip == (uint64_t)(uintptr_t)stubs[k]) {
			x87_set64(fx, X87_FIP, i[k].next_rip - i[k].len);
			break;
		}
	}
	return emu_next_insn(cpu, &i[ran - 1]);
}

emu_handler emu_x87_run_handler(const struct emu_insn *i)
{
	return emu_x87_plain(i) ? x87_run : NULL;
}
