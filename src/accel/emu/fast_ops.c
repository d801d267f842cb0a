/* Specialised handlers for the hottest instruction forms: 32/64-bit register ALU operations,
 * shifts and rotates by a constant, INC/DEC, register and simple-address MOVs, LEA, Jcc per
 * condition, PUSH/POP, CALL/RET. The generic handlers decode operand shapes (register or
 * memory, size, ALU operation) on every execution; these have the shape fixed when the block is
 * decoded, so each is a handful of host instructions.
 *
 * Flag liveness: a backward pass over the block finds instructions whose flag results are
 * overwritten by a later instruction of the same block before anything can observe them (a
 * flag reader, a possible fault, or the block's end); those get a variant that skips the flags.
 * Only instructions that cannot fault or leave the block are looked through, so an exception
 * or branch always sees exact flags. The budget may still end a run inside a block: the run
 * loop then uses the exact handlers (insn->fn) instead. */
#include "accel/emu/fast_ops.h"
#include "accel/emu/cpu.h"
#include "accel/emu/fast_sse.h"
#include "accel/emu/fused_jcc.h"
#include "accel/emu/ops.h"
#include "accel/emu/threaded.h"
#include "accel/emu/x87_run.h"

#define R(off) cpu->state.gpr[(off) >> 3]

/* ---- ALU: ADD OR AND SUB XOR CMP TEST ---- */

/* Register forms: a = register at DST, b = SRC, r = a OP b, all of S bytes; STORE writes r
 * back (32-bit results zero the upper half), FLAGS records the lazy flags. */
#define ALU_FN(name, S, DST, SRC, OP, LF, STORE, FLAGS)                                            \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		const unsigned size __attribute__((unused)) = S;                                   \
		uint64_t a = reg_read(cpu, DST, S), b = (SRC)&size_mask(S);                        \
		uint64_t r = (a OP b)&size_mask(S);                                                \
		if (STORE)                                                                         \
			reg_write(cpu, DST, S, r);                                                 \
		if (FLAGS)                                                                         \
			emu_set_lazy(cpu, LF, S, r, a, b);                                         \
		return NEXT;                                                                       \
	}

/* Memory source: reg = reg OP [mem]. */
#define ALU_MEM_SRC_FN(name, S, OP, LF, STORE)                                                     \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t b;                                                                        \
		if (!emu_read(cpu, emu_ea(cpu, i), S, &b))                                         \
			return EXIT(EMU_STOP);                                                     \
		uint64_t a = reg_read(cpu, i->reg, S), r = (a OP b)&size_mask(S);                  \
		if (STORE)                                                                         \
			reg_write(cpu, i->reg, S, r);                                              \
		emu_set_lazy(cpu, LF, S, r, a, b);                                                 \
		return NEXT;                                                                       \
	}

/* Memory destination: [mem] = [mem] OP SRC. A store is read as a write (a read-only page
 * faults before anything changes) and the flags change only once the store succeeded. */
#define ALU_MEM_DST_FN(name, S, SRC, OP, LF, STORE)                                                \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t addr = emu_ea(cpu, i), a, b = (SRC)&size_mask(S);                         \
		if (!(STORE ? emu_read_rmw(cpu, addr, S, &a) : emu_read(cpu, addr, S, &a)))        \
			return EXIT(EMU_STOP);                                                     \
		uint64_t r = (a OP b)&size_mask(S);                                                \
		if (STORE && !emu_write(cpu, addr, S, r))                                          \
			return EXIT(EMU_STOP);                                                     \
		emu_set_lazy(cpu, LF, S, r, a, b);                                                 \
		return NEXT_W;                                                                     \
	}

