/* System instructions (system mode; a user-mode CPU keeps its old behaviour: #GP at CPL 3 or
 * #UD): CLI/STI, IN/OUT/INS/OUTS with IOPL and the TSS I/O bitmap, MOV CRn/DRn, CLTS,
 * LMSW/SMSW, the descriptor-table instructions (LGDT ... VERW, LAR, LSL), INVLPG, INVPCID,
 * WBINVD/INVD, RDMSR/WRMSR, RDTSCP, SWAPGS, SYSCALL/SYSRET, SYSENTER/SYSEXIT, CLAC/STAC,
 * XGETBV/XSETBV, XSAVE/XRSTOR/XSAVEOPT, far JMP/CALL/RET, IRET, segment loads. References are
 * to the SDM's Vol. 2 entry of each instruction unless said otherwise. */
#include "accel/emu/cpu.h"
#include "accel/emu/fxsave.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"
#include "accel/emu/x87.h"

#define SYS_ONLY()                                                                                 \
	do {                                                                                       \
		if (!cpu->sys)                                                                     \
			return emu_raise_ud(cpu);                                                  \
	} while (0)

#define CPL0()                                                                                     \
	do {                                                                                       \
		if (cpu->cpl != 0)                                                                 \
			return emu_raise_gp0(cpu);                                                 \
	} while (0)

static int fault(struct emu_cpu *cpu, uint8_t vector, uint32_t code)
{
	return emu_raise(cpu, vector, true, code);
}

/* Ends the run after this instruction (RIP after it) so the run loop looks at interrupts
 * (an interrupt shadow, IF just set, a mode change the block was decoded for). */
static int stop_after(struct emu_cpu *cpu)
{
	cpu->pending = (struct emu_exit){.reason = EMU_EXIT_BUDGET};
	cpu->pending_after = true;
	return EMU_STOP;
}

static int branch_next(struct emu_cpu *cpu, const struct emu_insn *i)
{
	cpu->next_rip = i->next_rip;
	return EMU_BRANCH;
}

/* IF went from 0 to 1 while something waits: let the run loop deliver it now; TF set: the
 * run loop single-steps from here. */
static int after_flags(struct emu_cpu *cpu, uint64_t old)
{
	emu_sys_tlb_select(cpu);
	const atomic_bool *attn = cpu->sys->hooks.attention;
	if (!(old & FL_IF) && (cpu->flags & FL_IF) && attn && atomic_load(attn))
		return stop_after(cpu);
	if (cpu->flags & FL_TF)
		return stop_after(cpu);
	return EMU_NEXT;
}

/* A taken branch after which the run loop must look (TF set by IRET). */
static int stop_at_branch(struct emu_cpu *cpu)
{
	cpu->pending = (struct emu_exit){.reason = EMU_EXIT_BUDGET};
	cpu->pending_after = false;
	cpu->pending_branch = true;
	return EMU_STOP;
}

/* ---- CLI, STI, PUSHF, POPF ---- */

/* Protected mode: CPL <= IOPL; virtual-8086 mode: IOPL 3 (no VME). */
static bool if_allowed(struct emu_cpu *cpu)
{
	if (!emu_sys_protected(cpu))
		return true;
	if (emu_sys_vm86(cpu))
		return emu_iopl(cpu) == 3;
	return cpu->cpl <= emu_iopl(cpu);
}

HANDLER(op_cli)
{
	if (!cpu->sys)
		return op_privileged(cpu, i);
	if (!if_allowed(cpu))
		return emu_raise_gp0(cpu);
	cpu->flags = emu_get_flags(cpu) & ~(uint64_t)FL_IF;
	cpu->lf.op = LF_NONE;
	return EMU_NEXT;
}

/* STI: interrupts stay blocked until after the next instruction (SDM Vol. 3 6.8.3). */
HANDLER(op_sti)
{
	if (!cpu->sys)
		return op_privileged(cpu, i);
	if (!if_allowed(cpu))
		return emu_raise_gp0(cpu);
	uint64_t f = emu_get_flags(cpu);
	cpu->flags = f | FL_IF;
	cpu->lf.op = LF_NONE;
	/* The shadow matters only to an event already waiting (one that comes later is taken
	 * at a later instruction boundary anyway): stop only then. */
	const atomic_bool *attn = cpu->sys->hooks.attention;
	if ((f & FL_IF) || !attn || !atomic_load_explicit(attn, memory_order_relaxed))
		return EMU_NEXT;
	cpu->sys->shadow = 1;
	return stop_after(cpu);
}

#define PUSHF_MASK 0x00fcffffULL /* VM and RF read as zero */

int emu_sys_pushf(struct emu_cpu *cpu, const struct emu_insn *i)
{
	if (emu_sys_vm86(cpu) && emu_iopl(cpu) != 3)
		return emu_raise_gp0(cpu);
	uint64_t f = (emu_get_flags(cpu) | X86_RFLAGS_FIXED) & PUSHF_MASK;
	return emu_push(cpu, i->opsize, f) ? EMU_NEXT : EMU_STOP;
}

int emu_sys_popf(struct emu_cpu *cpu, const struct emu_insn *i)
{
	if (emu_sys_vm86(cpu) && emu_iopl(cpu) != 3)
		return emu_raise_gp0(cpu);
	uint64_t v;
	if (!emu_pop(cpu, i->opsize, &v))
		return EMU_STOP;
	uint64_t old = emu_get_flags(cpu);
	uint64_t m = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
	if (!emu_sys_protected(cpu) || cpu->cpl == 0)
		m |= FL_IOPL;
	if (if_allowed(cpu))
		m |= FL_IF;
	if (emu_sys_vm86(cpu))
		m &= ~(uint64_t)FL_IOPL;
	m &= size_mask(i->opsize);
	cpu->flags = (old & ~m) | (v & m) | 2;
	cpu->lf.op = LF_NONE;
	return after_flags(cpu, old);
}

/* ---- port I/O ---- */

