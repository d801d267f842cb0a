/* String instructions with their REP forms. Each iteration commits RSI/RDI/RCX before the next
 * one, so a fault in the middle leaves the registers describing the remaining work and the
 * instruction restarts where it stopped, as on hardware. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

struct string_regs {
	unsigned asz;
	int64_t step;
};

static struct string_regs string_setup(struct emu_cpu *cpu, const struct emu_insn *i)
{
	struct string_regs s = {.asz = i->addrsize, .step = (int64_t)i->opsize};
	if (emu_get_flags(cpu) & FL_DF)
		s.step = -s.step;
	return s;
}

static uint64_t src_addr(struct emu_cpu *cpu, const struct emu_insn *i, unsigned asz)
{
	uint64_t a = gpr_get(cpu, GPR_RSI, asz);
	if (i->seg != EMU_NO_SEG)
		a += cpu->state.seg[i->seg].base;
	return a;
}

static uint64_t dst_addr(struct emu_cpu *cpu, unsigned asz)
{
	uint64_t a = gpr_get(cpu, GPR_RDI, asz);
	if (cpu->mode != EMU_MODE_64)
		a += cpu->state.seg[SREG_ES].base;
	return a;
}

static void advance(struct emu_cpu *cpu, unsigned reg, const struct string_regs *s)
{
	gpr_set(cpu, reg, s->asz, gpr_get(cpu, reg, s->asz) + (uint64_t)s->step);
}

/* One element; false on a fault. CMPS reads ES:rDI first on Intel, DS:rSI first on AMD. */
static bool string_step(struct emu_cpu *cpu, const struct emu_insn *i, const struct string_regs *s)
{
	unsigned size = i->opsize;
	uint64_t v, d;
	switch (i->opcode) {
	case 0xa4:
	case 0xa5: /* MOVS */
		if (!emu_read(cpu, src_addr(cpu, i, s->asz), size, &v) ||
		    !emu_write(cpu, dst_addr(cpu, s->asz), size, v))
			return false;
		advance(cpu, GPR_RSI, s);
		advance(cpu, GPR_RDI, s);
		return true;
	case 0xaa:
	case 0xab: /* STOS */
		if (!emu_write(cpu, dst_addr(cpu, s->asz), size, gpr_get(cpu, GPR_RAX, size)))
			return false;
		advance(cpu, GPR_RDI, s);
		return true;
	case 0xac:
	case 0xad: /* LODS */
		if (!emu_read(cpu, src_addr(cpu, i, s->asz), size, &v))
			return false;
		gpr_set(cpu, GPR_RAX, size, v);
		advance(cpu, GPR_RSI, s);
		return true;
	case 0xa6:
	case 0xa7: /* CMPS */
		if (cpu->model->cmps_reads_rdi_first
			? !emu_read(cpu, dst_addr(cpu, s->asz), size, &d) ||
			      !emu_read(cpu, src_addr(cpu, i, s->asz), size, &v)
			: !emu_read(cpu, src_addr(cpu, i, s->asz), size, &v) ||
			      !emu_read(cpu, dst_addr(cpu, s->asz), size, &d))
			return false;
		emu_set_lazy(cpu, LF_SUB, size, v - d, v, d);
		advance(cpu, GPR_RSI, s);
		advance(cpu, GPR_RDI, s);
		return true;
	default: /* SCAS */
		if (!emu_read(cpu, dst_addr(cpu, s->asz), size, &d))
			return false;
		v = gpr_get(cpu, GPR_RAX, size);
		emu_set_lazy(cpu, LF_SUB, size, v - d, v, d);
		advance(cpu, GPR_RDI, s);
		return true;
	}
}

static bool uses_rsi(const struct emu_insn *i);

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Host address of `addr` when its page is in the TLB for `access` (read or write), else NULL. */
static uint8_t *tlb_host(struct emu_cpu *cpu, uint64_t addr, bool write)
{
	struct tlb_entry *e = &cpu->tlb[(addr >> 12) & (EMU_TLB_SIZE - 1)];
	uint64_t tag = write ? e->tag_write : e->tag_read;
	if (tag != (addr & EMU_PAGE_MASK))
		return NULL;
	return (uint8_t *)(uintptr_t)(addr + e->addend);
}

/* REP MOVS/STOS going forward with flat 64-bit addresses: the elements that lie within the
 * current source and destination pages, all at once through the TLB (pages holding decoded
 * code have no write entry, so they keep the element path that drops the code). False when
 * this step must take the element-by-element path instead: a TLB miss, or a MOVS whose
 * destination overlaps the source ahead of it (element order then replicates data, which a
 * block copy would not). */
