/* Specialised handlers for the SSE2 integer instructions that string and memory routines
 * (strlen, memchr, strcmp, memcpy in glibc and busybox) run in their inner loops: 16-byte
 * moves, byte/word/dword compares, logic, min/max, add/sub, PMOVMSKB. The generic handlers
 * loop over the elements with a switch per element; these run the same operation on the host's
 * SSE2 unit (integer operations, so there is no MXCSR state to honour). */
#include "accel/emu/fast_sse.h"
#include "accel/emu/ops_sse.h"
#include "accel/emu/threaded.h"

#include <emmintrin.h>

static inline __m128i xmm_load(struct emu_cpu *cpu, unsigned n)
{
	return _mm_loadu_si128((const __m128i *)emu_xmm(cpu, n));
}

static inline void xmm_store(struct emu_cpu *cpu, unsigned n, __m128i v)
{
	_mm_storeu_si128((__m128i *)emu_xmm(cpu, n), v);
}

/* 16 bytes at `addr` through the soft TLB when they lie in one page. */
static inline bool read16(struct emu_cpu *cpu, uint64_t addr, __m128i *v)
{
	struct tlb_entry *e = &cpu->tlb[(addr >> 12) & (EMU_TLB_SIZE - 1)];
	if (likely(e->tag_read == (addr & EMU_PAGE_MASK) && (addr & 0xfff) <= 4096 - 16)) {
		*v = _mm_loadu_si128((const __m128i *)(uintptr_t)(addr + e->addend));
		return true;
	}
	return emu_read_bytes(cpu, addr, v, 16);
}

static inline bool write16(struct emu_cpu *cpu, uint64_t addr, __m128i v)
{
	struct tlb_entry *e = &cpu->tlb[(addr >> 12) & (EMU_TLB_SIZE - 1)];
	if (likely(e->tag_write == (addr & EMU_PAGE_MASK) && (addr & 0xfff) <= 4096 - 16)) {
		_mm_storeu_si128((__m128i *)(uintptr_t)(addr + e->addend), v);
		return true;
	}
	return emu_write_bytes(cpu, addr, &v, 16);
}

/* dst = dst OP src, with src a register or an aligned 16-byte memory operand (#GP otherwise). */
#define BINOP(name, EXPR)                                                                          \
	static int name##_reg(struct emu_cpu *cpu, const struct emu_insn *i)                       \
	{                                                                                          \
		__m128i d = xmm_load(cpu, i->regnum), s = xmm_load(cpu, i->rmnum);                 \
		xmm_store(cpu, i->regnum, EXPR);                                                   \
		return NEXT;                                                                       \
	}                                                                                          \
	static int name##_mem(struct emu_cpu *cpu, const struct emu_insn *i)                       \
	{                                                                                          \
		uint64_t addr = emu_ea(cpu, i);                                                    \
		__m128i d, s;                                                                      \
		if (addr & 15)                                                                     \
			return EXIT(emu_raise_gp0(cpu));                                           \
		if (!read16(cpu, addr, &s))                                                        \
			return EXIT(EMU_STOP);                                                     \
		d = xmm_load(cpu, i->regnum);                                                      \
		xmm_store(cpu, i->regnum, EXPR);                                                   \
		return NEXT;                                                                       \
	}

BINOP(pcmpeqb, _mm_cmpeq_epi8(d, s))
BINOP(pcmpeqw, _mm_cmpeq_epi16(d, s))
BINOP(pcmpeqd, _mm_cmpeq_epi32(d, s))
BINOP(pcmpgtb, _mm_cmpgt_epi8(d, s))
BINOP(pcmpgtw, _mm_cmpgt_epi16(d, s))
BINOP(pcmpgtd, _mm_cmpgt_epi32(d, s))
BINOP(pand, _mm_and_si128(d, s))
BINOP(pandn, _mm_andnot_si128(d, s))
BINOP(por, _mm_or_si128(d, s))
BINOP(pxor, _mm_xor_si128(d, s))
BINOP(pminub, _mm_min_epu8(d, s))
BINOP(pmaxub, _mm_max_epu8(d, s))
BINOP(paddb, _mm_add_epi8(d, s))
BINOP(paddw, _mm_add_epi16(d, s))
BINOP(paddd, _mm_add_epi32(d, s))
BINOP(paddq, _mm_add_epi64(d, s))
BINOP(psubb, _mm_sub_epi8(d, s))
BINOP(psubw, _mm_sub_epi16(d, s))
BINOP(psubd, _mm_sub_epi32(d, s))
BINOP(psubq, _mm_sub_epi64(d, s))