/* SDM Vol. 1 19.5: CPL <= IOPL outside virtual-8086 mode, else the TSS I/O bitmap decides. */
static bool io_allowed(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
	if (!emu_sys_protected(cpu))
		return true;
	if (!emu_sys_vm86(cpu) && cpu->cpl <= emu_iopl(cpu))
		return true;
	const struct vcpu_segment *tr = &cpu->state.tr;
	if (tr->unusable || !tr->present || (tr->type != 9 && tr->type != 11) || tr->limit < 103)
		return false;
	uint16_t base;
	if (!emu_sys_read_sup(cpu, tr->base + 102, &base, 2)) {
		cpu->pending = (struct emu_exit){0};
		return false;
	}
	uint32_t first = base + port / 8u, last = base + (port + size - 1u) / 8u;
	if (last > tr->limit)
		return false;
	uint8_t bits[2] = {0, 0};
	if (!emu_sys_read_sup(cpu, tr->base + first, bits, last - first + 1)) {
		cpu->pending = (struct emu_exit){0};
		return false;
	}
	uint32_t word = bits[0] | (uint32_t)bits[1] << 8;
	uint32_t mask = ((1u << size) - 1) << (port & 7);
	return (word & mask) == 0;
}

static void pio(struct emu_cpu *cpu, uint16_t port, void *data, unsigned size, bool write)
{
	struct emu_sys *s = cpu->sys;
	s->stats.pio++;
	if (s->hooks.pio)
		s->hooks.pio(s->hooks.opaque, port, data, size, write);
	else if (!write)
		memset(data, 0xff, size);
}

/* sub: bit 0 OUT, bit 1 port in DX. */
HANDLER(op_io)
{
	if (!cpu->sys)
		return op_privileged(cpu, i);
	unsigned size = i->opsize > 4 ? 4 : i->opsize;
	uint16_t port = (i->sub & 2) ? (uint16_t)cpu->state.gpr[GPR_RDX] : (uint16_t)i->imm;
	if (!io_allowed(cpu, port, size))
		return emu_raise_gp0(cpu);
	uint32_t v = 0;
	if (i->sub & 1) {
		v = (uint32_t)gpr_get(cpu, GPR_RAX, size);
		pio(cpu, port, &v, size, true);
	} else {
		pio(cpu, port, &v, size, false);
		gpr_set(cpu, GPR_RAX, size, v);
	}
	return EMU_NEXT;
}

#define STRING_IO_CHUNK 4096 /* elements per run of the instruction: kicks stay prompt */

/* INS/OUTS, element by element: a fault leaves rSI/rDI/rCX describing what is left; INS
 * checks its destination before it reads the port (nothing is lost on a fault). */
static int string_io(struct emu_cpu *cpu, const struct emu_insn *i, bool out)
{
	unsigned size = i->opsize > 4 ? 4 : i->opsize, asz = i->addrsize;
	uint16_t port = (uint16_t)cpu->state.gpr[GPR_RDX];
	if (!io_allowed(cpu, port, size))
		return emu_raise_gp0(cpu);
	int64_t step = (emu_get_flags(cpu) & FL_DF) ? -(int64_t)size : (int64_t)size;
	for (unsigned n = 0; !i->rep || gpr_get(cpu, GPR_RCX, asz) != 0; n++) {
		if (n == STRING_IO_CHUNK) {
			cpu->next_rip = i->next_rip - i->len; /* go on later */
			return EMU_BRANCH;
		}
		uint32_t v = 0;
		if (out) {
			uint64_t a = gpr_get(cpu, GPR_RSI, asz);
			if (i->seg != EMU_NO_SEG)
				a += cpu->state.seg[i->seg].base;
			if (!emu_read_bytes(cpu, a, &v, size))
				return EMU_STOP;
			pio(cpu, port, &v, size, true);
			gpr_set(cpu, GPR_RSI, asz, gpr_get(cpu, GPR_RSI, asz) + (uint64_t)step);
		} else {
			uint64_t a = gpr_get(cpu, GPR_RDI, asz);
			if (cpu->mode != EMU_MODE_64)
				a += cpu->state.seg[SREG_ES].base;
			if (!emu_probe_write(cpu, a, size))
				return EMU_STOP;
			pio(cpu, port, &v, size, false);
			if (!emu_write_bytes(cpu, a, &v, size))
				return EMU_STOP;
			gpr_set(cpu, GPR_RDI, asz, gpr_get(cpu, GPR_RDI, asz) + (uint64_t)step);
		}
		if (!i->rep)
			break;
		gpr_set(cpu, GPR_RCX, asz, gpr_get(cpu, GPR_RCX, asz) - 1);
	}
	return EMU_NEXT;
}

HANDLER(op_ins)
{
	if (!cpu->sys)
		return op_privileged(cpu, i);
	return string_io(cpu, i, false);
}

HANDLER(op_outs)
{
	if (!cpu->sys)
		return op_privileged(cpu, i);
	return string_io(cpu, i, true);
}

/* ---- control registers ---- */

#define CR0_RESERVED 0xffffffff1ffaffc0ULL
#define CR4_VALID                                                                                  \
	(X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE | X86_CR4_PSE | X86_CR4_PAE |        \
	 X86_CR4_MCE | X86_CR4_PGE | X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT |           \
	 X86_CR4_PCIDE | X86_CR4_OSXSAVE | X86_CR4_SMEP | X86_CR4_SMAP)

