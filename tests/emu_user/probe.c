/* A static glibc program that exercises the Linux interface emu-user provides: it prints what
 * it observes, deterministically, so that its output under `gureum emu-user` can be compared
 * with a native run. Built by busybox.sh with `cc -static`.
 *   probe            run every check
 *   probe child ARG  (used by the execve check) */
#define _GNU_SOURCE /* REG_EFL, REG_TRAPNO */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count, alarm_count;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

static void on_alarm(int sig)
{
	(void)sig;
	alarm_count++;
}

static sigjmp_buf fault_jump;
static volatile int fault_code;
static void *volatile fault_addr;
static volatile long fault_rf, fault_trapno;

static void on_fault(int sig, siginfo_t *info, void *context)
{
	const ucontext_t *uc = context;
	fault_code = info->si_code;
	fault_addr = info->si_addr;
	/* The resume flag in the pushed RFLAGS: set for faults, clear for traps. */
	fault_rf = (uc->uc_mcontext.gregs[REG_EFL] >> 16) & 1;
	fault_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	siglongjmp(fault_jump, sig);
}

/* Faults the CPU raises reach handlers, with the siginfo Linux gives. */
static void check_faults(void)
{
	struct sigaction sa = {0};
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	int sig = sigsetjmp(fault_jump, 1);
	if (sig == 0)
		*(volatile int *)16 = 1;
	printf("fault: segv %d code %d addr %p rf %ld trapno %ld\n", sig == SIGSEGV, fault_code,
	       fault_addr, fault_rf, fault_trapno);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sig = sigsetjmp(fault_jump, 1);
	if (sig == 0)
		*(volatile char *)ro = 1;
	printf("fault: write to read-only %d code %d at-page %d\n", sig == SIGSEGV, fault_code,
	       fault_addr == ro);
	munmap(ro, 4096);
	sig = sigsetjmp(fault_jump, 1);
	if (sig == 0)
		__builtin_trap();
	printf("fault: ud2 sigill %d code %d rf %ld\n", sig == SIGILL, fault_code, fault_rf);
	volatile int zero = 0;
	sig = sigsetjmp(fault_jump, 1);
	if (sig == 0)
		zero = 10 / zero;
	printf("fault: divide sigfpe %d code %d rf %ld\n", sig == SIGFPE, fault_code, fault_rf);
	sigaction(SIGTRAP, &sa, NULL);
	sig = sigsetjmp(fault_jump, 1);
	if (sig == 0)
		__asm__ volatile("int3");
	printf("trap: int3 sigtrap %d rf %ld trapno %ld\n", sig == SIGTRAP, fault_rf, fault_trapno);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGTRAP, SIG_DFL);
}

static void check_auxv(char **argv)
{
	const char *platform = (const char *)getauxval(AT_PLATFORM);
	const char *execfn = (const char *)getauxval(AT_EXECFN);
	printf("auxv: pagesz %lu platform %s execfn-is-argv0 %d random %d\n", getauxval(AT_PAGESZ),
	       platform ? platform : "?", execfn && strcmp(execfn, argv[0]) == 0,
	       getauxval(AT_RANDOM) != 0);
	struct utsname u;
	uname(&u);
	printf("uname: %s\n", u.machine);
}

static void check_memory(void)
{
	/* Large blocks come from mmap, growing them uses mremap; small ones from brk. */
	size_t n = 3 << 20;
	unsigned char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 7);
	big = realloc(big, 2 * n);
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += big[i];
	free(big);
	void *brk_before = sbrk(0);
	char *small = malloc(100);
	strcpy(small, "heap");
	printf("memory: sum %u small %s brk-grew %d\n", sum, small, sbrk(0) >= brk_before);
	free(small);

	char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page[0] = 'a';
	page[4096] = 'b';
	int rc1 = mprotect(page, 4096, PROT_READ);
	int rc2 = munmap(page + 4096, 4096);
	int rc3 = mprotect(page, 8192, PROT_READ); /* the second page is gone: ENOMEM */
	printf("mmap: %c rc %d %d %d/%s\n", page[0], rc1, rc2, rc3, rc3 ? strerror(errno) : "-");
	munmap(page, 4096);
}

static void check_files(const char *self)
{
	char dir[] = "/tmp/gureum-probe-XXXXXX";
	if (!mkdtemp(dir))
		return;
	char path[256], moved[256];
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(moved, sizeof(moved), "%s/g", dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	struct stat st;
	stat(path, &st);
	int fd = open(path, O_RDONLY);
	char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	char buf[16] = "";
	pread(fd, buf, 6, 7);
	printf("file: size %lld mapped %.6s pread %s\n", (long long)st.st_size, map + 7, buf);
	munmap(map, (size_t)st.st_size);
	close(fd);
	rename(path, moved);
	mkdir(path, 0755);
	int entries = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; (e = readdir(d));)
		entries++;
	closedir(d);
	char cwd[256];
	chdir(dir);
	getcwd(cwd, sizeof(cwd));
	printf("dir: entries %d cwd-ok %d enoent %d\n", entries, strcmp(cwd, dir) == 0,
	       open("missing", O_RDONLY) < 0 && errno == ENOENT);
	rmdir(path);
	unlink(moved);
	chdir("/");
	rmdir(dir);

	char link[4096] = "";
	ssize_t n = readlink("/proc/self/exe", link, sizeof(link) - 1);
	if (n > 0)
		link[n] = 0;
	printf("exe: matches %d\n", strcmp(link, self) == 0);
}