static bool bulk_step(struct emu_cpu *cpu, const struct emu_insn *i, const struct string_regs *s)
{
	bool movs = uses_rsi(i);
	if (s->asz != 8 || s->step < 0 || cpu->mode != EMU_MODE_64 ||
	    (movs && i->seg != EMU_NO_SEG) || !(movs || i->opcode == 0xaa || i->opcode == 0xab))
		return false;
	unsigned size = i->opsize;
	uint64_t dst = cpu->state.gpr[GPR_RDI], src = cpu->state.gpr[GPR_RSI];
	uint64_t n = min_u64(cpu->state.gpr[GPR_RCX], (4096 - (dst & 0xfff)) / size);
	if (movs)
		n = min_u64(n, (4096 - (src & 0xfff)) / size);
	uint8_t *hd = tlb_host(cpu, dst, true), *hs = movs ? tlb_host(cpu, src, false) : NULL;
	size_t bytes = (size_t)n * size;
	if (n == 0 || !hd || (movs && (!hs || (hd > hs && hd < hs + bytes))))
		return false;
	if (movs) {
		memmove(hd, hs, bytes);
		cpu->state.gpr[GPR_RSI] += bytes;
	} else {
		uint64_t v = cpu->state.gpr[GPR_RAX];
		for (uint64_t k = 0; k < n; k++)
			store_host(hd + k * size, size, v);
	}
	cpu->state.gpr[GPR_RDI] += bytes;
	cpu->state.gpr[GPR_RCX] -= n;
	return true;
}

static bool compares(const struct emu_insn *i)
{
	return i->opcode == 0xa6 || i->opcode == 0xa7 || i->opcode == 0xae || i->opcode == 0xaf;
}

static bool uses_rsi(const struct emu_insn *i)
{
	return i->opcode == 0xa4 || i->opcode == 0xa5;
}

static bool uses_rdi(const struct emu_insn *i)
{
	return i->opcode < 0xac || i->opcode > 0xad;
}

/* REP with a 32-bit address size on Intel: ECX (and, for MOVS, ESI; for MOVS/STOS/LODS, EDI)
 * are written zero-extended before the first element, so even when it faults. AMD writes them
 * only as elements complete. */
static void zero_extend_string_regs(struct emu_cpu *cpu, const struct emu_insn *i)
{
	if (i->addrsize != 4 || !i->rep || !cpu->model->rep_a32_zero_extends_first)
		return;
	gpr_set(cpu, GPR_RCX, 4, cpu->state.gpr[GPR_RCX]);
	if (compares(i))
		return;
	if (uses_rsi(i))
		gpr_set(cpu, GPR_RSI, 4, cpu->state.gpr[GPR_RSI]);
	if (uses_rdi(i))
		gpr_set(cpu, GPR_RDI, 4, cpu->state.gpr[GPR_RDI]);
}

#define REP_CHUNK 65536

static int string_op(struct emu_cpu *cpu, const struct emu_insn *i)
{
	struct string_regs s = string_setup(cpu, i);
	zero_extend_string_regs(cpu, i);
	if (!i->rep)
		return string_step(cpu, i, &s) ? EMU_NEXT : EMU_STOP;
	bool cmp = compares(i);
	/* A fault in a later iteration keeps the progress in RCX/RSI/RDI; the flags are those the
	 * instruction started with on Intel, those of the last compare on AMD. */
	struct lazy_flags saved_lf = cpu->lf;
	uint64_t saved_flags = cpu->flags;
	unsigned steps = 0;
	while (gpr_get(cpu, GPR_RCX, s.asz) != 0) {
		/* System mode: a long REP lets interrupts and kicks in, as the hardware does
		 * between iterations: it goes on from its registers when run again. */
		if (unlikely(++steps > REP_CHUNK) && cpu->sys) {
			cpu->next_rip = i->next_rip - i->len;
			return EMU_BRANCH;
		}
		if (bulk_step(cpu, i, &s))
			continue;
		if (!string_step(cpu, i, &s)) {
			if (cpu->model->rep_fault_restores_flags) {
				cpu->lf = saved_lf;
				cpu->flags = saved_flags;
			}
			return EMU_STOP;
		}
		gpr_set(cpu, GPR_RCX, s.asz, gpr_get(cpu, GPR_RCX, s.asz) - 1);
		if (cmp) {
			bool zf = emu_condition(cpu, 4);
			if ((i->rep == 0xf3 && !zf) || (i->rep == 0xf2 && zf))
				break;
		}
	}
	return EMU_NEXT;
}

HANDLER(op_movs)
{
	return string_op(cpu, i);
}

HANDLER(op_stos)
{
	return string_op(cpu, i);
}

HANDLER(op_lods)
{
	return string_op(cpu, i);
}

HANDLER(op_cmps)
{
	return string_op(cpu, i);
}

HANDLER(op_scas)
{
	return string_op(cpu, i);
}
