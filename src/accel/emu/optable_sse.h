/* SSE/SSE2 rows of the opcode maps, spliced into the map arrays as designated initializers
 * (so that each map stays one array); the per-prefix members live in optable_sse.c. */
#ifndef GUREUM_ACCEL_EMU_OPTABLE_SSE_H
#define GUREUM_ACCEL_EMU_OPTABLE_SSE_H

#include "accel/emu/optable.h"

extern const struct op_entry emu_sse_0f_10[4];
extern const struct op_entry emu_sse_0f_11[4];
extern const struct op_entry emu_sse_0f_12[4];
extern const struct op_entry emu_sse_0f_13[4];
extern const struct op_entry emu_sse_0f_16[4];
extern const struct op_entry emu_sse_0f_17[4];
extern const struct op_entry emu_sse_0f_28[4];
extern const struct op_entry emu_sse_0f_29[4];
extern const struct op_entry emu_sse_0f_54[4];
extern const struct op_entry emu_sse_0f_55[4];
extern const struct op_entry emu_sse_0f_56[4];
extern const struct op_entry emu_sse_0f_57[4];
extern const struct op_entry emu_sse_0f_60[4];
extern const struct op_entry emu_sse_0f_61[4];
extern const struct op_entry emu_sse_0f_62[4];
extern const struct op_entry emu_sse_0f_63[4];
extern const struct op_entry emu_sse_0f_64[4];
extern const struct op_entry emu_sse_0f_65[4];
extern const struct op_entry emu_sse_0f_66[4];
extern const struct op_entry emu_sse_0f_67[4];
extern const struct op_entry emu_sse_0f_68[4];
extern const struct op_entry emu_sse_0f_69[4];
extern const struct op_entry emu_sse_0f_6a[4];
extern const struct op_entry emu_sse_0f_6b[4];
extern const struct op_entry emu_sse_0f_6c[4];
extern const struct op_entry emu_sse_0f_6d[4];
extern const struct op_entry emu_sse_0f_6e[4];
extern const struct op_entry emu_sse_0f_6f[4];
extern const struct op_entry emu_sse_0f_70[4];
extern const struct op_entry emu_sse_0f_71[4];
extern const struct op_entry emu_sse_0f_72[4];
extern const struct op_entry emu_sse_0f_73[4];
extern const struct op_entry emu_sse_0f_74[4];
extern const struct op_entry emu_sse_0f_75[4];
extern const struct op_entry emu_sse_0f_76[4];
extern const struct op_entry emu_sse_0f_7e[4];
extern const struct op_entry emu_sse_0f_7f[4];
extern const struct op_entry emu_sse_0f_d4[4];
extern const struct op_entry emu_sse_0f_d5[4];
extern const struct op_entry emu_sse_0f_d6[4];
extern const struct op_entry emu_sse_0f_d7[4];
extern const struct op_entry emu_sse_0f_d8[4];
extern const struct op_entry emu_sse_0f_d9[4];
extern const struct op_entry emu_sse_0f_da[4];
extern const struct op_entry emu_sse_0f_db[4];
extern const struct op_entry emu_sse_0f_dc[4];
extern const struct op_entry emu_sse_0f_dd[4];
extern const struct op_entry emu_sse_0f_de[4];
extern const struct op_entry emu_sse_0f_df[4];
extern const struct op_entry emu_sse_0f_e0[4];
extern const struct op_entry emu_sse_0f_e3[4];
extern const struct op_entry emu_sse_0f_e4[4];
extern const struct op_entry emu_sse_0f_e5[4];
extern const struct op_entry emu_sse_0f_e7[4];
extern const struct op_entry emu_sse_0f_e8[4];
extern const struct op_entry emu_sse_0f_e9[4];
extern const struct op_entry emu_sse_0f_ea[4];
extern const struct op_entry emu_sse_0f_eb[4];
extern const struct op_entry emu_sse_0f_ec[4];
extern const struct op_entry emu_sse_0f_ed[4];
extern const struct op_entry emu_sse_0f_ee[4];
extern const struct op_entry emu_sse_0f_ef[4];
extern const struct op_entry emu_sse_0f_f4[4];
extern const struct op_entry emu_sse_0f_f5[4];
extern const struct op_entry emu_sse_0f_f6[4];
extern const struct op_entry emu_sse_0f_f8[4];
extern const struct op_entry emu_sse_0f_f9[4];
extern const struct op_entry emu_sse_0f_fa[4];
extern const struct op_entry emu_sse_0f_fb[4];
extern const struct op_entry emu_sse_0f_fc[4];
extern const struct op_entry emu_sse_0f_fd[4];
extern const struct op_entry emu_sse_0f_fe[4];

