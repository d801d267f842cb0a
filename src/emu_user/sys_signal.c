/* Signal system calls: dispositions and the mask are kept per process; SIG_IGN and SIG_DFL are
 * mirrored on the host (ignoring SIGPIPE or SIGINT behaves as natively) and caught signals reach
 * guest handlers through signal_delivery. */
#include "emu_user/signal_delivery.h"
#include "emu_user/syscall.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNBLOCKABLE ((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)))

static int64_t sys_rt_sigaction(struct emu_process *p, const uint64_t a[6])
{
	int sig = (int)a[0];
	if (sig < 1 || sig > GUEST_NSIG || a[3] != 8)
		return -EINVAL;
	GUEST_OPT_BUF(act, a[1], sizeof(struct guest_sigaction), PROT_READ);
	GUEST_OPT_BUF(oldact, a[2], sizeof(struct guest_sigaction), PROT_WRITE);
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	if (oldact)
		memcpy(oldact, &p->sigactions[sig], sizeof(struct guest_sigaction));
	if (act) {
		memcpy(&p->sigactions[sig], act, sizeof(struct guest_sigaction));
		signal_apply_disposition(p, sig);
	}
	return 0;
}

static int64_t sys_rt_sigprocmask(struct emu_process *p, const uint64_t a[6])
{
	if (a[3] != 8)
		return -EINVAL;
	GUEST_OPT_BUF(set, a[1], 8, PROT_READ);
	GUEST_OPT_BUF(oldset, a[2], 8, PROT_WRITE);
	uint64_t old = p->sigmask, change = 0;
	if (set) {
		memcpy(&change, set, 8);
		switch (a[0]) {
		case SIG_BLOCK:
			p->sigmask |= change;
			break;
		case SIG_UNBLOCK:
			p->sigmask &= ~change;
			break;
		case SIG_SETMASK:
			p->sigmask = change;
			break;
		default:
			return -EINVAL;
		}
		p->sigmask &= ~UNBLOCKABLE;
	}
	if (oldset)
		memcpy(oldset, &old, 8);
	return 0;
}

static int64_t sys_rt_sigpending(struct emu_process *p, const uint64_t a[6])
{
	if (a[1] != 8)
		return -EINVAL;
	GUEST_BUF(set, a[0], 8, PROT_WRITE);
	memset(set, 0, 8); /* nothing is ever left pending */
	return 0;
}

static int64_t sys_sigaltstack(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(ss, a[0], sizeof(stack_t), PROT_READ);
	GUEST_OPT_BUF(old, a[1], sizeof(stack_t), PROT_WRITE);
	(void)ss;
	if (old) {
		stack_t disabled = {.ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0};
		memcpy(old, &disabled, sizeof(disabled));
	}
	return 0;
}

static int64_t sys_kill(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(kill((pid_t)a[0], (int)a[1]));
}

static int64_t sys_tgkill(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(syscall(SYS_tgkill, (pid_t)a[0], (pid_t)a[1], (int)a[2]));
}

static int64_t sys_tkill(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(syscall(SYS_tkill, (pid_t)a[0], (int)a[1]));
}

static int64_t sys_pause(struct emu_process *p, const uint64_t a[6])
{
	(void)a;
	return signal_suspend(p, p->sigmask);
}

static int64_t sys_rt_sigsuspend(struct emu_process *p, const uint64_t a[6])
{
	if (a[1] != 8)
		return -EINVAL;
	GUEST_BUF(set, a[0], 8, PROT_READ);
	uint64_t mask;
	memcpy(&mask, set, 8);
	return signal_suspend(p, mask);
}

static int64_t sys_rt_sigreturn(struct emu_process *p, const uint64_t a[6])
{
	(void)a;
	return signal_return(p);
}

void syscall_register_signal(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_rt_sigaction, sys_rt_sigaction);
	SET(SYS_rt_sigprocmask, sys_rt_sigprocmask);
	SET(SYS_rt_sigpending, sys_rt_sigpending);
	SET(SYS_sigaltstack, sys_sigaltstack);
	SET(SYS_kill, sys_kill);
	SET(SYS_tgkill, sys_tgkill);
	SET(SYS_tkill, sys_tkill);
	SET(SYS_pause, sys_pause);
	SET(SYS_rt_sigsuspend, sys_rt_sigsuspend);
	SET(SYS_rt_sigreturn, sys_rt_sigreturn);
}
