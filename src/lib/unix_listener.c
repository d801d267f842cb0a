/* Listening Unix sockets that replace only stale socket files (unix_listener.h). */
#include "lib/unix_listener.h"

#include "lib/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Whether someone accepts connections at `addr` (EAGAIN: alive, its backlog full). */
static bool socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	int error = errno;
	close(fd);
	return rc == 0 || error == EAGAIN;
}

/* Binds, replacing a socket file nobody listens on. */
static int bind_socket(int fd, const struct sockaddr_un *addr, const char *label, char *err,
		       size_t err_len)
{
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		return 0;
	struct stat st;
	if (errno != EADDRINUSE || lstat(addr->sun_path, &st) < 0) {
		snprintf(err, err_len, "%s: %s", label, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(
		    err, err_len,
		    "%s: the file exists and is not a socket; remove it or choose another path",
		    label);
		return -1;
	}
	if (socket_is_live(addr)) {
		snprintf(err, err_len,
			 "%s: another VMM is listening on it; stop that VM or choose another path",
			 label);
		return -1;
	}
	log_info("%s: replacing a stale socket file", label);
	if (unlink(addr->sun_path) < 0 || bind(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
		snprintf(err, err_len, "%s: %s", label, strerror(errno));
		return -1;
	}
	return 0;
}

int unix_listener_open(const char *path, int backlog, mode_t mode, const char *label, char *err,
		       size_t err_len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len,
			 "%s: the path is too long for a unix socket (at most %zu bytes); choose a "
			 "shorter one",
			 label, sizeof(addr.sun_path) - 1);
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, err_len, "%s: cannot create a socket: %s", label, strerror(errno));
		return -1;
	}
	if (bind_socket(fd, &addr, label, err, err_len) < 0) {
		close(fd);
		return -1;
	}
	if ((mode && chmod(path, mode) < 0) || listen(fd, backlog) < 0) {
		snprintf(err, err_len, "%s: %s", label, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}
