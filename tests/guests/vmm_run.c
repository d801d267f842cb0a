#include "vmm_run.h"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

extern char **environ;

const char *env_path(const char *name)
{
	const char *value = getenv(name);
	cr_assert(value && *value, "%s is not set: run these tests through `meson test`", name);
	return value;
}

void require_kvm(void)
{
	const char *accel = getenv("GUREUM_ACCEL"); /* the software CPU needs no /dev/kvm */
	if (accel && strcmp(accel, "kvm") != 0)
		return;
	cr_assert(access("/dev/kvm", R_OK | W_OK) == 0,
		  "/dev/kvm is missing or not accessible: the guest tests boot payloads on KVM and "
		  "cannot run without it (load kvm_intel/kvm_amd, or add this user to group kvm)");
}

char *read_whole(FILE *f)
{
	cr_assert(fseek(f, 0, SEEK_END) == 0);
	long size = ftell(f);
	cr_assert(size >= 0);
	rewind(f);
	char *text = malloc((size_t)size + 1);
	cr_assert(text);
	cr_assert(fread(text, 1, (size_t)size, f) == (size_t)size);
	text[size] = '\0';
	fclose(f);
	return text;
}

/* Runs `timeout 60 gureum run ARGS...` with stdin on /dev/null, collecting both streams. */
struct vmm_run run_vmm(const char *const *args)
{
	require_kvm();
	const char *argv[MAX_ARGS] = {"timeout", VMM_TIMEOUT, env_path("GUREUM"), "run"};
	size_t n = 4;
	for (; *args; args++) {
		cr_assert(n < MAX_ARGS - 1);
		argv[n++] = *args;
	}
	argv[n] = NULL;

	FILE *out = tmpfile(), *err = tmpfile();
	cr_assert(out && err);
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, fileno(out), 1);
	posix_spawn_file_actions_adddup2(&actions, fileno(err), 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, "timeout", &actions, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	cr_assert(rc == 0, "cannot start timeout(1): %s", strerror(rc));
	int wstatus;
	cr_assert(waitpid(pid, &wstatus, 0) == pid);
	struct vmm_run run = {.out = read_whole(out), .err = read_whole(err)};
	cr_assert(WIFEXITED(wstatus), "gureum was killed by signal %d\nstderr:\n%s",
		  WTERMSIG(wstatus), run.err);
	run.status = WEXITSTATUS(wstatus);
	cr_assert(run.status != TIMEOUT_STATUS,
		  "gureum did not finish within " VMM_TIMEOUT " s\nstdout:\n%s\nstderr:\n%s",
		  run.out, run.err);
	return run;
}

void free_run(struct vmm_run *run)
{
	free(run->out);
	free(run->err);
}