#define SSE_ROWS_0F                                                                                \
	[0x10] = {.variants = emu_sse_0f_10}, [0x11] = {.variants = emu_sse_0f_11},                \
	[0x12] = {.variants = emu_sse_0f_12}, [0x13] = {.variants = emu_sse_0f_13},                \
	[0x16] = {.variants = emu_sse_0f_16}, [0x17] = {.variants = emu_sse_0f_17},                \
	[0x28] = {.variants = emu_sse_0f_28}, [0x29] = {.variants = emu_sse_0f_29},                \
	[0x54] = {.variants = emu_sse_0f_54}, [0x55] = {.variants = emu_sse_0f_55},                \
	[0x56] = {.variants = emu_sse_0f_56}, [0x57] = {.variants = emu_sse_0f_57},                \
	[0x60] = {.variants = emu_sse_0f_60}, [0x61] = {.variants = emu_sse_0f_61},                \
	[0x62] = {.variants = emu_sse_0f_62}, [0x63] = {.variants = emu_sse_0f_63},                \
	[0x64] = {.variants = emu_sse_0f_64}, [0x65] = {.variants = emu_sse_0f_65},                \
	[0x66] = {.variants = emu_sse_0f_66}, [0x67] = {.variants = emu_sse_0f_67},                \
	[0x68] = {.variants = emu_sse_0f_68}, [0x69] = {.variants = emu_sse_0f_69},                \
	[0x6a] = {.variants = emu_sse_0f_6a}, [0x6b] = {.variants = emu_sse_0f_6b},                \
	[0x6c] = {.variants = emu_sse_0f_6c}, [0x6d] = {.variants = emu_sse_0f_6d},                \
	[0x6e] = {.variants = emu_sse_0f_6e}, [0x6f] = {.variants = emu_sse_0f_6f},                \
	[0x70] = {.variants = emu_sse_0f_70}, [0x71] = {.variants = emu_sse_0f_71},                \
	[0x72] = {.variants = emu_sse_0f_72}, [0x73] = {.variants = emu_sse_0f_73},                \
	[0x74] = {.variants = emu_sse_0f_74}, [0x75] = {.variants = emu_sse_0f_75},                \
	[0x76] = {.variants = emu_sse_0f_76}, [0x7e] = {.variants = emu_sse_0f_7e},                \
	[0x7f] = {.variants = emu_sse_0f_7f}, [0xd4] = {.variants = emu_sse_0f_d4},                \
	[0xd5] = {.variants = emu_sse_0f_d5}, [0xd6] = {.variants = emu_sse_0f_d6},                \
	[0xd7] = {.variants = emu_sse_0f_d7}, [0xd8] = {.variants = emu_sse_0f_d8},                \
	[0xd9] = {.variants = emu_sse_0f_d9}, [0xda] = {.variants = emu_sse_0f_da},                \
	[0xdb] = {.variants = emu_sse_0f_db}, [0xdc] = {.variants = emu_sse_0f_dc},                \
	[0xdd] = {.variants = emu_sse_0f_dd}, [0xde] = {.variants = emu_sse_0f_de},                \
	[0xdf] = {.variants = emu_sse_0f_df}, [0xe0] = {.variants = emu_sse_0f_e0},                \
	[0xe3] = {.variants = emu_sse_0f_e3}, [0xe4] = {.variants = emu_sse_0f_e4},                \
	[0xe5] = {.variants = emu_sse_0f_e5}, [0xe7] = {.variants = emu_sse_0f_e7},                \
	[0xe8] = {.variants = emu_sse_0f_e8}, [0xe9] = {.variants = emu_sse_0f_e9},                \
	[0xea] = {.variants = emu_sse_0f_ea}, [0xeb] = {.variants = emu_sse_0f_eb},                \
	[0xec] = {.variants = emu_sse_0f_ec}, [0xed] = {.variants = emu_sse_0f_ed},                \
	[0xee] = {.variants = emu_sse_0f_ee}, [0xef] = {.variants = emu_sse_0f_ef},                \
	[0xf4] = {.variants = emu_sse_0f_f4}, [0xf5] = {.variants = emu_sse_0f_f5},                \
	[0xf6] = {.variants = emu_sse_0f_f6}, [0xf8] = {.variants = emu_sse_0f_f8},                \
	[0xf9] = {.variants = emu_sse_0f_f9}, [0xfa] = {.variants = emu_sse_0f_fa},                \
	[0xfb] = {.variants = emu_sse_0f_fb}, [0xfc] = {.variants = emu_sse_0f_fc},                \
	[0xfd] = {.variants = emu_sse_0f_fd}, [0xfe] = {.variants = emu_sse_0f_fe}, SSE_FP_ROWS_0F

