/* SSE handlers and their operation numbers (insn->sub). */
#ifndef GUREUM_ACCEL_EMU_OPS_SSE_H
#define GUREUM_ACCEL_EMU_OPS_SSE_H

#include "accel/emu/ops.h"

enum sse_mov {
	SSE_MOV_ALIGNED,
	SSE_MOV_UNALIGNED,
	SSE_MOV_SCALAR32,
	SSE_MOV_SCALAR64,
	SSE_MOV_Q,
	SSE_MOV_LOW64,
	SSE_MOV_HIGH64,
};

enum sse_op {
	SSE_NONE,
	SSE_PACKSSDW,
	SSE_PACKSSWB,
	SSE_PACKUSWB,
	SSE_PADDB,
	SSE_PADDD,
	SSE_PADDQ,
	SSE_PADDSB,
	SSE_PADDSW,
	SSE_PADDUSB,
	SSE_PADDUSW,
	SSE_PADDW,
	SSE_PAND,
	SSE_PANDN,
	SSE_PAVGB,
	SSE_PAVGW,
	SSE_PCMPEQB,
	SSE_PCMPEQD,
	SSE_PCMPEQW,
	SSE_PCMPGTB,
	SSE_PCMPGTD,
	SSE_PCMPGTW,
	SSE_PMADDWD,
	SSE_PMAXSW,
	SSE_PMAXUB,
	SSE_PMINSW,
	SSE_PMINUB,
	SSE_PMULHUW,
	SSE_PMULHW,
	SSE_PMULLW,
	SSE_PMULUDQ,
	SSE_POR,
	SSE_PSADBW,
	SSE_PSUBB,
	SSE_PSUBD,
	SSE_PSUBQ,
	SSE_PSUBSB,
	SSE_PSUBSW,
	SSE_PSUBUSB,
	SSE_PSUBUSW,
	SSE_PSUBW,
	SSE_PUNPCKHBW,
	SSE_PUNPCKHDQ,
	SSE_PUNPCKHQDQ,
	SSE_PUNPCKHWD,
	SSE_PUNPCKLBW,
	SSE_PUNPCKLDQ,
	SSE_PUNPCKLQDQ,
	SSE_PUNPCKLWD,
	SSE_PXOR,
	SSE_PSRLW,
	SSE_PSRAW,
	SSE_PSLLW,
	SSE_PSRLD,
	SSE_PSRAD,
	SSE_PSLLD,
	SSE_PSRLQ,
	SSE_PSRLDQ,
	SSE_PSLLQ,
	SSE_PSLLDQ,
};

HANDLER(op_sse_load);
HANDLER(op_sse_store);
HANDLER(op_sse_movd_to_xmm);
HANDLER(op_sse_movd_from_xmm);
HANDLER(op_sse_binop);
HANDLER(op_sse_pshuf);
HANDLER(op_sse_pmovmskb);
HANDLER(op_sse_shift_imm);
HANDLER(op_sse_shift_xmm); /* sub: SSE_PSRLW .. SSE_PSLLQ, count from xmm/m128 */

/* ops_sse_fp.c */
HANDLER(op_sse_host);	    /* sub: enum sse_host_op */
HANDLER(op_sse_shufp);	    /* sub 0 SHUFPS 1 SHUFPD */
HANDLER(op_sse_movmsk);	    /* sub 0 MOVMSKPS 1 MOVMSKPD */
HANDLER(op_sse_dup);	    /* sub 0 MOVDDUP 1 MOVSLDUP 2 MOVSHDUP */
HANDLER(op_sse_extract);    /* sub = element bytes 1 2 4 (8 with REX.W), 5 EXTRACTPS */
HANDLER(op_sse_insert);	    /* sub = element bytes 1 2 4 (8 with REX.W), 5 INSERTPS */
HANDLER(op_sse_pextrw_reg); /* 66 0F C5 */
HANDLER(op_sse_maskmov);    /* MASKMOVDQU */

#endif
