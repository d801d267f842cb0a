/* Process system calls: identity, limits, exit and wait, fork (a host fork of the whole emulator)
 * and execve (a new program in the same emulator process). One thread per process: futexes never
 * block and thread-creating clones fail. */
#include "emu_user/signal_delivery.h"
#include "emu_user/syscall.h"

#include "lib/log.h"

#include <linux/futex.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARCH_SET_GS	   0x1001
#define ARCH_SET_FS	   0x1002
#define ARCH_GET_FS	   0x1003
#define ARCH_GET_GS	   0x1004
#define USER_ADDRESS_LIMIT (1ULL << 47)
#define EXEC_MAX_STRINGS   65536
#define EXEC_MAX_ARG_LEN   (32 * 4096) /* MAX_ARG_STRLEN */
#define RUSAGE_SIZE	   sizeof(struct rusage)
#define SIGINFO_SIZE	   128

static int64_t sys_exit_group(struct emu_process *p, const uint64_t a[6])
{
	p->exited = true;
	p->exit_status = (int)(a[0] & 0xff);
	return 0;
}

#define HOST_ID(name, call)                                                                        \
	static int64_t sys_##name(struct emu_process *p, const uint64_t a[6])                      \
	{                                                                                          \
		(void)p, (void)a;                                                                  \
		return host_result(call);                                                          \
	}

HOST_ID(getpid, getpid())
HOST_ID(getppid, getppid())
HOST_ID(gettid, gettid())
HOST_ID(getuid, getuid())
HOST_ID(geteuid, geteuid())
HOST_ID(getgid, getgid())
HOST_ID(getegid, getegid())
HOST_ID(getpgrp, getpgrp())
HOST_ID(setsid, setsid())
HOST_ID(sched_yield, sched_yield())
HOST_ID(setuid, setuid((uid_t)a[0]))
HOST_ID(setgid, setgid((gid_t)a[0]))
HOST_ID(setpgid, setpgid((pid_t)a[0], (pid_t)a[1]))
HOST_ID(getpgid, getpgid((pid_t)a[0]))
HOST_ID(getsid, getsid((pid_t)a[0]))
HOST_ID(getpriority, syscall(SYS_getpriority, (int)a[0], (id_t)a[1]))
HOST_ID(setpriority, setpriority((int)a[0], (id_t)a[1], (int)a[2]))

static int64_t sys_getgroups(struct emu_process *p, const uint64_t a[6])
{
	int size = (int)a[0];
	if (size < 0)
		return -EINVAL;
	GUEST_OPT_BUF(list, a[1], (uint64_t)size * sizeof(gid_t), PROT_WRITE);
	return host_result(getgroups(size, list));
}

static int64_t sys_uname(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[0], sizeof(struct utsname), PROT_WRITE);
	struct utsname u;
	if (uname(&u) < 0)
		return -errno;
	snprintf(u.machine, sizeof(u.machine), "x86_64");
	memcpy(buf, &u, sizeof(u));
	return 0;
}

