/* The three-byte maps (0F38, 0F3A) and the VEX-encoded general-purpose instructions (BMI1/2).
 * Empty entries are #UD. */
#include "accel/emu/ops.h"
#include "accel/emu/optable.h"
#include "accel/emu/optable_sse.h"

#include <stddef.h>

#define E(fn_, flags_, sub_)                                                                       \
	{                                                                                          \
		.fn = fn_, .flags = (flags_), .sub = (sub_)                                        \
	}

/* MOVBE (memory only, 66 = 16-bit) and CRC32 (F2; 66 still selects a 16-bit source). */
static const struct op_entry movbe_crc32_byte[4] = {
    E(op_movbe, F_MODRM | F_MEM, 0),
    E(op_movbe, F_MODRM | F_MEM | F_KEEPPFX, 0),
    {0},
    E(op_crc32, F_MODRM | F_RM8, 1),
};

static const struct op_entry movbe_crc32[4] = {
    E(op_movbe, F_MODRM | F_MEM, 1),
    E(op_movbe, F_MODRM | F_MEM | F_KEEPPFX, 1),
    {0},
    E(op_crc32, F_MODRM, 0),
};

static const struct op_entry invpcid_variants[4] = {
    [1] = E(op_invpcid, F_MODRM | F_MEM, 0),
};

const struct op_entry emu_map_0f38[256] = {[0x82] = {.variants = invpcid_variants},
					   [0xf0] = {.variants = movbe_crc32_byte},
					   [0xf1] = {.variants = movbe_crc32},
					   SSE_ROWS_0F38};

const struct op_entry emu_map_0f3a[256] = {SSE_ROWS_0F3A};

#define VEX_GPR (F_MODRM | F_VW)

static const struct op_entry group17[8] = {
    [1] = E(op_blsx, 0, 1),
    [2] = E(op_blsx, 0, 2),
    [3] = E(op_blsx, 0, 3),
};

static const struct op_entry vex_andn = E(op_andn, VEX_GPR, 0);
static const struct op_entry vex_group17 = {.flags = VEX_GPR, .group = group17};
static const struct op_entry vex_bzhi = E(op_bzhi, VEX_GPR, 0);
static const struct op_entry vex_pdep = E(op_pdep, VEX_GPR, 0);
static const struct op_entry vex_pext = E(op_pext, VEX_GPR, 0);
static const struct op_entry vex_mulx = E(op_mulx, VEX_GPR, 0);
static const struct op_entry vex_bextr = E(op_bextr, VEX_GPR, 0);
static const struct op_entry vex_shlx = E(op_shiftx, VEX_GPR, 0);
static const struct op_entry vex_sarx = E(op_shiftx, VEX_GPR, 1);
static const struct op_entry vex_shrx = E(op_shiftx, VEX_GPR, 2);
static const struct op_entry vex_rorx = E(op_rorx, VEX_GPR | F_IBU | F_NOVVVV, 0);

/* pp: 0 none, 1 66, 2 F3, 3 F2. AVX itself is not implemented (nor advertised). */
const struct op_entry *emu_vex_entry(unsigned map, uint8_t opcode, unsigned pp, unsigned l)
{
	if (l != 0)
		return NULL;
	if (map == 3)
		return opcode == 0xf0 && pp == 3 ? &vex_rorx : NULL;
	if (map != 2)
		return NULL;
	static const struct op_entry *const f5[4] = {&vex_bzhi, NULL, &vex_pext, &vex_pdep};
	static const struct op_entry *const f7[4] = {&vex_bextr, &vex_shlx, &vex_sarx, &vex_shrx};
	switch (opcode) {
	case 0xf2:
		return pp == 0 ? &vex_andn : NULL;
	case 0xf3:
		return pp == 0 ? &vex_group17 : NULL;
	case 0xf5:
		return f5[pp];
	case 0xf6:
		return pp == 3 ? &vex_mulx : NULL;
	case 0xf7:
		return f7[pp];
	default:
		return NULL;
	}
}
