/* The Debian cloud kernel on the software CPU: `gureum run --accel emu` with the default guest
 * (scripts/guest-image.sh: out/guest/vmlinuz + initramfs.cpio.gz) boots to the shell prompt and
 * powers off on `poweroff -f`, with one vCPU and with two (the guest must see both), and with
 * `make run NET=user`'s network (an address by DHCP from the user network). Skipped
 * when the guest image was not built. Paths from meson: GUREUM, GUEST_IMAGE_DIR. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROMPT	     "gureum-guest# "
#define BOOT_SECONDS 240 /* generous: sanitizer builds are several times slower */

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Boots with `cpus` vCPUs and `cmdline`, plus `option value` when option is not NULL, and
 * checks that `expect` appears in the console output. */
static void boot(const char *cpus, const char *cmdline, const char *option, const char *value,
		 const char *expect)
{
	const char *gureum = getenv("GUREUM"), *dir = getenv("GUEST_IMAGE_DIR");
	cr_assert(gureum && dir, "run through meson test");
	char kernel[4096], initrd[4096];
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", dir);
	if (access(kernel, R_OK) != 0 || access(initrd, R_OK) != 0)
		cr_skip_test("no guest image in %s (scripts/guest-image.sh builds it)", dir);
	int in[2], out[2];
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	const char *argv[] = {gureum,	  "run",  "--accel",  "emu",  "--cpus",	   cpus,
			      "--kernel", kernel, "--initrd", initrd, "--cmdline", cmdline,
			      "--memory", "512M", option,     value,  NULL};
	pid_t pid;
	double t0 = now_s();
	cr_assert_eq(posix_spawn(&pid, gureum, &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	size_t cap = 1 << 20, len = 0;
	char *log = malloc(cap);
	cr_assert_not_null(log);
	double prompt_at = 0;
	bool sent = false;
	for (;;) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		double left = BOOT_SECONDS - (now_s() - t0);
		if (left <= 0)
			break;
		int r = poll(&p, 1, (int)(left * 1000));
		if (r <= 0)
			break;
		ssize_t n = read(out[0], log + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		log[len] = 0;
		if (!sent && strstr(log, PROMPT)) {
			prompt_at = now_s() - t0;
			cr_assert_eq(write(in[1], "poweroff -f\n", 12), 12);
			sent = true;
		}
		if (len + 1 >= cap)
			len =
			    0; /* keep reading; the prompt was found or will be in the next chunk */
	}
	int status = 0;
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(in[1]);
	close(out[0]);
	const char *tail = len > 3000 ? log + len - 3000 : log;
	cr_assert(sent, "no shell prompt within %d s; last output:\n%s", BOOT_SECONDS, tail);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "poweroff -f did not end gureum with status 0; last output:\n%s", tail);
	cr_assert(strstr(log, expect), "'%s' missing from the boot log", expect);
	cr_log_info("--cpus %s: shell prompt after %.2f s", cpus, prompt_at);
	free(log);
}

Test(linux_emu, boots_to_the_shell_and_powers_off, .timeout = BOOT_SECONDS + 30)
{
	boot("1", "console=ttyS0", NULL, NULL, "reboot: Power down");
}

Test(linux_emu, two_vcpus, .timeout = BOOT_SECONDS + 30)
{
	boot("2", "console=ttyS0", NULL, NULL, "Brought up 1 node, 2 CPUs");
}

/* `make run NET=user` (scripts/run.sh --net): the guest's init takes an address on the user
 * network by DHCP before the shell. */
Test(linux_emu, make_run_with_networking_gets_an_address_by_dhcp, .timeout = BOOT_SECONDS + 30)
{
	boot("1", "console=ttyS0 gureum.net=dhcp", "--net", "user",
	     "gureum-guest: eth0 10.0.2.15/24");
}
