/* The system-mode CPU object and its run loop: slices of at most SLICE instructions between
 * which it looks at other threads' requests (kick, dropped code), the LAPIC's attention flag
 * (INIT, SIPI, NMI, interrupts: SDM Vol. 3 6.7-6.9, 10.4), its timer, and delivers exceptions
 * the slice stopped on. HLT and wait-for-SIPI sleep on a futex until a kick, the LAPIC timer's
 * deadline or an event: never a busy loop. */
#include "accel/emu/code_cache.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Instructions between two looks at requests and events (a kick is seen within one slice). */
#define SLICE	      4096
#define PROFILE_SLOTS 4096

static void flat_real_segment(struct vcpu_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct vcpu_segment){.selector = sel,
				   .base = (uint64_t)sel << 4,
				   .limit = 0xffff,
				   .type = type,
				   .s = 1,
				   .present = 1};
}

void emu_sys_reset(struct emu_cpu *cpu, bool init)
{
	struct emu_sys *s = cpu->sys;
	struct vcpu_state *st = &cpu->state;
	uint8_t fx[512];
	uint64_t xcr0 = st->xcr0;
	memcpy(fx, st->xsave, sizeof(fx));
	vcpu_state_reset(st);
	if (init) { /* INIT keeps x87/SSE state and the MSRs (SDM Vol. 3 Table 10-1) */
		memcpy(st->xsave, fx, sizeof(fx));
		st->xcr0 = xcr0;
	} else {
		uint16_t fcw = 0x37f;
		uint32_t mxcsr = 0x1f80, mask = 0xffff;
		memset(st->xsave, 0, sizeof(st->xsave));
		memcpy(st->xsave, &fcw, 2);
		memcpy(st->xsave + 24, &mxcsr, 4);
		memcpy(st->xsave + 28, &mask, 4);
		st->xcr0 = 1;
		s->star = s->lstar = s->cstar = s->sfmask = s->kernel_gs_base = 0;
		s->tsc_aux = s->sysenter_cs = s->sysenter_esp = s->sysenter_eip = 0;
		s->pat = 0x0007040600070406ULL;
		s->misc_enable = 1; /* fast strings */
		s->mtrr_def_type = 0;
		memset(s->mtrr_fixed, 0, sizeof(s->mtrr_fixed));
		memset(s->mtrr_var, 0, sizeof(s->mtrr_var));
		s->mcg_status = 0;
	}
	flat_real_segment(&st->seg[SREG_CS], 0xf000, 0xb);
	st->seg[SREG_CS].base = 0xffff0000ULL;
	st->rip = 0xfff0;
	memset(s->dr, 0, sizeof(s->dr));
	s->dr[6] = 0xffff0ff0;
	s->dr[7] = 0x400;
	s->nmi_masked = s->nmi_pending = false;
	s->shadow = 0;
	s->ext_vector = -1;
	s->delivering = -1;
	s->inject = false;
	s->inject_irq = -1;
	s->mp_state = VCPU_MP_RUNNABLE;
	emu_sys_state_changed(cpu);
}

void emu_sys_state_changed(struct emu_cpu *cpu)
{
	struct vcpu_state *st = &cpu->state;
	if (!(st->cr0 & X86_CR0_PE))
		cpu->cpl = 0;
	else if (st->rflags & FL_VM)
		cpu->cpl = 3;
	else
		cpu->cpl = st->seg[SREG_SS].dpl;
	cpu->flags = st->rflags | 2;
	cpu->lf.op = LF_NONE;
	emu_sys_mode_changed(cpu);
	emu_sys_tlb_flush(cpu, true);
	emu_code_flush(cpu);
}

