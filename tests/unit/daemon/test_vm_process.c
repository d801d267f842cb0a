/* A VM's process as the daemon starts and finds it: its own session, its output in the log,
 * its start time telling it from a process that reuses its pid, and its end in words. */
#include "daemon/vm_process.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A stand-in for the gureum binary: a script that prints its arguments and session. */
static char dir[] = "/tmp/gureum-proc.XXXXXX";
static char script[64], log_file[64];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/fake-gureum", dir);
	snprintf(log_file, sizeof(log_file), "%s/vm.log", dir);
	FILE *f = fopen(script, "w");
	fputs("#!/bin/sh\necho \"args: $*\"\necho \"sid: $(ps -o sid= -p $$ | tr -d ' ')\"\n"
	      "echo \"pid: $$\"\nexit 3\n",
	      f);
	fclose(f);
	chmod(script, 0755);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	strcpy(dir, "/tmp/gureum-proc.XXXXXX");
}

TestSuite(vm_process, .init = setup, .fini = teardown);

/* Runs `gureum` (as the VM "web") to its end: its pid, how it ended in *info. */
static pid_t run_to_end(const char *gureum, const char *const *args, siginfo_t *info)
{
	struct vm_launch launch = {.gureum = gureum,
				   .args = args,
				   .name = "web",
				   .api_socket = "/run/x.sock",
				   .log_path = log_file};
	int pidfd;
	char err[256];
	pid_t pid = vm_process_spawn(&launch, &pidfd, err, sizeof(err));
	cr_assert_gt(pid, 0, "%s", err);
	memset(info, 0, sizeof(*info));
	cr_assert_eq(waitid(P_PIDFD, (id_t)pidfd, info, WEXITED), 0);
	close(pidfd);
	return pid;
}

/* The log's text, as the VM process left it. */
static void read_log(char *text, size_t len)
{
	memset(text, 0, len);
	FILE *f = fopen(log_file, "r");
	cr_assert_not_null(f);
	cr_assert_gt(fread(text, 1, len - 1, f), 0);
	fclose(f);
}

Test(vm_process, runs_in_its_own_session_with_its_output_in_the_log)
{
	const char *args[] = {"--memory", "64M", NULL};
	siginfo_t info;
	pid_t pid = run_to_end(script, args, &info);
	char words[128];
	vm_process_describe_exit(&info, words, sizeof(words));
	cr_assert_str_eq(words, "exited with status 3");
	char text[512], expected[128];
	read_log(text, sizeof(text));
	cr_assert(strstr(text, "args: run --memory 64M --name web --api-socket /run/x.sock"), "%s",
		  text);
	snprintf(expected, sizeof(expected), "sid: %d\n", (int)pid);
	cr_assert(strstr(text, expected), "not a session leader: %s", text);
}

Test(vm_process, a_missing_binary_shows_in_the_log_and_as_status_127)
{
	const char *args[] = {NULL};
	siginfo_t info;
	run_to_end("/nonexistent/gureum", args, &info);
	cr_assert_eq(info.si_status, 127);
	char text[256];
	read_log(text, sizeof(text));
	cr_assert(strstr(text, "gureumd: cannot run /nonexistent/gureum"), "%s", text);
}

Test(vm_process, start_time_tells_a_process_from_one_reusing_its_pid)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	uint64_t start = vm_process_start_time(child);
	cr_assert_gt(start, 0);
	int fd = vm_process_adopt(child, start);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(vm_process_adopt(child, start + 1), -1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert_eq(vm_process_start_time(child), 0);
	cr_assert_eq(vm_process_adopt(child, start), -1);
}

Test(vm_process, a_kill_is_described_with_the_signal)
{
	siginfo_t info = {.si_code = CLD_KILLED, .si_status = SIGKILL};
	char words[128];
	vm_process_describe_exit(&info, words, sizeof(words));
	cr_assert_str_eq(words, "killed by signal 9 (Killed)");
	info.si_code = CLD_DUMPED;
	info.si_status = SIGSEGV;
	vm_process_describe_exit(&info, words, sizeof(words));
	cr_assert_str_eq(words, "killed by signal 11 (Segmentation fault), core dumped");
}
