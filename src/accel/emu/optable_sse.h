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
	[0xfd] = {.variants = emu_sse_0f_fd}, [0xfe] = {.variants = emu_sse_0f_fe},

#define SSE_ROWS_0F38
#define SSE_ROWS_0F3A

#endif