static int64_t sys_arch_prctl(struct emu_process *p, const uint64_t a[6])
{
	switch (a[0]) {
	case ARCH_SET_FS:
	case ARCH_SET_GS:
		if (a[1] >= USER_ADDRESS_LIMIT)
			return -EPERM; /* as Linux: a user segment base must be a user address */
		p->regs->seg[a[0] == ARCH_SET_FS ? SREG_FS : SREG_GS].base = a[1];
		return 0;
	case ARCH_GET_FS:
	case ARCH_GET_GS: {
		GUEST_BUF(out, a[1], 8, PROT_WRITE);
		uint64_t base = p->regs->seg[a[0] == ARCH_GET_FS ? SREG_FS : SREG_GS].base;
		memcpy(out, &base, 8);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static int64_t sys_set_tid_address(struct emu_process *p, const uint64_t a[6])
{
	p->clear_child_tid = a[0];
	return gettid();
}

static int64_t sys_set_robust_list(struct emu_process *p, const uint64_t a[6])
{
	(void)p, (void)a;
	return 0; /* one thread: nobody to wake when it dies */
}

static int64_t sys_enosys(struct emu_process *p, const uint64_t a[6])
{
	(void)p, (void)a;
	return -ENOSYS; /* known and deliberately absent: the guest has a fallback */
}

static int64_t sys_prlimit64(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(limit, a[2], sizeof(struct rlimit), PROT_READ);
	GUEST_OPT_BUF(old, a[3], sizeof(struct rlimit), PROT_WRITE);
	return host_result(syscall(SYS_prlimit64, (pid_t)a[0], (int)a[1], limit, old));
}

static int64_t sys_getrlimit(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(old, a[1], sizeof(struct rlimit), PROT_WRITE);
	return host_result(syscall(SYS_getrlimit, (int)a[0], old));
}

static int64_t sys_setrlimit(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(limit, a[1], sizeof(struct rlimit), PROT_READ);
	return host_result(syscall(SYS_setrlimit, (int)a[0], limit));
}

static int64_t sys_sysinfo(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(info, a[0], sizeof(struct sysinfo), PROT_WRITE);
	return host_result(sysinfo(info));
}

static int64_t sys_getrusage(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(usage, a[1], RUSAGE_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_getrusage, (int)a[0], usage));
}

static int64_t sys_getrandom(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[0], a[1], PROT_WRITE);
	return host_result(syscall(SYS_getrandom, buf, (size_t)a[1], (unsigned)a[2]));
}

static int64_t sys_sched_getaffinity(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(mask, a[2], a[1], PROT_WRITE);
	return host_result(syscall(SYS_sched_getaffinity, (pid_t)a[0], (size_t)a[1], mask));
}

static int64_t sys_prctl(struct emu_process *p, const uint64_t a[6])
{
	switch (a[0]) {
	case PR_SET_NAME: {
		int error = 0;
		const char *name = guest_as_string(&p->as, a[1], 4096, &error);
		if (!name)
			return error;
		return host_result(prctl(PR_SET_NAME, name, 0, 0, 0));
	}
	case PR_GET_NAME: {
		GUEST_BUF(name, a[1], 16, PROT_WRITE);
		return host_result(prctl(PR_GET_NAME, name, 0, 0, 0));
	}
	case PR_SET_PDEATHSIG:
	case PR_SET_DUMPABLE:
	case PR_GET_DUMPABLE:
		return host_result(prctl((int)a[0], a[1], 0, 0, 0));
	default:
		return -EINVAL;
	}
}

static int64_t sys_futex(struct emu_process *p, const uint64_t a[6])
{
	int cmd = (int)a[1] & FUTEX_CMD_MASK;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET: {
		GUEST_BUF(word, a[0], 4, PROT_READ);
		(void)word;
		return -EAGAIN; /* no other thread could ever wake this one */
	}
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return 0;
	default:
		return -ENOSYS;
	}
}

static int64_t sys_wait4(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(status, a[1], sizeof(int), PROT_WRITE);
	GUEST_OPT_BUF(usage, a[3], RUSAGE_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_wait4, (pid_t)a[0], status, (int)a[2], usage));
}

static int64_t sys_waitid(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(info, a[2], SIGINFO_SIZE, PROT_WRITE);
	GUEST_OPT_BUF(usage, a[4], RUSAGE_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_waitid, (int)a[0], (id_t)a[1], info, (int)a[3], usage));
}

static void store_tid(struct emu_process *p, uint64_t addr, pid_t tid)
{
	void *out = guest_ptr(p, addr, sizeof(tid), PROT_WRITE);
	if (out)
		memcpy(out, &tid, sizeof(tid));
}

/* fork, vfork and process-creating clone: the host forks the emulator, and the child continues
 * the same guest with rax = 0. A vfork child gets a copy rather than the parent's memory, which
 * is indistinguishable for the usual vfork-then-exec. */
