#include "emu_user/signal_delivery.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#define GUEST_SA_SIGINFO   0x00000004ULL
#define GUEST_SA_ONSTACK   0x08000000ULL
#define GUEST_SA_RESTART   0x10000000ULL
#define GUEST_SA_NODEFER   0x40000000ULL
#define GUEST_SA_RESETHAND 0x80000000ULL
#define GUEST_SA_RESTORER  0x04000000ULL
#define REDZONE		   128
#define FXSAVE_BYTES	   512
#define SIGINFO_BYTES	   128
/* RFLAGS bits a user program may change through sigreturn (CF PF AF ZF SF TF DF OF AC ID...). */
#define USER_RFLAGS 0x00254dd5ULL

/* The kernel's struct sigcontext (x86-64). */
struct guest_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved[8];
};

struct guest_ucontext {
	uint64_t flags;
	uint64_t link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	struct guest_sigcontext mcontext;
	uint64_t sigmask;
};

struct guest_rt_sigframe {
	uint64_t pretcode;
	struct guest_ucontext uc;
	uint8_t info[SIGINFO_BYTES];
};

_Static_assert(sizeof(struct guest_sigcontext) == 256, "struct sigcontext layout");

/* Written by the host handler, read by the run loop: the only state shared with it. */
static volatile sig_atomic_t noted[GUEST_NSIG + 1];
static siginfo_t noted_info[GUEST_NSIG + 1];

static void note_signal(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (sig > 0 && sig <= GUEST_NSIG) {
		noted_info[sig] = *info;
		noted[sig] = 1;
	}
}

static bool cpu_owned(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS || sig == SIGKILL || sig == SIGSTOP;
}

