/* CMP/TEST + Jcc as one handler: the compare-and-branch at the bottom of nearly every loop
 * costs one dispatch instead of two, and the branch decision comes from the operands directly
 * (a table indexed by the few relations a condition depends on) rather than from the lazy
 * flags. The lazy flags are still recorded, exactly as CMP/TEST would: whatever runs next may
 * read them. Counting stays right because a taken branch leaves with exit_insn on the Jcc. */
#include "accel/emu/fused_jcc.h"
#include "accel/emu/ops.h"
#include "accel/emu/threaded.h"

/* For each condition code, the set of outcomes (bit index below) that take the branch; 0 where
 * the pair is not fused. CMP: index = below | equal << 1 | less << 2 (unsigned a < b, a == b,
 * signed a < b). TEST (CF = OF = 0): index = zero | sign << 1. */
enum { B = 1, E = 2, L = 4 };
#define SET_OF(pred)                                                                               \
	(uint8_t)(((pred(0)) ? 1 : 0) | ((pred(1)) ? 2 : 0) | ((pred(2)) ? 4 : 0) |                \
		  ((pred(3)) ? 8 : 0) | ((pred(4)) ? 16 : 0) | ((pred(5)) ? 32 : 0) |              \
		  ((pred(6)) ? 64 : 0) | ((pred(7)) ? 128 : 0))
#define C_B(x)	((x)&B)
#define C_AE(x) (!((x)&B))
#define C_E(x)	((x)&E)
#define C_NE(x) (!((x)&E))
#define C_BE(x) ((x) & (B | E))
#define C_A(x)	(!((x) & (B | E)))
#define C_L(x)	((x)&L)
#define C_GE(x) (!((x)&L))
#define C_LE(x) ((x) & (L | E))
#define C_G(x)	(!((x) & (L | E)))
static const uint8_t cmp_taken[16] = {
    [0x2] = SET_OF(C_B),  [0x3] = SET_OF(C_AE), [0x4] = SET_OF(C_E), [0x5] = SET_OF(C_NE),
    [0x6] = SET_OF(C_BE), [0x7] = SET_OF(C_A),	[0xc] = SET_OF(C_L), [0xd] = SET_OF(C_GE),
    [0xe] = SET_OF(C_LE), [0xf] = SET_OF(C_G),
};
enum { Z = 1, S = 2 };
#define T_NEVER(x)  0
#define T_ALWAYS(x) 1
#define T_Z(x)	    ((x)&Z)
#define T_NZ(x)	    (!((x)&Z))
#define T_S(x)	    ((x)&S)
#define T_NS(x)	    (!((x)&S))
#define T_ZS(x)	    ((x) & (Z | S))
#define T_NZS(x)    (!((x) & (Z | S)))
static const uint8_t test_taken[16] = {
    [0x0] = SET_OF(T_NEVER),  [0x1] = SET_OF(T_ALWAYS), [0x2] = SET_OF(T_NEVER),
    [0x3] = SET_OF(T_ALWAYS), [0x4] = SET_OF(T_Z),	[0x5] = SET_OF(T_NZ),
    [0x6] = SET_OF(T_Z),      [0x7] = SET_OF(T_NZ),	[0x8] = SET_OF(T_S),
    [0x9] = SET_OF(T_NS),     [0xc] = SET_OF(T_S),	[0xd] = SET_OF(T_NS),
    [0xe] = SET_OF(T_ZS),     [0xf] = SET_OF(T_NZS),
};

static inline int branch(struct emu_cpu *cpu, const struct emu_insn *i, uint8_t taken,
			 unsigned outcome)
{
	const struct emu_insn *jcc = i + 1;
	if ((taken >> outcome) & 1) {
		cpu->next_rip = jcc->imm;
		return emu_branch(cpu, jcc);
	}
	return emu_next_insn(cpu, jcc);
}

static inline int compare(struct emu_cpu *cpu, const struct emu_insn *i, unsigned size, uint64_t a,
			  uint64_t b)
{
	uint64_t r = (a - b) & size_mask(size);
	emu_set_lazy(cpu, LF_SUB, size, r, a, b);
	unsigned outcome = (a < b ? B : 0) | (a == b ? E : 0) |
			   ((int64_t)sign_extend(a, size) < (int64_t)sign_extend(b, size) ? L : 0);
	return branch(cpu, i, cmp_taken[i[1].sub & 15], outcome);
}

static inline int test(struct emu_cpu *cpu, const struct emu_insn *i, unsigned size, uint64_t a,
		       uint64_t b)
{
	uint64_t r = a & b;
	emu_set_lazy(cpu, LF_LOGIC, size, r, a, b);
	unsigned outcome = (r == 0 ? Z : 0) | ((r >> (size * 8 - 1)) & 1 ? S : 0);
	return branch(cpu, i, test_taken[i[1].sub & 15], outcome);
}

