/* The console as a user at a terminal meets it: gureum runs on a pseudo-terminal with a guest
 * that echoes what it receives (realmode_echo.bin). Checks raw mode while running, the terminal
 * restored afterwards on every way out, input reaching the guest, and the Ctrl-A keys. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define DEADLINE_MS 20000

struct session {
	int master;
	pid_t pid;
	char output[16384];
	size_t len;
};

static void start(struct session *s)
{
	const char *gureum = getenv("GUREUM");
	const char *dir = getenv("GUEST_PAYLOAD_DIR");
	cr_assert(gureum && dir, "run through meson test (GUREUM, GUEST_PAYLOAD_DIR)");
	const char *accel = getenv("GUREUM_ACCEL"); /* the software CPU needs no /dev/kvm */
	if (!accel || strcmp(accel, "kvm") == 0)
		cr_assert_eq(access("/dev/kvm", R_OK | W_OK), 0, "/dev/kvm is needed: %s",
			     strerror(errno));
	char bios[4096];
	snprintf(bios, sizeof(bios), "%s/realmode_echo.bin", dir);
	struct termios cooked;
	memset(&cooked, 0, sizeof(cooked));
	cooked.c_iflag = ICRNL | IXON;
	cooked.c_oflag = OPOST | ONLCR;
	cooked.c_cflag = CS8 | CREAD;
	cooked.c_lflag = ICANON | ECHO | ISIG | IEXTEN;
	cooked.c_cc[VMIN] = 1;
	memset(s, 0, sizeof(*s));
	s->pid = forkpty(&s->master, NULL, &cooked, NULL);
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		execl(gureum, gureum, "run", "--bios", bios, "--debug-exit", "0xf4", "--memory",
		      "32M", (char *)NULL);
		_exit(127);
	}
}

/* Reads until `text` appears in the output; false on timeout or end of output. */
static bool read_until(struct session *s, const char *text)
{
	for (int waited = 0; waited < DEADLINE_MS;) {
		s->output[s->len] = '\0';
		if (strstr(s->output, text))
			return true;
		struct pollfd pfd = {.fd = s->master, .events = POLLIN};
		int n = poll(&pfd, 1, 100);
		waited += 100;
		if (n <= 0)
			continue;
		ssize_t got = read(s->master, s->output + s->len, sizeof(s->output) - 1 - s->len);
		if (got <= 0)
			return false;
		s->len += (size_t)got;
	}
	return false;
}

static void type(struct session *s, const char *keys)
{
	cr_assert_eq(write(s->master, keys, strlen(keys)), (ssize_t)strlen(keys));
}

static int finish(struct session *s)
{
	int status;
	for (int waited = 0; waitpid(s->pid, &status, WNOHANG) == 0; waited += 10) {
		if (waited > DEADLINE_MS) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			cr_assert_fail("gureum did not exit; output so far:\n%s", s->output);
		}
		read_until(s, "\x7f\x7f never printed"); /* drain, so gureum never blocks */
		usleep(10000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool terminal_is_raw(int master)
{
	struct termios t;
	cr_assert_eq(tcgetattr(master, &t), 0);
	return !(t.c_lflag & (ICANON | ECHO | ISIG));
}

static void assert_terminal_restored(struct session *s)
{
	struct termios t;
	cr_assert_eq(tcgetattr(s->master, &t), 0);
	cr_assert(t.c_lflag & ICANON, "canonical mode not restored");
	cr_assert(t.c_lflag & ECHO, "echo not restored");
	cr_assert(t.c_lflag & ISIG, "signals not restored");
	close(s->master);
}

Test(console, typed_keys_reach_the_guest_in_raw_mode)
{
	struct session s;
	start(&s);
	cr_assert(read_until(&s, "echo ready"), "no prompt; output:\n%s", s.output);
	cr_assert(terminal_is_raw(s.master), "the terminal is not in raw mode while the VM runs");
	/* No newline: in raw mode each key goes to the guest at once, and only the guest echoes.
	 * (A word no log line holds: on a PVM host gureum says why it chose its accelerator.) */
	type(&s, "zebra7");
	cr_assert(read_until(&s, "zebra7"), "typed keys did not come back; output:\n%s", s.output);
	cr_assert_null(strstr(strstr(s.output, "zebra7") + 6, "zebra7"), "echoed twice:\n%s",
		       s.output);
	type(&s, "q");
	cr_assert_eq(finish(&s), 33, "output:\n%s", s.output);
	assert_terminal_restored(&s);
}

Test(console, ctrl_a_x_quits_with_status_0)
{
	struct session s;
	start(&s);
	cr_assert(read_until(&s, "echo ready"), "no prompt; output:\n%s", s.output);
	type(&s, "\001x");
	cr_assert_eq(finish(&s), 0, "output:\n%s", s.output);
	assert_terminal_restored(&s);
}

Test(console, ctrl_a_h_helps_and_ctrl_a_ctrl_a_sends_ctrl_a)
{
	struct session s;
	start(&s);
	cr_assert(read_until(&s, "echo ready"), "no prompt; output:\n%s", s.output);
	type(&s, "\001h");
	cr_assert(read_until(&s, "Ctrl-A x"), "no key help; output:\n%s", s.output);
	type(&s, "\001\001!");
	cr_assert(read_until(&s, "\001!"), "Ctrl-A did not reach the guest; output:\n%s", s.output);
	type(&s, "q");
	cr_assert_eq(finish(&s), 33, "output:\n%s", s.output);
	assert_terminal_restored(&s);
}

Test(console, sigterm_stops_the_vm_and_restores_the_terminal)
{
	struct session s;
	start(&s);
	cr_assert(read_until(&s, "echo ready"), "no prompt; output:\n%s", s.output);
	kill(s.pid, SIGTERM);
	cr_assert_eq(finish(&s), 128 + SIGTERM, "output:\n%s", s.output);
	assert_terminal_restored(&s);
}