/* MOV to CR0 (SDM Vol. 3 2.5, 9.8.5): false with #GP raised. */
bool emu_sys_set_cr0(struct emu_cpu *cpu, uint64_t v)
{
	struct vcpu_state *st = &cpu->state;
	if ((v & CR0_RESERVED) || ((v & X86_CR0_PG) && !(v & X86_CR0_PE)) ||
	    ((v & X86_CR0_NW) && !(v & X86_CR0_CD))) {
		emu_raise_gp0(cpu);
		return false;
	}
	uint64_t old = st->cr0;
	v |= X86_CR0_ET;
	if (!(old & X86_CR0_PG) && (v & X86_CR0_PG) && (st->efer & X86_EFER_LME)) {
		if (!(st->cr4 & X86_CR4_PAE) || st->seg[SREG_CS].l) {
			emu_raise_gp0(cpu);
			return false;
		}
		st->efer |= X86_EFER_LMA;
	}
	if ((old & X86_CR0_PG) && !(v & X86_CR0_PG) && (st->efer & X86_EFER_LMA)) {
		if (cpu->mode == EMU_MODE_64) {
			emu_raise_gp0(cpu);
			return false;
		}
		st->efer &= ~X86_EFER_LMA;
	}
	st->cr0 = v;
	if (!(v & X86_CR0_PE))
		cpu->cpl = 0;
	if ((old ^ v) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
		emu_sys_tlb_flush(cpu, true);
	emu_sys_mode_changed(cpu);
	return true;
}

bool emu_sys_set_cr4(struct emu_cpu *cpu, uint64_t v)
{
	struct vcpu_state *st = &cpu->state;
	uint64_t old = st->cr4;
	bool lma = st->efer & X86_EFER_LMA;
	if ((v & ~CR4_VALID) || (lma && !(v & X86_CR4_PAE)) ||
	    ((v & X86_CR4_PCIDE) && !(old & X86_CR4_PCIDE) && (!lma || (st->cr3 & 0xfff)))) {
		emu_raise_gp0(cpu);
		return false;
	}
	st->cr4 = v;
	if ((old ^ v) &
	    (X86_CR4_PSE | X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PCIDE | X86_CR4_SMEP | X86_CR4_SMAP))
		emu_sys_tlb_flush(cpu, true);
	emu_sys_tlb_select(cpu);
	return true;
}

/* MOV to CR3: with CR4.PCIDE, bit 63 asks to keep the new PCID's translations; this TLB
 * holds only the current PCID's, so it drops the non-global ones whenever CR3 changes (the
 * architecture allows dropping more than asked). */
bool emu_sys_set_cr3(struct emu_cpu *cpu, uint64_t v)
{
	struct vcpu_state *st = &cpu->state;
	bool noflush = false;
	if (st->cr4 & X86_CR4_PCIDE) {
		noflush = v >> 63;
		v &= ~(1ULL << 63);
	}
	if ((st->efer & X86_EFER_LMA) && (v >> 52)) {
		emu_raise_gp0(cpu);
		return false;
	}
	if (!(st->efer & X86_EFER_LMA))
		v &= 0xffffffffULL;
	bool same = v == st->cr3;
	st->cr3 = v;
	cpu->sys->stats.cr3_writes++;
	if (!(same && noflush))
		emu_sys_tlb_flush(cpu, !(st->cr4 & X86_CR4_PGE));
	return true;
}

static uint64_t read_cr8(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	return s->hooks.get_tpr ? (uint64_t)(s->hooks.get_tpr(s->hooks.opaque) >> 4) : 0;
}

/* sub 0: MOV r, CRn; 1: MOV CRn, r. */
HANDLER(op_mov_cr)
{
	SYS_ONLY();
	unsigned n = i->regnum;
	/* CR8 outside 64-bit mode only through AltMovCr8 (decode.c: LOCK MOV CR0). */
	if (n != 0 && n != 2 && n != 3 && n != 4 &&
	    !(n == 8 && (cpu->mode == EMU_MODE_64 || cpu->model->lock_mov_cr0_is_cr8)))
		return emu_raise_ud(cpu);
	CPL0();
	struct vcpu_state *st = &cpu->state;
	unsigned size = cpu->mode == EMU_MODE_64 ? 8 : 4;
	if (i->sub == 0) {
		uint64_t v = n == 0   ? st->cr0
			     : n == 2 ? st->cr2
			     : n == 3 ? st->cr3
			     : n == 4 ? st->cr4
				      : read_cr8(cpu);
		gpr_set(cpu, i->rmnum, size, v);
		return EMU_NEXT;
	}
	uint64_t v = gpr_get(cpu, i->rmnum, size);
	switch (n) {
	case 0:
		return emu_sys_set_cr0(cpu, v) ? branch_next(cpu, i) : EMU_STOP;
	case 2:
		st->cr2 = v;
		return EMU_NEXT;
	case 3:
		return emu_sys_set_cr3(cpu, v) ? branch_next(cpu, i) : EMU_STOP;
	case 4:
		return emu_sys_set_cr4(cpu, v) ? branch_next(cpu, i) : EMU_STOP;
	default:
		if (v >> 4)
			return emu_raise_gp0(cpu);
		if (cpu->sys->hooks.set_tpr)
			cpu->sys->hooks.set_tpr(cpu->sys->hooks.opaque, (uint8_t)(v << 4));
		return EMU_NEXT; /* what a lower priority lets through comes at the next boundary */
	}
}

/* sub 0: MOV r, DRn; 1: MOV DRn, r. The values are kept; breakpoints are not implemented. */
HANDLER(op_mov_dr)
{
	SYS_ONLY();
	unsigned n = i->regnum;
	if (n > 7)
		return emu_raise_ud(cpu);
	if ((n == 4 || n == 5) && (cpu->state.cr4 & X86_CR4_DE))
		return emu_raise_ud(cpu);
	CPL0();
	if (n == 4 || n == 5)
		n += 2;
	unsigned size = cpu->mode == EMU_MODE_64 ? 8 : 4;
	struct emu_sys *s = cpu->sys;
	if (i->sub == 0) {
		uint64_t v = s->dr[n];
		if (n == 6)
			v = (v & 0x1e00f) | 0xffff0ff0ULL;
		else if (n == 7)
			v = (v & ~0xd800ULL) | 0x400;
		gpr_set(cpu, i->rmnum, size, v);
		return EMU_NEXT;
	}
	uint64_t v = gpr_get(cpu, i->rmnum, size);
	if ((n == 6 || n == 7) && (v >> 32))
		return emu_raise_gp0(cpu);
	s->dr[n] = v;
	return stop_after(cpu); /* breakpoints take effect from the next instruction */
}

HANDLER(op_clts)
{
	(void)i;
	SYS_ONLY();
	CPL0();
	cpu->state.cr0 &= ~X86_CR0_TS;
	return EMU_NEXT;
}

/* WBINVD, INVD: there is no cache to write back. */
HANDLER(op_wbinvd)
{
	(void)i;
	SYS_ONLY();
	CPL0();
	return EMU_NEXT;
}

/* ---- MSRs, TSC ---- */

HANDLER(op_rdmsr)
{
	(void)i;
	SYS_ONLY();
	CPL0();
	uint64_t v;
	if (emu_sys_rdmsr(cpu, (uint32_t)cpu->state.gpr[GPR_RCX], &v) < 0)
		return emu_raise_gp0(cpu);
	gpr_set(cpu, GPR_RAX, 4, v & 0xffffffff);
	gpr_set(cpu, GPR_RDX, 4, v >> 32);
	return EMU_NEXT;
}

HANDLER(op_wrmsr)
{
	SYS_ONLY();
	CPL0();
	uint64_t v = (uint32_t)cpu->state.gpr[GPR_RAX] | cpu->state.gpr[GPR_RDX] << 32;
	uint64_t old_efer = cpu->state.efer;
	uint32_t index = (uint32_t)cpu->state.gpr[GPR_RCX];
	if (emu_sys_wrmsr(cpu, index, v) < 0)
		return emu_raise_gp0(cpu);
	if (cpu->state.efer != old_efer)
		return branch_next(cpu, i);
	/* the LAPIC's (EOI, TPR, self-IPI) may have made an interrupt deliverable: the run
	 * loop looks at its next boundary, as after any asynchronous event */
	if (index == 0x1b)
		return stop_after(cpu); /* the APIC base: its page moves */
	return EMU_NEXT;
}

int emu_sys_rdtsc(struct emu_cpu *cpu, bool rdtscp)
{
	if ((cpu->state.cr4 & X86_CR4_TSD) && cpu->cpl != 0 && emu_sys_protected(cpu))
		return emu_raise_gp0(cpu);
	uint64_t t = emu_sys_tsc(cpu);
	gpr_set(cpu, GPR_RAX, 4, t & 0xffffffff);
	gpr_set(cpu, GPR_RDX, 4, t >> 32);
	if (rdtscp)
		gpr_set(cpu, GPR_RCX, 4, cpu->sys->tsc_aux & 0xffffffff);
	return EMU_NEXT;
}

/* ---- SYSCALL, SYSRET, SYSENTER, SYSEXIT (flat segments from MSRs) ---- */

static void flat_segment(struct vcpu_segment *s, uint16_t sel, bool code, bool l, unsigned dpl)
{
	*s = (struct vcpu_segment){.selector = sel,
				   .base = 0,
				   .limit = 0xffffffff,
				   .type = code ? 0xb : 0x3,
				   .s = 1,
				   .dpl = (uint8_t)dpl,
				   .present = 1,
				   .l = l,
				   .db = !l,
				   .g = 1};
}

int emu_sys_syscall(struct emu_cpu *cpu, const struct emu_insn *i)
{
	struct vcpu_state *st = &cpu->state;
	struct emu_sys *s = cpu->sys;
	bool amd = cpu->model->vendor == EMU_VENDOR_AMD;
	if (!(st->efer & X86_EFER_SCE) || !emu_sys_protected(cpu) ||
	    (!amd && cpu->mode != EMU_MODE_64))
		return emu_raise_ud(cpu);
	uint64_t flags = emu_get_flags(cpu) | 2;
	uint16_t sel = (uint16_t)(s->star >> 32) & 0xfffc;
	if (st->efer & X86_EFER_LMA) {
		st->gpr[GPR_RCX] = i->next_rip;
		st->gpr[GPR_R11] = flags & ~(uint64_t)FL_RF;
		flat_segment(&st->seg[SREG_CS], sel, true, true, 0);
		flat_segment(&st->seg[SREG_SS], (uint16_t)(sel + 8), false, false, 0);
		cpu->next_rip = cpu->mode == EMU_MODE_64 ? s->lstar : s->cstar;
		cpu->flags = flags & ~(s->sfmask | FL_RF);
	} else {
		/* legacy-mode SYSCALL (AMD) */
		st->gpr[GPR_RCX] = (uint32_t)i->next_rip;
		flat_segment(&st->seg[SREG_CS], sel, true, false, 0);
		flat_segment(&st->seg[SREG_SS], (uint16_t)(sel + 8), false, false, 0);
		cpu->next_rip = (uint32_t)s->star;
		cpu->flags = flags & ~(uint64_t)(FL_VM | FL_IF | FL_RF);
	}
	cpu->lf.op = LF_NONE;
	cpu->cpl = 0;
	emu_sys_mode_changed(cpu);
	return EMU_BRANCH;
}

HANDLER(op_sysret)
{
	SYS_ONLY();
	struct vcpu_state *st = &cpu->state;
	struct emu_sys *s = cpu->sys;
	if (!(st->efer & X86_EFER_SCE))
		return emu_raise_ud(cpu);
	if (cpu->cpl != 0 || !emu_sys_protected(cpu))
		return emu_raise_gp0(cpu);
	uint16_t base = (uint16_t)(s->star >> 48);
	uint64_t target = st->gpr[GPR_RCX];
	bool to64 = i->opsize == 8;
	if (!(st->efer & X86_EFER_LMA)) {
		/* legacy mode (AMD): 32-bit */
		to64 = false;
	}
	if (to64) {
		if ((uint64_t)((int64_t)(target << 16) >> 16) != target)
			return emu_raise_gp0(cpu);
		flat_segment(&st->seg[SREG_CS], (uint16_t)((base + 16) | 3), true, true, 3);
	} else {
		target &= 0xffffffffULL;
		flat_segment(&st->seg[SREG_CS], (uint16_t)(base | 3), true, false, 3);
	}
	flat_segment(&st->seg[SREG_SS], (uint16_t)((base + 8) | 3), false, false, 3);
	if (st->efer & X86_EFER_LMA)
		cpu->flags = (st->gpr[GPR_R11] & 0x3c7fd7ULL) | 2;
	else
		cpu->flags = emu_get_flags(cpu) | FL_IF;
	cpu->lf.op = LF_NONE;
	cpu->cpl = 3;
	emu_sys_mode_changed(cpu);
	cpu->next_rip = target;
	return EMU_BRANCH;
}

HANDLER(op_sysenter)
{
	(void)i;
	SYS_ONLY();
	struct vcpu_state *st = &cpu->state;
	struct emu_sys *s = cpu->sys;
	bool lma = st->efer & X86_EFER_LMA;
	if (cpu->model->vendor == EMU_VENDOR_AMD && lma)
		return emu_raise_ud(cpu);
	if (!emu_sys_protected(cpu) || (s->sysenter_cs & 0xfffc) == 0)
		return emu_raise_gp0(cpu);
	uint16_t sel = (uint16_t)s->sysenter_cs & 0xfffc;
	cpu->flags = emu_get_flags(cpu) & ~(uint64_t)(FL_VM | FL_IF | FL_RF);
	cpu->lf.op = LF_NONE;
	flat_segment(&st->seg[SREG_CS], sel, true, lma, 0);
	flat_segment(&st->seg[SREG_SS], (uint16_t)(sel + 8), false, false, 0);
	st->gpr[GPR_RSP] = lma ? s->sysenter_esp : (uint32_t)s->sysenter_esp;
	cpu->next_rip = lma ? s->sysenter_eip : (uint32_t)s->sysenter_eip;
	cpu->cpl = 0;
	emu_sys_mode_changed(cpu);
	return EMU_BRANCH;
}

HANDLER(op_sysexit)
{
	SYS_ONLY();
	struct vcpu_state *st = &cpu->state;
	struct emu_sys *s = cpu->sys;
	if (cpu->model->vendor == EMU_VENDOR_AMD && (st->efer & X86_EFER_LMA))
		return emu_raise_ud(cpu);
	if (!emu_sys_protected(cpu) || cpu->cpl != 0 || (s->sysenter_cs & 0xfffc) == 0)
		return emu_raise_gp0(cpu);
	uint16_t base = (uint16_t)s->sysenter_cs & 0xfffc;
	bool to64 = i->opsize == 8;
	uint64_t rip = st->gpr[GPR_RDX], rsp = st->gpr[GPR_RCX];
	if (to64) {
		if ((uint64_t)((int64_t)(rip << 16) >> 16) != rip ||
		    (uint64_t)((int64_t)(rsp << 16) >> 16) != rsp)
			return emu_raise_gp0(cpu);
		flat_segment(&st->seg[SREG_CS], (uint16_t)((base + 32) | 3), true, true, 3);
		flat_segment(&st->seg[SREG_SS], (uint16_t)((base + 40) | 3), false, false, 3);
	} else {
		rip &= 0xffffffffULL;
		rsp &= 0xffffffffULL;
		flat_segment(&st->seg[SREG_CS], (uint16_t)((base + 16) | 3), true, false, 3);
		flat_segment(&st->seg[SREG_SS], (uint16_t)((base + 24) | 3), false, false, 3);
	}
	st->gpr[GPR_RSP] = rsp;
	cpu->cpl = 3;
	emu_sys_mode_changed(cpu);
	cpu->next_rip = rip;
	return EMU_BRANCH;
}

/* ---- descriptor tables (group 6, group 7, LAR, LSL) ---- */

static int store_dtable(struct emu_cpu *cpu, const struct emu_insn *i, const struct vcpu_dtable *t)
{
	uint8_t buf[10];
	unsigned base_len = cpu->mode == EMU_MODE_64 ? 8 : 4;
	memcpy(buf, &t->limit, 2);
	uint64_t base = t->base;
	if (base_len == 4 && i->opsize == 2)
		base &= 0xffffff; /* SDM: 16-bit operand size stores bits 23:0 (and 31:24 as 0) */
	memcpy(buf + 2, &base, base_len);
	return emu_write_bytes(cpu, emu_ea(cpu, i), buf, 2 + base_len) ? EMU_NEXT : EMU_STOP;
}

static int load_dtable(struct emu_cpu *cpu, const struct emu_insn *i, struct vcpu_dtable *t)
{
	CPL0();
	uint8_t buf[10] = {0};
	unsigned base_len = cpu->mode == EMU_MODE_64 ? 8 : 4;
	if (!emu_read_bytes(cpu, emu_ea(cpu, i), buf, 2 + base_len))
		return EMU_STOP;
	uint16_t limit;
	uint64_t base = 0;
	memcpy(&limit, buf, 2);
	memcpy(&base, buf + 2, base_len);
	if (base_len == 4 && i->opsize == 2)
		base &= 0xffffff;
	t->limit = limit;
	t->base = base;
	return EMU_NEXT;
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static int lldt(struct emu_cpu *cpu, uint16_t sel)
{
	struct vcpu_state *st = &cpu->state;
	if ((sel & 0xfffc) == 0) {
		st->ldt = (struct vcpu_segment){.selector = sel, .unusable = 1};
		return EMU_NEXT;
	}
	if (sel & 4)
		return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	uint64_t d[2] = {0, 0};
	unsigned len = emu_sys_long_mode(cpu) ? 16 : 8;
	if ((sel & 0xfff8u) + len - 1 > st->gdt.limit)
		return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	if (!emu_sys_read_sup(cpu, st->gdt.base + (sel & 0xfff8u), d, len))
		return EMU_STOP;
	if (((d[0] >> 44) & 1) || ((d[0] >> 40) & 0xf) != 2)
		return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	if (!((d[0] >> 47) & 1))
		return fault(cpu, 11, sel & 0xfffc);
	struct vcpu_segment s;
	emu_sys_unpack_descriptor(d[0], sel, &s);
	if (len == 16) {
		s.base |= (d[1] & 0xffffffffULL) << 32;
		if (!canonical(s.base))
			return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	}
	st->ldt = s;
	return EMU_NEXT;
}

static int ltr(struct emu_cpu *cpu, uint16_t sel)
{
	struct vcpu_state *st = &cpu->state;
	if ((sel & 0xfffc) == 0)
		return emu_raise_gp0(cpu);
	if (sel & 4)
		return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	uint64_t d[2] = {0, 0};
	bool lm = emu_sys_long_mode(cpu);
	unsigned len = lm ? 16 : 8;
	if ((sel & 0xfff8u) + len - 1 > st->gdt.limit)
		return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	if (!emu_sys_read_sup(cpu, st->gdt.base + (sel & 0xfff8u), d, len))
		return EMU_STOP;
	unsigned type = (unsigned)(d[0] >> 40) & 0xf;
	if (((d[0] >> 44) & 1) || !(type == 9 || (!lm && type == 1)))
		return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	if (!((d[0] >> 47) & 1))
		return fault(cpu, 11, sel & 0xfffc);
	struct vcpu_segment s;
	emu_sys_unpack_descriptor(d[0], sel, &s);
	if (lm) {
		s.base |= (d[1] & 0xffffffffULL) << 32;
		if (!canonical(s.base))
			return fault(cpu, EMU_VEC_GP, sel & 0xfffc);
	}
	uint8_t busy = (uint8_t)(d[0] >> 40) | 2;
	if (!emu_sys_write_sup(cpu, st->gdt.base + (sel & 0xfff8u) + 5, &busy, 1))
		return EMU_STOP;
	s.type |= 2;
	st->tr = s;
	return EMU_NEXT;
}

/* VERR (write false) / VERW: ZF says whether the segment can be read / written now. */
static int verify(struct emu_cpu *cpu, uint16_t sel, bool write)
{
	bool ok = false;
	uint64_t d;
	if ((sel & 0xfffc) != 0 && emu_sys_read_descriptor(cpu, sel, &d)) {
		unsigned type = (unsigned)(d >> 40) & 0xf, dpl = (unsigned)(d >> 45) & 3;
		bool s = (d >> 44) & 1, code = type & 8;
		unsigned rpl = sel & 3, need = cpu->cpl > rpl ? cpu->cpl : rpl;
		bool conforming = s && code && (type & 4);
		if (s && (conforming || dpl >= need))
			ok = write ? (!code && (type & 2)) : (!code || (type & 2));
	} else {
		cpu->pending = (struct emu_exit){0}; /* outside the table: ZF = 0, no fault */
	}
	emu_set_flags(cpu, FL_ZF, ok ? FL_ZF : 0);
	return EMU_NEXT;
}

HANDLER(op_grp6)
{
	SYS_ONLY();
	unsigned op = (i->modrm >> 3) & 7;
	if (!emu_sys_protected(cpu) || emu_sys_vm86(cpu))
		return emu_raise_ud(cpu);
	if (op <= 1) { /* SLDT, STR */
		uint16_t sel = op == 0 ? cpu->state.ldt.selector : cpu->state.tr.selector;
		if (i->is_mem)
			return emu_write(cpu, emu_ea(cpu, i), 2, sel) ? EMU_NEXT : EMU_STOP;
		reg_write(cpu, i->rm, i->opsize, sel);
		return EMU_NEXT;
	}
	if (op > 5)
		return emu_raise_ud(cpu);
	uint64_t v;
	if (!rm_read(cpu, i, 2, &v))
		return EMU_STOP;
	switch (op) {
	case 2:
		CPL0();
		return lldt(cpu, (uint16_t)v);
	case 3:
		CPL0();
		return ltr(cpu, (uint16_t)v);
	default:
		return verify(cpu, (uint16_t)v, op == 5);
	}
}

/* LAR (lsl false) / LSL (SDM Vol. 2). */
static int lar_lsl(struct emu_cpu *cpu, const struct emu_insn *i, bool lsl)
{
	SYS_ONLY();
	if (!emu_sys_protected(cpu) || emu_sys_vm86(cpu))
		return emu_raise_ud(cpu);
	uint64_t v, d;
	if (!rm_read(cpu, i, 2, &v))
		return EMU_STOP;
	uint16_t sel = (uint16_t)v;
	bool ok = false;
	if ((sel & 0xfffc) != 0 && emu_sys_read_descriptor(cpu, sel, &d)) {
		unsigned type = (unsigned)(d >> 40) & 0xf, dpl = (unsigned)(d >> 45) & 3;
		bool s = (d >> 44) & 1, lm = emu_sys_long_mode(cpu);
		bool conforming = s && (type & 8) && (type & 4);
		unsigned rpl = sel & 3, need = cpu->cpl > rpl ? cpu->cpl : rpl;
		bool type_ok = s;
		if (!s) {
			static const bool lar32[16] = {[1] = 1, [2] = 1, [3] = 1,  [4] = 1,
						       [5] = 1, [9] = 1, [11] = 1, [12] = 1};
			static const bool lsl32[16] = {
			    [1] = 1, [2] = 1, [3] = 1, [9] = 1, [11] = 1};
			if (lm)
				type_ok =
				    type == 2 || type == 9 || type == 11 || (!lsl && type == 12);
			else
				type_ok = lsl ? lsl32[type] : lar32[type];
		}
		if (type_ok && (conforming || dpl >= need)) {
			ok = true;
			if (lsl) {
				struct vcpu_segment seg;
				emu_sys_unpack_descriptor(d, sel, &seg);
				reg_write(cpu, i->reg, i->opsize, seg.limit);
			} else {
				reg_write(cpu, i->reg, i->opsize, (d >> 32) & 0x00f0ff00ULL);
			}
		}
	} else {
		cpu->pending = (struct emu_exit){0};
	}
	emu_set_flags(cpu, FL_ZF, ok ? FL_ZF : 0);
	return EMU_NEXT;
}

HANDLER(op_lar)
{
	return lar_lsl(cpu, i, false);
}

HANDLER(op_lsl)
{
	return lar_lsl(cpu, i, true);
}

static int swapgs(struct emu_cpu *cpu)
{
	if (cpu->mode != EMU_MODE_64)
		return emu_raise_ud(cpu);
	CPL0();
	uint64_t t = cpu->state.seg[SREG_GS].base;
	cpu->state.seg[SREG_GS].base = cpu->sys->kernel_gs_base;
	cpu->sys->kernel_gs_base = t;
	return EMU_NEXT;
}

static int set_ac(struct emu_cpu *cpu, bool on)
{
	if (cpu->cpl != 0 || !(cpu->state.cr4 & X86_CR4_SMAP))
		return emu_raise_ud(cpu);
	uint64_t f = emu_get_flags(cpu);
	cpu->flags = on ? f | FL_AC : f & ~(uint64_t)FL_AC;
	cpu->lf.op = LF_NONE;
	emu_sys_tlb_select(cpu);
	return EMU_NEXT;
}

#define XCR0_SUPPORTED 3ULL /* x87, SSE */

static int xgetbv(struct emu_cpu *cpu)
{
	if (!(cpu->state.cr4 & X86_CR4_OSXSAVE))
		return emu_raise_ud(cpu);
	if ((uint32_t)cpu->state.gpr[GPR_RCX] != 0)
		return emu_raise_gp0(cpu);
	uint64_t v = cpu->state.xcr0;
	gpr_set(cpu, GPR_RAX, 4, v & 0xffffffff);
	gpr_set(cpu, GPR_RDX, 4, v >> 32);
	return EMU_NEXT;
}

static int xsetbv(struct emu_cpu *cpu)
{
	if (!(cpu->state.cr4 & X86_CR4_OSXSAVE))
		return emu_raise_ud(cpu);
	CPL0();
	uint64_t v = (uint32_t)cpu->state.gpr[GPR_RAX] | cpu->state.gpr[GPR_RDX] << 32;
	if ((uint32_t)cpu->state.gpr[GPR_RCX] != 0 || !(v & 1) || (v & ~XCR0_SUPPORTED))
		return emu_raise_gp0(cpu);
	cpu->state.xcr0 = v;
	return EMU_NEXT;
}

HANDLER(op_grp7)
{
	SYS_ONLY();
	unsigned op = (i->modrm >> 3) & 7;
	struct vcpu_state *st = &cpu->state;
	if (!i->is_mem) {
		switch (i->modrm) {
		case 0xca:
			return set_ac(cpu, false); /* CLAC */
		case 0xcb:
			return set_ac(cpu, true); /* STAC */
		case 0xd0:
			return xgetbv(cpu);
		case 0xd1:
			return xsetbv(cpu);
		case 0xf8:
			return swapgs(cpu);
		case 0xf9:
			return emu_sys_rdtsc(cpu, true);
		default:
			break;
		}
		if (op == 4) { /* SMSW r */
			reg_write(cpu, i->rm, i->opsize, st->cr0 & size_mask(i->opsize));
			return EMU_NEXT;
		}
		if (op == 6) { /* LMSW r */
			CPL0();
			uint64_t v = reg_read(cpu, i->rm, 2);
			uint64_t cr0 = (st->cr0 & ~0xeULL) | (v & 0xf) | (st->cr0 & 1);
			return emu_sys_set_cr0(cpu, cr0) ? branch_next(cpu, i) : EMU_STOP;
		}
		return emu_raise_ud(cpu);
	}
	switch (op) {
	case 0:
		return store_dtable(cpu, i, &st->gdt);
	case 1:
		return store_dtable(cpu, i, &st->idt);
	case 2:
		return load_dtable(cpu, i, &st->gdt);
	case 3:
		return load_dtable(cpu, i, &st->idt);
	case 4:
		return emu_write(cpu, emu_ea(cpu, i), 2, st->cr0 & 0xffff) ? EMU_NEXT : EMU_STOP;
	case 6: {
		CPL0();
		uint64_t v;
		if (!emu_read(cpu, emu_ea(cpu, i), 2, &v))
			return EMU_STOP;
		uint64_t cr0 = (st->cr0 & ~0xeULL) | (v & 0xf) | (st->cr0 & 1);
		return emu_sys_set_cr0(cpu, cr0) ? branch_next(cpu, i) : EMU_STOP;
	}
	case 7: /* INVLPG */
		CPL0();
		emu_sys_tlb_flush_page(cpu, emu_ea(cpu, i));
		return EMU_NEXT;
	default:
		return emu_raise_ud(cpu);
	}
}

/* INVPCID (66 0F 38 82): type in the register, descriptor (PCID, linear address) in memory. */
HANDLER(op_invpcid)
{
	SYS_ONLY();
	CPL0();
	uint64_t type = cpu->mode == EMU_MODE_64 ? cpu->state.gpr[i->regnum]
						 : (uint32_t)cpu->state.gpr[i->regnum];
	uint64_t desc[2];
	if (!emu_read_bytes(cpu, emu_ea(cpu, i), desc, 16))
		return EMU_STOP;
	if (type > 3 || (desc[0] >> 12))
		return emu_raise_gp0(cpu);
	bool pcide = cpu->state.cr4 & X86_CR4_PCIDE;
	if (!pcide && type <= 1 && (desc[0] & 0xfff))
		return emu_raise_gp0(cpu);
	switch (type) {
	case 0:
		if (!canonical(desc[1]))
			return emu_raise_gp0(cpu);
		/* The TLB holds only the current PCID's entries (and global ones). */
		if (!pcide || (desc[0] & 0xfff) == (cpu->state.cr3 & 0xfff))
			emu_sys_tlb_flush_page(cpu, desc[1]);
		break;
	case 1:
		if (!pcide || (desc[0] & 0xfff) == (cpu->state.cr3 & 0xfff))
			emu_sys_tlb_flush(cpu, false);
		break;
	case 2:
		emu_sys_tlb_flush(cpu, true);
		break;
	default:
		emu_sys_tlb_flush(cpu, false);
		break;
	}
	return EMU_NEXT;
}

/* ---- XSAVE family (x87 and SSE components: SDM Vol. 1 ch. 13) ---- */

static void x87_init_state(uint8_t *fx)
{
	uint32_t mxcsr;
	memcpy(&mxcsr, fx + 24, 4);
	uint32_t mask;
	memcpy(&mask, fx + 28, 4);
	memset(fx, 0, 160);
	x87_set16(fx, 0, 0x37f);
	memcpy(fx + 24, &mxcsr, 4);
	memcpy(fx + 28, &mask, 4);
}

int emu_sys_xsave(struct emu_cpu *cpu, const struct emu_insn *i, unsigned op)
{
	if (!(cpu->state.cr4 & X86_CR4_OSXSAVE))
		return emu_raise_ud(cpu);
	uint64_t addr = emu_ea(cpu, i);
	if (addr & 63)
		return emu_raise_gp0(cpu);
	uint64_t rfbm =
	    ((uint32_t)cpu->state.gpr[GPR_RAX] | cpu->state.gpr[GPR_RDX] << 32) & cpu->state.xcr0;
	bool w = i->rex & 8;
	uint8_t area[576];
	if (op == 4 || op == 6) { /* XSAVE, XSAVEOPT */
		if (!emu_read_bytes(cpu, addr, area, sizeof(area)) ||
		    !emu_probe_write(cpu, addr, sizeof(area)))
			return EMU_STOP;
		uint8_t image[FXSAVE_STORED_BYTES];
		emu_fxsave_store(cpu, image, w);
		if (rfbm & 1) {
			memcpy(area, image, 24);
			memcpy(area + 32, image + 32, 128);
		}
		if (rfbm & 2) {
			memcpy(area + 24, image + 24, 8);
			memcpy(area + 160, image + 160, 256);
		}
		uint64_t bv;
		memcpy(&bv, area + 512, 8);
		bv = (bv & ~rfbm) | rfbm;
		memcpy(area + 512, &bv, 8);
		return emu_write_bytes(cpu, addr, area, sizeof(area)) ? EMU_NEXT : EMU_STOP;
	}
	/* XRSTOR */
	if (!emu_read_bytes(cpu, addr, area, sizeof(area)))
		return EMU_STOP;
	uint64_t bv, comp, rest[6];
	memcpy(&bv, area + 512, 8);
	memcpy(&comp, area + 520, 8);
	memcpy(rest, area + 528, sizeof(rest));
	bool rest_zero = true;
	for (unsigned k = 0; k < 6; k++)
		rest_zero = rest_zero && rest[k] == 0;
	if ((bv & ~cpu->state.xcr0) || comp || !rest_zero)
		return emu_raise_gp0(cpu);
	uint32_t mxcsr;
	memcpy(&mxcsr, area + 24, 4);
	if ((rfbm & 2) && (mxcsr & ~0xffffu))
		return emu_raise_gp0(cpu);
	uint8_t image[FXSAVE_STORED_BYTES];
	emu_fxsave_store(cpu, image, w);
	if (rfbm & 1) {
		if (bv & 1) {
			memcpy(image, area, 24);
			memcpy(image + 32, area + 32, 128);
		} else {
			x87_init_state(image);
		}
	}
	if (rfbm & 2) {
		memcpy(image + 24, &mxcsr, 4);
		if (bv & 2)
			memcpy(image + 160, area + 160, 256);
		else
			memset(image + 160, 0, 256);
	}
	memcpy(&mxcsr, image + 24, 4);
	emu_fxrstor_load(cpu, image, w);
	memcpy(cpu->state.xsave + 24, &mxcsr, 4);
	return EMU_NEXT;
}

/* ---- far transfers, IRET, segment loads ---- */

/* JMP/CALL ptr16:16/32 (EA, 9A): imm is the offset, imm2 the selector. */
HANDLER(op_jmp_far)
{
	SYS_ONLY();
	return emu_sys_far_jmp(cpu, i, i->imm2, i->imm);
}

HANDLER(op_call_far)
{
	SYS_ONLY();
	return emu_sys_far_call(cpu, i, i->imm2, i->imm);
}

/* FF /3 and FF /5: m16:16, m16:32 or m16:64. */
HANDLER(op_far_indirect)
{
	SYS_ONLY();
	unsigned size = i->opsize;
	if (size == 8 && cpu->model->far_indirect_ignores_rex_w)
		size = 4;
	uint8_t buf[10];
	uint64_t addr = emu_ea(cpu, i);
	if (!emu_read_bytes(cpu, addr, buf, size + 2))
		return EMU_STOP;
	uint64_t off = load_host(buf, size);
	uint16_t sel;
	memcpy(&sel, buf + size, 2);
	if (i->sub == 3)
		return emu_sys_far_call(cpu, i, sel, off);
	return emu_sys_far_jmp(cpu, i, sel, off);
}

HANDLER(op_retf)
{
	SYS_ONLY();
	return emu_sys_far_ret(cpu, i, (uint16_t)i->imm);
}

HANDLER(op_iret)
{
	SYS_ONLY();
	int step = emu_sys_iret(cpu, i);
	if (step == EMU_BRANCH && (cpu->flags & FL_TF))
		return stop_at_branch(cpu);
	return step;
}

/* MOV Sreg, POP Sreg in system mode. */
int emu_sys_mov_sreg(struct emu_cpu *cpu, const struct emu_insn *i, unsigned sreg, uint16_t sel)
{
	if (!emu_sys_load_seg(cpu, sreg, sel))
		return EMU_STOP;
	if (sreg == SREG_SS) {
		/* the shadow: one instruction before any interrupt (only one waiting matters) */
		const atomic_bool *attn = cpu->sys->hooks.attention;
		if (!attn || !atomic_load_explicit(attn, memory_order_relaxed)) {
			cpu->sys->shadow = 0;
			return EMU_NEXT;
		}
		return stop_after(cpu);
	}
	(void)i;
	return EMU_NEXT;
}

/* LES LDS LSS LFS LGS: sub = the segment register. */
HANDLER(op_lfp)
{
	SYS_ONLY();
	unsigned size = i->opsize;
	if (size == 8 && cpu->model->far_indirect_ignores_rex_w)
		size = 4;
	uint8_t buf[10];
	if (!emu_read_bytes(cpu, emu_ea(cpu, i), buf, size + 2))
		return EMU_STOP;
	uint16_t sel;
	memcpy(&sel, buf + size, 2);
	if (!emu_sys_load_seg(cpu, i->sub, sel))
		return EMU_STOP;
	reg_write(cpu, i->reg, size, load_host(buf, size));
	if (i->sub == SREG_SS)
		return stop_after(cpu);
	return EMU_NEXT;
}
