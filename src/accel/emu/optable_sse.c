/* SSE/SSE2 rows of the 0F map: one member per mandatory prefix (none, 66, F3, F2); a missing
 * member is #UD (the MMX forms are not implemented). */
#include "accel/emu/optable_sse.h"
#include "accel/emu/ops.h"
#include "accel/emu/ops_mmx_ext.h"
#include "accel/emu/ops_sse.h"
#include "accel/emu/optable.h"

#define E(fn_, flags_, sub_)                                                                       \
	{                                                                                          \
		.fn = fn_, .flags = (flags_), .sub = (sub_)                                        \
	}

const struct op_entry emu_sse_0f_10[4] = {[0] = E(op_sse_load, F_MODRM, SSE_MOV_UNALIGNED),
					  [1] = E(op_sse_load, F_MODRM, SSE_MOV_UNALIGNED),
					  [2] = E(op_sse_load, F_MODRM, SSE_MOV_SCALAR32),
					  [3] = E(op_sse_load, F_MODRM, SSE_MOV_SCALAR64)};
const struct op_entry emu_sse_0f_11[4] = {[0] = E(op_sse_store, F_MODRM, SSE_MOV_UNALIGNED),
					  [1] = E(op_sse_store, F_MODRM, SSE_MOV_UNALIGNED),
					  [2] = E(op_sse_store, F_MODRM, SSE_MOV_SCALAR32),
					  [3] = E(op_sse_store, F_MODRM, SSE_MOV_SCALAR64)};
/* 0F 12/16 without a prefix: MOVLPS/MOVHPS from memory, MOVHLPS/MOVLHPS between registers. */
const struct op_entry emu_sse_0f_12[4] = {[0] = E(op_sse_load, F_MODRM, SSE_MOV_LOW64),
					  [1] = E(op_sse_load, F_MODRM | F_MEM, SSE_MOV_LOW64),
					  [2] = E(op_sse_dup, F_MODRM, 1),
					  [3] = E(op_sse_dup, F_MODRM, 0)};
const struct op_entry emu_sse_0f_13[4] = {[0] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_LOW64),
					  [1] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_LOW64)};
const struct op_entry emu_sse_0f_16[4] = {[0] = E(op_sse_load, F_MODRM, SSE_MOV_HIGH64),
					  [1] = E(op_sse_load, F_MODRM | F_MEM, SSE_MOV_HIGH64),
					  [2] = E(op_sse_dup, F_MODRM, 2)};
const struct op_entry emu_sse_0f_17[4] = {[0] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_HIGH64),
					  [1] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_HIGH64)};
const struct op_entry emu_sse_0f_28[4] = {
    [0] = E(op_sse_load, F_MODRM, SSE_MOV_ALIGNED), [1] = E(op_sse_load, F_MODRM, SSE_MOV_ALIGNED)};
const struct op_entry emu_sse_0f_29[4] = {[0] = E(op_sse_store, F_MODRM, SSE_MOV_ALIGNED),
					  [1] = E(op_sse_store, F_MODRM, SSE_MOV_ALIGNED)};
const struct op_entry emu_sse_0f_54[4] = {
    [0] = E(op_sse_binop, F_MODRM, SSE_PAND), [1] = E(op_sse_binop, F_MODRM, SSE_PAND)};
const struct op_entry emu_sse_0f_55[4] = {
    [0] = E(op_sse_binop, F_MODRM, SSE_PANDN), [1] = E(op_sse_binop, F_MODRM, SSE_PANDN)};
const struct op_entry emu_sse_0f_56[4] = {
    [0] = E(op_sse_binop, F_MODRM, SSE_POR), [1] = E(op_sse_binop, F_MODRM, SSE_POR)};
const struct op_entry emu_sse_0f_57[4] = {
    [0] = E(op_sse_binop, F_MODRM, SSE_PXOR), [1] = E(op_sse_binop, F_MODRM, SSE_PXOR)};
const struct op_entry emu_sse_0f_60[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKLBW)};
const struct op_entry emu_sse_0f_61[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKLWD)};
const struct op_entry emu_sse_0f_62[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKLDQ)};
const struct op_entry emu_sse_0f_63[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PACKSSWB)};
const struct op_entry emu_sse_0f_64[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PCMPGTB)};
const struct op_entry emu_sse_0f_65[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PCMPGTW)};
const struct op_entry emu_sse_0f_66[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PCMPGTD)};
const struct op_entry emu_sse_0f_67[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PACKUSWB)};
const struct op_entry emu_sse_0f_68[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKHBW)};
const struct op_entry emu_sse_0f_69[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKHWD)};
const struct op_entry emu_sse_0f_6a[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKHDQ)};
const struct op_entry emu_sse_0f_6b[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PACKSSDW)};
const struct op_entry emu_sse_0f_6c[4] = {[1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKLQDQ)};
const struct op_entry emu_sse_0f_6d[4] = {[1] = E(op_sse_binop, F_MODRM, SSE_PUNPCKHQDQ)};
const struct op_entry emu_sse_0f_6e[4] = {
    [0] = E(op_mmx_movd_to_mm, F_MODRM, 0), [1] = E(op_sse_movd_to_xmm, F_MODRM, 0)};
