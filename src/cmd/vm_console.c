#include "cmd/vm_console.h"

#include "lib/fd_write.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t asked_to_end;

static void on_end_signal(int sig)
{
	(void)sig;
	asked_to_end = 1;
}

static int connect_console(const char *path, const char *name)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && strlen(path) < sizeof(addr.sun_path)) {
		memcpy(addr.sun_path, path, strlen(path) + 1);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
	}
	fprintf(stderr,
		"gureum vm console: cannot attach to %s's console at %s: %s (is it running? "
		"gureum vm start %s)\n",
		name, path, strerror(errno), name);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The terminal's keys to the console; false once the user detached. At the end of a pipe,
 * the console is told (a half close) and the output goes on until the VMM closes. */
static bool forward_input(int sock, bool tty, bool *input_open)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0) {
		*input_open = false;
		shutdown(sock, SHUT_WR);
		return true;
	}
	char *detach = tty ? memchr(buf, VM_CONSOLE_DETACH_KEY, (size_t)n) : NULL;
	size_t len = detach ? (size_t)(detach - buf) : (size_t)n;
	if (fd_write_all(sock, buf, len) < 0)
		return false;
	return detach == NULL;
}

/* Until the user detaches, the console closes, or a signal ends it. */
static void relay(int sock, bool tty)
{
	bool input_open = true;
	while (!asked_to_end) {
		struct pollfd fds[2] = {{.fd = sock, .events = POLLIN},
					{.fd = input_open ? STDIN_FILENO : -1, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (fds[0].revents) {
			char buf[4096];
			ssize_t n = read(sock, buf, sizeof(buf));
			if (n <= 0 && !(n < 0 && errno == EINTR))
				return;
			if (n > 0 && fd_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return;
		}
		if (fds[1].revents && !forward_input(sock, tty, &input_open))
			return;
	}
}

int vm_console_attach(const char *socket_path, const char *name)
{
	int sock = connect_console(socket_path, name);
	if (sock < 0)
		return 1;
	struct sigaction action = {.sa_handler = on_end_signal};
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct termios saved;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		struct termios raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
		fprintf(stderr, "gureum: %s's console (Ctrl-] detaches; the VM runs on)\r\n", name);
	}
	relay(sock, tty);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fprintf(stderr, "\ngureum: detached from %s's console\n", name);
	}
	close(sock);
	return 0;
}
