/* Rows of the 0F, 0F38 and 0F3A maps for SSE floating point, SSE3, SSSE3 and SSE4.1/4.2 (one
 * member per mandatory prefix: none, 66, F3, F2; a missing member is #UD). Most run on the host
 * (op_sse_host, sub = enum sse_host_op); data movement is emulated. */
#include "accel/emu/ops.h"
#include "accel/emu/ops_mmx_ext.h"
#include "accel/emu/ops_sse.h"
#include "accel/emu/optable_sse.h"
#include "accel/emu/sse_host.h"

#define E(fn_, flags_, sub_)                                                                       \
	{                                                                                          \
		.fn = fn_, .flags = (flags_), .sub = (sub_)                                        \
	}

const struct op_entry emu_sse_0f_14[4] = {
    [0] = E(op_sse_binop, F_MODRM, SSE_PUNPCKLDQ), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKLQDQ)};
const struct op_entry emu_sse_0f_15[4] = {
    [0] = E(op_sse_binop, F_MODRM, SSE_PUNPCKHDQ), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKHQDQ)};
const struct op_entry emu_sse_0f_2a[4] = {[0] = E(op_mmx_cvt, F_MODRM, 0),
					  [1] = E(op_mmx_cvt, F_MODRM, 1),
					  [2] = E(op_sse_host, F_MODRM, SH_CVTSI2SS),
					  [3] = E(op_sse_host, F_MODRM, SH_CVTSI2SD)};
const struct op_entry emu_sse_0f_2b[4] = {[0] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_ALIGNED),
					  [1] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_ALIGNED)};
const struct op_entry emu_sse_0f_2c[4] = {[0] = E(op_mmx_cvt, F_MODRM, 2),
					  [1] = E(op_mmx_cvt, F_MODRM, 3),
					  [2] = E(op_sse_host, F_MODRM, SH_CVTTSS2SI),
					  [3] = E(op_sse_host, F_MODRM, SH_CVTTSD2SI)};
const struct op_entry emu_sse_0f_2d[4] = {[0] = E(op_mmx_cvt, F_MODRM, 4),
					  [1] = E(op_mmx_cvt, F_MODRM, 5),
					  [2] = E(op_sse_host, F_MODRM, SH_CVTSS2SI),
					  [3] = E(op_sse_host, F_MODRM, SH_CVTSD2SI)};
const struct op_entry emu_sse_0f_2e[4] = {
    [0] = E(op_sse_host, F_MODRM, SH_UCOMISS), [1] = E(op_sse_host, F_MODRM, SH_UCOMISD)};
const struct op_entry emu_sse_0f_2f[4] = {
    [0] = E(op_sse_host, F_MODRM, SH_COMISS), [1] = E(op_sse_host, F_MODRM, SH_COMISD)};
const struct op_entry emu_sse_0f_50[4] = {
    [0] = E(op_sse_movmsk, F_MODRM | F_REG, 0), [1] = E(op_sse_movmsk, F_MODRM | F_REG, 1)};
const struct op_entry emu_sse_0f_51[4] = {[0] = E(op_sse_host, F_MODRM, SH_SQRTPS),
					  [1] = E(op_sse_host, F_MODRM, SH_SQRTPD),
					  [2] = E(op_sse_host, F_MODRM, SH_SQRTSS),
					  [3] = E(op_sse_host, F_MODRM, SH_SQRTSD)};
const struct op_entry emu_sse_0f_52[4] = {
    [0] = E(op_sse_host, F_MODRM, SH_RSQRTPS), [2] = E(op_sse_host, F_MODRM, SH_RSQRTSS)};
const struct op_entry emu_sse_0f_53[4] = {
    [0] = E(op_sse_host, F_MODRM, SH_RCPPS), [2] = E(op_sse_host, F_MODRM, SH_RCPSS)};
const struct op_entry emu_sse_0f_58[4] = {[0] = E(op_sse_host, F_MODRM, SH_ADDPS),
					  [1] = E(op_sse_host, F_MODRM, SH_ADDPD),
					  [2] = E(op_sse_host, F_MODRM, SH_ADDSS),
					  [3] = E(op_sse_host, F_MODRM, SH_ADDSD)};
