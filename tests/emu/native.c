/* The native half of the differential test: a forked child maps the sandbox pages at fixed
 * addresses, with the permissions the emulator gives them (code read+exec, data read+write),
 * and runs each case on the host CPU. It enters the case by rewriting the ucontext of a SIGUSR1
 * handler (so sigreturn loads every register at once), and leaves it through the signal the
 * instruction or the trailing int3 raises, whose handler records the state and rewrites the
 * context back to the harness. A child that dies, or whose case did not run, is replaced. */
#include "difftest.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static pid_t child = -1;
static int to_child = -1, from_child = -1;

/* Child state. */
static const struct dt_case *current;
static struct dt_outcome *result;
static gregset_t saved_gregs;
static struct _libc_fpstate saved_fpstate;
static uint8_t altstack[65536];

static const int greg_of[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
				REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
				REG_R12, REG_R13, REG_R14, REG_R15};

static void enter_case(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ctx;
	memcpy(saved_gregs, uc->uc_mcontext.gregs, sizeof(saved_gregs));
	memcpy(&saved_fpstate, uc->uc_mcontext.fpregs, sizeof(saved_fpstate));
	for (int k = 0; k < 16; k++)
		uc->uc_mcontext.gregs[greg_of[k]] = (greg_t)current->regs.gpr[k];
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)current->regs.rip;
	uc->uc_mcontext.gregs[REG_EFL] = (greg_t)current->regs.rflags;
	memcpy(uc->uc_mcontext.fpregs->_xmm, current->regs.xmm, sizeof(current->regs.xmm));
	uc->uc_mcontext.fpregs->mxcsr = current->regs.mxcsr;
	dt_copy_x87((uint8_t *)uc->uc_mcontext.fpregs, current->regs.x87);
	struct itimerval t = {.it_value = {.tv_usec = 20000}};
	setitimer(ITIMER_REAL, &t, NULL);
}

static void leave_case(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL);
	for (int k = 0; k < 16; k++)
		result->regs.gpr[k] = (uint64_t)uc->uc_mcontext.gregs[greg_of[k]];
	result->regs.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	result->regs.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
	memcpy(result->regs.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof(result->regs.xmm));
	result->regs.mxcsr = uc->uc_mcontext.fpregs->mxcsr;
	dt_copy_x87(result->regs.x87, (const uint8_t *)uc->uc_mcontext.fpregs);
	result->error_code = (uint32_t)uc->uc_mcontext.gregs[REG_ERR];
	result->fault_address = (uint64_t)si->si_addr;
	if (sig == SIGALRM)
		result->vector = DT_TIMEOUT;
	else
		result->vector = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
	if (sig == SIGFPE && result->vector == 0 && si->si_code != FPE_INTDIV &&
	    si->si_code != FPE_INTOVF)
		result->vector = 19;
	memcpy(uc->uc_mcontext.gregs, saved_gregs, sizeof(saved_gregs));
	memcpy(uc->uc_mcontext.fpregs, &saved_fpstate, sizeof(saved_fpstate));
}

static bool map_sandbox(void)
{
	void *code = mmap((void *)DT_CODE, DT_PAGE, PROT_READ | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	void *data = mmap((void *)DT_DATA, DT_DATA_BYTES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	return code == (void *)DT_CODE && data == (void *)DT_DATA;
}

static void install_handlers(void)
{
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	sigaltstack(&ss, NULL);
	struct sigaction sa = {.sa_sigaction = enter_case, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	/* The time limit it arms fires in the case, never in the harness before it: a child
	 * preempted there for longer would record the harness's registers. */
	sigaddset(&sa.sa_mask, SIGALRM);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = leave_case;
	sigaddset(&sa.sa_mask, SIGALRM);
	int sigs[] = {SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGBUS, SIGALRM};
	for (unsigned k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		sigaction(sigs[k], &sa, NULL);
}

static bool read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void child_main(int in, int out)
{
	static struct dt_case c;
	static struct dt_outcome o;
	uint8_t ready = map_sandbox();
	if (!write_all(out, &ready, 1) || !ready)
		_exit(2);
	install_handlers();
	while (read_all(in, &c, sizeof(c))) {
		/* The code page is writable only while the harness fills it. */
		if (mprotect((void *)DT_CODE, DT_PAGE, PROT_READ | PROT_WRITE))
			_exit(2);
		memset((void *)DT_CODE, 0xcc, DT_PAGE);
		memcpy((void *)DT_CODE, c.code, c.code_len);
		if (mprotect((void *)DT_CODE, DT_PAGE, PROT_READ | PROT_EXEC))
			_exit(2);
		memcpy((void *)DT_DATA, c.data, DT_DATA_BYTES);
		memset(&o, 0, sizeof(o));
		o.vector = DT_LOST; /* stays so if the case never ran */
		current = &c;
		result = &o;
		raise(SIGUSR1);
		memcpy(o.data, (void *)DT_DATA, DT_DATA_BYTES);
		unsigned char resident;
		o.probe_mapped = c.probe_page &&
				 mincore((void *)(uintptr_t)c.probe_page, DT_PAGE, &resident) == 0;
		if (!write_all(out, &o, sizeof(o)) || o.vector == DT_LOST)
			_exit(1);
	}
	_exit(0);
}

bool dt_native_start(void)
{
	int a[2], b[2];
	if (pipe(a) || pipe(b))
		return false;
	child = fork();
	if (child < 0)
		return false;
	if (child == 0) {
		close(a[1]);
		close(b[0]);
		child_main(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	to_child = a[1];
	from_child = b[0];
	/* The child says whether it could map the sandbox at its fixed addresses (under
	 * AddressSanitizer, for one, they lie in its shadow gap). */
	uint8_t ready = 0;
	if (!read_all(from_child, &ready, 1) || !ready) {
		dt_native_stop();
		return false;
	}
	return true;
}

void dt_native_stop(void)
{
	if (child > 0) {
		close(to_child);
		close(from_child);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
}

bool dt_native_run(const struct dt_case *c, struct dt_outcome *out)
{
	if (child < 0 && !dt_native_start())
		return false;
	if (write_all(to_child, c, sizeof(*c)) && read_all(from_child, out, sizeof(*out))) {
		if (out->vector != DT_LOST)
			return true;
	} else {
		out->vector = DT_LOST;
	}
	/* The case took the sandbox down (it wrote over the harness), or did not run: skip it,
	 * start afresh. */
	dt_native_stop();
	return dt_native_start();
}