static void check_processes(const char *self)
{
	int fds[2];
	pipe(fds);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		write(fds[1], "from child", 10);
		_exit(3);
	}
	close(fds[1]);
	char buf[32] = "";
	read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	printf("fork: '%s' exit %d\n", buf, WEXITSTATUS(status));

	pid = fork();
	if (pid == 0) {
		raise(SIGTERM);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("signaled: %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));

	pid = fork();
	if (pid == 0) {
		execl(self, self, "child", "hello", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	printf("exec: exit %d\n", WEXITSTATUS(status));
}

static void check_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	raise(SIGUSR1);
	int while_blocked = usr1_count;
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("handler: after raise %d, blocked %d, unblocked %d\n", 1, while_blocked, usr1_count);

	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval timer = {.it_value = {.tv_usec = 20000}};
	sigprocmask(SIG_BLOCK, &(sigset_t){0}, &old);
	setitimer(ITIMER_REAL, &timer, NULL);
	while (!alarm_count)
		sigsuspend(&old);
	printf("timer: alarm %d\n", alarm_count);

	signal(SIGPIPE, SIG_IGN);
	int fds[2];
	pipe(fds);
	close(fds[0]);
	errno = 0;
	ssize_t n = write(fds[1], "x", 1);
	printf("sigpipe ignored: write %zd %s\n", n, strerror(errno));
	close(fds[1]);
}

/* A descriptor passed over a socketpair (SCM_RIGHTS), then TCP over loopback with a child. */
static void check_sockets(void)
{
	int sv[2], fds[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(fds);
	char data = 'x', control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {&data, 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fds[1], sizeof(int));
	ssize_t sent = sendmsg(sv[0], &msg, 0);
	char got = 0, rcontrol[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec riov = {&got, 1};
	struct msghdr rmsg = {.msg_iov = &riov,
			      .msg_iovlen = 1,
			      .msg_control = rcontrol,
			      .msg_controllen = sizeof(rcontrol)};
	ssize_t received = recvmsg(sv[1], &rmsg, 0);
	int passed = -1;
	struct cmsghdr *rcm = CMSG_FIRSTHDR(&rmsg);
	if (rcm && rcm->cmsg_type == SCM_RIGHTS)
		memcpy(&passed, CMSG_DATA(rcm), sizeof(int));
	write(passed, "via passed fd", 13);
	char buf[32] = "";
	read(fds[0], buf, sizeof(buf) - 1);
	printf("scm_rights: sent %zd received %zd '%c' '%s'\n", sent, received, got, buf);

	int server = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	bind(server, (struct sockaddr *)&addr, sizeof(addr));
	listen(server, 1);
	getsockname(server, (struct sockaddr *)&addr, &len);
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		connect(c, (struct sockaddr *)&addr, sizeof(addr));
		send(c, "hello over tcp", 14, 0);
		_exit(0);
	}
	int conn = accept(server, NULL, NULL);
	struct pollfd pfd = {.fd = conn, .events = POLLIN};
	int ready = poll(&pfd, 1, 5000);
	char msgbuf[32] = "";
	ssize_t n = recv(conn, msgbuf, sizeof(msgbuf) - 1, MSG_WAITALL);
	waitpid(pid, NULL, 0);
	int type = 0;
	socklen_t type_len = sizeof(type);
	getsockopt(conn, SOL_SOCKET, SO_TYPE, &type, &type_len);
	printf("tcp: ready %d got %zd '%s' stream %d\n", ready, n, msgbuf, type == SOCK_STREAM);
	close(conn);
	close(server);
}

static int compare_ints(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void check_compute(void)
{
	int v[1000];
	unsigned x = 12345;
	for (int i = 0; i < 1000; i++)
		v[i] = (int)((x = x * 1103515245 + 12345) >> 16) % 10000;
	qsort(v, 1000, sizeof(int), compare_ints);
	jmp_buf env;
	volatile int jumped = 0;
	if (setjmp(env) == 0) {
		jumped = 1;
		longjmp(env, 1);
	}
	double d = strtod("3.25", NULL) * 4;
	printf("compute: %d %d %d jumped %d %.3f %g\n", v[0], v[500], v[999], jumped, d, 1.0 / 3);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("clock: monotonic %d\n",
	       b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		printf("child: %s\n", argv[2]);
		return 5;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	static char self[4096]; /* absolute: the checks change directory */
	if (!realpath(argv[0], self))
		return 1;
	check_auxv(argv);
	check_memory();
	check_files(self);
	check_processes(self);
	check_signals();
	check_faults();
	check_sockets();
	check_compute();
	return 0;
}
