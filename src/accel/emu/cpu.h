/* Emulator-private CPU: the architectural state plus the caches that make interpretation fast
 * (lazy flags, soft TLB, decoded blocks). Shared by the decoder, the run loop and the handlers. */
#ifndef GUREUM_ACCEL_EMU_CPU_H
#define GUREUM_ACCEL_EMU_CPU_H

#include "accel/emu/emu.h"
#include "accel/emu/insn.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* RFLAGS bits. */
#define FL_CF	 0x0001u
#define FL_PF	 0x0004u
#define FL_AF	 0x0010u
#define FL_ZF	 0x0040u
#define FL_SF	 0x0080u
#define FL_TF	 0x0100u
#define FL_IF	 0x0200u
#define FL_DF	 0x0400u
#define FL_OF	 0x0800u
#define FL_AC	 0x40000u
#define FL_ID	 0x200000u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* How the arithmetic flags derive from the last flag-setting operation; LF_NONE means
 * cpu->flags holds them already. The shifts (b = the count, 1 to width-1; a = the operand)
 * record lazily too: hashing and compression code shifts constantly and rarely reads flags. */
enum lazy_op {
	LF_NONE,
	LF_ADD,
	LF_ADC,
	LF_SUB,
	LF_SBB,
	LF_LOGIC,
	LF_INC,
	LF_DEC,
	LF_SHL,
	LF_SHR,
	LF_SAR,
	LF_MUL /* res = the low half, cf_in = CF = OF (the product did not fit) */
};

struct lazy_flags {
	uint64_t res, a, b;
	uint8_t op, size, cf_in;
};

#define EMU_TLB_SIZE	1024
#define EMU_TLB_INVALID 1ULL /* never equal to a page-aligned tag */
struct tlb_entry {
	uint64_t tag_read, tag_write, tag_exec;
	uintptr_t addend; /* host address = guest address + addend */
};

#define EMU_MAX_BLOCK_INSNS 64
#define EMU_INSN_POOL	    (1u << 16)
#define EMU_BLOCK_POOL	    (1u << 14)
#define EMU_BLOCK_HASH	    (1u << 14)
#define EMU_CODE_PAGES	    4096 /* open-addressing set of pages holding decoded code */

/* Successors a block jumped to recently (direct chaining): the run loop follows these
 * pointers instead of hashing RIP. They are trusted only while link_gen equals the CPU's
 * code_gen, which every invalidation or flush bumps, so a dropped block is never re-entered. */
#define EMU_BLOCK_LINKS 2

struct emu_block {
	uint64_t rip;
	/* The code's pages: linear in user mode, guest-physical in system mode (sys.h), where
	 * the block also remembers the host pages it was decoded from and the linear address of
	 * its last page, to check at lookup that the mapping still leads there. */
	uint64_t page_first, page_last;
	uint64_t ctx; /* emu_cpu.ctx when decoded: mode and CS base */
	uintptr_t host_first, host_last;
	uint64_t lin_last;
	uint32_t first, count;
	uint8_t mode;
	bool valid;
	uint8_t link_next; /* slot the next new link replaces */
	uint32_t link_gen;
	uint32_t map_gen; /* emu_cpu.map_gen when its pages were last found mapped as decoded */
	uint32_t page_next[2]; /* next block (index + 1) on the list of page_first / page_last */
	struct emu_block *link[EMU_BLOCK_LINKS];
};

struct emu_sys;

struct emu_cpu {
	struct vcpu_state state;
	struct emu_memory memory;
	const struct emu_cpu_model *model;
	/* System mode (sys.h): page tables, descriptor tables, interrupts, port I/O and MMIO
	 * through the VMM's hooks. NULL for a user-mode CPU. */
	struct emu_sys *sys;
	/* The soft TLB in use: tlb_storage in user mode; in system mode one of the sys TLBs, by
	 * privilege (what a fill checks depends on CPL and, with SMAP, EFLAGS.AC). */
	struct tlb_entry *tlb;
	/* The key of decoded blocks besides RIP: the mode, and CS's base outside 64-bit mode
	 * (real-mode code runs at CS.base + IP). */
	uint64_t ctx;
	uint8_t cpl;