/* optable_sse_fp.c */
extern const struct op_entry emu_sse_0f_14[4];
extern const struct op_entry emu_sse_0f_15[4];
extern const struct op_entry emu_sse_0f_2a[4];
extern const struct op_entry emu_sse_0f_2b[4];
extern const struct op_entry emu_sse_0f_2c[4];
extern const struct op_entry emu_sse_0f_2d[4];
extern const struct op_entry emu_sse_0f_2e[4];
extern const struct op_entry emu_sse_0f_2f[4];
extern const struct op_entry emu_sse_0f_50[4];
extern const struct op_entry emu_sse_0f_51[4];
extern const struct op_entry emu_sse_0f_52[4];
extern const struct op_entry emu_sse_0f_53[4];
extern const struct op_entry emu_sse_0f_58[4];
extern const struct op_entry emu_sse_0f_59[4];
extern const struct op_entry emu_sse_0f_5a[4];
extern const struct op_entry emu_sse_0f_5b[4];
extern const struct op_entry emu_sse_0f_5c[4];
extern const struct op_entry emu_sse_0f_5d[4];
extern const struct op_entry emu_sse_0f_5e[4];
extern const struct op_entry emu_sse_0f_5f[4];
extern const struct op_entry emu_sse_0f_7c[4];
extern const struct op_entry emu_sse_0f_7d[4];
extern const struct op_entry emu_sse_0f_c2[4];
extern const struct op_entry emu_sse_0f_c3[4];
extern const struct op_entry emu_sse_0f_c4[4];
extern const struct op_entry emu_sse_0f_c5[4];
extern const struct op_entry emu_sse_0f_c6[4];
extern const struct op_entry emu_sse_0f_d0[4];
extern const struct op_entry emu_sse_0f_d1[4];
extern const struct op_entry emu_sse_0f_d2[4];
extern const struct op_entry emu_sse_0f_d3[4];
extern const struct op_entry emu_sse_0f_e1[4];
extern const struct op_entry emu_sse_0f_e2[4];
extern const struct op_entry emu_sse_0f_e6[4];
extern const struct op_entry emu_sse_0f_f0[4];
extern const struct op_entry emu_sse_0f_f1[4];
extern const struct op_entry emu_sse_0f_f2[4];
extern const struct op_entry emu_sse_0f_f3[4];
extern const struct op_entry emu_sse_0f_f7[4];
extern const struct op_entry emu_sse_0f38_00[4];
extern const struct op_entry emu_sse_0f38_01[4];
extern const struct op_entry emu_sse_0f38_02[4];
extern const struct op_entry emu_sse_0f38_03[4];
extern const struct op_entry emu_sse_0f38_04[4];
extern const struct op_entry emu_sse_0f38_05[4];
extern const struct op_entry emu_sse_0f38_06[4];
extern const struct op_entry emu_sse_0f38_07[4];
extern const struct op_entry emu_sse_0f38_08[4];
extern const struct op_entry emu_sse_0f38_09[4];
extern const struct op_entry emu_sse_0f38_0a[4];
extern const struct op_entry emu_sse_0f38_0b[4];
extern const struct op_entry emu_sse_0f38_10[4];
extern const struct op_entry emu_sse_0f38_14[4];
extern const struct op_entry emu_sse_0f38_15[4];
extern const struct op_entry emu_sse_0f38_17[4];
extern const struct op_entry emu_sse_0f38_1c[4];
extern const struct op_entry emu_sse_0f38_1d[4];
extern const struct op_entry emu_sse_0f38_1e[4];
extern const struct op_entry emu_sse_0f38_20[4];
extern const struct op_entry emu_sse_0f38_21[4];
extern const struct op_entry emu_sse_0f38_22[4];
extern const struct op_entry emu_sse_0f38_23[4];
extern const struct op_entry emu_sse_0f38_24[4];
extern const struct op_entry emu_sse_0f38_25[4];
extern const struct op_entry emu_sse_0f38_28[4];
extern const struct op_entry emu_sse_0f38_29[4];
extern const struct op_entry emu_sse_0f38_2a[4];
extern const struct op_entry emu_sse_0f38_2b[4];
extern const struct op_entry emu_sse_0f38_30[4];
extern const struct op_entry emu_sse_0f38_31[4];
extern const struct op_entry emu_sse_0f38_32[4];
extern const struct op_entry emu_sse_0f38_33[4];
extern const struct op_entry emu_sse_0f38_34[4];
extern const struct op_entry emu_sse_0f38_35[4];
extern const struct op_entry emu_sse_0f38_37[4];
extern const struct op_entry emu_sse_0f38_38[4];
extern const struct op_entry emu_sse_0f38_39[4];
extern const struct op_entry emu_sse_0f38_3a[4];
extern const struct op_entry emu_sse_0f38_3b[4];
extern const struct op_entry emu_sse_0f38_3c[4];
extern const struct op_entry emu_sse_0f38_3d[4];
extern const struct op_entry emu_sse_0f38_3e[4];
extern const struct op_entry emu_sse_0f38_3f[4];
extern const struct op_entry emu_sse_0f38_40[4];
extern const struct op_entry emu_sse_0f38_41[4];
extern const struct op_entry emu_sse_0f3a_08[4];
extern const struct op_entry emu_sse_0f3a_09[4];
extern const struct op_entry emu_sse_0f3a_0a[4];
extern const struct op_entry emu_sse_0f3a_0b[4];
extern const struct op_entry emu_sse_0f3a_0c[4];
extern const struct op_entry emu_sse_0f3a_0d[4];
extern const struct op_entry emu_sse_0f3a_0e[4];
extern const struct op_entry emu_sse_0f3a_0f[4];
extern const struct op_entry emu_sse_0f3a_14[4];
extern const struct op_entry emu_sse_0f3a_15[4];
extern const struct op_entry emu_sse_0f3a_16[4];
extern const struct op_entry emu_sse_0f3a_17[4];
extern const struct op_entry emu_sse_0f3a_20[4];
extern const struct op_entry emu_sse_0f3a_21[4];
extern const struct op_entry emu_sse_0f3a_22[4];
extern const struct op_entry emu_sse_0f3a_40[4];
extern const struct op_entry emu_sse_0f3a_41[4];
extern const struct op_entry emu_sse_0f3a_42[4];
extern const struct op_entry emu_sse_0f3a_60[4];
extern const struct op_entry emu_sse_0f3a_61[4];
extern const struct op_entry emu_sse_0f3a_62[4];
extern const struct op_entry emu_sse_0f3a_63[4];

