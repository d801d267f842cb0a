/* Runs one x87 or MMX instruction on the host FPU with the guest's x87 state loaded into it.
 *
 * The guest's x87/MMX state (FCW, FSW, FTW, FOP, FIP, FDP, ST0-7/MM0-7) is the head of its
 * FXSAVE image. Rather than re-implementing 80-bit arithmetic, stack faults, tag bookkeeping,
 * C0-C3, NaN propagation and the transcendental approximations, the emulator loads that image
 * into the host FPU (FXRSTOR64), executes the very same instruction from a fixed table of
 * stubs, and saves the result back (FXSAVE64): the outcome is the host CPU's own, bit for bit,
 * except for the x87 pointers, which are the guest's (x87.h).
 * The host is x86-64 by construction (this emulator only builds there). Memory operands go
 * through a bounce buffer addressed by RDI; the caller moves guest memory in and out. */
#ifndef GUREUM_ACCEL_EMU_FPU_HOST_H
#define GUREUM_ACCEL_EMU_FPU_HOST_H

#include <stdbool.h>
#include <stdint.h>

/* Registers the stub may read or write besides the FPU state. */
struct fpu_host_regs {
	uint64_t rflags; /* in: guest arithmetic flags (FCMOVcc); out: host flags after (FCOMI) */
	uint64_t rax;	 /* FNSTSW AX */
};

/* Stub for x87 escape `opcode` (0xd8-0xdf) with ModRM `modrm`. Memory forms must have been
 * rewritten to mod 00 rm 111 ([rdi]); `opsize16` selects the 16-bit FLDENV/FNSTENV/FRSTOR/
 * FNSAVE layout (66 prefix). */
const void *fpu_host_x87_stub(unsigned opcode, unsigned modrm, bool opsize16);

/* Executes `stub` against the 160-byte x87 head of the FXSAVE image `fx` (bytes 24-31, MXCSR,
 * are neither read nor written), with RDI = `mem`. FOP, FIP and FDP (bytes 6-23) are loaded into
 * the host but never written back: what the host would record there is its own (the stub's and
 * the bounce buffer's addresses, or nothing), and the caller sets them (x87.h). */
void fpu_host_run(const void *stub, uint8_t *fx, void *mem, struct fpu_host_regs *regs);

/* Executes `n` register-form stubs (no memory, flags or RAX) back to back with the x87 state
 * loaded once: FXRSTOR, the stubs, FXSAVE. Stops early after a stub that leaves an unmasked
 * exception pending (FSW.ES), since the next one would wait and trap on the host. Returns how
 * many ran (at least one). */
unsigned fpu_host_run_seq(const void *const *stubs, unsigned n, uint8_t *fx);

/* Loads the x87 head of `fx` into the host FPU and saves it back, as FXRSTOR and XRSTOR leave
 * it: reserved bits of FCW and FTW cleared, FSW.ES and B recomputed from the exception flags
 * and masks, the reserved bytes of the register slots as the hardware stores them. The x87
 * pointers are left alone. */
void fpu_host_normalize(uint8_t *fx);

#endif