	/* Run-time copies of state fields, written back when emu_run() returns. */
	uint64_t flags;
	struct lazy_flags lf;
	uint64_t next_rip;
	enum emu_mode mode;
	bool code_written; /* a guest write hit decoded code: leave the current block */
	const struct emu_insn *exit_insn; /* where a threaded block run stopped (fast_ops.h) */
	uint16_t x87_fcs, x87_fds;	  /* x87.h: the selector halves of FIP and FDP */
	/* The block being run threaded, for branches back into it (threaded.h): its first
	 * instruction and sentinel, the instructions its in-block branches added to the count,
	 * and how many this run may execute in all. */
	const struct emu_insn *run_first, *run_end, *loop_target;
	int64_t run_extra;
	uint64_t run_allowed;

	/* The exit being raised by a handler (EMU_STOP). */
	struct emu_exit pending;
	bool pending_after;  /* rip moves past the instruction (traps, SYSCALL, HLT) */
	bool pending_branch; /* a stop after a taken branch: rip = next_rip (system mode) */

	struct tlb_entry tlb_storage[EMU_TLB_SIZE];

	struct emu_insn *insns;
	uint32_t nr_insns;
	struct emu_block *blocks;
	uint32_t nr_blocks;
	uint32_t *block_hash;	  /* index + 1 into blocks, 0 = empty */
	uint64_t *code_pages;	  /* page | 1 when used, 0 = empty, 2 = deleted */
	uint32_t *code_page_head; /* per code_pages slot: its first block (index + 1) */
	uint32_t nr_code_pages;
	uint32_t pool_insns, pool_blocks, block_hash_mask, code_pages_mask;
	uint32_t code_gen; /* bumped whenever decoded blocks are dropped (see emu_block.link) */
	/* System mode: bumped whenever translations are dropped (CR3, INVLPG...); a block whose
	 * map_gen differs is checked against the page tables before a link leads into it. */
	uint32_t map_gen;
	uint64_t tsc;
};

/* The block key besides RIP (emu_block.ctx): the mode, whether CPL is 3 (a block linked to
 * at one privilege is never followed at the other) and, outside 64-bit mode, CS.base (code
 * runs at CS.base + RIP). */
static inline uint64_t emu_compute_ctx(const struct emu_cpu *cpu)
{
	uint64_t user = cpu->cpl == 3 ? 4 : 0;
	if (cpu->mode == EMU_MODE_64)
		return EMU_MODE_64 | user;
	return (cpu->state.seg[SREG_CS].base << 3) | user | cpu->mode;
}

/* ---- exits ---- */

int emu_raise(struct emu_cpu *cpu, uint8_t vector, bool has_code, uint32_t code);
int emu_raise_pf(struct emu_cpu *cpu, uint64_t address, uint32_t code);
static inline int emu_raise_ud(struct emu_cpu *cpu)
{
	return emu_raise(cpu, EMU_VEC_UD, false, 0);
}
static inline int emu_raise_gp0(struct emu_cpu *cpu)
{
	return emu_raise(cpu, EMU_VEC_GP, true, 0);
}

/* ---- registers ---- */

static inline __attribute__((always_inline)) uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline __attribute__((always_inline)) uint64_t sign_extend(uint64_t v, unsigned size)
{
	switch (size) {
	case 1:
		return (uint64_t)(int64_t)(int8_t)v;
	case 2:
		return (uint64_t)(int64_t)(int16_t)v;
	case 4:
		return (uint64_t)(int64_t)(int32_t)v;
	default:
		return v;
	}
}

