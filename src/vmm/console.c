#include "vmm/console.h"

#include "lib/fd_write.h"
#include "lib/log.h"
#include "lib/unix_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

#define RETRY_INTERVAL_NS 5000000 /* 5 ms: how often we re-offer held-back input */

/* The terminal is process-wide state, so its saved settings are too: restoring must work
 * from atexit and from fatal-signal handlers, where no console pointer is at hand. */
static struct termios saved_termios;
static volatile sig_atomic_t terminal_is_raw;

void console_restore_terminal(void)
{
	if (terminal_is_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
		terminal_is_raw = 0;
		log_set_raw_terminal(false);
	}
}

static void restore_and_reraise(int sig)
{
	console_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_restore_handlers(void)
{
	static bool installed;
	if (installed)
		return;
	installed = true;
	atexit(console_restore_terminal);
	int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], restore_and_reraise);
}

static int enter_raw_mode(void)
{
	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	install_restore_handlers();
	struct termios raw = saved_termios;
	cfmakeraw(&raw);
	/* Keep output post-processing off too: the guest sends its own CR LF. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -errno;
	terminal_is_raw = 1;
	log_set_raw_terminal(true);
	return 0;
}

static int open_output(struct console *con, const struct vm_config *config, char *err,
		       size_t err_len)
{
	con->out_fd = -1;
	if (config->console == CONSOLE_STDIO) {
		con->out_fd = STDOUT_FILENO;
	} else if (config->console == CONSOLE_FILE) {
		con->out_fd =
		    open(config->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (con->out_fd < 0) {
			snprintf(err, err_len, "--console file:%s: %s", config->console_path,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Made at the start, before a jail (vmm/jail.h) hides the socket's directory. */
static int open_socket(struct console *con, const struct vm_config *config, char *err,
		       size_t err_len)
{
	if (!config->console_socket)
		return 0;
	char label[160];
	snprintf(label, sizeof(label), "--console-socket %s", config->console_socket);
	con->listen_fd = unix_listener_open(config->console_socket, 1, 0600, label, err, err_len);
	con->socket_path = strdup(config->console_socket);
	if (con->listen_fd < 0)
		return -1;
	con->scrollback = calloc(1, sizeof(*con->scrollback));
	if (!con->scrollback) {
		snprintf(err, err_len, "%s: out of memory", label);
		return -1;
	}
	return 0;
}

int console_open(struct console *con, const struct vm_config *config, char *err, size_t err_len)
{
	memset(con, 0, sizeof(*con));
	pthread_mutex_init(&con->lock, NULL);
	pthread_mutex_init(&con->client_lock, NULL);
	con->kind = config->console;
	con->in_fd = -1;
	con->retry_timer_fd = -1;
	con->listen_fd = con->client_fd = -1;
	if (open_output(con, config, err, err_len) < 0 ||
	    open_socket(con, config, err, err_len) < 0)
		return -1;
	if (config->console != CONSOLE_STDIO)
		return 0;
	con->in_fd = STDIN_FILENO;
	con->in_is_tty = isatty(STDIN_FILENO);
	if (con->in_is_tty && enter_raw_mode() < 0)
		log_warn("cannot put the terminal in raw mode (%s); input is line-buffered",
			 strerror(errno));
	return 0;
}

void console_write(struct console *con, const uint8_t *buf, size_t len)
{
	/* A closed stdout must not stop the guest: what it cannot take is dropped. */
	if (con->out_fd >= 0)
		(void)fd_write_all(con->out_fd, buf, len);
	if (con->listen_fd < 0)
		return;
	/* What the socket's buffer cannot take now is the client's loss, not the guest's. */
	pthread_mutex_lock(&con->client_lock);
	byte_ring_append(con->scrollback, buf, len);
	if (con->client_fd >= 0)
		(void)!send(con->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	pthread_mutex_unlock(&con->client_lock);
}

/* Under client_lock, to a client that has just attached: the output it missed, as far as
 * the scrollback goes. Its socket's buffer is empty, so this fits. */
static void send_scrollback(struct console *con, int fd)
{
	const uint8_t *first, *second;
	size_t first_len, second_len;
	byte_ring_pieces(con->scrollback, &first, &first_len, &second, &second_len);
	if (first_len)
		(void)!send(fd, first, first_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (second_len)
		(void)!send(fd, second, second_len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void print_help(struct console *con)
{
	static const char help[] = "\r\n[gureum console keys]\r\n"
				   "  Ctrl-A x       quit (stops the VM)\r\n"
				   "  Ctrl-A h       this help\r\n"
				   "  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n";
	(void)fd_write_all(STDERR_FILENO, help, sizeof(help) - 1);
	(void)con;
}

/* Interprets Ctrl-A escapes in place; returns how many bytes remain for the guest. */
static size_t filter_escapes(struct console *con, uint8_t *buf, size_t len)
{
	if (!con->in_is_tty)
		return len; /* a pipe or file is passed through untouched */
	size_t out = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];
		if (!con->escape_pending) {
			if (c == CONSOLE_ESCAPE_KEY)
				con->escape_pending = true;
			else
				buf[out++] = c;
			continue;
		}
		con->escape_pending = false;
		if (c == 'x' || c == 'X') {
			if (con->on_quit)
				con->on_quit(con->quit_opaque);
		} else if (c == 'h' || c == 'H' || c == '?') {
			print_help(con);
		} else if (c == CONSOLE_ESCAPE_KEY) {
			buf[out++] = c;
		}
	}
	return out;
}

static void arm_retry(struct console *con, bool on)
{
	struct itimerspec spec = {0};
	if (on)
		spec.it_value.tv_nsec = RETRY_INTERVAL_NS;
	timerfd_settime(con->retry_timer_fd, 0, &spec, NULL);
	/* While input is held back, stop reading stdin so the kernel's buffer (or the pipe)
	 * applies back-pressure instead of us. */
	if (!con->in_polled && con->in_fd >= 0)
		event_loop_modify(con->loop, con->in_fd, on ? 0 : EPOLLIN);
	if (con->client_fd >= 0)
		event_loop_modify(con->loop, con->client_fd, on ? 0 : EPOLLIN);
}

/* Offers held-back input to the guest; returns true when all of it was taken. */
static bool flush_pending(struct console *con)
{
	pthread_mutex_lock(&con->lock);
	while (con->pending_pos < con->pending_len && con->sink.receive &&
	       con->sink.can_receive(con->sink.opaque)) {
		size_t n = con->sink.receive(con->sink.opaque, con->pending + con->pending_pos,
					     con->pending_len - con->pending_pos);
		if (n == 0)
			break;
		con->pending_pos += n;
	}
	bool done = con->pending_pos >= con->pending_len;
	if (done)
		con->pending_pos = con->pending_len = 0;
	pthread_mutex_unlock(&con->lock);
	return done;
}

static void stop_input(struct console *con)
{
	/* EOF: the guest keeps running without input (scripts pipe commands in). */
	if (!con->in_polled)
		event_loop_remove(con->loop, con->in_fd);
	con->in_fd = -1;
}

/* `kept` bytes in `pending` for the guest, now or on the retry timer. */
static void take_input(struct console *con, size_t kept)
{
	pthread_mutex_lock(&con->lock);
	con->pending_len = kept;
	con->pending_pos = 0;
	pthread_mutex_unlock(&con->lock);
	if (!flush_pending(con))
		arm_retry(con, true);
}

static void on_input(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	(void)events;
	ssize_t n = read(con->in_fd, con->pending, sizeof(con->pending));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			stop_input(con);
		return;
	}
	take_input(con, filter_escapes(con, con->pending, (size_t)n));
}

static void drop_client(struct console *con)
{
	event_loop_remove(con->loop, con->client_fd);
	pthread_mutex_lock(&con->client_lock);
	close(con->client_fd);
	con->client_fd = -1;
	pthread_mutex_unlock(&con->client_lock);
	log_info("console: the client detached");
}

/* The client's bytes go to the guest as they are: its own terminal handles the keys. */
static void on_client_input(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	(void)events;
	ssize_t n = recv(con->client_fd, con->pending, sizeof(con->pending), MSG_DONTWAIT);
	if (n > 0)
		take_input(con, (size_t)n);
	else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		drop_client(con);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	(void)events;
	int fd = accept4(con->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (con->client_fd >= 0) {
		static const char busy[] = "gureum: this console has a client already; attach "
					   "again once it has detached\r\n";
		(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	/* While input waits for the guest, the new client is read once it has gone in. */
	bool busy = con->pending_len > 0;
	if (event_loop_add(con->loop, fd, busy ? 0 : EPOLLIN, on_client_input, con) < 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&con->client_lock);
	send_scrollback(con, fd);
	con->client_fd = fd;
	pthread_mutex_unlock(&con->client_lock);
	log_info("console: a client attached");
}

static void on_retry(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	uint64_t expirations;
	(void)events;
	if (read(con->retry_timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	bool idle = flush_pending(con);
	if (idle && con->in_polled && con->in_fd >= 0) {
		on_input(con, EPOLLIN);
		idle = false; /* keep polling the file until EOF */
	}
	arm_retry(con, !idle);
}

int console_attach(struct console *con, struct event_loop *loop, void (*on_quit)(void *),
		   void *opaque)
{
	con->loop = loop;
	con->on_quit = on_quit;
	con->quit_opaque = opaque;
	if (con->in_fd < 0 && con->listen_fd < 0)
		return 0;
	con->retry_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (con->retry_timer_fd < 0)
		return -errno;
	int rc = event_loop_add(loop, con->retry_timer_fd, EPOLLIN, on_retry, con);
	if (rc == 0 && con->listen_fd >= 0)
		rc = event_loop_add(loop, con->listen_fd, EPOLLIN, on_accept, con);
	if (rc < 0 || con->in_fd < 0)
		return rc;
	rc = event_loop_add(loop, con->in_fd, EPOLLIN, on_input, con);
	if (rc == -EPERM) {
		/* stdin is a regular file or /dev/null, which epoll cannot watch. Such input is
		 * always readable: poll it on the retry timer instead. */
		con->in_polled = true;
		arm_retry(con, true);
		return 0;
	}
	return rc;
}

void console_set_sink(struct console *con, const struct console_sink *sink)
{
	pthread_mutex_lock(&con->lock);
	if (sink)
		con->sink = *sink;
	else
		memset(&con->sink, 0, sizeof(con->sink));
	pthread_mutex_unlock(&con->lock);
}

void console_close(struct console *con)
{
	console_restore_terminal();
	if (con->retry_timer_fd >= 0)
		close(con->retry_timer_fd);
	if (con->kind == CONSOLE_FILE && con->out_fd >= 0)
		close(con->out_fd);
	if (con->client_fd >= 0)
		close(con->client_fd);
	if (con->listen_fd >= 0)
		close(con->listen_fd);
	if (con->socket_path)
		unlink(con->socket_path); /* in a jail, its supervisor does it */
	free(con->socket_path);
	free(con->scrollback);
	con->scrollback = NULL;
	con->retry_timer_fd = con->out_fd = con->listen_fd = con->client_fd = -1;
	pthread_mutex_destroy(&con->client_lock);
	pthread_mutex_destroy(&con->lock);
}
