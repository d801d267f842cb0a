/* Specialised handlers for the common SSE2 integer forms (see fast_sse.c). */
#ifndef GUREUM_ACCEL_EMU_FAST_SSE_H
#define GUREUM_ACCEL_EMU_FAST_SSE_H

#include "accel/emu/insn.h"

/* The threaded, specialised handler for `i` (an SSE instruction) or NULL when there is none. */
emu_handler emu_fast_sse(const struct emu_insn *i);

#endif