#define SSE_FP_ROWS_0F                                                                             \
	[0x14] = {.variants = emu_sse_0f_14}, [0x15] = {.variants = emu_sse_0f_15},                \
	[0x2a] = {.variants = emu_sse_0f_2a}, [0x2b] = {.variants = emu_sse_0f_2b},                \
	[0x2c] = {.variants = emu_sse_0f_2c}, [0x2d] = {.variants = emu_sse_0f_2d},                \
	[0x2e] = {.variants = emu_sse_0f_2e}, [0x2f] = {.variants = emu_sse_0f_2f},                \
	[0x50] = {.variants = emu_sse_0f_50}, [0x51] = {.variants = emu_sse_0f_51},                \
	[0x52] = {.variants = emu_sse_0f_52}, [0x53] = {.variants = emu_sse_0f_53},                \
	[0x58] = {.variants = emu_sse_0f_58}, [0x59] = {.variants = emu_sse_0f_59},                \
	[0x5a] = {.variants = emu_sse_0f_5a}, [0x5b] = {.variants = emu_sse_0f_5b},                \
	[0x5c] = {.variants = emu_sse_0f_5c}, [0x5d] = {.variants = emu_sse_0f_5d},                \
	[0x5e] = {.variants = emu_sse_0f_5e}, [0x5f] = {.variants = emu_sse_0f_5f},                \
	[0x7c] = {.variants = emu_sse_0f_7c}, [0x7d] = {.variants = emu_sse_0f_7d},                \
	[0xc2] = {.variants = emu_sse_0f_c2}, [0xc3] = {.variants = emu_sse_0f_c3},                \
	[0xc4] = {.variants = emu_sse_0f_c4}, [0xc5] = {.variants = emu_sse_0f_c5},                \
	[0xc6] = {.variants = emu_sse_0f_c6}, [0xd0] = {.variants = emu_sse_0f_d0},                \
	[0xd1] = {.variants = emu_sse_0f_d1}, [0xd2] = {.variants = emu_sse_0f_d2},                \
	[0xd3] = {.variants = emu_sse_0f_d3}, [0xe1] = {.variants = emu_sse_0f_e1},                \
	[0xe2] = {.variants = emu_sse_0f_e2}, [0xe6] = {.variants = emu_sse_0f_e6},                \
	[0xf0] = {.variants = emu_sse_0f_f0}, [0xf1] = {.variants = emu_sse_0f_f1},                \
	[0xf2] = {.variants = emu_sse_0f_f2}, [0xf3] = {.variants = emu_sse_0f_f3},                \
	[0xf7] = {.variants = emu_sse_0f_f7},
