/* The two-byte (0F) opcode map: general-purpose instructions, plus the SSE/MMX rows declared in
 * optable_sse.h. Empty entries are #UD. */
#include "accel/emu/ops.h"
#include "accel/emu/optable.h"
#include "accel/emu/optable_sse.h"
#include "accel/vcpu_state.h"

#define E(fn_, flags_, sub_)                                                                       \
	{                                                                                          \
		.fn = fn_, .flags = (flags_), .sub = (sub_)                                        \
	}
#define SUB(sub_, flags_)                                                                          \
	{                                                                                          \
		.flags = F_INHERIT | (flags_), .sub = (sub_)                                       \
	}

#define RANGE8(first, value)                                                                       \
	[first] = value, [first + 1] = value, [first + 2] = value, [first + 3] = value,            \
	[first + 4] = value, [first + 5] = value, [first + 6] = value, [first + 7] = value

#define CC16(first, fn_, flags_)                                                                   \
	[first + 0x0] = E(fn_, flags_, 0x0), [first + 0x1] = E(fn_, flags_, 0x1),                  \
		 [first + 0x2] = E(fn_, flags_, 0x2), [first + 0x3] = E(fn_, flags_, 0x3),         \
		 [first + 0x4] = E(fn_, flags_, 0x4), [first + 0x5] = E(fn_, flags_, 0x5),         \
		 [first + 0x6] = E(fn_, flags_, 0x6), [first + 0x7] = E(fn_, flags_, 0x7),         \
		 [first + 0x8] = E(fn_, flags_, 0x8), [first + 0x9] = E(fn_, flags_, 0x9),         \
		 [first + 0xa] = E(fn_, flags_, 0xa), [first + 0xb] = E(fn_, flags_, 0xb),         \
		 [first + 0xc] = E(fn_, flags_, 0xc), [first + 0xd] = E(fn_, flags_, 0xd),         \
		 [first + 0xe] = E(fn_, flags_, 0xe), [first + 0xf] = E(fn_, flags_, 0xf)

static const struct op_entry group8[8] = {
    [4] = E(op_bt_imm, 0, 4),
    [5] = E(op_bt_imm, F_LOCK, 5),
    [6] = E(op_bt_imm, F_LOCK, 6),
    [7] = E(op_bt_imm, F_LOCK, 7),
};

static const struct op_entry group9[8] = {
    [1] = E(op_cmpxchg8b, F_MEM | F_LOCK, 0),
};

static const struct op_entry group15_variants[4] = {
    E(op_grp15, F_MODRM, 0),
};

/* BSF/BSR keep 66 as operand size; F3 turns them into TZCNT/LZCNT. */
static const struct op_entry bsf_variants[4] = {
    E(op_bsf, F_MODRM, 0),
    E(op_bsf, F_MODRM | F_KEEPPFX, 0),
    E(op_tzcnt, F_MODRM, 0),
    E(op_bsf, F_MODRM | F_KEEPPFX, 0),
};

static const struct op_entry bsr_variants[4] = {
    E(op_bsr, F_MODRM, 0),
    E(op_bsr, F_MODRM | F_KEEPPFX, 0),
    E(op_lzcnt, F_MODRM, 0),
    E(op_bsr, F_MODRM | F_KEEPPFX, 0),
};

static const struct op_entry popcnt_variants[4] = {
    [2] = E(op_popcnt, F_MODRM, 0),
};