const struct op_entry emu_sse_0f_6f[4] = {[0] = E(op_mmx, F_MODRM, 0),
					  [1] = E(op_sse_load, F_MODRM, SSE_MOV_ALIGNED),
					  [2] = E(op_sse_load, F_MODRM, SSE_MOV_UNALIGNED)};
const struct op_entry emu_sse_0f_70[4] = {[0] = E(op_mmx_pshufw, F_MODRM | F_IBU, 0),
					  [1] = E(op_sse_pshuf, F_MODRM | F_IBU, 0),
					  [2] = E(op_sse_pshuf, F_MODRM | F_IBU, 1),
					  [3] = E(op_sse_pshuf, F_MODRM | F_IBU, 2)};
const struct op_entry emu_sse_0f_71[4] = {[0] = E(op_mmx_shift_imm, F_MODRM | F_REG | F_IBU, 0),
					  [1] = E(op_sse_shift_imm, F_MODRM | F_REG | F_IBU, 0)};
const struct op_entry emu_sse_0f_72[4] = {[0] = E(op_mmx_shift_imm, F_MODRM | F_REG | F_IBU, 0),
					  [1] = E(op_sse_shift_imm, F_MODRM | F_REG | F_IBU, 0)};
const struct op_entry emu_sse_0f_73[4] = {[0] = E(op_mmx_shift_imm, F_MODRM | F_REG | F_IBU, 0),
					  [1] = E(op_sse_shift_imm, F_MODRM | F_REG | F_IBU, 0)};
const struct op_entry emu_sse_0f_74[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PCMPEQB)};
const struct op_entry emu_sse_0f_75[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PCMPEQW)};
const struct op_entry emu_sse_0f_76[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PCMPEQD)};
const struct op_entry emu_sse_0f_7e[4] = {[0] = E(op_mmx_movd_from_mm, F_MODRM, 0),
					  [1] = E(op_sse_movd_from_xmm, F_MODRM, 0),
					  [2] = E(op_sse_load, F_MODRM, SSE_MOV_Q)};
const struct op_entry emu_sse_0f_7f[4] = {[0] = E(op_mmx, F_MODRM, 0),
					  [1] = E(op_sse_store, F_MODRM, SSE_MOV_ALIGNED),
					  [2] = E(op_sse_store, F_MODRM, SSE_MOV_UNALIGNED)};
const struct op_entry emu_sse_0f_d4[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDQ)};
const struct op_entry emu_sse_0f_d5[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMULLW)};
const struct op_entry emu_sse_0f_d6[4] = {[1] = E(op_sse_store, F_MODRM, SSE_MOV_Q),
					  [2] = E(op_mmx_movq2dq, F_MODRM | F_REG, 0),
					  [3] = E(op_mmx_movdq2q, F_MODRM | F_REG, 0)};
const struct op_entry emu_sse_0f_d7[4] = {
    [0] = E(op_mmx_pmovmskb, F_MODRM | F_REG, 0), [1] = E(op_sse_pmovmskb, F_MODRM | F_REG, 0)};
const struct op_entry emu_sse_0f_d8[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBUSB)};
const struct op_entry emu_sse_0f_d9[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBUSW)};
const struct op_entry emu_sse_0f_da[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMINUB)};
const struct op_entry emu_sse_0f_db[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PAND)};
const struct op_entry emu_sse_0f_dc[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDUSB)};
const struct op_entry emu_sse_0f_dd[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDUSW)};
const struct op_entry emu_sse_0f_de[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMAXUB)};
const struct op_entry emu_sse_0f_df[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PANDN)};
const struct op_entry emu_sse_0f_e0[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PAVGB)};
const struct op_entry emu_sse_0f_e3[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PAVGW)};
const struct op_entry emu_sse_0f_e4[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMULHUW)};
const struct op_entry emu_sse_0f_e5[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMULHW)};
const struct op_entry emu_sse_0f_e7[4] = {
    [0] = E(op_mmx, F_MODRM | F_MEM, 0), [1] = E(op_sse_store, F_MODRM | F_MEM, SSE_MOV_ALIGNED)};
const struct op_entry emu_sse_0f_e8[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBSB)};
const struct op_entry emu_sse_0f_e9[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBSW)};
const struct op_entry emu_sse_0f_ea[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMINSW)};
const struct op_entry emu_sse_0f_eb[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_POR)};
const struct op_entry emu_sse_0f_ec[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDSB)};
const struct op_entry emu_sse_0f_ed[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDSW)};
const struct op_entry emu_sse_0f_ee[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMAXSW)};
const struct op_entry emu_sse_0f_ef[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PXOR)};
const struct op_entry emu_sse_0f_f4[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMULUDQ)};
const struct op_entry emu_sse_0f_f5[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PMADDWD)};
const struct op_entry emu_sse_0f_f6[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSADBW)};
const struct op_entry emu_sse_0f_f8[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBB)};
const struct op_entry emu_sse_0f_f9[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBW)};
const struct op_entry emu_sse_0f_fa[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBD)};
const struct op_entry emu_sse_0f_fb[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PSUBQ)};
const struct op_entry emu_sse_0f_fc[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDB)};
const struct op_entry emu_sse_0f_fd[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDW)};
const struct op_entry emu_sse_0f_fe[4] = {
    [0] = E(op_mmx, F_MODRM, 0), [1] = E(op_sse_binop, F_MODRM, SSE_PADDD)};