static int64_t do_fork(struct emu_process *p, uint64_t flags, uint64_t stack, uint64_t parent_tid,
		       uint64_t child_tid, uint64_t tls)
{
	if ((flags & (CLONE_THREAD | CLONE_SIGHAND)) ||
	    ((flags & CLONE_VM) && !(flags & CLONE_VFORK))) {
		if (p->verbose)
			log_warn("emu-user: threads are not supported (clone flags 0x%llx)",
				 (unsigned long long)flags);
		return -ENOSYS;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	pid_t tid = pid ? pid : getpid();
	if (flags & CLONE_PARENT_SETTID)
		store_tid(p, parent_tid, tid);
	if (pid > 0)
		return pid;
	p->forked_child = true;
	signal_clear_pending();
	if (stack)
		p->regs->gpr[GPR_RSP] = stack;
	if (flags & CLONE_SETTLS)
		p->regs->seg[SREG_FS].base = tls;
	if (flags & CLONE_CHILD_SETTID)
		store_tid(p, child_tid, tid);
	if (flags & CLONE_CHILD_CLEARTID)
		p->clear_child_tid = child_tid;
	return 0;
}

static int64_t sys_fork(struct emu_process *p, const uint64_t a[6])
{
	(void)a;
	return do_fork(p, SIGCHLD, 0, 0, 0, 0);
}

static int64_t sys_clone(struct emu_process *p, const uint64_t a[6])
{
	/* x86-64 order: flags, stack, parent_tid, child_tid, tls */
	return do_fork(p, a[0], a[1], a[2], a[3], a[4]);
}

static void free_strings(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Copies a guest NULL-terminated string vector to the host (the address space is about to go). */
static int copy_string_vector(struct emu_process *p, uint64_t addr, char ***out)
{
	size_t n = 0, capacity = 16;
	char **v = calloc(capacity, sizeof(char *));
	if (!v)
		return -ENOMEM;
	int rc = 0;
	while (addr) {
		const void *slot = guest_ptr(p, addr + n * 8, 8, PROT_READ);
		uint64_t ptr = 0;
		if (!slot) {
			rc = -EFAULT;
			break;
		}
		memcpy(&ptr, slot, 8);
		if (ptr == 0)
			break;
		if (n + 1 >= EXEC_MAX_STRINGS) {
			rc = -E2BIG;
			break;
		}
		const char *s = guest_as_string(&p->as, ptr, EXEC_MAX_ARG_LEN, &rc);
		if (!s)
			break;
		if (n + 2 > capacity) {
			char **grown = realloc(v, 2 * capacity * sizeof(char *));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			v = grown;
			capacity *= 2;
		}
		if (!(v[n] = strdup(s))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	v[n] = NULL;
	if (rc < 0) {
		free_strings(v);
		return rc == -ENAMETOOLONG ? -E2BIG : rc;
	}
	*out = v;
	return 0;
}

static int64_t do_execve(struct emu_process *p, uint64_t path_addr, uint64_t argv_addr,
			 uint64_t envp_addr)
{
	GUEST_PATH(guest_path_str, path_addr);
	char *path = strdup(guest_path_str);
	char **argv = NULL, **envp = NULL;
	int rc = path ? 0 : -ENOMEM;
	if (rc == 0)
		rc = copy_string_vector(p, argv_addr, &argv);
	if (rc == 0)
		rc = copy_string_vector(p, envp_addr, &envp);
	char err[512] = "";
	if (rc == 0)
		rc = emu_process_exec(p, path, argv, envp, err, sizeof(err));
	if (rc < 0 && err[0] && (p->verbose || p->exited || strstr(err, "dynamically linked")))
		log_error("emu-user: cannot execute %s: %s", path, err);
	free(path);
	free_strings(argv);
	free_strings(envp);
	return rc;
}

static int64_t sys_execve(struct emu_process *p, const uint64_t a[6])
{
	return do_execve(p, a[0], a[1], a[2]);
}

void syscall_register_process(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_exit, sys_exit_group);
	SET(SYS_exit_group, sys_exit_group);
	SET(SYS_getpid, sys_getpid);
	SET(SYS_getppid, sys_getppid);
	SET(SYS_gettid, sys_gettid);
	SET(SYS_getuid, sys_getuid);
	SET(SYS_geteuid, sys_geteuid);
	SET(SYS_getgid, sys_getgid);
	SET(SYS_getegid, sys_getegid);
	SET(SYS_getpgrp, sys_getpgrp);
	SET(SYS_setsid, sys_setsid);
	SET(SYS_sched_yield, sys_sched_yield);
	SET(SYS_setuid, sys_setuid);
	SET(SYS_setgid, sys_setgid);
	SET(SYS_setpgid, sys_setpgid);
	SET(SYS_getpgid, sys_getpgid);
	SET(SYS_getsid, sys_getsid);
	SET(SYS_getpriority, sys_getpriority);
	SET(SYS_setpriority, sys_setpriority);
	SET(SYS_getgroups, sys_getgroups);
	SET(SYS_uname, sys_uname);
	SET(SYS_arch_prctl, sys_arch_prctl);
	SET(SYS_set_tid_address, sys_set_tid_address);
	SET(SYS_set_robust_list, sys_set_robust_list);
	SET(SYS_rseq, sys_enosys);
	SET(SYS_clone3, sys_enosys);
	SET(SYS_prlimit64, sys_prlimit64);
	SET(SYS_getrlimit, sys_getrlimit);
	SET(SYS_setrlimit, sys_setrlimit);
	SET(SYS_sysinfo, sys_sysinfo);
	SET(SYS_getrusage, sys_getrusage);
	SET(SYS_getrandom, sys_getrandom);
	SET(SYS_sched_getaffinity, sys_sched_getaffinity);
	SET(SYS_prctl, sys_prctl);
	SET(SYS_futex, sys_futex);
	SET(SYS_wait4, sys_wait4);
	SET(SYS_waitid, sys_waitid);
	SET(SYS_fork, sys_fork);
	SET(SYS_vfork, sys_fork);
	SET(SYS_clone, sys_clone);
	SET(SYS_execve, sys_execve);
}
