#include "daemon/vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

/* Between fork and exec only async-signal-safe calls: the daemon has other threads. */
static void write_text(int fd, const char *text)
{
	if (write(fd, text, strlen(text)) < 0) {
		/* nowhere left to say it */
	}
}

static void child_fail(const char *what, const char *path)
{
	write_text(2, "gureumd: ");
	write_text(2, what);
	write_text(2, path);
	write_text(2, "\n");
	_exit(127);
}

static void join_cgroup(const char *procs)
{
	int fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		child_fail("cannot join the VM's cgroup: ", procs);
	close(fd);
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* SIGPWR's default ends a process: a stop right after the start would kill the VMM before
	 * it takes SIGPWR as the power button. Ignored until then (its handler replaces this). */
	signal(SIGPWR, SIG_IGN);
}

static void redirect_output(const char *log_path)
{
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0)
		_exit(127);
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
}

static void run_child(const struct vm_launch *launch, char *const *argv, int ready_fd)
{
	(void)ready_fd; /* close-on-exec: its end tells the daemon the exec happened (or not) */
	setsid();
	/* Nothing of the daemon's (its database, its API's connections) goes into the VM: every
	 * descriptor above stderr closes at the exec. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	reset_signals();
	redirect_output(launch->log_path);
	for (size_t i = 0; launch->cgroup_procs && launch->cgroup_procs[i]; i++)
		join_cgroup(launch->cgroup_procs[i]);
	execv(launch->gureum, argv);
	child_fail("cannot run ", launch->gureum);
}

/* gureum run ARGS... --name NAME --api-socket PATH (the daemon's own come last, so they are
 * the ones that count). */
static char **build_argv(const struct vm_launch *launch)
{
	size_t n = 0;
	while (launch->args[n])
		n++;
	char **argv = calloc(n + 13, sizeof(*argv));
	if (!argv)
		return NULL;
	size_t i = 0;
	argv[i++] = (char *)launch->gureum;
	argv[i++] = "run";
	for (size_t k = 0; k < n; k++)
		argv[i++] = (char *)launch->args[k];
	argv[i++] = "--name";
	argv[i++] = (char *)launch->name;
	argv[i++] = "--api-socket";
	argv[i++] = (char *)launch->api_socket;
	argv[i++] = "--console-socket";
	argv[i++] = (char *)launch->console_socket;
	if (launch->jail_dir) {
		argv[i++] = "--jail";
		argv[i++] = (char *)launch->jail_dir;
	}
	if (launch->user) {
		argv[i++] = "--user";
		argv[i++] = (char *)launch->user;
	}
	return argv;
}

/* Until the child has exec'ed gureum (or failed to): then it is in its cgroups and its
 * session, as the reply about it says. */
static void wait_for_exec(int fd)
{
	char byte;
	while (read(fd, &byte, 1) < 0 && errno == EINTR) {
	}
	close(fd);
}

pid_t vm_process_spawn(const struct vm_launch *launch, int *pidfd, char *err, size_t err_len)
{
	char **argv = build_argv(launch);
	if (!argv) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		snprintf(err, err_len, "cannot start a process: %s", strerror(errno));
		free(argv);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		run_child(launch, argv, ready[1]);
	int fork_errno = errno;
	free(argv);
	close(ready[1]);
	wait_for_exec(ready[0]);
	if (pid < 0) {
		snprintf(err, err_len, "cannot start a process: %s", strerror(fork_errno));
		return -1;
	}
	*pidfd = pidfd_open(pid, 0);
	if (*pidfd < 0) {
		snprintf(err, err_len, "cannot watch process %d: %s", (int)pid, strerror(errno));
		kill(pid, SIGKILL);
		return -1;
	}
	return pid;
}

uint64_t vm_process_start_time(pid_t pid)
{
	char path[64], stat[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t len = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[len] = '\0';
	/* The command name may hold spaces and parentheses: fields count from its last ')'. */
	char *p = strrchr(stat, ')');
	unsigned long long start = 0;
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu",
			 &start) != 1)
		return 0;
	return start;
}

int vm_process_adopt(pid_t pid, uint64_t start_time)
{
	if (pid <= 0 || start_time == 0)
		return -1;
	int fd = pidfd_open(pid, 0);
	/* Checked after the pidfd is held: the pid cannot be reused under it from now on. */
	if (fd >= 0 && vm_process_start_time(pid) != start_time) {
		close(fd);
		return -1;
	}
	return fd;
}

void vm_process_describe_exit(const siginfo_t *info, char *out, size_t out_len)
{
	if (info->si_code == CLD_EXITED)
		snprintf(out, out_len, "exited with status %d", info->si_status);
	else
		snprintf(out, out_len, "killed by signal %d (%s)%s", info->si_status,
			 strsignal(info->si_status),
			 info->si_code == CLD_DUMPED ? ", core dumped" : "");
}
