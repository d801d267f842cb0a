/* Specialised handlers for the hottest instruction forms (see fast_ops.c). */
#ifndef GUREUM_ACCEL_EMU_FAST_OPS_H
#define GUREUM_ACCEL_EMU_FAST_OPS_H

#include "accel/emu/insn.h"

#include <stdint.h>

/* Sets insn->fast for the `count` instructions of one decoded block: a handler specialised for
 * the instruction's form where there is one (else a wrapper around insn->fn), and one that
 * skips computing flags when a later instruction of the block overwrites them before anything
 * can observe them (only valid when the whole block runs). The handlers chain into each other;
 * insns[count] must exist and becomes the sentinel that returns to the run loop. Calling
 * insns[0].fast runs the block; cpu->exit_insn is then the instruction that left (the sentinel
 * when all completed) and the return value its enum emu_step. */
void emu_specialize_block(struct emu_insn *insns, uint32_t count);

#endif
