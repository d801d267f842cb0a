/* A migration's TCP link is watched (TCP keepalive and a limit on unacknowledged data), so a
 * peer that vanishes without closing fails the link in seconds; a unix socket, which fails at
 * once, is left alone. */
#include "vmm/migration.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int option(int fd, int level, int name)
{
	int value = -1;
	socklen_t len = sizeof(value);
	cr_assert_eq(getsockopt(fd, level, name, &value, &len), 0);
	return value;
}

Test(migration_link, a_tcp_link_is_watched)
{
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	cr_assert_eq(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(listener, 1), 0);
	cr_assert_eq(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(option(fd, SOL_SOCKET, SO_KEEPALIVE), 0, "keepalive on before");
	migration_watch_link(fd);
	cr_assert_eq(option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	int idle = option(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	    interval = option(fd, IPPROTO_TCP, TCP_KEEPINTVL),
	    count = option(fd, IPPROTO_TCP, TCP_KEEPCNT);
	cr_assert(idle + interval * count <= 30, "a silent peer is noticed only after %d s",
		  idle + interval * count);
	cr_assert(option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT) > 0,
		  "unacknowledged data waits forever");
	close(fd);
	close(listener);
}

Test(migration_link, a_unix_link_is_left_alone)
{
	int pair[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	migration_watch_link(pair[0]);
	cr_assert_eq(option(pair[0], SOL_SOCKET, SO_KEEPALIVE), 0);
	close(pair[0]);
	close(pair[1]);
}
