/* Text lines on a socket, as the migration handshake and post-copy's page requests use them:
 * whole lines come back without their newline, a receive timeout before a line is told apart
 * from a peer that went away, and a peer that stalls in the middle of a line is an error. */
#include "lib/socket_line.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void pair_with_timeout(int fds[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	struct timeval tv = {.tv_usec = 50000};
	setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

Test(socket_line, lines_come_back_one_by_one)
{
	int fds[2];
	pair_with_timeout(fds);
	cr_assert_eq(socket_send_line(fds[0], "ready\n"), 0);
	cr_assert_eq(socket_send_line(fds[0], "page 1f000\n"), 0);
	char line[16];
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), 0);
	cr_assert_str_eq(line, "ready");
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), 0);
	cr_assert_str_eq(line, "page 1f000");
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), 1, "nothing came: a timeout");
	close(fds[0]);
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), -1, "the peer went away");
	cr_assert_eq(socket_send_line(fds[1], "go\n"), -1, "no SIGPIPE, an error");
	close(fds[1]);
}

Test(socket_line, a_stall_inside_a_line_and_a_long_line)
{
	int fds[2];
	pair_with_timeout(fds);
	char line[8];
	cr_assert_eq(socket_send_line(fds[0], "0123456789\n"), 0);
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), 0);
	cr_assert_str_eq(line, "0123456", "cut at the buffer's size");
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), 0);
	cr_assert_str_eq(line, "789");
	cr_assert_eq(write(fds[0], "half", 4), 4);
	cr_assert_eq(socket_read_line(fds[1], line, sizeof(line)), -1, "stalled mid-line");
	close(fds[0]);
	close(fds[1]);
}