void signal_apply_disposition(const struct emu_process *p, int sig)
{
	if (cpu_owned(sig) || sig >= SIGRTMIN)
		return;
	const struct guest_sigaction *act = &p->sigactions[sig];
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigfillset(&sa.sa_mask);
	if (act->handler == 0) {
		sa.sa_handler = SIG_DFL;
	} else if (act->handler == 1) {
		sa.sa_handler = SIG_IGN;
	} else {
		sa.sa_sigaction = note_signal;
		sa.sa_flags = SA_SIGINFO | ((act->flags & GUEST_SA_RESTART) ? SA_RESTART : 0);
	}
	sigaction(sig, &sa, NULL);
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

static int next_deliverable(const struct emu_process *p)
{
	for (int sig = 1; sig <= GUEST_NSIG; sig++)
		if (noted[sig] && !(p->sigmask & bit(sig)))
			return sig;
	return 0;
}

bool signal_deliverable(const struct emu_process *p)
{
	return next_deliverable(p) != 0;
}

static void save_context(const struct vcpu_state *s, struct guest_sigcontext *mc)
{
	const uint64_t *g = s->gpr;
	*mc = (struct guest_sigcontext){
	    .r8 = g[GPR_R8],
	    .r9 = g[GPR_R9],
	    .r10 = g[GPR_R10],
	    .r11 = g[GPR_R11],
	    .r12 = g[GPR_R12],
	    .r13 = g[GPR_R13],
	    .r14 = g[GPR_R14],
	    .r15 = g[GPR_R15],
	    .rdi = g[GPR_RDI],
	    .rsi = g[GPR_RSI],
	    .rbp = g[GPR_RBP],
	    .rbx = g[GPR_RBX],
	    .rdx = g[GPR_RDX],
	    .rax = g[GPR_RAX],
	    .rcx = g[GPR_RCX],
	    .rsp = g[GPR_RSP],
	    .rip = s->rip,
	    .eflags = s->rflags,
	    .cs = 0x33,
	    .ss = 0x2b,
	};
}

static void restore_context(struct vcpu_state *s, const struct guest_sigcontext *mc)
{
	uint64_t *g = s->gpr;
	g[GPR_R8] = mc->r8, g[GPR_R9] = mc->r9, g[GPR_R10] = mc->r10, g[GPR_R11] = mc->r11;
	g[GPR_R12] = mc->r12, g[GPR_R13] = mc->r13, g[GPR_R14] = mc->r14, g[GPR_R15] = mc->r15;
	g[GPR_RDI] = mc->rdi, g[GPR_RSI] = mc->rsi, g[GPR_RBP] = mc->rbp, g[GPR_RBX] = mc->rbx;
	g[GPR_RDX] = mc->rdx, g[GPR_RAX] = mc->rax, g[GPR_RCX] = mc->rcx, g[GPR_RSP] = mc->rsp;
	s->rip = mc->rip;
	s->rflags = (s->rflags & ~USER_RFLAGS) | (mc->eflags & USER_RFLAGS);
}

/* The handler cannot run (no room on its stack): the kernel kills with SIGSEGV. */
static void frame_fault(struct emu_process *p)
{
	p->exited = true;
	p->fatal_signal = SIGSEGV;
	p->exit_status = 128 + SIGSEGV;
}

static struct guest_rt_sigframe *push_frame(struct emu_process *p, int sig,
					    const struct guest_sigaction *act, uint64_t saved_mask)
{
	struct vcpu_state *s = p->regs;
	uint64_t sp = s->gpr[GPR_RSP] - REDZONE;
	uint64_t fpstate = (sp - FXSAVE_BYTES) & ~63ULL;
	uint64_t frame = ((fpstate - sizeof(struct guest_rt_sigframe)) & ~15ULL) - 8;
	void *fp_host = guest_as_translate(&p->as, fpstate, FXSAVE_BYTES, PROT_WRITE);
	struct guest_rt_sigframe *f =
	    guest_as_translate(&p->as, frame, sizeof(struct guest_rt_sigframe), PROT_WRITE);
	if (!fp_host || !f || !(act->flags & GUEST_SA_RESTORER)) {
		frame_fault(p);
		return NULL;
	}
	emu_cpu_save_fxsave(p->cpu, fp_host); /* as the kernel's XSAVE stores it */
	memset(f, 0, sizeof(*f));
	f->pretcode = act->restorer;
	f->uc.ss_flags = SS_DISABLE;
	save_context(s, &f->uc.mcontext);
	f->uc.mcontext.fpstate = fpstate;
	f->uc.mcontext.oldmask = saved_mask;
	f->uc.sigmask = saved_mask;
	memcpy(f->info, &noted_info[sig], sizeof(f->info));

	s->gpr[GPR_RSP] = frame;
	s->gpr[GPR_RDI] = (uint64_t)sig;
	s->gpr[GPR_RSI] = frame + offsetof(struct guest_rt_sigframe, info);
	s->gpr[GPR_RDX] = frame + offsetof(struct guest_rt_sigframe, uc);
	s->gpr[GPR_RAX] = 0;
	s->rip = act->handler;
	s->rflags &= ~(0x100ULL | 0x400ULL); /* TF and DF clear, as the ABI requires */
	return f;
}

/* The handler now runs with its sa_mask (and the signal itself) blocked; SA_RESETHAND makes
 * this delivery the last. */
static void enter_handler(struct emu_process *p, int sig, const struct guest_sigaction *act)
{
	p->sigmask |= act->mask | ((act->flags & GUEST_SA_NODEFER) ? 0 : bit(sig));
	p->sigmask &= ~(bit(SIGKILL) | bit(SIGSTOP));
	if (act->flags & GUEST_SA_RESETHAND) {
		memset(&p->sigactions[sig], 0, sizeof(p->sigactions[sig]));
		signal_apply_disposition(p, sig);
	}
}

/* Returns true when a handler frame was pushed. */
static bool deliver_one(struct emu_process *p, int sig, uint64_t saved_mask)
{
	noted[sig] = 0;
	struct guest_sigaction act = p->sigactions[sig];
	if (act.handler == 1)
		return false;
	if (act.handler == 0) {
		/* Caught on the host when it arrived, default by now: act as the default would. */
		signal(sig, SIG_DFL);
		raise(sig);
		return false;
	}
	push_frame(p, sig, &act, saved_mask);
	enter_handler(p, sig, &act);
	return true;
}

void signal_deliver(struct emu_process *p)
{
	int sig = next_deliverable(p);
	if (sig)
		deliver_one(p, sig, p->sigmask);
}

bool signal_deliver_fault(struct emu_process *p, const struct guest_fault *fault)
{
	int sig = fault->sig;
	struct guest_sigaction act = p->sigactions[sig];
	/* Like the kernel's force_sig: blocked or not caught means the process dies. */
	if (act.handler <= 1 || (p->sigmask & bit(sig)))
		return false;
	memset(&noted_info[sig], 0, sizeof(noted_info[sig]));
	noted_info[sig].si_signo = sig;
	noted_info[sig].si_code = fault->code;
	noted_info[sig].si_addr = (void *)(uintptr_t)fault->addr;
	struct guest_rt_sigframe *f = push_frame(p, sig, &act, p->sigmask);
	if (f) {
		f->uc.mcontext.eflags =
		    fault->rflags; /* RF set for a fault, as the CPU pushed it */
		f->uc.mcontext.trapno = fault->trapno;
		f->uc.mcontext.err = fault->error_code;
		f->uc.mcontext.cr2 = fault->addr;
		enter_handler(p, sig, &act);
	}
	return true;
}

void signal_clear_pending(void)
{
	for (int sig = 1; sig <= GUEST_NSIG; sig++)
		noted[sig] = 0;
}

int64_t signal_return(struct emu_process *p)
{
	struct vcpu_state *s = p->regs;
	uint64_t frame = s->gpr[GPR_RSP] - 8; /* the handler's ret popped pretcode */
	const struct guest_rt_sigframe *f =
	    guest_as_translate(&p->as, frame, sizeof(struct guest_rt_sigframe), PROT_READ);
	if (!f) {
		frame_fault(p);
		return 0;
	}
	struct guest_sigcontext mc = f->uc.mcontext;
	uint64_t mask = f->uc.sigmask;
	const void *fp_host =
	    mc.fpstate ? guest_as_translate(&p->as, mc.fpstate, FXSAVE_BYTES, PROT_READ) : NULL;
	if (mc.fpstate && !fp_host) {
		frame_fault(p);
		return 0;
	}
	if (fp_host)
		emu_cpu_load_fxsave(p->cpu, fp_host);
	restore_context(s, &mc);
	p->sigmask = mask & ~(bit(SIGKILL) | bit(SIGSTOP));
	return (int64_t)mc.rax; /* rax is the interrupted code's, not a result */
}

int64_t signal_suspend(struct emu_process *p, uint64_t mask)
{
	uint64_t saved = p->sigmask;
	p->sigmask = mask & ~(bit(SIGKILL) | bit(SIGSTOP));
	/* Check and sleep with every signal blocked in between, so that none slips past. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	while (!signal_deliverable(p)) {
		sigset_t wait_mask = old;
		sigsuspend(&wait_mask);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* The interrupted call returns -EINTR; the handler's frame restores the old mask. */
	p->regs->gpr[GPR_RAX] = (uint64_t)-EINTR;
	if (!deliver_one(p, next_deliverable(p), saved))
		p->sigmask = saved;
	return -EINTR;
}