const struct op_entry emu_sse_0f_59[4] = {[0] = E(op_sse_host, F_MODRM, SH_MULPS),
					  [1] = E(op_sse_host, F_MODRM, SH_MULPD),
					  [2] = E(op_sse_host, F_MODRM, SH_MULSS),
					  [3] = E(op_sse_host, F_MODRM, SH_MULSD)};
const struct op_entry emu_sse_0f_5a[4] = {[0] = E(op_sse_host, F_MODRM, SH_CVTPS2PD),
					  [1] = E(op_sse_host, F_MODRM, SH_CVTPD2PS),
					  [2] = E(op_sse_host, F_MODRM, SH_CVTSS2SD),
					  [3] = E(op_sse_host, F_MODRM, SH_CVTSD2SS)};
const struct op_entry emu_sse_0f_5b[4] = {[0] = E(op_sse_host, F_MODRM, SH_CVTDQ2PS),
					  [1] = E(op_sse_host, F_MODRM, SH_CVTPS2DQ),
					  [2] = E(op_sse_host, F_MODRM, SH_CVTTPS2DQ)};
const struct op_entry emu_sse_0f_5c[4] = {[0] = E(op_sse_host, F_MODRM, SH_SUBPS),
					  [1] = E(op_sse_host, F_MODRM, SH_SUBPD),
					  [2] = E(op_sse_host, F_MODRM, SH_SUBSS),
					  [3] = E(op_sse_host, F_MODRM, SH_SUBSD)};
const struct op_entry emu_sse_0f_5d[4] = {[0] = E(op_sse_host, F_MODRM, SH_MINPS),
					  [1] = E(op_sse_host, F_MODRM, SH_MINPD),
					  [2] = E(op_sse_host, F_MODRM, SH_MINSS),
					  [3] = E(op_sse_host, F_MODRM, SH_MINSD)};
const struct op_entry emu_sse_0f_5e[4] = {[0] = E(op_sse_host, F_MODRM, SH_DIVPS),
					  [1] = E(op_sse_host, F_MODRM, SH_DIVPD),
					  [2] = E(op_sse_host, F_MODRM, SH_DIVSS),
					  [3] = E(op_sse_host, F_MODRM, SH_DIVSD)};
const struct op_entry emu_sse_0f_5f[4] = {[0] = E(op_sse_host, F_MODRM, SH_MAXPS),
					  [1] = E(op_sse_host, F_MODRM, SH_MAXPD),
					  [2] = E(op_sse_host, F_MODRM, SH_MAXSS),
					  [3] = E(op_sse_host, F_MODRM, SH_MAXSD)};
const struct op_entry emu_sse_0f_7c[4] = {
    [1] = E(op_sse_host, F_MODRM, SH_HADDPD), [3] = E(op_sse_host, F_MODRM, SH_HADDPS)};
const struct op_entry emu_sse_0f_7d[4] = {
    [1] = E(op_sse_host, F_MODRM, SH_HSUBPD), [3] = E(op_sse_host, F_MODRM, SH_HSUBPS)};
const struct op_entry emu_sse_0f_c2[4] = {[0] = E(op_sse_host, F_MODRM | F_IBU, SH_CMPPS),
					  [1] = E(op_sse_host, F_MODRM | F_IBU, SH_CMPPD),
					  [2] = E(op_sse_host, F_MODRM | F_IBU, SH_CMPSS),
					  [3] = E(op_sse_host, F_MODRM | F_IBU, SH_CMPSD)};
const struct op_entry emu_sse_0f_c3[4] = {[0] = E(op_mov_rm_reg, F_MODRM | F_MEM, 0)};
const struct op_entry emu_sse_0f_c4[4] = {
    [0] = E(op_mmx_pinsrw, F_MODRM | F_IBU, 0), [1] = E(op_sse_insert, F_MODRM | F_IBU, 2)};
const struct op_entry emu_sse_0f_c5[4] = {[0] = E(op_mmx_pextrw, F_MODRM | F_REG | F_IBU, 0),
					  [1] = E(op_sse_pextrw_reg, F_MODRM | F_REG | F_IBU, 0)};
