/* Opcode tables: what the decoder needs to know about each opcode (operands, immediates,
 * operand-size rules, validity) and which handler executes it. */
#ifndef GUREUM_ACCEL_EMU_OPTABLE_H
#define GUREUM_ACCEL_EMU_OPTABLE_H

#include "accel/emu/insn.h"

#include <stdint.h>

enum op_flags {
	F_MODRM = 1u << 0,
	F_BYTE = 1u << 1,     /* operand size is 8 bits */
	F_IB = 1u << 2,	      /* imm8, sign-extended */
	F_IBU = 1u << 3,      /* imm8, zero-extended */
	F_IW = 1u << 4,	      /* imm16 */
	F_IZ = 1u << 5,	      /* imm16/32 sign-extended to the operand size */
	F_IV = 1u << 6,	      /* imm16/32/64 */
	F_D64 = 1u << 7,      /* operand size defaults to 64 bits in long mode */
	F_F64 = 1u << 8,      /* operand size is 64 bits in long mode whatever 66 says */
	F_INV64 = 1u << 9,    /* invalid in 64-bit mode */
	F_LOCK = 1u << 10,    /* LOCK allowed when the destination is memory */
	F_MEM = 1u << 11,     /* ModRM must encode memory */
	F_REG = 1u << 12,     /* ModRM must encode a register */
	F_OPREG = 1u << 13,   /* register in opcode bits 0-2 (+REX.B), as the r/m operand */
	F_ACC = 1u << 14,     /* the r/m operand is the accumulator */
	F_MOFFS = 1u << 15,   /* absolute address immediate of the address size */
	F_REL = 1u << 16,     /* the immediate is relative to the next instruction */
	F_ENTER = 1u << 17,   /* imm16 then imm8 */
	F_RM8 = 1u << 18,     /* the r/m operand is a byte (MOVZX, SETcc, CRC32 Eb) */
	F_INHERIT = 1u << 19, /* group member: handler of the parent, sub of the member */
	F_RM16 = 1u << 20,    /* r/m operand is 16 bits (MOVZX Ew) */
	F_VW = 1u << 21,      /* VEX: W selects 64-bit operands, else 32 */
	F_NO66 = 1u << 22,    /* invalid with a 66 prefix (MMX/SSE forms that have none) */
	F_IMM8S = 1u << 23,   /* an extra imm8 after ModRM (SSE shuffles) */
	F_KEEPPFX = 1u << 24, /* variant whose prefix keeps its size/repeat meaning */
	F_NOVVVV = 1u << 25,  /* VEX.vvvv must be 1111b */
	F_CRDR = 1u << 27,    /* MOV CR/DR: ModRM is a register pair whatever mod says */
	F_FARPTR = 1u << 28,  /* ptr16:16/32: offset of the operand size, then a selector */
	F_NEAR = 1u << 26,    /* near branch: 64-bit operands in long mode, or 16-bit with a 66
			       * prefix on models that honour it (cpu_model.h) */
};

struct op_entry {
	emu_handler fn;
	uint32_t flags;
	uint8_t sub;
	const struct op_entry *group;	 /* 8 members selected by ModRM.reg */
	const struct op_entry *variants; /* 4 members selected by none / 66 / F3 / F2 */
};

extern const struct op_entry emu_map_1byte[256];
extern const struct op_entry emu_map_0f[256];
extern const struct op_entry emu_map_0f38[256];
extern const struct op_entry emu_map_0f3a[256];

/* VEX-encoded entry for `map` (1-3), `opcode`, `pp` (0 none, 1 66, 2 F3, 3 F2), or NULL. */
const struct op_entry *emu_vex_entry(unsigned map, uint8_t opcode, unsigned pp, unsigned l);

#endif
