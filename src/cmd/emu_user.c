/* `gureum emu-user [--verbose] [--stats] PROGRAM [ARGS]`. */
#include "cmd/emu_user.h"

#include "emu_user/process.h"
#include "lib/log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct emu_user_options {
	bool verbose, stats;
	int program_index; /* argv index of PROGRAM */
};

static void usage(FILE *out)
{
	fprintf(out, "usage: gureum emu-user [--verbose] [--stats] PROGRAM [ARGS...]\n\n"
		     "Runs a static x86-64 Linux program on gureum's software CPU, passing its\n"
		     "system calls to the host.\n\n"
		     "  --verbose  report unsupported system calls (once each)\n"
		     "  --stats    print instructions executed and instructions per second\n");
}

/* Returns -1 to continue, or the exit status to return right away. */
static int parse_options(int argc, char **argv, struct emu_user_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			opt->verbose = true;
		} else if (strcmp(argv[i], "--stats") == 0) {
			opt->stats = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			log_error("emu-user: unknown option '%s'", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	opt->program_index = i;
	return -1;
}

/* PROGRAM without a slash is looked up in $PATH, as a shell would. */
static const char *find_program(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	if (strchr(name, '/') || !path)
		return name;
	for (const char *dir = path; *dir;) {
		size_t n = strcspn(dir, ":");
		snprintf(buf, len, "%.*s/%s", (int)n, n ? dir : ".", name);
		if (access(buf, X_OK) == 0)
			return buf;
		dir += n + (dir[n] == ':');
	}
	return name;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_stats(const struct emu_process *p, double seconds)
{
	double ips = seconds > 0 ? (double)p->instructions / seconds : 0;
	fprintf(stderr, "emu-user: %llu instructions in %.3f s (%.1f MIPS)\n",
		(unsigned long long)p->instructions, seconds, ips / 1e6);
}

/* A fault in a forked guest dies by the signal itself, so the guest parent's wait4 sees what it
 * would natively (WIFSIGNALED); no core dump of the emulator. */
static void die_by_signal(int sig)
{
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

int cmd_emu_user(int argc, char **argv)
{
	struct emu_user_options opt;
	int status = parse_options(argc, argv, &opt);
	if (status >= 0)
		return status;
	char found[PATH_MAX];
	const char *program = find_program(argv[opt.program_index], found, sizeof(found));

	struct emu_process p;
	int rc = emu_process_init(&p, opt.verbose);
	if (rc < 0) {
		log_error("emu-user: cannot reserve the guest address space: %s", strerror(-rc));
		return 1;
	}
	char err[512] = "";
	rc = emu_process_exec(&p, program, argv + opt.program_index, environ, err, sizeof(err));
	if (rc < 0) {
		log_error("emu-user: %s: %s", argv[opt.program_index], err);
		emu_process_destroy(&p);
		return rc == -ENOENT ? 127 : 126;
	}
	double start = now_seconds();
	status = emu_process_run(&p);
	if (opt.stats && !p.forked_child)
		print_stats(&p, now_seconds() - start);
	if (p.fatal_signal && p.forked_child)
		die_by_signal(p.fatal_signal);
	emu_process_destroy(&p);
	return status;
}