#define SSE_ROWS_0F38                                                                              \
	[0x00] = {.variants = emu_sse_0f38_00}, [0x01] = {.variants = emu_sse_0f38_01},            \
	[0x02] = {.variants = emu_sse_0f38_02}, [0x03] = {.variants = emu_sse_0f38_03},            \
	[0x04] = {.variants = emu_sse_0f38_04}, [0x05] = {.variants = emu_sse_0f38_05},            \
	[0x06] = {.variants = emu_sse_0f38_06}, [0x07] = {.variants = emu_sse_0f38_07},            \
	[0x08] = {.variants = emu_sse_0f38_08}, [0x09] = {.variants = emu_sse_0f38_09},            \
	[0x0a] = {.variants = emu_sse_0f38_0a}, [0x0b] = {.variants = emu_sse_0f38_0b},            \
	[0x10] = {.variants = emu_sse_0f38_10}, [0x14] = {.variants = emu_sse_0f38_14},            \
	[0x15] = {.variants = emu_sse_0f38_15}, [0x17] = {.variants = emu_sse_0f38_17},            \
	[0x1c] = {.variants = emu_sse_0f38_1c}, [0x1d] = {.variants = emu_sse_0f38_1d},            \
	[0x1e] = {.variants = emu_sse_0f38_1e}, [0x20] = {.variants = emu_sse_0f38_20},            \
	[0x21] = {.variants = emu_sse_0f38_21}, [0x22] = {.variants = emu_sse_0f38_22},            \
	[0x23] = {.variants = emu_sse_0f38_23}, [0x24] = {.variants = emu_sse_0f38_24},            \
	[0x25] = {.variants = emu_sse_0f38_25}, [0x28] = {.variants = emu_sse_0f38_28},            \
	[0x29] = {.variants = emu_sse_0f38_29}, [0x2a] = {.variants = emu_sse_0f38_2a},            \
	[0x2b] = {.variants = emu_sse_0f38_2b}, [0x30] = {.variants = emu_sse_0f38_30},            \
	[0x31] = {.variants = emu_sse_0f38_31}, [0x32] = {.variants = emu_sse_0f38_32},            \
	[0x33] = {.variants = emu_sse_0f38_33}, [0x34] = {.variants = emu_sse_0f38_34},            \
	[0x35] = {.variants = emu_sse_0f38_35}, [0x37] = {.variants = emu_sse_0f38_37},            \
	[0x38] = {.variants = emu_sse_0f38_38}, [0x39] = {.variants = emu_sse_0f38_39},            \
	[0x3a] = {.variants = emu_sse_0f38_3a}, [0x3b] = {.variants = emu_sse_0f38_3b},            \
	[0x3c] = {.variants = emu_sse_0f38_3c}, [0x3d] = {.variants = emu_sse_0f38_3d},            \
	[0x3e] = {.variants = emu_sse_0f38_3e}, [0x3f] = {.variants = emu_sse_0f38_3f},            \
	[0x40] = {.variants = emu_sse_0f38_40}, [0x41] = {.variants = emu_sse_0f38_41},