const struct op_entry emu_sse_0f_c6[4] = {
    [0] = E(op_sse_shufp, F_MODRM | F_IBU, 0), [1] = E(op_sse_shufp, F_MODRM | F_IBU, 1)};
const struct op_entry emu_sse_0f_d0[4] = {
    [1] = E(op_sse_host, F_MODRM, SH_ADDSUBPD), [3] = E(op_sse_host, F_MODRM, SH_ADDSUBPS)};
const struct op_entry emu_sse_0f_d1[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSRLW)};
const struct op_entry emu_sse_0f_d2[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSRLD)};
const struct op_entry emu_sse_0f_d3[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSRLQ)};
const struct op_entry emu_sse_0f_e1[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSRAW)};
const struct op_entry emu_sse_0f_e2[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSRAD)};
const struct op_entry emu_sse_0f_e6[4] = {[1] = E(op_sse_host, F_MODRM, SH_CVTTPD2DQ),
					  [2] = E(op_sse_host, F_MODRM, SH_CVTDQ2PD),
					  [3] = E(op_sse_host, F_MODRM, SH_CVTPD2DQ)};
const struct op_entry emu_sse_0f_f0[4] = {[3] = E(op_sse_load, F_MODRM | F_MEM, SSE_MOV_UNALIGNED)};
const struct op_entry emu_sse_0f_f1[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSLLW)};
const struct op_entry emu_sse_0f_f2[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSLLD)};
const struct op_entry emu_sse_0f_f3[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_shift_xmm, F_MODRM, SSE_PSLLQ)};
const struct op_entry emu_sse_0f_f7[4] = {
    [0] = E(op_mmx_maskmovq, F_MODRM | F_REG, 0), [1] = E(op_sse_maskmov, F_MODRM | F_REG, 0)};
const struct op_entry emu_sse_0f38_00[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PSHUFB)};
const struct op_entry emu_sse_0f38_01[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PHADDW)};
const struct op_entry emu_sse_0f38_02[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PHADDD)};
const struct op_entry emu_sse_0f38_03[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PHADDSW)};
const struct op_entry emu_sse_0f38_04[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PMADDUBSW)};
const struct op_entry emu_sse_0f38_05[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PHSUBW)};
const struct op_entry emu_sse_0f38_06[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PHSUBD)};
const struct op_entry emu_sse_0f38_07[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PHSUBSW)};
const struct op_entry emu_sse_0f38_08[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PSIGNB)};
const struct op_entry emu_sse_0f38_09[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PSIGNW)};
const struct op_entry emu_sse_0f38_0a[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PSIGND)};
const struct op_entry emu_sse_0f38_0b[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PMULHRSW)};
const struct op_entry emu_sse_0f38_10[4] = {[1] = E(op_sse_host, F_MODRM, SH_PBLENDVB)};
const struct op_entry emu_sse_0f38_14[4] = {[1] = E(op_sse_host, F_MODRM, SH_BLENDVPS)};
const struct op_entry emu_sse_0f38_15[4] = {[1] = E(op_sse_host, F_MODRM, SH_BLENDVPD)};
const struct op_entry emu_sse_0f38_17[4] = {[1] = E(op_sse_host, F_MODRM, SH_PTEST)};
const struct op_entry emu_sse_0f38_1c[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PABSB)};
const struct op_entry emu_sse_0f38_1d[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PABSW)};
const struct op_entry emu_sse_0f38_1e[4] = {
    [0] = E(op_mmx_ssse3, F_MODRM, 0), [1] = E(op_sse_host, F_MODRM, SH_PABSD)};
