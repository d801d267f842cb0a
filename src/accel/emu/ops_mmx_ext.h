/* MMX forms beyond the plain "mm, mm/m64" ones of ops_mmx.c: general registers, immediates,
 * masked stores, MMX <-> XMM moves and the SSSE3 instructions on MM registers. */
#ifndef GUREUM_ACCEL_EMU_OPS_MMX_EXT_H
#define GUREUM_ACCEL_EMU_OPS_MMX_EXT_H

#include "accel/emu/ops.h"

HANDLER(op_mmx_movd_to_mm);   /* 0F 6E: MOVD/MOVQ mm, r/m32/64 */
HANDLER(op_mmx_movd_from_mm); /* 0F 7E: MOVD/MOVQ r/m32/64, mm */
HANDLER(op_mmx_pshufw);	      /* 0F 70 */
HANDLER(op_mmx_shift_imm);    /* 0F 71/72/73 /2 /4 /6 ib */
HANDLER(op_mmx_pinsrw);	      /* 0F C4 */
HANDLER(op_mmx_pextrw);	      /* 0F C5 */
HANDLER(op_mmx_pmovmskb);     /* 0F D7 */
HANDLER(op_mmx_maskmovq);     /* 0F F7 */
HANDLER(op_mmx_movq2dq);      /* F3 0F D6 */
HANDLER(op_mmx_movdq2q);      /* F2 0F D6 */
HANDLER(op_mmx_ssse3);	      /* 0F 38 00-0B, 1C-1E */
HANDLER(op_mmx_palignr);      /* 0F 3A 0F */
HANDLER(op_mmx_cvt);	      /* 0F 2A/2C/2D, none or 66: sub = enum mmx_cvt (ops_mmx_ext.c) */

#endif