/* Little-endian loads and stores of 1, 2, 4 or 8 bytes at a host address. */
static inline __attribute__((always_inline)) uint64_t load_host(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1:
		return *p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

static inline __attribute__((always_inline)) void store_host(uint8_t *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2: {
		uint16_t w = (uint16_t)v;
		memcpy(p, &w, 2);
		break;
	}
	case 4: {
		uint32_t w = (uint32_t)v;
		memcpy(p, &w, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/* `off` is a byte offset into gpr[] as the decoder computes it (AH..BH are offset 1 into
 * RAX..RBX). */
static inline __attribute__((always_inline)) uint64_t reg_read(struct emu_cpu *cpu, unsigned off,
							       unsigned size)
{
	return load_host((const uint8_t *)cpu->state.gpr + off, size);
}

/* 32-bit writes zero the upper half, 8/16-bit writes merge, as in 64-bit mode. */
static inline __attribute__((always_inline)) void reg_write(struct emu_cpu *cpu, unsigned off,
							    unsigned size, uint64_t v)
{
	uint8_t *p = (uint8_t *)cpu->state.gpr + off;
	if (size == 4)
		store_host(p, 8, (uint32_t)v);
	else
		store_host(p, size, v);
}

static inline uint64_t gpr_get(struct emu_cpu *cpu, unsigned n, unsigned size)
{
	return cpu->state.gpr[n] & size_mask(size);
}

static inline void gpr_set(struct emu_cpu *cpu, unsigned n, unsigned size, uint64_t v)
{
	reg_write(cpu, n * 8, size, v);
}

/* ---- flags ---- */

uint64_t emu_flags_materialize(struct emu_cpu *cpu);

static inline __attribute__((always_inline)) uint64_t emu_get_flags(struct emu_cpu *cpu)
{
	if (cpu->lf.op != LF_NONE)
		return emu_flags_materialize(cpu);
	return cpu->flags;
}

/* CF alone, without materialising the other flags (INC/DEC, ADC/SBB read it constantly). */
bool emu_lazy_cf(const struct emu_cpu *cpu);

static inline bool emu_cf(struct emu_cpu *cpu)
{
	const struct lazy_flags *lf = &cpu->lf;
	switch (lf->op) {
	case LF_NONE:
		return cpu->flags & FL_CF;
	case LF_INC:
	case LF_DEC:
		return lf->cf_in;
	case LF_LOGIC:
		return false;
	case LF_SUB:
		return (lf->a & size_mask(lf->size)) < (lf->b & size_mask(lf->size));
	default:
		return emu_lazy_cf(cpu);
	}
}

static inline __attribute__((always_inline)) void emu_set_lazy(struct emu_cpu *cpu, enum lazy_op op,
							       unsigned size, uint64_t res,
							       uint64_t a, uint64_t b)
{
	cpu->lf.op = (uint8_t)op;
	cpu->lf.size = (uint8_t)size;
	cpu->lf.res = res;
	cpu->lf.a = a;
	cpu->lf.b = b;
}

/* Replaces the arithmetic flags in `mask` with `value` (eager flags for rarer operations). */
static inline void emu_set_flags(struct emu_cpu *cpu, uint64_t mask, uint64_t value)
{
	uint64_t f = emu_get_flags(cpu);
	cpu->flags = (f & ~mask) | (value & mask);
}

bool emu_parity(uint64_t v);
/* ZF, SF and PF of a result of `size` bytes. */
uint64_t emu_zsp(uint64_t res, unsigned size);
/* The conditions a lazy record answers without materialising RFLAGS: after a compare (LF_SUB)
 * the unsigned and signed orderings of its operands, after any recorded operation ZF and SF of
 * its result. Returns false when `cc` needs the full flags. */
static inline __attribute__((always_inline)) bool
emu_condition_from_record(const struct lazy_flags *lf, unsigned cc, bool *result)
{
	if (lf->op == LF_SUB && cc >= 2 && cc != 8 && cc != 9 && cc != 0xa && cc != 0xb) {
		uint64_t m = size_mask(lf->size), a = lf->a & m, b = lf->b & m;
		int64_t sa = (int64_t)sign_extend(a, lf->size),
			sb = (int64_t)sign_extend(b, lf->size);
		switch (cc) {
		case 0x2:
			*result = a < b;
			break;
		case 0x3:
			*result = a >= b;
			break;
		case 0x4:
			*result = a == b;
			break;
		case 0x5:
			*result = a != b;
			break;
		case 0x6:
			*result = a <= b;
			break;
		case 0x7:
			*result = a > b;
			break;
		case 0xc:
			*result = sa < sb;
			break;
		case 0xd:
			*result = sa >= sb;
			break;
		case 0xe:
			*result = sa <= sb;
			break;
		default:
			*result = sa > sb;
			break;
		}
		return true;
	}
	if (lf->op != LF_NONE && (cc == 4 || cc == 5)) {
		*result = ((lf->res & size_mask(lf->size)) == 0) == (cc == 4);
		return true;
	}
	if (lf->op != LF_NONE && (cc == 8 || cc == 9)) {
		*result = ((lf->res >> (lf->size * 8 - 1)) & 1) == (cc == 8);
		return true;
	}
	return false;
}

bool emu_condition(struct emu_cpu *cpu, unsigned cc);

/* ---- memory ---- */

bool emu_read_slow(struct emu_cpu *cpu, uint64_t addr, unsigned size, uint64_t *val,
		   enum emu_access access);
bool emu_write_slow(struct emu_cpu *cpu, uint64_t addr, unsigned size, uint64_t val);
bool emu_read_bytes(struct emu_cpu *cpu, uint64_t addr, void *dst, unsigned len);
bool emu_write_bytes(struct emu_cpu *cpu, uint64_t addr, const void *src, unsigned len);

static inline __attribute__((always_inline)) bool emu_read(struct emu_cpu *cpu, uint64_t addr,
							   unsigned size, uint64_t *val)
{
	struct tlb_entry *e = &cpu->tlb[(addr >> 12) & (EMU_TLB_SIZE - 1)];
	if (likely(e->tag_read == (addr & EMU_PAGE_MASK) && (addr & 0xfff) + size <= 4096)) {
		*val = load_host((const uint8_t *)(uintptr_t)(addr + e->addend), size);
		return true;
	}
	return emu_read_slow(cpu, addr, size, val, EMU_ACCESS_READ);
}

/* Read of a read-modify-write operand: faults as a write, before anything is modified. */
static inline __attribute__((always_inline)) bool emu_read_rmw(struct emu_cpu *cpu, uint64_t addr,
							       unsigned size, uint64_t *val)
{
	struct tlb_entry *e = &cpu->tlb[(addr >> 12) & (EMU_TLB_SIZE - 1)];
	if (likely(e->tag_write == (addr & EMU_PAGE_MASK) && (addr & 0xfff) + size <= 4096)) {
		*val = load_host((const uint8_t *)(uintptr_t)(addr + e->addend), size);
		return true;
	}
	return emu_read_slow(cpu, addr, size, val, EMU_ACCESS_WRITE);
}

static inline __attribute__((always_inline)) bool emu_write(struct emu_cpu *cpu, uint64_t addr,
							    unsigned size, uint64_t val)
{
	struct tlb_entry *e = &cpu->tlb[(addr >> 12) & (EMU_TLB_SIZE - 1)];
	if (likely(e->tag_write == (addr & EMU_PAGE_MASK) && (addr & 0xfff) + size <= 4096)) {
		store_host((uint8_t *)(uintptr_t)(addr + e->addend), size, val);
		return true;
	}
	return emu_write_slow(cpu, addr, size, val);
}

/* Checks that [addr, addr+len) is writable without writing (multi-part stores such as
 * CMPXCHG16B, FXSAVE, ENTER must not half-complete). */
bool emu_probe_write(struct emu_cpu *cpu, uint64_t addr, unsigned len);

/* ---- operands ---- */

static inline uint64_t addr_mask(const struct emu_insn *i, uint64_t a)
{
	return i->addrsize == 8 ? a : a & size_mask(i->addrsize);
}

/* Linear address of the ModRM memory operand. */
static inline __attribute__((always_inline)) uint64_t emu_ea(struct emu_cpu *cpu,
							     const struct emu_insn *i)
{
	uint64_t a = (uint64_t)i->disp;
	if (i->base != EMU_NO_REG)
		a += cpu->state.gpr[i->base];
	if (i->index != EMU_NO_REG)
		a += cpu->state.gpr[i->index] << i->scale;
	a = addr_mask(i, a);
	if (i->seg != EMU_NO_SEG)
		a += cpu->state.seg[i->seg].base;
	return a;
}

/* Offset part only (LEA). */
static inline uint64_t emu_ea_offset(struct emu_cpu *cpu, const struct emu_insn *i)
{
	uint64_t a = (uint64_t)i->disp;
	if (i->base != EMU_NO_REG)
		a += cpu->state.gpr[i->base];
	if (i->index != EMU_NO_REG)
		a += cpu->state.gpr[i->index] << i->scale;
	return addr_mask(i, a);
}

/* Reads the r/m operand (register or memory) of `size` bytes. */
static inline bool rm_read(struct emu_cpu *cpu, const struct emu_insn *i, unsigned size,
			   uint64_t *v)
{
	if (!i->is_mem) {
		*v = reg_read(cpu, i->rm, size);
		return true;
	}
	return emu_read(cpu, emu_ea(cpu, i), size, v);
}

static inline bool rm_write(struct emu_cpu *cpu, const struct emu_insn *i, unsigned size,
			    uint64_t v)
{
	if (!i->is_mem) {
		reg_write(cpu, i->rm, size, v);
		return true;
	}
	return emu_write(cpu, emu_ea(cpu, i), size, v);
}

/* Reads the r/m operand for modification; *addr is set for memory operands. */
static inline bool rmw_read(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t *addr,
			    uint64_t *v)
{
	if (!i->is_mem) {
		*v = reg_read(cpu, i->rm, i->opsize);
		return true;
	}
	*addr = emu_ea(cpu, i);
	return emu_read_rmw(cpu, *addr, i->opsize, v);
}

static inline bool rmw_write(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t addr,
			     uint64_t v)
{
	if (!i->is_mem) {
		reg_write(cpu, i->rm, i->opsize, v);
		return true;
	}
	return emu_write(cpu, addr, i->opsize, v);
}

/* The stack: the bits of rSP it uses (all in 64-bit mode, else 32 or 16 by SS.B), the linear
 * address of stack offset `sp` (SS.base ignored in 64-bit mode), push and pop. */
uint64_t emu_stack_mask(const struct emu_cpu *cpu);
uint64_t emu_stack_linear(const struct emu_cpu *cpu, uint64_t sp);
bool emu_push(struct emu_cpu *cpu, unsigned size, uint64_t v);
bool emu_pop(struct emu_cpu *cpu, unsigned size, uint64_t *v);

/* ---- caches ---- */

void emu_tlb_flush(struct emu_cpu *cpu);
void emu_code_invalidate_page(struct emu_cpu *cpu, uint64_t page);
bool emu_code_page_contains(struct emu_cpu *cpu, uint64_t page);
void emu_code_page_add(struct emu_cpu *cpu, uint64_t page);
/* Host pointer for executing the page at `page`, or NULL (fetch #PF). */
uint8_t *emu_fetch_page(struct emu_cpu *cpu, uint64_t page);

/* The XMM register `n` inside the FXSAVE area. */
static inline uint8_t *emu_xmm(struct emu_cpu *cpu, unsigned n)
{
	return cpu->state.xsave + 160 + 16 * n;
}

static inline uint32_t emu_mxcsr(struct emu_cpu *cpu)
{
	uint32_t v;
	memcpy(&v, cpu->state.xsave + 24, 4);
	return v;
}

#endif
