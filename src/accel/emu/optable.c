/* The one-byte opcode map and the general-purpose part of the 0F map. Empty entries are #UD. */
#include "accel/emu/optable.h"
#include "accel/emu/ops.h"
#include "accel/vcpu_state.h"

#define E(fn_, flags_, sub_)                                                                       \
	{                                                                                          \
		.fn = fn_, .flags = (flags_), .sub = (sub_)                                        \
	}
#define SUB(sub_, flags_)                                                                          \
	{                                                                                          \
		.flags = F_INHERIT | (flags_), .sub = (sub_)                                       \
	}

/* ADD OR ADC SBB AND SUB XOR CMP rows share one layout. */
#define ALU_ROW(base, op, lk)                                                                      \
	[base + 0] = E(op_alu_rm_reg, F_MODRM | F_BYTE | (lk), op),                                \
		[base + 1] = E(op_alu_rm_reg, F_MODRM | (lk), op),                                 \
		[base + 2] = E(op_alu_reg_rm, F_MODRM | F_BYTE, op),                               \
		[base + 3] = E(op_alu_reg_rm, F_MODRM, op),                                        \
		[base + 4] = E(op_alu_rm_imm, F_ACC | F_BYTE | F_IB, op),                          \
		[base + 5] = E(op_alu_rm_imm, F_ACC | F_IZ, op)

#define RANGE8(first, value)                                                                       \
	[first] = value, [first + 1] = value, [first + 2] = value, [first + 3] = value,            \
	[first + 4] = value, [first + 5] = value, [first + 6] = value, [first + 7] = value

static const struct op_entry group1[8] = {
    SUB(0, F_LOCK), SUB(1, F_LOCK), SUB(2, F_LOCK), SUB(3, F_LOCK),
    SUB(4, F_LOCK), SUB(5, F_LOCK), SUB(6, F_LOCK), SUB(7, 0),
};

static const struct op_entry group2[8] = {
    SUB(0, 0), SUB(1, 0), SUB(2, 0), SUB(3, 0), SUB(4, 0), SUB(5, 0), SUB(6, 0), SUB(7, 0),
};

static const struct op_entry group3_byte[8] = {
    E(op_test_rm_imm, F_IB, 0), E(op_test_rm_imm, F_IB, 0), E(op_not, F_LOCK, 0),
    E(op_neg, F_LOCK, 0),	E(op_muldiv, 0, 4),	    E(op_muldiv, 0, 5),
    E(op_muldiv, 0, 6),		E(op_muldiv, 0, 7),
};

static const struct op_entry group3[8] = {
    E(op_test_rm_imm, F_IZ, 0), E(op_test_rm_imm, F_IZ, 0), E(op_not, F_LOCK, 0),
    E(op_neg, F_LOCK, 0),	E(op_muldiv, 0, 4),	    E(op_muldiv, 0, 5),
    E(op_muldiv, 0, 6),		E(op_muldiv, 0, 7),
};

static const struct op_entry group4[8] = {
    E(op_incdec, F_LOCK, 0),
    E(op_incdec, F_LOCK, 1),
};

static const struct op_entry group5[8] = {
    E(op_incdec, F_LOCK, 0),	  E(op_incdec, F_LOCK, 1), E(op_call_rm, F_NEAR, 0),
    E(op_far_indirect, F_MEM, 3), E(op_jmp_rm, F_NEAR, 0), E(op_far_indirect, F_MEM, 5),
    E(op_push_rm, F_D64, 0),
};

static const struct op_entry group1a[8] = {
    E(op_pop_rm, F_D64, 0),
};

static const struct op_entry group11_byte[8] = {
    E(op_mov_rm_imm, F_IB, 0),
};

static const struct op_entry group11[8] = {
    E(op_mov_rm_imm, F_IZ, 0),
};

