#include "vmm/sandbox.h"

#include "lib/log.h"
#include "lib/sanitizer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 128 + SIGSYS, as a shell reports a process the signal ended. */
#define SANDBOX_EXIT_STATUS 159

struct denied_call {
	int nr;
	const char *name;
};

#define DENY(call)                                                                                 \
	{                                                                                          \
		SCMP_SYS(call), #call                                                              \
	}

/* Calls the VMM never makes; a VMM that makes one is no longer the VMM. */
static const struct denied_call process_denied[] = {
    DENY(execve),
    DENY(execveat),
    DENY(fork),
    DENY(vfork),
    DENY(process_vm_readv),
    DENY(process_vm_writev),
    DENY(setns),
    DENY(unshare),
    DENY(init_module),
    DENY(finit_module),
    DENY(delete_module),
    DENY(kexec_load),
    DENY(kexec_file_load),
    DENY(reboot),
    DENY(swapon),
    DENY(swapoff),
    DENY(bpf),
    DENY(keyctl),
    DENY(add_key),
    DENY(request_key),
    DENY(open_by_handle_at),
    DENY(acct),
    DENY(settimeofday),
    DENY(clock_settime),
    DENY(adjtimex),
    DENY(iopl),
    DENY(ioperm),
    DENY(syslog),
    DENY(sethostname),
    DENY(setdomainname),
    DENY(quotactl),
    DENY(fsopen),
    DENY(fsmount),
    DENY(move_mount),
    DENY(open_tree),
};

/* What the jail (vmm/jail.h) itself does once; denied from the start without one, and
 * after it has been entered with one (sandbox_seal). */
static const struct denied_call jail_calls[] = {
    DENY(mount),
    DENY(umount2),
    DENY(pivot_root),
    DENY(chroot),
};

/* LeakSanitizer stops the world at exit with a tracer process: ptrace and a clone without
 * CLONE_THREAD. A sanitizer build (lib/sanitizer.h) allows those two (the rest stays
 * denied). */

static const struct denied_call vcpu_denied[] = {
    DENY(creat),     DENY(unlink),   DENY(unlinkat), DENY(rename),  DENY(renameat), DENY(renameat2),
    DENY(mkdir),     DENY(mkdirat),  DENY(rmdir),    DENY(link),    DENY(linkat),   DENY(symlink),
    DENY(symlinkat), DENY(truncate), DENY(mknod),    DENY(mknodat),
};

static bool installed;
static bool jail_pending; /* jail_calls still allowed, until sandbox_seal */
/* With its article, for the messages. */
static __thread const char *thread_kind = "a device";
static enum { SELFTEST_NONE, SELFTEST_VCPU, SELFTEST_API, SELFTEST_DEVICE } selftest;

int sandbox_active(void)
{
	return installed;
}

static const char *call_name(int nr)
{
	static const struct {
		const struct denied_call *calls;
		size_t count;
	} lists[] = {
	    {process_denied, sizeof(process_denied) / sizeof(process_denied[0])},
	    {vcpu_denied, sizeof(vcpu_denied) / sizeof(vcpu_denied[0])},
	    {jail_calls, sizeof(jail_calls) / sizeof(jail_calls[0])},
	};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (size_t i = 0; i < lists[l].count; i++)
			if (lists[l].calls[i].nr == nr)
				return lists[l].calls[i].name;
	if (nr == SCMP_SYS(clone))
		return "clone (a new process)";
	if (nr == SCMP_SYS(open) || nr == SCMP_SYS(openat))
		return "open with O_CREAT";
	if (nr == SCMP_SYS(ptrace))
		return "ptrace";
	return "(a denied call)";
}

/* Async-signal-safe: the message is put together by hand and written at once. */
static void put(char *line, size_t *used, size_t size, const char *text)
{
	while (*text && *used + 1 < size)
		line[(*used)++] = *text++;
}

static void put_number(char *line, size_t *used, size_t size, int n)
{
	char digits[12];
	int k = 0;
	do
		digits[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0 && k < 11);
	while (k > 0 && *used + 1 < size)
		line[(*used)++] = digits[--k];
}

static void on_forbidden_call(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)context;
	char line[384];
	size_t used = 0;
	put(line, &used, sizeof(line), log_prefix());
	put(line, &used, sizeof(line), ": seccomp: ");
	put(line, &used, sizeof(line), thread_kind);
	put(line, &used, sizeof(line), " thread made the forbidden system call ");
	put(line, &used, sizeof(line), call_name(info->si_syscall));
	put(line, &used, sizeof(line), " (");
	put_number(line, &used, sizeof(line), info->si_syscall);
	put(line, &used, sizeof(line),
	    "); the VM ends now (run with --seccomp off only to find out why)\n");
	if (write(STDERR_FILENO, line, used) < 0) {
		/* nowhere left to say it */
	}
	_exit(SANDBOX_EXIT_STATUS);
}