const struct op_entry emu_map_0f[256] = {[0x00] = E(op_grp6, F_MODRM, 0),
					 [0x01] = E(op_grp7, F_MODRM, 0),
					 [0x02] = E(op_lar, F_MODRM, 0),
					 [0x03] = E(op_lsl, F_MODRM, 0),
					 [0x05] = E(op_syscall, 0, 0),
					 [0x06] = E(op_clts, 0, 0),
					 [0x07] = E(op_sysret, 0, 0),
					 [0x08] = E(op_wbinvd, 0, 0),
					 [0x09] = E(op_wbinvd, 0, 0),
					 [0x20] = E(op_mov_cr, F_CRDR | F_F64, 0),
					 [0x21] = E(op_mov_dr, F_CRDR | F_F64, 0),
					 [0x22] = E(op_mov_cr, F_CRDR | F_F64, 1),
					 [0x23] = E(op_mov_dr, F_CRDR | F_F64, 1),
					 [0x30] = E(op_wrmsr, 0, 0),
					 [0x32] = E(op_rdmsr, 0, 0),
					 [0x34] = E(op_sysenter, 0, 0),
					 [0x35] = E(op_sysexit, 0, 0),
					 [0xb2] = E(op_lfp, F_MODRM | F_MEM, SREG_SS),
					 [0xb4] = E(op_lfp, F_MODRM | F_MEM, SREG_FS),
					 [0xb5] = E(op_lfp, F_MODRM | F_MEM, SREG_GS),
					 [0x0d] = E(op_nop, F_MODRM, 0),
					 RANGE8(0x18, E(op_nop, F_MODRM, 0)),
					 [0x31] = E(op_rdtsc, 0, 0),
					 CC16(0x40, op_cmovcc, F_MODRM),
					 [0x77] = E(op_emms, 0, 0),
					 CC16(0x80, op_jcc, F_IZ | F_REL | F_NEAR),
					 CC16(0x90, op_setcc, F_MODRM | F_BYTE),
					 [0xa0] = E(op_push_seg, F_D64, SREG_FS),
					 [0xa1] = E(op_pop_seg, F_D64, SREG_FS),
					 [0xa2] = E(op_cpuid, 0, 0),
					 [0xa3] = E(op_bt_reg, F_MODRM, 0),
					 [0xa4] = E(op_shxd_imm, F_MODRM | F_IBU, 0),
					 [0xa5] = E(op_shxd_cl, F_MODRM, 0),
					 [0xa8] = E(op_push_seg, F_D64, SREG_GS),
					 [0xa9] = E(op_pop_seg, F_D64, SREG_GS),
					 [0xab] = E(op_bt_reg, F_MODRM | F_LOCK, 1),
					 [0xac] = E(op_shxd_imm, F_MODRM | F_IBU, 1),
					 [0xad] = E(op_shxd_cl, F_MODRM, 1),
					 [0xae] = {.variants = group15_variants},
					 [0xaf] = E(op_imul_reg_rm, F_MODRM, 0),
					 [0xb0] = E(op_cmpxchg, F_MODRM | F_BYTE | F_LOCK, 0),
					 [0xb1] = E(op_cmpxchg, F_MODRM | F_LOCK, 0),
					 [0xb3] = E(op_bt_reg, F_MODRM | F_LOCK, 2),
					 [0xb6] = E(op_movzx, F_MODRM | F_RM8, 1),
					 [0xb7] = E(op_movzx, F_MODRM, 2),
					 [0xb8] = {.variants = popcnt_variants},
					 [0xba] = {.flags = F_MODRM | F_IBU, .group = group8},
					 [0xbb] = E(op_bt_reg, F_MODRM | F_LOCK, 3),
					 [0xbc] = {.variants = bsf_variants},
					 [0xbd] = {.variants = bsr_variants},
					 [0xbe] = E(op_movsx, F_MODRM | F_RM8, 1),
					 [0xbf] = E(op_movsx, F_MODRM, 2),
					 [0xc0] = E(op_xadd, F_MODRM | F_BYTE | F_LOCK, 0),
					 [0xc1] = E(op_xadd, F_MODRM | F_LOCK, 0),
					 [0xc7] = {.flags = F_MODRM, .group = group9},
					 RANGE8(0xc8, E(op_bswap, F_OPREG, 0)),
					 SSE_ROWS_0F};
