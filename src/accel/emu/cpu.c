/* The CPU object and its run loop: find (or decode) the block at RIP, run its instructions
 * through their handlers until one branches, stops, or the budget is spent. */
#include "accel/emu/cpu.h"
#include "accel/emu/code_cache.h"
#include "accel/emu/sys.h"

#include <stdlib.h>

#define USER_CS 0x33
#define USER_DS 0x2b

static void set_user_segment(struct vcpu_segment *s, uint16_t selector, uint8_t type, bool code)
{
	*s = (struct vcpu_segment){.limit = 0xffffffff,
				   .selector = selector,
				   .type = type,
				   .present = 1,
				   .dpl = 3,
				   .s = 1,
				   .l = code,
				   .db = !code,
				   .g = 1};
}

static void reset_user_mode(struct vcpu_state *st)
{
	vcpu_state_reset(st);
	st->rip = 0;
	st->gpr[GPR_RDX] = 0;
	st->rflags = X86_RFLAGS_FIXED | X86_RFLAGS_IF;
	st->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	st->cr4 = X86_CR4_PAE | (1 << 9) | (1 << 10); /* OSFXSR, OSXMMEXCPT */
	st->efer = X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	for (int k = 0; k < SREG_COUNT; k++)
		set_user_segment(&st->seg[k], USER_DS, 0x3, false);
	set_user_segment(&st->seg[SREG_CS], USER_CS, 0xb, true);
	/* Linux user mode: DS ES FS GS hold the null selector. */
	st->seg[SREG_DS].selector = st->seg[SREG_ES].selector = 0;
	st->seg[SREG_FS].selector = st->seg[SREG_GS].selector = 0;
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80, mxcsr_mask = 0xffff;
	memcpy(st->xsave + 0, &fcw, 2);
	memcpy(st->xsave + 24, &mxcsr, 4);
	memcpy(st->xsave + 28, &mxcsr_mask, 4);
}

struct emu_cpu *emu_cpu_create(const struct emu_memory *memory, const struct emu_cpu_model *model)
{
	struct emu_cpu *cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
	if (!cpu)
		return NULL;
	memset(cpu, 0, sizeof(*cpu));
	cpu->memory = *memory;
	cpu->model = model ? model : emu_cpu_model_default();
	cpu->tlb = cpu->tlb_storage;
	cpu->cpl = 3;
	if (!emu_code_cache_init(cpu, 0)) {
		emu_cpu_destroy(cpu);
		return NULL;
	}
	reset_user_mode(&cpu->state);
	emu_tlb_flush(cpu);
	return cpu;
}

void emu_cpu_destroy(struct emu_cpu *cpu)
{
	if (!cpu)
		return;
	emu_code_cache_fini(cpu);
	free(cpu);
}

const struct emu_cpu_model *emu_cpu_get_model(const struct emu_cpu *cpu)
{
	return cpu->model;
}

struct vcpu_state *emu_cpu_state(struct emu_cpu *cpu)
{
	return &cpu->state;
}

int emu_raise(struct emu_cpu *cpu, uint8_t vector, bool has_code, uint32_t code)
{
	cpu->pending = (struct emu_exit){.reason = EMU_EXIT_EXCEPTION,
					 .vector = vector,
					 .has_error_code = has_code,
					 .error_code = code};
	cpu->pending_after = false;
	return EMU_STOP;
}

int emu_raise_pf(struct emu_cpu *cpu, uint64_t address, uint32_t code)
{
	emu_raise(cpu, EMU_VEC_PF, true, code);
	cpu->pending.fault_address = address;
	/* System mode loads CR2 when the #PF is delivered, not when a speculative access (a
	 * fetch of the next page) fails. */
	if (!cpu->sys)
		cpu->state.cr2 = address;
	return EMU_STOP;
}

static enum emu_mode current_mode(const struct vcpu_state *st)
{
	if ((st->efer & X86_EFER_LMA) && st->seg[SREG_CS].l)
		return EMU_MODE_64;
	return st->seg[SREG_CS].db ? EMU_MODE_32 : EMU_MODE_16;
}

/* Leaves the block after instruction `k` returned `step` (not a plain EMU_NEXT); returns how
 * many instructions completed. */
static uint32_t leave_block(struct emu_cpu *cpu, const struct emu_insn *insn, uint32_t k, int step,
			    bool *stopped)
{
	if (step == EMU_STOP) {
		*stopped = true;
		if (unlikely(cpu->pending_branch)) {
			cpu->pending_branch = false;
			cpu->state.rip = cpu->next_rip;
			return k + 1;
		}
		if (cpu->pending_after)
			cpu->state.rip = insn[k].next_rip;
		else
			cpu->state.rip = insn[k].next_rip - insn[k].len;
		return cpu->pending_after ? k + 1 : k;
	}
	/* Branch handlers set next_rip; a write to code ends the block after the writer. */
	cpu->state.rip = step == EMU_BRANCH ? cpu->next_rip : insn[k].next_rip;
	return k + 1;
}