struct emu_cpu *emu_cpu_create_system(struct emu_machine *m, unsigned index,
				      const struct accel_vcpu_hooks *hooks)
{
	if (index >= EMU_MAX_VCPUS)
		return NULL;
	struct emu_memory none = {0};
	struct emu_cpu *cpu = emu_cpu_create(&none, m->model);
	if (!cpu)
		return NULL;
	/* An operating system's worth of code: pools 8 times user mode's (allocated lazily by
	 * the host as they fill). */
	emu_code_cache_fini(cpu);
	if (!emu_code_cache_init(cpu, 3)) {
		emu_cpu_destroy(cpu);
		return NULL;
	}
	struct emu_sys *s = aligned_alloc(64, (sizeof(*s) + 63) & ~(size_t)63);
	if (!s) {
		emu_cpu_destroy(cpu);
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->machine = m;
	if (hooks)
		s->hooks = *hooks;
	s->index = index;
	pthread_mutex_init(&s->inv_lock, NULL);
	for (unsigned c = 0; c < TLB_CONTEXTS; c++)
		for (unsigned k = 0; k < EMU_TLB_SIZE; k++)
			s->tlbs[c][k].tag_read = s->tlbs[c][k].tag_write = s->tlbs[c][k].tag_exec =
			    EMU_TLB_INVALID;
	for (unsigned k = 0; k < EMU_TLB_SIZE; k++)
		s->tlb_none[k].tag_read = s->tlb_none[k].tag_write = s->tlb_none[k].tag_exec =
		    EMU_TLB_INVALID;
	cpu->sys = s;
	cpu->tlb = s->tlbs[TLB_SUPER_USERDATA];
	emu_sys_reset(cpu, false);
	if (index != 0)
		s->mp_state = VCPU_MP_UNINITIALIZED; /* an AP waits for INIT */
	if (getenv("GUREUM_EMU_PROFILE"))
		s->profile = calloc(PROFILE_SLOTS, sizeof(*s->profile));
	atomic_store(&m->cpus[index], cpu);
	return cpu;
}

static void profile_sample(struct emu_sys *s, uint64_t rip)
{
	uint64_t line = rip >> 6;
	uint32_t h = (uint32_t)((line * 0x9e3779b97f4a7c15ULL) >> 52) & (PROFILE_SLOTS - 1);
	for (unsigned n = 0; n < 16; n++, h = (h + 1) & (PROFILE_SLOTS - 1)) {
		if (s->profile[h].count == 0 || s->profile[h].line == line) {
			s->profile[h].line = line;
			s->profile[h].count++;
			return;
		}
	}
}

static int by_count(const void *a, const void *b)
{
	const struct emu_profile_slot *x = a, *y = b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

void emu_sys_profile_dump(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	if (!s->profile)
		return;
	qsort(s->profile, PROFILE_SLOTS, sizeof(*s->profile), by_count);
	uint64_t total = 0;
	for (unsigned k = 0; k < PROFILE_SLOTS; k++)
		total += s->profile[k].count;
	fprintf(stderr, "emu profile of vCPU %u: %llu samples\n", s->index,
		(unsigned long long)total);
	for (unsigned k = 0; k < 40 && s->profile[k].count; k++)
		fprintf(stderr, "  %5.1f%%  %#llx\n",
			100.0 * (double)s->profile[k].count / (double)total,
			(unsigned long long)(s->profile[k].line << 6));
}

int emu_sys_internal(struct emu_cpu *cpu, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cpu->sys->error, sizeof(cpu->sys->error), fmt, ap);
	va_end(ap);
	cpu->pending = (struct emu_exit){.reason = EMU_EXIT_INTERNAL};
	cpu->pending_after = false;
	return EMU_STOP;
}

void emu_sys_kick(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	atomic_fetch_or(&s->requests, EMU_REQ_KICK);
	atomic_fetch_add(&s->wake, 1);
	syscall(SYS_futex, &s->wake, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- events ---- */

static bool interrupts_enabled(const struct emu_cpu *cpu)
{
	return (cpu->state.rflags & X86_RFLAGS_IF) && !cpu->sys->shadow;
}

static void start_at_sipi(struct emu_cpu *cpu, uint8_t vector)
{
	struct vcpu_state *st = &cpu->state;
	flat_real_segment(&st->seg[SREG_CS], (uint16_t)(vector << 8), 0xb);
	st->rip = 0;
	cpu->sys->mp_state = VCPU_MP_RUNNABLE;
	emu_sys_state_changed(cpu);
}

/* INIT and SIPI (SDM Vol. 3 10.4.7.3, 8.4.4): the BSP restarts at the reset vector, an AP
 * waits for a SIPI. */
static void take_init_sipi(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	if (s->hooks.take_init && s->hooks.take_init(s->hooks.opaque)) {
		emu_sys_reset(cpu, true);
		s->mp_state = s->index == 0 ? VCPU_MP_RUNNABLE : VCPU_MP_INIT_RECEIVED;
	}
	uint8_t vector;
	if (s->hooks.take_sipi && s->hooks.take_sipi(s->hooks.opaque, &vector) &&
	    s->mp_state == VCPU_MP_INIT_RECEIVED)
		start_at_sipi(cpu, vector);
}

/* What the attention flag announces; true when the vCPU has something to run. */
static bool handle_events(struct emu_cpu *cpu, struct vcpu_exit *exit, bool *stop)
{
	struct emu_sys *s = cpu->sys;
	take_init_sipi(cpu);
	if (s->mp_state == VCPU_MP_UNINITIALIZED || s->mp_state == VCPU_MP_INIT_RECEIVED)
		return false;
	if (s->hooks.take_nmi && s->hooks.take_nmi(s->hooks.opaque))
		s->nmi_pending = true;
	if (s->nmi_pending && !s->nmi_masked && s->shadow != 2) {
		s->nmi_pending = false;
		s->mp_state = VCPU_MP_RUNNABLE;
		if (!emu_sys_deliver(cpu, EMU_EVENT_NMI, 2, false, 0))
			goto failed;
		s->nmi_masked = true;
	}
	if (interrupts_enabled(cpu) && s->hooks.acknowledge_interrupt) {
		int v = s->hooks.acknowledge_interrupt(s->hooks.opaque);
		if (v >= 0) {
			s->mp_state = VCPU_MP_RUNNABLE;
			if (!emu_sys_deliver(cpu, EMU_EVENT_EXTERNAL, (uint8_t)v, false, 0))
				goto failed;
		}
	}
	return s->mp_state == VCPU_MP_RUNNABLE;
failed:
	*stop = true;
	(void)exit;
	return false;
}

static void report_failure(struct emu_cpu *cpu, struct vcpu_exit *exit)
{
	struct emu_sys *s = cpu->sys;
	if (cpu->pending.reason == EMU_EXIT_INTERNAL) {
		exit->reason = VCPU_EXIT_INTERNAL_ERROR;
		exit->error.code = 0;
		return;
	}
	/* triple fault (SDM Vol. 3 6.15, interrupt 8): the CPU shuts down */
	s->delivering = -1;
	exit->reason = VCPU_EXIT_SHUTDOWN;
	exit->shutdown.registers_reset = false;
}

static uint64_t now_ns(void)
{
	return guest_clock_host_ns();
}

static void advance_timer(struct emu_cpu *cpu, uint64_t now)
{
	struct emu_sys *s = cpu->sys;
	if (!s->hooks.timer_deadline || !s->hooks.timer_advance)
		return;
	if (s->hooks.timer_deadline(s->hooks.opaque) <= now)
		s->hooks.timer_advance(s->hooks.opaque, now);
}

/* Sleeps until a kick, an event or the LAPIC timer's deadline (halted, or waiting for INIT or
 * SIPI). Returns false when a kick asks to leave vcpu_run. */
/* Whether what the attention flag announces wakes this waiting vCPU: INIT and SIPI as its
 * state allows, an NMI not blocked, an interrupt when IF = 1 (HLT with IF = 0 sleeps on with an
 * interrupt pending, as the hardware does, instead of spinning on the flag). */
static bool wakes(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	if (!s->hooks.attention || !atomic_load(s->hooks.attention))
		return s->nmi_pending && !s->nmi_masked && s->mp_state == VCPU_MP_HALTED;
	take_init_sipi(cpu);
	if (s->mp_state == VCPU_MP_RUNNABLE)
		return true;
	if (s->mp_state != VCPU_MP_HALTED)
		return false; /* waiting for INIT or SIPI: nothing else counts */
	if (s->hooks.take_nmi && s->hooks.take_nmi(s->hooks.opaque))
		s->nmi_pending = true;
	if (s->nmi_pending && !s->nmi_masked)
		return true;
	return (cpu->state.rflags & X86_RFLAGS_IF) && s->hooks.pending_interrupt &&
	       s->hooks.pending_interrupt(s->hooks.opaque) >= 0;
}

static bool wait_for_event(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	s->stats.halts++;
	for (;;) {
		uint32_t w = atomic_load(&s->wake);
		if (atomic_load(&s->requests) & EMU_REQ_KICK)
			return false;
		if (wakes(cpu))
			return true;
		uint64_t deadline =
		    s->hooks.timer_deadline ? s->hooks.timer_deadline(s->hooks.opaque) : UINT64_MAX;
		uint64_t now = now_ns();
		if (deadline <= now) {
			s->hooks.timer_advance(s->hooks.opaque, now);
			if (wakes(cpu))
				return true;
			continue;
		}
		struct timespec ts, *tp = NULL;
		if (deadline != UINT64_MAX) {
			uint64_t d = deadline - now;
			ts.tv_sec = (time_t)(d / 1000000000ULL);
			ts.tv_nsec = (long)(d % 1000000000ULL);
			tp = &ts;
		}
		syscall(SYS_futex, &s->wake, FUTEX_WAIT_PRIVATE, w, tp, NULL, 0);
	}
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* A #GP(0) for a non-canonical address is #SS(0) when the address was a stack reference (SDM
 * Vol. 3 6.15, #SS): an operand based on rSP or rBP, or the stack of a push, pop, call,
 * return, ENTER or LEAVE. The faulting instruction is decoded again to tell (rare path). */
static bool noncanonical_stack_reference(struct emu_cpu *cpu)
{
	struct vcpu_state *st = &cpu->state;
	uint64_t lin = cpu->mode == EMU_MODE_64 ? st->rip : st->seg[SREG_CS].base + st->rip;
	uint8_t buf[EMU_MAX_INSN_LEN];
	unsigned n = 0;
	struct emu_exit saved = cpu->pending;
	uint8_t *h = emu_sys_fetch_page(cpu, lin & EMU_PAGE_MASK);
	if (h) {
		unsigned off = (unsigned)(lin & 0xfff);
		n = 4096 - off < EMU_MAX_INSN_LEN ? 4096 - off : EMU_MAX_INSN_LEN;
		memcpy(buf, h + off, n);
		uint8_t *h2 = n < EMU_MAX_INSN_LEN
				  ? emu_sys_fetch_page(cpu, (lin & EMU_PAGE_MASK) + EMU_PAGE_SIZE)
				  : NULL;
		if (h2) {
			memcpy(buf + n, h2, EMU_MAX_INSN_LEN - n);
			n = EMU_MAX_INSN_LEN;
		}
	}
	cpu->pending = saved;
	struct emu_insn i;
	if (!n || emu_decode(buf, n, cpu->mode, cpu->model, st->rip, &i) != EMU_DECODE_OK)
		return false;
	if (i.is_mem && (i.base == GPR_RSP || i.base == GPR_RBP) &&
	    (i.seg == EMU_NO_SEG || i.seg == SREG_SS))
		return true;
	if (i.is_mem && i.seg == SREG_SS)
		return true;
	emu_handler fn = i.fn;
	bool stack_op = fn == op_push_reg || fn == op_pop_reg || fn == op_push_imm ||
			fn == op_push_rm || fn == op_pop_rm || fn == op_push_seg ||
			fn == op_pop_seg || fn == op_pushf || fn == op_popf || fn == op_call_rel ||
			fn == op_call_rm || fn == op_ret || fn == op_enter || fn == op_leave ||
			fn == op_iret || fn == op_retf || fn == op_call_far || fn == op_pusha ||
			fn == op_popa || (fn == op_far_indirect && i.sub == 3);
	uint64_t rsp = st->gpr[GPR_RSP];
	return stack_op && (!canonical(rsp) || !canonical(rsp - i.opsize));
}

/* Debug registers (SDM Vol. 3 17.2, 17.3): DR7 enables an instruction breakpoint n when
 * Ln or Gn is set and R/Wn is 00. */
static bool exec_breakpoints(const struct emu_sys *s)
{
	for (unsigned n = 0; n < 4; n++)
		if (((s->dr[7] >> (2 * n)) & 3) && !((s->dr[7] >> (16 + 4 * n)) & 3))
			return true;
	return false;
}

/* An instruction breakpoint at the next instruction (a fault: RIP at it), unless RF. */
static int breakpoint_hit(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	if (cpu->state.rflags & X86_RFLAGS_RF)
		return -1;
	uint64_t lin = cpu->mode == EMU_MODE_64 ? cpu->state.rip
						: cpu->state.seg[SREG_CS].base + cpu->state.rip;
	for (unsigned n = 0; n < 4; n++)
		if (((s->dr[7] >> (2 * n)) & 3) && !((s->dr[7] >> (16 + 4 * n)) & 3) &&
		    s->dr[n] == lin)
			return (int)n;
	return -1;
}

static bool waiting(const struct emu_sys *s)
{
	return s->mp_state != VCPU_MP_RUNNABLE;
}

/* Events vcpu_set_state handed over: delivered before anything else runs. */
static bool inject_saved(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	if (s->inject) {
		s->inject = false;
		cpu->pending = (struct emu_exit){.reason = EMU_EXIT_EXCEPTION,
						 .vector = s->inject_vector,
						 .fault_address = cpu->state.cr2};
		if (!emu_sys_deliver(cpu, EMU_EVENT_EXCEPTION, s->inject_vector, s->inject_has_code,
				     s->inject_code))
			return false;
	}
	if (s->inject_irq >= 0) {
		uint8_t v = (uint8_t)s->inject_irq;
		s->inject_irq = -1;
		if (!emu_sys_deliver(cpu, EMU_EVENT_EXTERNAL, v, false, 0))
			return false;
	}
	return true;
}

/* The run loop: emu_sys_run with run_seq odd. */
static int run_loop(struct emu_cpu *cpu, struct vcpu_exit *exit)
{
	struct emu_sys *s = cpu->sys;
	bool failed = false;
	uint64_t slice_start = 0, budget_end = s->stats.insns + s->run_budget;
	if ((s->inject || s->inject_irq >= 0) && !inject_saved(cpu)) {
		report_failure(cpu, exit);
		return 0;
	}
	for (;;) {
		/* a slice boundary: no instruction in flight (write_log.c waits for this) */
		atomic_fetch_add(&s->run_seq, 2);
		uint32_t req = atomic_load(&s->requests);
		if (req & EMU_REQ_KICK) {
			atomic_fetch_and(&s->requests, ~EMU_REQ_KICK);
			s->stats.kicks++;
			exit->reason = VCPU_EXIT_INTERRUPTED;
			return 0;
		}
		/* the attention flag first: a write another vCPU queued before it raised an IPI
		 * is then dropped before the interrupt is taken */
		bool attention = s->hooks.attention && atomic_load(s->hooks.attention);
		if (req & EMU_REQ_INVALIDATE)
			emu_sys_process_invalidations(cpu);
		uint64_t now = now_ns();
		if (slice_start) {
			s->stats.run_ns += now - slice_start;
			slice_start = 0;
		}
		advance_timer(cpu, now);
		if (attention || s->nmi_pending) {
			handle_events(cpu, exit, &failed);
			if (failed) {
				report_failure(cpu, exit);
				return 0;
			}
		}
		if (s->run_budget && (s->stats.insns >= budget_end || waiting(s))) {
			exit->reason = VCPU_EXIT_INTERRUPTED;
			return 0;
		}
		if (waiting(s)) {
			if (s->mp_state == VCPU_MP_HALTED && s->nmi_pending && !s->nmi_masked)
				continue;
			atomic_fetch_add(&s->run_seq,
					 1); /* even: asleep, outside any instruction */
			bool woken = wait_for_event(cpu);
			atomic_fetch_add(&s->run_seq, 1);
			if (!woken)
				continue; /* the kick is reported above */
			continue;
		}
		struct emu_exit e;
		uint8_t shadow = s->shadow;
		slice_start = now;
		/* Single-stepping (TF) or instruction breakpoints: one instruction at a time. */
		bool tf = cpu->state.rflags & FL_TF;
		bool debug = tf || (s->dr[7] & 0xff && exec_breakpoints(s));
		if (debug) {
			int bp = breakpoint_hit(cpu);
			if (bp >= 0) {
				s->dr[6] |= 1ULL << bp;
				cpu->pending = (struct emu_exit){0};
				if (!emu_sys_deliver(cpu, EMU_EVENT_EXCEPTION, EMU_VEC_DB, false,
						     0)) {
					report_failure(cpu, exit);
					return 0;
				}
				continue;
			}
		}
		emu_run(cpu, shadow || debug ? 1 : SLICE, &e);
		s->stats.insns += e.executed;
		if (tf && e.reason == EMU_EXIT_BUDGET && e.executed == 1) {
			/* the single-step trap, after the instruction (RIP after it) */
			s->dr[6] |= 1ULL << 14;
			cpu->state.rflags |= FL_TF; /* the image shows TF as the step ran with it */
			cpu->pending = (struct emu_exit){0};
			if (!emu_sys_deliver(cpu, EMU_EVENT_EXCEPTION, EMU_VEC_DB, false, 0)) {
				report_failure(cpu, exit);
				return 0;
			}
			if (shadow)
				s->shadow = 0;
			continue;
		}
		if (unlikely(s->profile != NULL))
			profile_sample(s, cpu->state.rip);
		if (shadow && e.executed)
			s->shadow = 0;
		switch (e.reason) {
		case EMU_EXIT_BUDGET:
			break;
		case EMU_EXIT_HLT:
			s->mp_state = VCPU_MP_HALTED;
			break;
		case EMU_EXIT_EXCEPTION: {
			enum emu_event_kind kind =
			    e.software ? EMU_EVENT_SOFTWARE : EMU_EVENT_EXCEPTION;
			cpu->pending = e;
			if (!e.software && !cpu->pending_after)
				cpu->state.rflags |= X86_RFLAGS_RF; /* a fault: RF in the image */
			if (e.vector == EMU_VEC_GP && e.has_error_code && e.error_code == 0 &&
			    s->noncanonical) {
				s->noncanonical = false;
				if (emu_sys_long_mode(cpu) && noncanonical_stack_reference(cpu))
					e.vector = EMU_VEC_SS;
			}
			s->shadow = 0;
			if (!emu_sys_deliver(cpu, kind, e.vector, e.has_error_code, e.error_code)) {
				report_failure(cpu, exit);
				return 0;
			}
			break;
		}
		case EMU_EXIT_INTERNAL:
			exit->reason = VCPU_EXIT_INTERNAL_ERROR;
			exit->error.code = 0;
			return 0;
		default:
			emu_sys_internal(cpu, "unexpected exit %d", (int)e.reason);
			exit->reason = VCPU_EXIT_INTERNAL_ERROR;
			return 0;
		}
	}
}

int emu_sys_run(struct emu_cpu *cpu, struct vcpu_exit *exit)
{
	atomic_fetch_add(&cpu->sys->run_seq, 1);
	int rc = run_loop(cpu, exit);
	atomic_fetch_add(&cpu->sys->run_seq, 1);
	return rc;
}