struct binop_pair {
	uint8_t sub;
	emu_handler reg, mem;
};

#define PAIR(op, name)                                                                             \
	{                                                                                          \
		op, name##_reg, name##_mem                                                         \
	}
static const struct binop_pair binops[] = {
    PAIR(SSE_PCMPEQB, pcmpeqb), PAIR(SSE_PCMPEQW, pcmpeqw), PAIR(SSE_PCMPEQD, pcmpeqd),
    PAIR(SSE_PCMPGTB, pcmpgtb), PAIR(SSE_PCMPGTW, pcmpgtw), PAIR(SSE_PCMPGTD, pcmpgtd),
    PAIR(SSE_PAND, pand),	PAIR(SSE_PANDN, pandn),	    PAIR(SSE_POR, por),
    PAIR(SSE_PXOR, pxor),	PAIR(SSE_PMINUB, pminub),   PAIR(SSE_PMAXUB, pmaxub),
    PAIR(SSE_PADDB, paddb),	PAIR(SSE_PADDW, paddw),	    PAIR(SSE_PADDD, paddd),
    PAIR(SSE_PADDQ, paddq),	PAIR(SSE_PSUBB, psubb),	    PAIR(SSE_PSUBW, psubw),
    PAIR(SSE_PSUBD, psubd),	PAIR(SSE_PSUBQ, psubq),
};

/* MOVDQA/MOVDQU/MOVAPS/MOVUPS and friends, 16 bytes. */
static int mov16_reg_load(struct emu_cpu *cpu, const struct emu_insn *i)
{
	xmm_store(cpu, i->regnum, xmm_load(cpu, i->rmnum));
	return NEXT;
}

static int mov16_reg_store(struct emu_cpu *cpu, const struct emu_insn *i)
{
	xmm_store(cpu, i->rmnum, xmm_load(cpu, i->regnum));
	return NEXT;
}

#define MOV16_MEM(name, ALIGNED)                                                                   \
	static int name##_load(struct emu_cpu *cpu, const struct emu_insn *i)                      \
	{                                                                                          \
		uint64_t addr = emu_ea(cpu, i);                                                    \
		__m128i v;                                                                         \
		if (ALIGNED && (addr & 15))                                                        \
			return EXIT(emu_raise_gp0(cpu));                                           \
		if (!read16(cpu, addr, &v))                                                        \
			return EXIT(EMU_STOP);                                                     \
		xmm_store(cpu, i->regnum, v);                                                      \
		return NEXT;                                                                       \
	}                                                                                          \
	static int name##_store(struct emu_cpu *cpu, const struct emu_insn *i)                     \
	{                                                                                          \
		uint64_t addr = emu_ea(cpu, i);                                                    \
		if (ALIGNED && (addr & 15))                                                        \
			return EXIT(emu_raise_gp0(cpu));                                           \
		if (!write16(cpu, addr, xmm_load(cpu, i->regnum)))                                 \
			return EXIT(EMU_STOP);                                                     \
		return NEXT_W;                                                                     \
	}
MOV16_MEM(mova, true)
MOV16_MEM(movu, false)

static int pmovmskb32(struct emu_cpu *cpu, const struct emu_insn *i)
{
	cpu->state.gpr[i->regnum] = (uint32_t)_mm_movemask_epi8(xmm_load(cpu, i->rmnum));
	return NEXT;
}

static emu_handler choose_binop(const struct emu_insn *i)
{
	for (unsigned k = 0; k < sizeof(binops) / sizeof(binops[0]); k++)
		if (binops[k].sub == i->sub)
			return i->is_mem ? binops[k].mem : binops[k].reg;
	return NULL;
}

static emu_handler choose_mov16(const struct emu_insn *i, bool load)
{
	if (i->sub != SSE_MOV_ALIGNED && i->sub != SSE_MOV_UNALIGNED)
		return NULL;
	bool aligned = i->sub == SSE_MOV_ALIGNED;
	if (!i->is_mem)
		return load ? mov16_reg_load : mov16_reg_store;
	if (load)
		return aligned ? mova_load : movu_load;
	return aligned ? mova_store : movu_store;
}

emu_handler emu_fast_sse(const struct emu_insn *i)
{
	if (i->vex) /* VEX forms have other operand rules; the generic handlers keep them */
		return NULL;
	if (i->fn == op_sse_binop)
		return choose_binop(i);
	if (i->fn == op_sse_load)
		return choose_mov16(i, true);
	if (i->fn == op_sse_store)
		return choose_mov16(i, false);
	if (i->fn == op_sse_pmovmskb && i->opsize != 8)
		return pmovmskb32;
	return NULL;
}