/* Operand shapes: a OP b with OP = compare or test. */
#define FUSED(name, SZ, OP, A, B_)                                                                 \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		return OP(cpu, i, SZ, A, (B_)&size_mask(SZ));                                      \
	}
#define FUSED_MEM(name, SZ, OP, MEM_FIRST, OTHER)                                                  \
	static int name(struct emu_cpu *cpu, const struct emu_insn *i)                             \
	{                                                                                          \
		uint64_t m;                                                                        \
		if (!emu_read(cpu, emu_ea(cpu, i), SZ, &m))                                        \
			return EXIT(EMU_STOP);                                                     \
		uint64_t o = (OTHER)&size_mask(SZ);                                                \
		return MEM_FIRST ? OP(cpu, i, SZ, m, o) : OP(cpu, i, SZ, o, m);                    \
	}

#define FUSED_SIZE(SZ, op, OP)                                                                     \
	FUSED(op##_rm_reg_##SZ, SZ, OP, reg_read(cpu, i->rm, SZ), reg_read(cpu, i->reg, SZ))       \
	FUSED(op##_reg_rm_##SZ, SZ, OP, reg_read(cpu, i->reg, SZ), reg_read(cpu, i->rm, SZ))       \
	FUSED(op##_rm_imm_##SZ, SZ, OP, reg_read(cpu, i->rm, SZ), i->imm)                          \
	FUSED_MEM(op##_mem_reg_##SZ, SZ, OP, true, reg_read(cpu, i->reg, SZ))                      \
	FUSED_MEM(op##_mem_imm_##SZ, SZ, OP, true, i->imm)                                         \
	FUSED_MEM(op##_reg_mem_##SZ, SZ, OP, false, reg_read(cpu, i->reg, SZ))

#define FUSED_OP(op, OP)                                                                           \
	FUSED_SIZE(1, op, OP)                                                                      \
	FUSED_SIZE(2, op, OP)                                                                      \
	FUSED_SIZE(4, op, OP)                                                                      \
	FUSED_SIZE(8, op, OP)
FUSED_OP(cmp, compare)
FUSED_OP(test, test)

enum shape { RM_REG, REG_RM, RM_IMM, MEM_REG, MEM_IMM, REG_MEM, SHAPES };
#define BY_SIZE(op, shape)                                                                         \
	{                                                                                          \
		op##_##shape##_1, op##_##shape##_2, op##_##shape##_4, op##_##shape##_8             \
	}
#define BY_SHAPE(op)                                                                               \
	{                                                                                          \
		BY_SIZE(op, rm_reg), BY_SIZE(op, reg_rm), BY_SIZE(op, rm_imm),                     \
		    BY_SIZE(op, mem_reg), BY_SIZE(op, mem_imm), BY_SIZE(op, reg_mem)               \
	}
static const emu_handler fused[2][SHAPES][4] = {BY_SHAPE(cmp), BY_SHAPE(test)};

/* The shape of a CMP/TEST, or -1 for anything else. TEST has no reg, r/m form (it is
 * symmetric: its r/m, reg encoding covers both). */
static int shape_of(const struct emu_insn *i, bool *is_test)
{
	*is_test = i->fn == op_test_rm_reg || i->fn == op_test_rm_imm;
	bool cmp = (i->fn == op_alu_rm_reg || i->fn == op_alu_reg_rm || i->fn == op_alu_rm_imm) &&
		   i->sub == 7;
	if (!cmp && !*is_test)
		return -1;
	bool imm = i->fn == op_alu_rm_imm || i->fn == op_test_rm_imm;
	if (i->fn == op_alu_reg_rm)
		return i->is_mem ? REG_MEM : REG_RM;
	if (imm)
		return i->is_mem ? MEM_IMM : RM_IMM;
	return i->is_mem ? MEM_REG : RM_REG;
}

emu_handler emu_fuse_cmp_jcc(const struct emu_insn *cmp, const struct emu_insn *jcc)
{
	bool is_test;
	int shape = shape_of(cmp, &is_test);
	if (shape < 0 || jcc->fn != op_jcc)
		return NULL;
	const uint8_t *taken = is_test ? test_taken : cmp_taken;
	unsigned cc = jcc->sub & 15;
	bool fusable = taken[cc] != 0 || (is_test && (cc == 0 || cc == 2));
	if (!fusable)
		return NULL;
	return fused[is_test][shape][__builtin_ctz(cmp->opsize)];
}
