/* The VM's console on the host: guest serial output to stdout or a file, host input (stdin)
 * to the guest's UART. With --console-socket, one client at a time attaches on a unix socket:
 * it gets the last BYTE_RING_SIZE bytes of output first (the prompt it attaches to, say), then
 * the output from then on (dropped for it, never held, when it reads too slowly: the guest
 * does not wait for a client) and its bytes go to the guest untouched. On a terminal it
 * switches to raw mode (restored on every exit path) and interprets Ctrl-A escapes: Ctrl-A x quits,
 * Ctrl-A h helps, Ctrl-A Ctrl-A sends Ctrl-A. */
#ifndef GUREUM_VMM_CONSOLE_H
#define GUREUM_VMM_CONSOLE_H

#include "lib/byte_ring.h"
#include "lib/event_loop.h"
#include "vmm/config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE_KEY 0x01 /* Ctrl-A */

/* Where input for the guest goes; set per boot (the UART of the current VM). */
struct console_sink {
	size_t (*receive)(void *opaque, const uint8_t *buf, size_t len);
	bool (*can_receive)(void *opaque);
	void *opaque;
};

struct console {
	enum console_kind kind;
	int in_fd;  /* -1: no input */
	int out_fd; /* -1: output discarded */
	bool in_is_tty;
	bool in_polled; /* stdin is a regular file: read on the timer, not epoll */
	bool escape_pending;
	int retry_timer_fd; /* polls the guest while it cannot take input yet */
	struct event_loop *loop;
	void (*on_quit)(void *opaque);
	void *quit_opaque;

	/* --console-socket: the listener and its one client (-1: none), and the output's last
	 * bytes for the next client. client_lock guards client_fd and scrollback against the
	 * vCPU threads' writes while the loop thread changes them. */
	int listen_fd;
	int client_fd;
	struct byte_ring *scrollback;
	char *socket_path;
	pthread_mutex_t client_lock;

	pthread_mutex_t lock; /* protects sink and pending */
	struct console_sink sink;
	uint8_t pending[256];
	size_t pending_len, pending_pos;
};

int console_open(struct console *con, const struct vm_config *config, char *err, size_t err_len);
/* Starts feeding input through `loop`. */
int console_attach(struct console *con, struct event_loop *loop, void (*on_quit)(void *),
		   void *opaque);
void console_set_sink(struct console *con, const struct console_sink *sink);
/* Guest output; called from vCPU threads. */
void console_write(struct console *con, const uint8_t *buf, size_t len);
void console_close(struct console *con);

/* Puts the terminal back as it was; async-signal-safe, idempotent. */
void console_restore_terminal(void);

#endif