const struct op_entry emu_map_1byte[256] = {
    ALU_ROW(0x00, 0, F_LOCK),
    ALU_ROW(0x08, 1, F_LOCK),
    ALU_ROW(0x10, 2, F_LOCK),
    ALU_ROW(0x18, 3, F_LOCK),
    ALU_ROW(0x20, 4, F_LOCK),
    ALU_ROW(0x28, 5, F_LOCK),
    ALU_ROW(0x30, 6, F_LOCK),
    ALU_ROW(0x38, 7, 0),
    [0x06] = E(op_push_seg, F_INV64, SREG_ES),
    [0x27] = E(op_daa_das, F_INV64, 0),
    [0x2f] = E(op_daa_das, F_INV64, 1),
    [0x37] = E(op_aaa_aas, F_INV64, 0),
    [0x3f] = E(op_aaa_aas, F_INV64, 1),
    [0x60] = E(op_pusha, F_INV64, 0),
    [0x61] = E(op_popa, F_INV64, 0),
    [0x62] = E(op_bound, F_MODRM | F_MEM | F_INV64, 0),
    [0x9a] = E(op_call_far, F_FARPTR | F_INV64, 0),
    [0xc4] = E(op_lfp, F_MODRM | F_MEM | F_INV64, SREG_ES),
    [0xc5] = E(op_lfp, F_MODRM | F_MEM | F_INV64, SREG_DS),
    [0xca] = E(op_retf, F_IW, 0),
    [0xcb] = E(op_retf, 0, 0),
    [0xce] = E(op_into, F_INV64, 0),
    [0xcf] = E(op_iret, 0, 0),
    [0xd4] = E(op_aam, F_IBU | F_INV64, 0),
    [0xd5] = E(op_aad, F_IBU | F_INV64, 0),
    [0xea] = E(op_jmp_far, F_FARPTR | F_INV64, 0),
    [0xf1] = E(op_int1, 0, 0),
    [0x07] = E(op_pop_seg, F_INV64, SREG_ES),
    [0x0e] = E(op_push_seg, F_INV64, SREG_CS),
    [0x16] = E(op_push_seg, F_INV64, SREG_SS),
    [0x17] = E(op_pop_seg, F_INV64, SREG_SS),
    [0x1e] = E(op_push_seg, F_INV64, SREG_DS),
    [0x1f] = E(op_pop_seg, F_INV64, SREG_DS),
    RANGE8(0x40, E(op_incdec, F_OPREG | F_INV64, 0)),
    RANGE8(0x48, E(op_incdec, F_OPREG | F_INV64, 1)),
    RANGE8(0x50, E(op_push_reg, F_OPREG | F_D64, 0)),
    RANGE8(0x58, E(op_pop_reg, F_OPREG | F_D64, 0)),
    [0x63] = E(op_movsxd, F_MODRM, 0),
    [0x68] = E(op_push_imm, F_IZ | F_D64, 0),
    [0x69] = E(op_imul_reg_rm_imm, F_MODRM | F_IZ, 0),
    [0x6a] = E(op_push_imm, F_IB | F_D64, 0),
    [0x6b] = E(op_imul_reg_rm_imm, F_MODRM | F_IB, 0),
    [0x6c] = E(op_ins, F_BYTE, 0),
    [0x6d] = E(op_ins, 0, 0),
    [0x6e] = E(op_outs, F_BYTE, 0),
    [0x6f] = E(op_outs, 0, 0),
    [0x70] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x0),
    [0x71] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x1),
    [0x72] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x2),
    [0x73] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x3),
    [0x74] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x4),
    [0x75] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x5),
    [0x76] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x6),
    [0x77] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x7),
    [0x78] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x8),
    [0x79] = E(op_jcc, F_IB | F_REL | F_NEAR, 0x9),
    [0x7a] = E(op_jcc, F_IB | F_REL | F_NEAR, 0xa),
    [0x7b] = E(op_jcc, F_IB | F_REL | F_NEAR, 0xb),
    [0x7c] = E(op_jcc, F_IB | F_REL | F_NEAR, 0xc),
    [0x7d] = E(op_jcc, F_IB | F_REL | F_NEAR, 0xd),
    [0x7e] = E(op_jcc, F_IB | F_REL | F_NEAR, 0xe),
    [0x7f] = E(op_jcc, F_IB | F_REL | F_NEAR, 0xf),
    [0x80] = {.fn = op_alu_rm_imm, .flags = F_MODRM | F_BYTE | F_IB, .group = group1},
    [0x81] = {.fn = op_alu_rm_imm, .flags = F_MODRM | F_IZ, .group = group1},
    [0x82] = {.fn = op_alu_rm_imm, .flags = F_MODRM | F_BYTE | F_IB | F_INV64, .group = group1},
    [0x83] = {.fn = op_alu_rm_imm, .flags = F_MODRM | F_IB, .group = group1},
    [0x84] = E(op_test_rm_reg, F_MODRM | F_BYTE, 0),
    [0x85] = E(op_test_rm_reg, F_MODRM, 0),
    [0x86] = E(op_xchg, F_MODRM | F_BYTE | F_LOCK, 0),
    [0x87] = E(op_xchg, F_MODRM | F_LOCK, 0),
    [0x88] = E(op_mov_rm_reg, F_MODRM | F_BYTE, 0),
    [0x89] = E(op_mov_rm_reg, F_MODRM, 0),
    [0x8a] = E(op_mov_reg_rm, F_MODRM | F_BYTE, 0),
    [0x8b] = E(op_mov_reg_rm, F_MODRM, 0),
    [0x8c] = E(op_mov_from_sreg, F_MODRM, 0),
    [0x8d] = E(op_lea, F_MODRM | F_MEM, 0),
    [0x8e] = E(op_mov_to_sreg, F_MODRM, 0),
    [0x8f] = {.flags = F_MODRM, .group = group1a},
    RANGE8(0x90, E(op_xchg, F_OPREG, 0)), /* 90 without REX.B is NOP: see emu_decode */
    [0x98] = E(op_cbw, 0, 0),
    [0x99] = E(op_cwd, 0, 0),
    [0x9b] = E(op_fwait, 0, 0),
    [0x9c] = E(op_pushf, F_D64, 0),
    [0x9d] = E(op_popf, F_D64, 0),
    [0x9e] = E(op_sahf, 0, 0),
    [0x9f] = E(op_lahf, 0, 0),
    [0xa0] = E(op_mov_reg_rm, F_MOFFS | F_BYTE, 0),
    [0xa1] = E(op_mov_reg_rm, F_MOFFS, 0),
    [0xa2] = E(op_mov_rm_reg, F_MOFFS | F_BYTE, 0),
    [0xa3] = E(op_mov_rm_reg, F_MOFFS, 0),
    [0xa4] = E(op_movs, F_BYTE, 0),
    [0xa5] = E(op_movs, 0, 0),
    [0xa6] = E(op_cmps, F_BYTE, 0),
    [0xa7] = E(op_cmps, 0, 0),
    [0xa8] = E(op_test_rm_imm, F_ACC | F_BYTE | F_IB, 0),
    [0xa9] = E(op_test_rm_imm, F_ACC | F_IZ, 0),
    [0xaa] = E(op_stos, F_BYTE, 0),
    [0xab] = E(op_stos, 0, 0),
    [0xac] = E(op_lods, F_BYTE, 0),
    [0xad] = E(op_lods, 0, 0),
    [0xae] = E(op_scas, F_BYTE, 0),
    [0xaf] = E(op_scas, 0, 0),
    RANGE8(0xb0, E(op_mov_rm_imm, F_OPREG | F_BYTE | F_IB, 0)),
    RANGE8(0xb8, E(op_mov_rm_imm, F_OPREG | F_IV, 0)),
    [0xc0] = {.fn = op_shift_imm, .flags = F_MODRM | F_BYTE | F_IBU, .group = group2},
    [0xc1] = {.fn = op_shift_imm, .flags = F_MODRM | F_IBU, .group = group2},
    [0xc2] = E(op_ret, F_IW | F_NEAR, 0),
    [0xc3] = E(op_ret, F_NEAR, 0),
    [0xc6] = {.flags = F_MODRM | F_BYTE, .group = group11_byte},
    [0xc7] = {.flags = F_MODRM, .group = group11},
    [0xc8] = E(op_enter, F_ENTER | F_D64, 0),
    [0xc9] = E(op_leave, F_D64, 0),
    [0xcc] = E(op_int3, 0, 0),
    [0xcd] = E(op_int, F_IBU, 0),
    [0xd0] = {.fn = op_shift_one, .flags = F_MODRM | F_BYTE, .group = group2},
    [0xd1] = {.fn = op_shift_one, .flags = F_MODRM, .group = group2},
    [0xd2] = {.fn = op_shift_cl, .flags = F_MODRM | F_BYTE, .group = group2},
    [0xd3] = {.fn = op_shift_cl, .flags = F_MODRM, .group = group2},
    [0xd7] = E(op_xlat, F_BYTE, 0),
    RANGE8(0xd8, E(op_x87, F_MODRM, 0)),
    [0xe0] = E(op_loop, F_IB | F_REL | F_NEAR, 0),
    [0xe1] = E(op_loop, F_IB | F_REL | F_NEAR, 1),
    [0xe2] = E(op_loop, F_IB | F_REL | F_NEAR, 2),
    [0xe3] = E(op_loop, F_IB | F_REL | F_NEAR, 3),
    [0xe4] = E(op_io, F_BYTE | F_IBU, 0),
    [0xe5] = E(op_io, F_IBU, 0),
    [0xe6] = E(op_io, F_BYTE | F_IBU, 1),
    [0xe7] = E(op_io, F_IBU, 1),
    [0xe8] = E(op_call_rel, F_IZ | F_REL | F_NEAR, 0),
    [0xe9] = E(op_jmp_rel, F_IZ | F_REL | F_NEAR, 0),
    [0xeb] = E(op_jmp_rel, F_IB | F_REL | F_NEAR, 0),
    [0xec] = E(op_io, F_BYTE, 2),
    [0xed] = E(op_io, 0, 2),
    [0xee] = E(op_io, F_BYTE, 3),
    [0xef] = E(op_io, 0, 3),
    [0xf4] = E(op_hlt, 0, 0),
    [0xf5] = E(op_flagop, 0, 2),
    [0xf6] = {.flags = F_MODRM | F_BYTE, .group = group3_byte},
    [0xf7] = {.flags = F_MODRM, .group = group3},
    [0xf8] = E(op_flagop, 0, 0),
    [0xf9] = E(op_flagop, 0, 1),
    [0xfa] = E(op_cli, 0, 0),
    [0xfb] = E(op_sti, 0, 0),
    [0xfc] = E(op_flagop, 0, 3),
    [0xfd] = E(op_flagop, 0, 4),
    [0xfe] = {.flags = F_MODRM | F_BYTE, .group = group4},
    [0xff] = {.flags = F_MODRM, .group = group5},
};