#define SSE_ROWS_0F3A                                                                              \
	[0x08] = {.variants = emu_sse_0f3a_08}, [0x09] = {.variants = emu_sse_0f3a_09},            \
	[0x0a] = {.variants = emu_sse_0f3a_0a}, [0x0b] = {.variants = emu_sse_0f3a_0b},            \
	[0x0c] = {.variants = emu_sse_0f3a_0c}, [0x0d] = {.variants = emu_sse_0f3a_0d},            \
	[0x0e] = {.variants = emu_sse_0f3a_0e}, [0x0f] = {.variants = emu_sse_0f3a_0f},            \
	[0x14] = {.variants = emu_sse_0f3a_14}, [0x15] = {.variants = emu_sse_0f3a_15},            \
	[0x16] = {.variants = emu_sse_0f3a_16}, [0x17] = {.variants = emu_sse_0f3a_17},            \
	[0x20] = {.variants = emu_sse_0f3a_20}, [0x21] = {.variants = emu_sse_0f3a_21},            \
	[0x22] = {.variants = emu_sse_0f3a_22}, [0x40] = {.variants = emu_sse_0f3a_40},            \
	[0x41] = {.variants = emu_sse_0f3a_41}, [0x42] = {.variants = emu_sse_0f3a_42},            \
	[0x60] = {.variants = emu_sse_0f3a_60}, [0x61] = {.variants = emu_sse_0f3a_61},            \
	[0x62] = {.variants = emu_sse_0f3a_62}, [0x63] = {.variants = emu_sse_0f3a_63},

#endif