static int deny_all(scmp_filter_ctx ctx, const struct denied_call *calls, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, calls[i].nr, 0);
		if (rc < 0 && rc != -EDOM) /* -EDOM: not a call on this architecture */
			return rc;
	}
	return 0;
}

/* A new process through clone (no CLONE_THREAD) is refused; clone3's flags are out of a
 * filter's reach, so it answers ENOSYS and glibc's pthread_create falls back to clone. */
static int deny_new_processes(scmp_filter_ctx ctx)
{
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0 && !SANITIZER_BUILD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	if (rc == 0 && !SANITIZER_BUILD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(ptrace), 0);
	return rc;
}

static int deny_file_creation(scmp_filter_ctx ctx)
{
	int rc = deny_all(ctx, vcpu_denied, sizeof(vcpu_denied) / sizeof(vcpu_denied[0]));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(openat), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(open), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT));
	return rc;
}

static int deny_jail_calls(scmp_filter_ctx ctx)
{
	return deny_all(ctx, jail_calls, sizeof(jail_calls) / sizeof(jail_calls[0]));
}

/* every_thread: the filter goes to all the process's threads at once (TSYNC), not only to
 * the calling one and those it starts later. */
static int load(int (*rules)(scmp_filter_ctx), bool every_thread, char *err, size_t err_len)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = ctx ? rules(ctx) : -ENOMEM;
	if (rc == 0 && every_thread)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		snprintf(err, err_len, "--seccomp: the filter could not be installed: %s",
			 strerror(-rc));
	return rc;
}

static int process_rules(scmp_filter_ctx ctx)
{
	int rc = deny_all(ctx, process_denied, sizeof(process_denied) / sizeof(process_denied[0]));
	if (rc == 0 && !jail_pending)
		rc = deny_jail_calls(ctx);
	return rc ? rc : deny_new_processes(ctx);
}

/* A forbidden call the way a subverted thread would make it. */
static void attempt_forbidden_call(void)
{
	log_info("seccomp self-test: %s thread attempts a forbidden call", thread_kind);
	if (strcmp(thread_kind, "a vCPU") == 0)
		syscall(SYS_openat, AT_FDCWD, "/tmp/gureum-seccomp-selftest", O_CREAT | O_WRONLY,
			0600);
	else
		syscall(SYS_execve, "/bin/true", NULL, NULL);
	log_error("seccomp self-test: the forbidden call went through");
}

static void read_selftest(void)
{
	const char *kind = getenv("GUREUM_SECCOMP_SELFTEST");
	if (!kind)
		return;
	selftest = strcmp(kind, "vcpu") == 0	 ? SELFTEST_VCPU
		   : strcmp(kind, "api") == 0	 ? SELFTEST_API
		   : strcmp(kind, "device") == 0 ? SELFTEST_DEVICE
						 : SELFTEST_NONE;
}

int sandbox_install(bool jail_later, char *err, size_t err_len)
{
	struct sigaction action = {.sa_sigaction = on_forbidden_call, .sa_flags = SA_SIGINFO};
	sigemptyset(&action.sa_mask);
	jail_pending = jail_later;
	if (sigaction(SIGSYS, &action, NULL) < 0 || load(process_rules, false, err, err_len) < 0)
		return -1;
	installed = true;
	read_selftest();
	if (selftest == SELFTEST_DEVICE)
		attempt_forbidden_call();
	return 0;
}

void sandbox_enter_vcpu(void)
{
	char err[160];
	if (!installed)
		return;
	thread_kind = "a vCPU";
	/* vCPU threads block the host's signals; a blocked SIGSYS would kill without a word. */
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if (load(deny_file_creation, false, err, sizeof(err)) < 0)
		log_warn("%s (this vCPU thread runs with the process-wide filter)", err);
	if (selftest == SELFTEST_VCPU)
		attempt_forbidden_call();
}

int sandbox_seal(char *err, size_t err_len)
{
	if (!installed || !jail_pending)
		return 0;
	if (load(deny_jail_calls, true, err, err_len) < 0)
		return -1;
	jail_pending = false;
	return 0;
}

void sandbox_enter_api(void)
{
	if (!installed)
		return;
	thread_kind = "an API";
	if (selftest == SELFTEST_API)
		attempt_forbidden_call();
}
