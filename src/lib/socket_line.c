/* Text lines on a socket (socket_line.h). */
#include "lib/socket_line.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int socket_send_line(int fd, const char *line)
{
	size_t len = strlen(line);
	return send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int socket_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t got = recv(fd, buf + n, 1, 0);
		if (got < 0 && errno == EINTR)
			continue;
		/* Lines go in one send: a timeout in the middle of one means a stalled peer. */
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && n == 0)
			return 1;
		if (got <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}