#define ALU_SIZES(form, op, S, DST, SRC, OP, LF, STORE)                                            \
	ALU_FN(form##_##op##_##S, S, DST, SRC, OP, LF, STORE, 1)                                   \
	ALU_FN(form##_##op##_##S##_nf, S, DST, SRC, OP, LF, STORE, 0)

#define ALU_OP(form, op, DST, SRC, OP, LF, STORE)                                                  \
	ALU_SIZES(form, op, 1, DST, SRC, OP, LF, STORE)                                            \
	ALU_SIZES(form, op, 2, DST, SRC, OP, LF, STORE)                                            \
	ALU_SIZES(form, op, 4, DST, SRC, OP, LF, STORE)                                            \
	ALU_SIZES(form, op, 8, DST, SRC, OP, LF, STORE)

#define ALU_FORM(form, DST, SRC)                                                                   \
	ALU_OP(form, add, DST, SRC, +, LF_ADD, 1)                                                  \
	ALU_OP(form, or, DST, SRC, |, LF_LOGIC, 1)                                                 \
	ALU_OP(form, and, DST, SRC, &, LF_LOGIC, 1)                                                \
	ALU_OP(form, sub, DST, SRC, -, LF_SUB, 1)                                                  \
	ALU_OP(form, xor, DST, SRC, ^, LF_LOGIC, 1)                                                \
	ALU_OP(form, cmp, DST, SRC, -, LF_SUB, 0)                                                  \
	ALU_OP(form, test, DST, SRC, &, LF_LOGIC, 0)

ALU_FORM(rm_reg, i->rm, reg_read(cpu, i->reg, size))
ALU_FORM(reg_rm, i->reg, reg_read(cpu, i->rm, size))
ALU_FORM(rm_imm, i->rm, i->imm)

#define ALU_MEM_OP(op, OP, LF, STORE)                                                              \
	ALU_MEM_SRC_FN(msrc_##op##_1, 1, OP, LF, STORE)                                            \
	ALU_MEM_SRC_FN(msrc_##op##_2, 2, OP, LF, STORE)                                            \
	ALU_MEM_SRC_FN(msrc_##op##_4, 4, OP, LF, STORE)                                            \
	ALU_MEM_SRC_FN(msrc_##op##_8, 8, OP, LF, STORE)                                            \
	ALU_MEM_DST_FN(mreg_##op##_1, 1, reg_read(cpu, i->reg, 1), OP, LF, STORE)                  \
	ALU_MEM_DST_FN(mreg_##op##_2, 2, reg_read(cpu, i->reg, 2), OP, LF, STORE)                  \
	ALU_MEM_DST_FN(mreg_##op##_4, 4, reg_read(cpu, i->reg, 4), OP, LF, STORE)                  \
	ALU_MEM_DST_FN(mreg_##op##_8, 8, reg_read(cpu, i->reg, 8), OP, LF, STORE)                  \
	ALU_MEM_DST_FN(mimm_##op##_1, 1, i->imm, OP, LF, STORE)                                    \
	ALU_MEM_DST_FN(mimm_##op##_2, 2, i->imm, OP, LF, STORE)                                    \
	ALU_MEM_DST_FN(mimm_##op##_4, 4, i->imm, OP, LF, STORE)                                    \
	ALU_MEM_DST_FN(mimm_##op##_8, 8, i->imm, OP, LF, STORE)

ALU_MEM_OP(add, +, LF_ADD, 1)
ALU_MEM_OP(or, |, LF_LOGIC, 1)
ALU_MEM_OP(and, &, LF_LOGIC, 1)
ALU_MEM_OP(sub, -, LF_SUB, 1)
ALU_MEM_OP(xor, ^, LF_LOGIC, 1)
ALU_MEM_OP(cmp, -, LF_SUB, 0)
ALU_MEM_OP(test, &, LF_LOGIC, 0)

/* Register tables: rows in ALU encoding order (ADD OR ADC SBB AND SUB XOR CMP; ADC/SBB stay
 * generic), then TEST; columns [log2 size][flags dead]. */
#define ALU_PAIR(form, op, S)                                                                      \
	{                                                                                          \
		form##_##op##_##S, form##_##op##_##S##_nf                                          \
	}
#define ALU_ROW(form, op)                                                                          \
	{                                                                                          \
		ALU_PAIR(form, op, 1), ALU_PAIR(form, op, 2), ALU_PAIR(form, op, 4),               \
		    ALU_PAIR(form, op, 8)                                                          \
	}
#define ALU_NONE                                                                                   \
	{                                                                                          \
		{                                                                                  \
			NULL, NULL                                                                 \
		}                                                                                  \
	}
#define ALU_TABLE(form)                                                                            \
	{                                                                                          \
		ALU_ROW(form, add), ALU_ROW(form, or), ALU_NONE, ALU_NONE, ALU_ROW(form, and),     \
		    ALU_ROW(form, sub), ALU_ROW(form, xor), ALU_ROW(form, cmp),                    \
		    ALU_ROW(form, test)                                                            \
	}

enum { ALU_TEST = 8 };
static const emu_handler alu_rm_reg[9][4][2] = ALU_TABLE(rm_reg);
static const emu_handler alu_reg_rm[9][4][2] = ALU_TABLE(reg_rm);
static const emu_handler alu_rm_imm[9][4][2] = ALU_TABLE(rm_imm);

/* Memory tables: [op][log2 size]. */
#define ALU_MEM_ROW(form, op)                                                                      \
	{                                                                                          \
		form##_##op##_1, form##_##op##_2, form##_##op##_4, form##_##op##_8                 \
	}
#define ALU_MEM_NONE                                                                               \
	{                                                                                          \
		NULL                                                                               \
	}
#define MEM_TABLE(form)                                                                            \
	{                                                                                          \
		ALU_MEM_ROW(form, add), ALU_MEM_ROW(form, or), ALU_MEM_NONE, ALU_MEM_NONE,         \
		    ALU_MEM_ROW(form, and), ALU_MEM_ROW(form, sub), ALU_MEM_ROW(form, xor),        \
		    ALU_MEM_ROW(form, cmp), ALU_MEM_ROW(form, test)                                \
	}
static const emu_handler alu_mem_src[9][4] = MEM_TABLE(msrc);
static const emu_handler alu_mem_reg[9][4] = MEM_TABLE(mreg);
static const emu_handler alu_mem_imm[9][4] = MEM_TABLE(mimm);

/* ---- shifts and rotates of a 32/64-bit register by a constant 1..width-1 ---- */

#define SHIFT_COUNT_IMM(mask) ((unsigned)i->imm & (mask))
#define SHIFT_COUNT_ONE(mask) 1u

#define SHIFT_FN(name, T, S, COUNT, EXPR, LF, FLAGS)                                               \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		unsigned c = COUNT(S == 8 ? 63 : 31);                                              \
		uint64_t a = (T)R(i->rm);                                                          \
		uint64_t r = (T)(EXPR);                                                            \
		R(i->rm) = r;                                                                      \
		if (FLAGS)                                                                         \
			emu_set_lazy(cpu, LF, S, r, a, c);                                         \
		return NEXT;                                                                       \
	}

/* ROL/ROR change only CF and OF: with those live the other flags must be materialised. */
static void rotate_flags(struct emu_cpu *cpu, uint64_t r, unsigned size, bool left)
{
	unsigned w = size * 8;
	bool top = (r >> (w - 1)) & 1;
	bool cf = left ? (r & 1) : top;
	bool of = left ? top ^ cf : top ^ ((r >> (w - 2)) & 1);
	uint64_t f = emu_get_flags(cpu) & ~(uint64_t)(FL_CF | FL_OF);
	cpu->flags = f | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
}

#define ROT_FN(name, T, S, COUNT, EXPR, LEFT, FLAGS)                                               \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		unsigned c = COUNT(S == 8 ? 63 : 31);                                              \
		T a = (T)R(i->rm);                                                                 \
		uint64_t r = (T)(EXPR);                                                            \
		R(i->rm) = r;                                                                      \
		if (FLAGS)                                                                         \
			rotate_flags(cpu, r, S, LEFT);                                             \
		return NEXT;                                                                       \
	}

#define SHIFTS(cnt, COUNT, T, S, W)                                                                \
	SHIFT_FN(shl_##cnt##_##W, T, S, COUNT, a << c, LF_SHL, 1)                                  \
	SHIFT_FN(shl_##cnt##_##W##_nf, T, S, COUNT, a << c, LF_SHL, 0)                             \
	SHIFT_FN(shr_##cnt##_##W, T, S, COUNT, a >> c, LF_SHR, 1)                                  \
	SHIFT_FN(shr_##cnt##_##W##_nf, T, S, COUNT, a >> c, LF_SHR, 0)                             \
	SHIFT_FN(sar_##cnt##_##W, T, S, COUNT, (uint64_t)((int##W##_t)a >> c), LF_SAR, 1)          \
	SHIFT_FN(sar_##cnt##_##W##_nf, T, S, COUNT, (uint64_t)((int##W##_t)a >> c), LF_SAR, 0)     \
	ROT_FN(rol_##cnt##_##W, T, S, COUNT, (a << c) | (a >> (W - c)), true, 1)                   \
	ROT_FN(rol_##cnt##_##W##_nf, T, S, COUNT, (a << c) | (a >> (W - c)), true, 0)              \
	ROT_FN(ror_##cnt##_##W, T, S, COUNT, (a >> c) | (a << (W - c)), false, 1)                  \
	ROT_FN(ror_##cnt##_##W##_nf, T, S, COUNT, (a >> c) | (a << (W - c)), false, 0)

SHIFTS(imm, SHIFT_COUNT_IMM, uint32_t, 4, 32)
SHIFTS(imm, SHIFT_COUNT_IMM, uint64_t, 8, 64)
SHIFTS(one, SHIFT_COUNT_ONE, uint32_t, 4, 32)
SHIFTS(one, SHIFT_COUNT_ONE, uint64_t, 8, 64)

/* Rows by group-2 operation (ROL ROR RCL RCR SHL SHR SAL SAR; RCL/RCR stay generic). */
#define SHIFT_ROW(op, cnt)                                                                         \
	{                                                                                          \
		{op##_##cnt##_32, op##_##cnt##_32_nf},                                             \
		{                                                                                  \
			op##_##cnt##_64, op##_##cnt##_64_nf                                        \
		}                                                                                  \
	}
#define SHIFT_TABLE(cnt)                                                                           \
	{                                                                                          \
		SHIFT_ROW(rol, cnt), SHIFT_ROW(ror, cnt), ALU_NONE, ALU_NONE, SHIFT_ROW(shl, cnt), \
		    SHIFT_ROW(shr, cnt), SHIFT_ROW(shl, cnt), SHIFT_ROW(sar, cnt)                  \
	}

static const emu_handler shift_imm[8][2][2] = SHIFT_TABLE(imm);
static const emu_handler shift_one[8][2][2] = SHIFT_TABLE(one);

/* ---- INC/DEC of a 32/64-bit register with dead flags ---- */

#define INCDEC_FN(name, T, DELTA)                                                                  \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		R(i->rm) = (T)(R(i->rm) + (DELTA));                                                \
		return NEXT;                                                                       \
	}
/* With flags live: CF passes through (computed alone from the lazy record). */
#define INCDEC_LIVE_FN(name, S, LF)                                                                \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		bool carry = emu_cf(cpu);                                                          \
		uint64_t a = reg_read(cpu, i->rm, S);                                              \
		uint64_t r = (LF == LF_INC ? a + 1 : a - 1) & size_mask(S);                        \
		reg_write(cpu, i->rm, S, r);                                                       \
		emu_set_lazy(cpu, LF, S, r, a, 1);                                                 \
		cpu->lf.cf_in = carry;                                                             \
		return NEXT;                                                                       \
	}
INCDEC_LIVE_FN(inc_32, 4, LF_INC)
INCDEC_LIVE_FN(inc_64, 8, LF_INC)
INCDEC_LIVE_FN(dec_32, 4, LF_DEC)
INCDEC_LIVE_FN(dec_64, 8, LF_DEC)
INCDEC_FN(inc_32_nf, uint32_t, 1)
INCDEC_FN(inc_64_nf, uint64_t, 1)
INCDEC_FN(dec_32_nf, uint32_t, -1)
INCDEC_FN(dec_64_nf, uint64_t, -1)

/* ---- NOT (no flags) and NEG of a 32/64-bit register ---- */

#define NOT_FN(name, S)                                                                            \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		reg_write(cpu, i->rm, S, ~reg_read(cpu, i->rm, S));                                \
		return NEXT;                                                                       \
	}
#define NEG_FN(name, S, FLAGS)                                                                     \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t a = reg_read(cpu, i->rm, S), r = (0 - a) & size_mask(S);                  \
		reg_write(cpu, i->rm, S, r);                                                       \
		if (FLAGS)                                                                         \
			emu_set_lazy(cpu, LF_SUB, S, r, 0, a);                                     \
		return NEXT;                                                                       \
	}
NOT_FN(not_32, 4)
NOT_FN(not_64, 8)
NEG_FN(neg_32, 4, 1)
NEG_FN(neg_64, 8, 1)
NEG_FN(neg_32_nf, 4, 0)
NEG_FN(neg_64_nf, 8, 0)

/* ---- MOV, MOVZX, LEA ---- */

/* 64-bit addressing without a segment override, in three shapes fixed at decode time. */
enum ea_shape { EA_ABS, EA_BASE, EA_BASE_INDEX };

static inline uint64_t ea_of(struct emu_cpu *cpu, const struct emu_insn *i, enum ea_shape shape)
{
	uint64_t a = (uint64_t)i->disp;
	if (shape != EA_ABS)
		a += cpu->state.gpr[i->base];
	if (shape == EA_BASE_INDEX)
		a += cpu->state.gpr[i->index] << i->scale;
	return a;
}

#define LOAD_FN(name, SHAPE, SIZE, DSTSIZE)                                                        \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t v;                                                                        \
		if (!emu_read(cpu, ea_of(cpu, i, SHAPE), SIZE, &v))                                \
			return EXIT(EMU_STOP);                                                     \
		R(i->reg) = DSTSIZE == 8 ? v : (uint32_t)v;                                        \
		return NEXT;                                                                       \
	}
#define STORE_FN(name, SHAPE, SIZE)                                                                \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		if (!emu_write(cpu, ea_of(cpu, i, SHAPE), SIZE, R(i->reg)))                        \
			return EXIT(EMU_STOP);                                                     \
		return NEXT_W;                                                                     \
	}
#define LEA_FN(name, SHAPE, T)                                                                     \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		R(i->reg) = (T)ea_of(cpu, i, SHAPE);                                               \
		return NEXT;                                                                       \
	}

#define MEM_SHAPE(shape, SHAPE)                                                                    \
	LOAD_FN(load32_##shape, SHAPE, 4, 4)                                                       \
	LOAD_FN(load64_##shape, SHAPE, 8, 8)                                                       \
	LOAD_FN(loadzx8_32_##shape, SHAPE, 1, 4)                                                   \
	LOAD_FN(loadzx16_32_##shape, SHAPE, 2, 4)                                                  \
	STORE_FN(store32_##shape, SHAPE, 4)                                                        \
	STORE_FN(store64_##shape, SHAPE, 8)                                                        \
	LEA_FN(lea64_##shape, SHAPE, uint64_t)                                                     \
	LEA_FN(lea32_##shape, SHAPE, uint32_t)
MEM_SHAPE(abs, EA_ABS)
MEM_SHAPE(base, EA_BASE)
MEM_SHAPE(bi, EA_BASE_INDEX)

/* [shape][kind]: loads 32/64, MOVZX from 8/16 to 32, stores 32/64, LEA 64. */
enum { M_LOAD32, M_LOAD64, M_ZX8, M_ZX16, M_STORE32, M_STORE64, M_LEA64, M_LEA32, M_KINDS };
#define MEM_ROW(shape)                                                                             \
	{                                                                                          \
		load32_##shape, load64_##shape, loadzx8_32_##shape, loadzx16_32_##shape,           \
		    store32_##shape, store64_##shape, lea64_##shape, lea32_##shape                 \
	}
static const emu_handler mem_ops[3][M_KINDS] = {MEM_ROW(abs), MEM_ROW(base), MEM_ROW(bi)};

/* Any address shape and size: MOV load/store/store-immediate, MOVZX/MOVSX loads. */
#define MOV_ANY_FNS(S)                                                                             \
	static int load_any_##S(struct emu_cpu *cpu, const struct emu_insn *i)                     \
	{                                                                                          \
		uint64_t v;                                                                        \
		if (!emu_read(cpu, emu_ea(cpu, i), S, &v))                                         \
			return EXIT(EMU_STOP);                                                     \
		reg_write(cpu, i->reg, S, v);                                                      \
		return NEXT;                                                                       \
	}                                                                                          \
	static int store_any_##S(struct emu_cpu *cpu, const struct emu_insn *i)                    \
	{                                                                                          \
		uint64_t v = reg_read(cpu, i->reg, S);                                             \
		if (!emu_write(cpu, emu_ea(cpu, i), S, v))                                         \
			return EXIT(EMU_STOP);                                                     \
		return NEXT_W;                                                                     \
	}                                                                                          \
	static int store_imm_any_##S(struct emu_cpu *cpu, const struct emu_insn *i)                \
	{                                                                                          \
		if (!emu_write(cpu, emu_ea(cpu, i), S, i->imm))                                    \
			return EXIT(EMU_STOP);                                                     \
		return NEXT_W;                                                                     \
	}                                                                                          \
	static int mov_rm_reg_##S(struct emu_cpu *cpu, const struct emu_insn *i)                   \
	{                                                                                          \
		reg_write(cpu, i->rm, S, reg_read(cpu, i->reg, S));                                \
		return NEXT;                                                                       \
	}                                                                                          \
	static int mov_reg_rm_##S(struct emu_cpu *cpu, const struct emu_insn *i)                   \
	{                                                                                          \
		reg_write(cpu, i->reg, S, reg_read(cpu, i->rm, S));                                \
		return NEXT;                                                                       \
	}                                                                                          \
	static int mov_rm_imm_##S(struct emu_cpu *cpu, const struct emu_insn *i)                   \
	{                                                                                          \
		reg_write(cpu, i->rm, S, i->imm);                                                  \
		return NEXT;                                                                       \
	}
MOV_ANY_FNS(1)
MOV_ANY_FNS(2)
MOV_ANY_FNS(4)
MOV_ANY_FNS(8)

#define BY_SIZE(name)                                                                              \
	{                                                                                          \
		name##_1, name##_2, name##_4, name##_8                                             \
	}
static const emu_handler load_any[4] = BY_SIZE(load_any);
static const emu_handler store_any[4] = BY_SIZE(store_any);
static const emu_handler store_imm_any[4] = BY_SIZE(store_imm_any);
static const emu_handler mov_rm_reg[4] = BY_SIZE(mov_rm_reg);
static const emu_handler mov_reg_rm[4] = BY_SIZE(mov_reg_rm);
static const emu_handler mov_rm_imm[4] = BY_SIZE(mov_rm_imm);

/* MOVZX/MOVSX from a SRC-byte memory operand into a DST-byte register. */
#define EXTEND_FN(name, SRC, DST, SIGNED)                                                          \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t v;                                                                        \
		if (!emu_read(cpu, emu_ea(cpu, i), SRC, &v))                                       \
			return EXIT(EMU_STOP);                                                     \
		reg_write(cpu, i->reg, DST, SIGNED ? sign_extend(v, SRC) : v);                     \
		return NEXT;                                                                       \
	}
EXTEND_FN(movzx_8_4, 1, 4, false)
EXTEND_FN(movzx_16_4, 2, 4, false)
EXTEND_FN(movsx_8_4, 1, 4, true)
EXTEND_FN(movsx_16_4, 2, 4, true)
EXTEND_FN(movsx_8_8, 1, 8, true)
EXTEND_FN(movsx_16_8, 2, 8, true)
EXTEND_FN(movsxd_32_8, 4, 8, true)

/* ---- Jcc per condition, straight from the lazy record when a compare set it ---- */

static inline bool condition_fast(struct emu_cpu *cpu, unsigned cc)
{
	bool result;
	if (emu_condition_from_record(&cpu->lf, cc, &result))
		return result;
	if (cc == 2 || cc == 3) /* CF alone is cheap */
		return emu_cf(cpu) == (cc == 2);
	return emu_condition(cpu, cc);
}

/* The decoder proved the target canonical (see specialize_jcc), so no #GP check here. */
#define JCC_FN(cc)                                                                                 \
	static int jcc_##cc(struct emu_cpu *cpu, const struct emu_insn *i)                         \
	{                                                                                          \
		if (!condition_fast(cpu, cc))                                                      \
			return NEXT;                                                               \
		cpu->next_rip = i->imm;                                                            \
		return emu_branch(cpu, i);                                                         \
	}
JCC_FN(0)
JCC_FN(1)
JCC_FN(2)
JCC_FN(3)
JCC_FN(4)
JCC_FN(5)
JCC_FN(6)
JCC_FN(7)
JCC_FN(8)
JCC_FN(9)
JCC_FN(10)
JCC_FN(11)
JCC_FN(12)
JCC_FN(13)
JCC_FN(14)
JCC_FN(15)
static const emu_handler jcc_fns[16] = {jcc_0,	jcc_1,	jcc_2,	jcc_3, jcc_4,  jcc_5,
					jcc_6,	jcc_7,	jcc_8,	jcc_9, jcc_10, jcc_11,
					jcc_12, jcc_13, jcc_14, jcc_15};

/* ---- JMP rel inside a block (the decoder went on at its target) ---- */

static int jmp_followed(struct emu_cpu *cpu, const struct emu_insn *i)
{
	return NEXT;
}

/* ---- CMOVcc and MOVSXD between registers ---- */

#define CMOV_FN(name, S)                                                                           \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t v = condition_fast(cpu, i->sub) ? R(i->rm) : R(i->reg);                   \
		R(i->reg) =                                                                        \
		    S == 8 ? v : (uint32_t)v; /* 32 bits: zero-extends even if not taken */        \
		return NEXT;                                                                       \
	}
CMOV_FN(cmov_32, 4)
CMOV_FN(cmov_64, 8)

static int movsxd_reg(struct emu_cpu *cpu, const struct emu_insn *i)
{
	R(i->reg) = (uint64_t)(int64_t)(int32_t)R(i->rm);
	return NEXT;
}

/* ---- 64-bit stack: PUSH/POP r64, CALL rel, RET ---- */

static int push64(struct emu_cpu *cpu, const struct emu_insn *i)
{
	uint64_t v = R(i->rm), sp = cpu->state.gpr[GPR_RSP] - 8;
	if (!emu_write(cpu, sp, 8, v))
		return EXIT(EMU_STOP);
	cpu->state.gpr[GPR_RSP] = sp;
	return NEXT_W;
}

/* POP RSP loads the popped value: the register write comes last. */
static int pop64(struct emu_cpu *cpu, const struct emu_insn *i)
{
	uint64_t v, sp = cpu->state.gpr[GPR_RSP];
	if (!emu_read(cpu, sp, 8, &v))
		return EXIT(EMU_STOP);
	cpu->state.gpr[GPR_RSP] = sp + 8;
	R(i->rm) = v;
	return NEXT;
}

static int call64(struct emu_cpu *cpu, const struct emu_insn *i)
{
	uint64_t sp = cpu->state.gpr[GPR_RSP] - 8;
	if (!emu_write(cpu, sp, 8, i->next_rip))
		return EXIT(EMU_STOP);
	cpu->state.gpr[GPR_RSP] = sp;
	cpu->next_rip = i->imm;
	return EXIT(EMU_BRANCH);
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* A non-canonical return address faults on the RET, RSP unchanged. */
static int ret64(struct emu_cpu *cpu, const struct emu_insn *i)
{
	uint64_t v, sp = cpu->state.gpr[GPR_RSP];
	if (!emu_read(cpu, sp, 8, &v))
		return EXIT(EMU_STOP);
	if (unlikely(!canonical(v)))
		return EXIT(emu_raise_gp0(cpu));
	cpu->state.gpr[GPR_RSP] = sp + 8 + (i->imm & 0xffff);
	cpu->next_rip = v;
	return EXIT(EMU_BRANCH);
}

/* ---- IMUL r, r/m (and r, r/m, imm) of 32 and 64 bits: lazy flags (LF_MUL) ---- */

#define IMUL_BODY(S, FLAGS)                                                                        \
	uint64_t lo;                                                                               \
	bool ovf;                                                                                  \
	if (S == 8) {                                                                              \
		__int128 p = (__int128)(int64_t)a * (int64_t)b;                                    \
		lo = (uint64_t)p;                                                                  \
		ovf = p != (__int128)(int64_t)lo;                                                  \
	} else {                                                                                   \
		int64_t p = (int64_t)(int32_t)a * (int32_t)b;                                      \
		lo = (uint32_t)p;                                                                  \
		ovf = p != (int64_t)(int32_t)lo;                                                   \
	}                                                                                          \
	R(i->reg) = lo;                                                                            \
	if (FLAGS) {                                                                               \
		emu_set_lazy(cpu, LF_MUL, S, lo, 0, 0);                                            \
		cpu->lf.cf_in = ovf;                                                               \
	}                                                                                          \
	return NEXT;

#define IMUL_RR(name, S, SRC, FLAGS)                                                               \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t a = R(i->reg), b = (SRC);                                                 \
		IMUL_BODY(S, FLAGS)                                                                \
	}
IMUL_RR(imul_rr_4, 4, R(i->rm), 1)
IMUL_RR(imul_rr_8, 8, R(i->rm), 1)
IMUL_RR(imul_rr_4_nf, 4, R(i->rm), 0)
IMUL_RR(imul_rr_8_nf, 8, R(i->rm), 0)

#define IMUL_RRI(name, S, FLAGS)                                                                   \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t a = R(i->rm), b = i->imm;                                                 \
		IMUL_BODY(S, FLAGS)                                                                \
	}
IMUL_RRI(imul_rri_4, 4, 1)
IMUL_RRI(imul_rri_8, 8, 1)
IMUL_RRI(imul_rri_4_nf, 4, 0)
IMUL_RRI(imul_rri_8_nf, 8, 0)

#define IMUL_RM(name, S, IMM)                                                                      \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t m;                                                                        \
		if (!emu_read(cpu, emu_ea(cpu, i), S, &m))                                         \
			return EXIT(EMU_STOP);                                                     \
		uint64_t a = IMM ? m : R(i->reg), b = IMM ? i->imm : m;                            \
		IMUL_BODY(S, 1)                                                                    \
	}
IMUL_RM(imul_rm_4, 4, 0)
IMUL_RM(imul_rm_8, 8, 0)
IMUL_RM(imul_rmi_4, 4, 1)
IMUL_RM(imul_rmi_8, 8, 1)

/* ---- selection ---- */

/* What an instruction does to the flags, as the liveness pass needs it. */
struct choice {
	emu_handler live; /* specialised handler computing everything */
	emu_handler dead; /* variant that skips the flags in `writes`, or NULL */
	uint32_t writes;  /* flags the instruction always overwrites */
	bool pure;	  /* cannot fault, stop or leave the block; reads no flags */
};

static bool reg_form_32_64(const struct emu_insn *i)
{
	return !i->is_mem && (i->opsize == 4 || i->opsize == 8);
}

static unsigned log2_size(unsigned size)
{
	return (unsigned)__builtin_ctz(size);
}

/* `reg` is the register table for the form, `mem` the memory one. */
static struct choice choose_alu(const emu_handler (*reg)[4][2], const emu_handler (*mem)[4],
				unsigned op, const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	unsigned sz = log2_size(i->opsize);
	if (i->is_mem) {
		if (mem[op][0])
			c.live = mem[op][sz];
		return c;
	}
	if (!reg[op][0][0])
		return c;
	return (struct choice){
	    .live = reg[op][sz][0], .dead = reg[op][sz][1], .writes = FL_ARITH, .pure = true};
}

static struct choice choose_shift(const emu_handler (*table)[2][2], unsigned count,
				  const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	count &= i->opsize == 8 ? 63 : 31;
	if (!reg_form_32_64(i) || !table[i->sub][0][0] || count == 0)
		return c; /* a zero count changes no flags but still writes a 32-bit register */
	const emu_handler *pair = table[i->sub][i->opsize == 8];
	bool rotate = i->sub <= 1;
	return (struct choice){.live = pair[0],
			       .dead = pair[1],
			       .writes = rotate ? (FL_CF | FL_OF) : FL_ARITH,
			       .pure = true};
}

static struct choice choose_incdec(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	if (!reg_form_32_64(i))
		return c;
	static const emu_handler live[2][2] = {{inc_32, inc_64}, {dec_32, dec_64}};
	static const emu_handler dead[2][2] = {{inc_32_nf, inc_64_nf}, {dec_32_nf, dec_64_nf}};
	/* CF is preserved: skipping the flags leaves it exactly as INC/DEC would. */
	return (struct choice){.live = live[i->sub != 0][i->opsize == 8],
			       .dead = dead[i->sub != 0][i->opsize == 8],
			       .writes = FL_ARITH & ~FL_CF,
			       .pure = true};
}

static int ea_shape(const struct emu_insn *i)
{
	if (!i->is_mem || i->addrsize != 8 || i->seg != EMU_NO_SEG)
		return -1;
	if (i->base == EMU_NO_REG)
		return i->index == EMU_NO_REG ? EA_ABS : -1;
	return i->index == EMU_NO_REG ? EA_BASE : EA_BASE_INDEX;
}

/* MOV r,r / r,imm are pure; the memory forms may fault. */
static struct choice choose_mov(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	unsigned sz = log2_size(i->opsize);
	bool load = i->fn == op_mov_reg_rm, store = i->fn == op_mov_rm_reg;
	if (!i->is_mem) {
		c.pure = true;
		c.live = load ? mov_reg_rm[sz] : store ? mov_rm_reg[sz] : mov_rm_imm[sz];
		return c;
	}
	int shape = ea_shape(i);
	if (shape >= 0 && (load || store) && (i->opsize == 4 || i->opsize == 8)) {
		bool wide = i->opsize == 8;
		c.live = store ? mem_ops[shape][wide ? M_STORE64 : M_STORE32]
			       : mem_ops[shape][wide ? M_LOAD64 : M_LOAD32];
		return c;
	}
	c.live = load ? load_any[sz] : store ? store_any[sz] : store_imm_any[sz];
	return c;
}

/* MOVZX/MOVSX/MOVSXD: register forms are pure; 32-bit zero extension also fills a 64-bit
 * destination (the upper half is cleared either way). */
static struct choice choose_extend(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	if (!i->is_mem) {
		c.pure = true;
		if (i->fn == op_movsxd && i->opsize == 8)
			c.live = movsxd_reg;
		return c;
	}
	bool wide = i->opsize == 8, byte = i->sub == 1;
	if (i->fn == op_movzx && (i->opsize == 4 || wide)) {
		int shape = ea_shape(i);
		if (shape >= 0)
			c.live = mem_ops[shape][byte ? M_ZX8 : M_ZX16];
		else
			c.live = byte ? movzx_8_4 : movzx_16_4;
	} else if (i->fn == op_movsx && i->opsize == 4) {
		c.live = byte ? movsx_8_4 : movsx_16_4;
	} else if (i->fn == op_movsx && wide) {
		c.live = byte ? movsx_8_8 : movsx_16_8;
	} else if (i->fn == op_movsxd && wide) {
		c.live = movsxd_32_8;
	}
	return c;
}

static struct choice choose_lea(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn, .pure = true};
	int shape = ea_shape(i);
	if (shape >= 0 && i->opsize == 8)
		c.live = mem_ops[shape][M_LEA64];
	else if (shape >= 0 && i->opsize == 4)
		c.live = mem_ops[shape][M_LEA32];
	return c;
}

static struct choice choose_not_neg(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	if (!reg_form_32_64(i))
		return c;
	bool wide = i->opsize == 8;
	if (i->fn == op_not)
		return (struct choice){.live = wide ? not_64 : not_32, .pure = true};
	return (struct choice){.live = wide ? neg_64 : neg_32,
			       .dead = wide ? neg_64_nf : neg_32_nf,
			       .writes = FL_ARITH,
			       .pure = true};
}

static struct choice choose_stack(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	if (i->opsize != 8) /* 64-bit mode only */
		return c;
	if (i->fn == op_push_reg)
		c.live = push64;
	else if (i->fn == op_pop_reg)
		c.live = pop64;
	else if (i->fn == op_call_rel && canonical(i->imm))
		c.live = call64;
	else if (i->fn == op_ret)
		c.live = ret64;
	return c;
}

/* Jcc in 64-bit code (opsize 8) to a canonical target cannot fault. */
static bool jcc_cannot_fault(const struct emu_insn *i)
{
	return i->fn == op_jcc && i->opsize == 8 && canonical(i->imm);
}

static struct choice choose_jcc(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	if (jcc_cannot_fault(i))
		c.live = jcc_fns[i->sub & 15];
	return c;
}

static struct choice choose_imul(const struct emu_insn *i)
{
	struct choice c = {.live = i->fn};
	bool imm = i->fn == op_imul_reg_rm_imm, wide = i->opsize == 8;
	if (i->opsize != 4 && !wide)
		return c;
	if (i->is_mem) {
		c.live = imm ? (wide ? imul_rmi_8 : imul_rmi_4) : (wide ? imul_rm_8 : imul_rm_4);
		return c;
	}
	if (imm)
		return (struct choice){.live = wide ? imul_rri_8 : imul_rri_4,
				       .dead = wide ? imul_rri_8_nf : imul_rri_4_nf,
				       .writes = FL_ARITH,
				       .pure = true};
	return (struct choice){.live = wide ? imul_rr_8 : imul_rr_4,
			       .dead = wide ? imul_rr_8_nf : imul_rr_4_nf,
			       .writes = FL_ARITH,
			       .pure = true};
}

static struct choice choose(const struct emu_insn *i)
{
	emu_handler fn = i->fn;
	if (fn == op_alu_rm_reg)
		return choose_alu(alu_rm_reg, alu_mem_reg, i->sub, i);
	if (fn == op_alu_reg_rm)
		return choose_alu(alu_reg_rm, alu_mem_src, i->sub, i);
	if (fn == op_alu_rm_imm)
		return choose_alu(alu_rm_imm, alu_mem_imm, i->sub, i);
	if (fn == op_test_rm_reg)
		return choose_alu(alu_rm_reg, alu_mem_reg, ALU_TEST, i);
	if (fn == op_test_rm_imm)
		return choose_alu(alu_rm_imm, alu_mem_imm, ALU_TEST, i);
	if (fn == op_shift_imm)
		return choose_shift(shift_imm, (unsigned)i->imm, i);
	if (fn == op_shift_one)
		return choose_shift(shift_one, 1, i);
	if (fn == op_incdec)
		return choose_incdec(i);
	if (fn == op_mov_rm_reg || fn == op_mov_reg_rm || fn == op_mov_rm_imm)
		return choose_mov(i);
	if (fn == op_movzx || fn == op_movsx || fn == op_movsxd)
		return choose_extend(i);
	if (fn == op_lea)
		return choose_lea(i);
	if (fn == op_not || fn == op_neg)
		return choose_not_neg(i);
	if (fn == op_push_reg || fn == op_pop_reg || fn == op_call_rel || fn == op_ret)
		return choose_stack(i);
	if (fn == op_jcc)
		return choose_jcc(i);
	if (fn == op_jmp_rel) /* mid-block ones were followed; a last one ends the block anyway */
		return (struct choice){.live = fn, .pure = true};
	if (fn == op_imul_reg_rm || fn == op_imul_reg_rm_imm)
		return choose_imul(i);
	if (fn == op_cmovcc && reg_form_32_64(i))
		return (struct choice){.live = i->opsize == 8 ? cmov_64 : cmov_32};
	emu_handler special = emu_fast_sse(i);
	if (!special)
		special = emu_x87_run_handler(i);
	return (struct choice){.live = special ? special : fn};
}

/* Marks each Jcc whose target is an instruction of this block with that instruction's
 * offset (insn->imm2 = offset + 128, a field Jcc does not use): see emu_branch(). The first
 * copy is taken when the decoder unrolled a loop; every copy runs the same path from there. */
static void link_branches_in_block(struct emu_insn *insns, uint32_t count)
{
	for (uint32_t k = 0; k < count; k++) {
		struct emu_insn *j = &insns[k];
		if (!jcc_cannot_fault(j))
			continue;
		for (uint32_t t = 0; t < count; t++) {
			if (insns[t].next_rip - insns[t].len == j->imm) {
				j->imm2 = (uint16_t)((int)t - (int)k + 128);
				break;
			}
		}
	}
}

/* An instruction without a specialised handler: the generic one, then on to the next. */
static int generic_step(struct emu_cpu *cpu, const struct emu_insn *i)
{
	int step = i->fn(cpu, i);
	if (unlikely(step | cpu->code_written))
		return EXIT(step);
	return NEXT;
}

static int block_end(struct emu_cpu *cpu, const struct emu_insn *i)
{
	return EXIT(EMU_NEXT);
}

void emu_specialize_block(struct emu_insn *insns, uint32_t count)
{
	insns[count].fast = block_end;
	/* Flags live after the instruction being looked at; all of them at the block's end. */
	uint32_t live = FL_ARITH;
	for (uint32_t k = count; k-- > 0;) {
		struct emu_insn *i = &insns[k];
		struct choice c = choose(i);
		i->fast = c.dead && !(live & c.writes) ? c.dead : c.live;
		if (i->fast == i->fn)
			i->fast = generic_step;
		if (c.pure)
			live &= ~c.writes;
		else
			live = FL_ARITH;
	}
	link_branches_in_block(insns, count);
	for (uint32_t k = 0; k + 1 < count; k++) {
		/* Not the last: the decoder followed this JMP (code_cache.c). */
		if (insns[k].fn == op_jmp_rel)
			insns[k].fast = jmp_followed;
		if (!jcc_cannot_fault(&insns[k + 1]))
			continue;
		emu_handler fused = emu_fuse_cmp_jcc(&insns[k], &insns[k + 1]);
		if (fused)
			insns[k].fast = fused;
	}
}
