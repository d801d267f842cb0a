/* Consecutive x87 register instructions run with one host FPU load (see x87_run.c). */
#ifndef GUREUM_ACCEL_EMU_X87_RUN_H
#define GUREUM_ACCEL_EMU_X87_RUN_H

#include "accel/emu/insn.h"

/* The threaded handler for `i` when it is a plain x87 register instruction (emu_x87_plain),
 * else NULL. At run time it executes `i` and the plain x87 instructions right after it in the
 * block with the guest's x87 state loaded into the host FPU once. */
emu_handler emu_x87_run_handler(const struct emu_insn *i);

#endif