/* Runs all of `b` through the specialised, threaded handlers (insn->fast), which may skip
 * flag results that a later instruction of the block overwrites: valid only when nothing
 * stops the run between them, so only for whole blocks. */
static uint64_t run_whole_block(struct emu_cpu *cpu, const struct emu_block *b, uint64_t allowed,
				bool *stopped)
{
	const struct emu_insn *insn = &cpu->insns[b->first];
	const struct emu_insn *end = insn + b->count;
	cpu->run_first = insn;
	cpu->run_end = end;
	cpu->run_extra = 0;
	cpu->run_allowed = allowed;
	const struct emu_insn *at = insn;
	int step;
	while ((step = at->fast(cpu, at)) == EMU_LOOP)
		at = cpu->loop_target;
	if (likely(cpu->exit_insn == end)) {
		cpu->state.rip = end[-1].next_rip;
		return (uint64_t)(cpu->run_extra + b->count);
	}
	uint32_t k = leave_block(cpu, insn, (uint32_t)(cpu->exit_insn - insn), step, stopped);
	return (uint64_t)(cpu->run_extra + k);
}

/* The first `limit` instructions of `b` through the exact handlers (the budget ends inside). */
static uint32_t run_block_prefix(struct emu_cpu *cpu, const struct emu_block *b, uint32_t limit,
				 bool *stopped)
{
	const struct emu_insn *insn = &cpu->insns[b->first];
	for (uint32_t k = 0; k < limit; k++) {
		int step = unlikely(insn[k].lock) && cpu->sys ? emu_sys_locked_step(cpu, &insn[k])
							      : insn[k].fn(cpu, &insn[k]);
		if (unlikely(step | cpu->code_written))
			return leave_block(cpu, insn, k, step, stopped);
	}
	cpu->state.rip = insn[limit - 1].next_rip;
	return limit;
}

enum emu_exit_reason emu_run(struct emu_cpu *cpu, uint64_t budget, struct emu_exit *exit)
{
	uint64_t executed = 0;
	bool stopped = false;
	struct emu_block *prev = NULL;

	cpu->flags = cpu->state.rflags & ~X86_RFLAGS_RF;
	cpu->lf.op = LF_NONE;
	cpu->x87_fcs = cpu->x87_fds = 0;
	cpu->mode = current_mode(&cpu->state);
	cpu->ctx = emu_compute_ctx(cpu);
	while (executed < budget && !stopped) {
		cpu->code_written = false;
		struct emu_block *b = prev ? emu_code_next(cpu, prev, cpu->state.rip)
					   : emu_code_lookup(cpu, cpu->state.rip);
		if (!b) {
			stopped = true;
			break;
		}
		uint64_t left = budget - executed;
		if (likely(left >= b->count))
			executed += run_whole_block(cpu, b, left, &stopped);
		else
			executed += run_block_prefix(cpu, b, (uint32_t)left, &stopped);
		prev = b;
	}
	cpu->state.rflags = emu_get_flags(cpu) | X86_RFLAGS_FIXED;
	/* XSTATE_BV: the x87 and SSE parts of the image are live (an XSAVE-format reader such
	 * as KVM_SET_XSAVE would otherwise take them as being in their initial state). */
	cpu->state.xsave[512] |= 3;
	cpu->tsc += executed;
	if (stopped) {
		*exit = cpu->pending;
		if (exit->reason == EMU_EXIT_EXCEPTION)
			exit->rflags = cpu->state.rflags | (cpu->pending_after ? 0 : X86_RFLAGS_RF);
	} else {
		*exit = (struct emu_exit){.reason = EMU_EXIT_BUDGET};
	}
	exit->executed = executed;
	return exit->reason;
}

void emu_invalidate(struct emu_cpu *cpu, uint64_t addr, uint64_t len)
{
	if (len == 0)
		return;
	uint64_t first = addr & EMU_PAGE_MASK, last = (addr + len - 1) & EMU_PAGE_MASK;
	if (last < first || (last - first) / EMU_PAGE_SIZE >= 4 * EMU_TLB_SIZE) {
		emu_flush(cpu);
		return;
	}
	for (uint64_t page = first;; page += EMU_PAGE_SIZE) {
		struct tlb_entry *e = &cpu->tlb[(page >> 12) & (EMU_TLB_SIZE - 1)];
		if (e->tag_read == page || e->tag_write == page || e->tag_exec == page)
			e->tag_read = e->tag_write = e->tag_exec = EMU_TLB_INVALID;
		if (emu_code_page_contains(cpu, page))
			emu_code_invalidate_page(cpu, page);
		if (page == last)
			break;
	}
}

void emu_flush(struct emu_cpu *cpu)
{
	emu_tlb_flush(cpu);
	emu_code_flush(cpu);
}
