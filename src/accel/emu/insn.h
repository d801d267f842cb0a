/* A decoded x86 instruction and the decoder that produces it. The decoder does all the work
 * that depends only on the instruction bytes (prefixes, operand/address size, register
 * numbering, immediates, RIP-relative targets) once, so that cached instructions execute with
 * no further decoding. */
#ifndef GUREUM_ACCEL_EMU_INSN_H
#define GUREUM_ACCEL_EMU_INSN_H

#include <stdint.h>

enum emu_mode { EMU_MODE_16, EMU_MODE_32, EMU_MODE_64 };

struct emu_cpu;
struct emu_insn;

/* What a handler tells the run loop. */
enum emu_step {
	EMU_NEXT,   /* fall through to the next instruction */
	EMU_BRANCH, /* cpu->next_rip was changed: leave the block */
	EMU_STOP,   /* cpu->pending holds an exit or exception */
	EMU_LOOP,   /* threaded runs only: go on at cpu->loop_target, in the same block */
};

typedef int (*emu_handler)(struct emu_cpu *cpu, const struct emu_insn *insn);

#define EMU_NO_REG	 0xff
#define EMU_NO_SEG	 0xff
#define EMU_MAX_INSN_LEN 15

struct emu_insn {
	emu_handler fn;
	/* The handler used when the whole block runs: a specialised form of `fn` (fast_ops.c),
	 * possibly one that skips flags a later instruction of the block overwrites. `fn` stays
	 * exact for runs that stop inside the block. */
	emu_handler fast;
	uint64_t next_rip;
	int64_t disp; /* RIP-relative: already the absolute offset */
	uint64_t imm; /* sign-extended to the operand size where the ISA says so */
	uint16_t imm2;
	uint8_t len;
	uint8_t opsize;	  /* operand size in bytes: 1 2 4 8 */
	uint8_t addrsize; /* 2 4 8 */
	uint8_t sub;	  /* operation within a handler family, or a condition code */
	uint8_t reg;	  /* ModRM.reg as a byte offset into gpr[] (AH..BH = 1,9,17,25) */
	uint8_t regnum;	  /* ModRM.reg with REX.R: 0-15 */
	uint8_t rm;	  /* ModRM.rm register as a byte offset into gpr[] when !is_mem */
	uint8_t rmnum;	  /* ModRM.rm with REX.B: 0-15 */
	uint8_t base, index, scale;
	uint8_t seg; /* segment applied to the memory operand, or EMU_NO_SEG */
	uint8_t is_mem;
	uint8_t has_modrm;
	uint8_t modrm;
	uint8_t rep; /* 0, 0xf2 or 0xf3 (last of them) */
	uint8_t lock;
	uint8_t map; /* 0: one byte, 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t opcode;
	uint8_t prefix66;
	uint8_t rex;
	uint8_t vex;   /* 1 when VEX encoded */
	uint8_t vex_v; /* VEX.vvvv register number */
};

enum emu_decode_result {
	EMU_DECODE_OK,
	EMU_DECODE_UD,	      /* invalid encoding: #UD */
	EMU_DECODE_TOO_LONG,  /* more than 15 bytes: #GP(0) */
	EMU_DECODE_TRUNCATED, /* needs more than `avail` bytes */
};

struct emu_cpu_model;

/* Decodes one instruction at `rip` from `code[0..avail)` as a CPU of `model` (cpu_model.h) does.
 * On EMU_DECODE_OK, `insn` is ready to execute; otherwise insn->len is the number of bytes
 * examined. */
enum emu_decode_result emu_decode(const uint8_t *code, unsigned avail, enum emu_mode mode,
				  const struct emu_cpu_model *model, uint64_t rip,
				  struct emu_insn *insn);

#endif