const struct op_entry emu_sse_0f38_20[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVSXBW)};
const struct op_entry emu_sse_0f38_21[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVSXBD)};
const struct op_entry emu_sse_0f38_22[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVSXBQ)};
const struct op_entry emu_sse_0f38_23[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVSXWD)};
const struct op_entry emu_sse_0f38_24[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVSXWQ)};
const struct op_entry emu_sse_0f38_25[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVSXDQ)};
const struct op_entry emu_sse_0f38_28[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMULDQ)};
const struct op_entry emu_sse_0f38_29[4] = {[1] = E(op_sse_host, F_MODRM, SH_PCMPEQQ)};
const struct op_entry emu_sse_0f38_2a[4] = {[1] = E(op_sse_load, F_MODRM | F_MEM, SSE_MOV_ALIGNED)};
const struct op_entry emu_sse_0f38_2b[4] = {[1] = E(op_sse_host, F_MODRM, SH_PACKUSDW)};
const struct op_entry emu_sse_0f38_30[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVZXBW)};
const struct op_entry emu_sse_0f38_31[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVZXBD)};
const struct op_entry emu_sse_0f38_32[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVZXBQ)};
const struct op_entry emu_sse_0f38_33[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVZXWD)};
const struct op_entry emu_sse_0f38_34[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVZXWQ)};
const struct op_entry emu_sse_0f38_35[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMOVZXDQ)};
const struct op_entry emu_sse_0f38_37[4] = {[1] = E(op_sse_host, F_MODRM, SH_PCMPGTQ)};
const struct op_entry emu_sse_0f38_38[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMINSB)};
const struct op_entry emu_sse_0f38_39[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMINSD)};
const struct op_entry emu_sse_0f38_3a[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMINUW)};
const struct op_entry emu_sse_0f38_3b[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMINUD)};
const struct op_entry emu_sse_0f38_3c[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMAXSB)};
const struct op_entry emu_sse_0f38_3d[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMAXSD)};
const struct op_entry emu_sse_0f38_3e[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMAXUW)};
const struct op_entry emu_sse_0f38_3f[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMAXUD)};
const struct op_entry emu_sse_0f38_40[4] = {[1] = E(op_sse_host, F_MODRM, SH_PMULLD)};
const struct op_entry emu_sse_0f38_41[4] = {[1] = E(op_sse_host, F_MODRM, SH_PHMINPOSUW)};
const struct op_entry emu_sse_0f3a_08[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_ROUNDPS)};
const struct op_entry emu_sse_0f3a_09[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_ROUNDPD)};
const struct op_entry emu_sse_0f3a_0a[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_ROUNDSS)};
const struct op_entry emu_sse_0f3a_0b[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_ROUNDSD)};
const struct op_entry emu_sse_0f3a_0c[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_BLENDPS)};
const struct op_entry emu_sse_0f3a_0d[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_BLENDPD)};
const struct op_entry emu_sse_0f3a_0e[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_PBLENDW)};
const struct op_entry emu_sse_0f3a_0f[4] = {
    [0] = E(op_mmx_palignr, F_MODRM | F_IBU, 0), [1] = E(op_sse_host, F_MODRM | F_IBU, SH_PALIGNR)};
const struct op_entry emu_sse_0f3a_14[4] = {[1] = E(op_sse_extract, F_MODRM | F_IBU, 1)};
const struct op_entry emu_sse_0f3a_15[4] = {[1] = E(op_sse_extract, F_MODRM | F_IBU, 2)};
const struct op_entry emu_sse_0f3a_16[4] = {[1] = E(op_sse_extract, F_MODRM | F_IBU, 4)};
const struct op_entry emu_sse_0f3a_17[4] = {[1] = E(op_sse_extract, F_MODRM | F_IBU, 5)};
const struct op_entry emu_sse_0f3a_20[4] = {[1] = E(op_sse_insert, F_MODRM | F_IBU, 1)};
const struct op_entry emu_sse_0f3a_21[4] = {[1] = E(op_sse_insert, F_MODRM | F_IBU, 5)};
const struct op_entry emu_sse_0f3a_22[4] = {[1] = E(op_sse_insert, F_MODRM | F_IBU, 4)};
const struct op_entry emu_sse_0f3a_40[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_DPPS)};
const struct op_entry emu_sse_0f3a_41[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_DPPD)};
const struct op_entry emu_sse_0f3a_42[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_MPSADBW)};
const struct op_entry emu_sse_0f3a_60[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_PCMPESTRM)};
const struct op_entry emu_sse_0f3a_61[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_PCMPESTRI)};
const struct op_entry emu_sse_0f3a_62[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_PCMPISTRM)};
const struct op_entry emu_sse_0f3a_63[4] = {[1] = E(op_sse_host, F_MODRM | F_IBU, SH_PCMPISTRI)};
