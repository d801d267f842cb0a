/* CMP/TEST fused with the Jcc that follows it (see fused_jcc.c). */
#ifndef GUREUM_ACCEL_EMU_FUSED_JCC_H
#define GUREUM_ACCEL_EMU_FUSED_JCC_H

#include "accel/emu/insn.h"

/* A threaded handler running `cmp` (a CMP or TEST) and then the Jcc `jcc` right after it in
 * the same block, or NULL when the pair has no fused form. The Jcc must have a canonical
 * 64-bit target (it cannot fault). */
emu_handler emu_fuse_cmp_jcc(const struct emu_insn *cmp, const struct emu_insn *jcc);

#endif
