/* The VNC server's listening socket (vnc_listener.h). */
#include "display/vnc_listener.h"

#include "lib/unix_listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 16

static void describe(const struct sockaddr *sa, char address[VNC_ADDRESS_MAX])
{
	char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
	socklen_t len =
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(address, VNC_ADDRESS_MAX, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
		 port);
}

/* One socket bound and listening at `sa`, or -1 with errno. */
static int listen_at(const struct sockaddr *sa, socklen_t len, char address[VNC_ADDRESS_MAX])
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int on = 1, off = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* "every interface" over IPv6 takes IPv4 clients too (as ::ffff:a.b.c.d). */
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	if (bind(fd, sa, len) < 0 || listen(fd, BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	describe((struct sockaddr *)&bound, address);
	return fd;
}

static int listen_everywhere(uint16_t port, char address[VNC_ADDRESS_MAX])
{
	struct sockaddr_in6 any6 = {
	    .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
	int fd = listen_at((struct sockaddr *)&any6, sizeof(any6), address);
	if (fd >= 0 || errno == EADDRINUSE)
		return fd;
	/* A host without IPv6. */
	struct sockaddr_in any4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	return listen_at((struct sockaddr *)&any4, sizeof(any4), address);
}

int vnc_listen_tcp(const char *host, uint16_t tcp_port, const char *option,
		   char address[VNC_ADDRESS_MAX], char *err, size_t err_len)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", tcp_port);
	int fd = -1, error = 0;
	if (!host[0]) {
		fd = listen_everywhere(tcp_port, address);
		error = errno;
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
		struct addrinfo *list = NULL;
		int rc = getaddrinfo(host, port, &hints, &list);
		if (rc) {
			snprintf(err, err_len, "--display %s=%s:%s: %s", option, host, port,
				 gai_strerror(rc));
			return -1;
		}
		for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
			fd = listen_at(a->ai_addr, a->ai_addrlen, address);
			error = errno;
		}
		freeaddrinfo(list);
	}
	if (fd < 0)
		snprintf(err, err_len, "--display %s=%s:%s: cannot listen there: %s%s", option,
			 host, port, strerror(error),
			 error == EADDRINUSE ? " (choose another port, or 0 for any free one)"
					     : "");
	return fd;
}

int vnc_listen(const struct display_options *o, char address[VNC_ADDRESS_MAX], char *err,
	       size_t err_len)
{
	if (!o->unix_socket)
		return vnc_listen_tcp(o->host, o->port, "vnc", address, err, err_len);
	char label[DISPLAY_UNIX_PATH_MAX + 32];
	snprintf(label, sizeof(label), "--display vnc=unix:%s", o->path);
	snprintf(address, VNC_ADDRESS_MAX, "unix:%s", o->path);
	return unix_listener_open(o->path, BACKLOG, 0600, label, err, err_len);
}

int vnc_listen_websocket(const struct display_options *o, char address[VNC_ADDRESS_MAX], char *err,
			 size_t err_len)
{
	/* Beside a Unix socket, which only this host's processes reach, the browser's port
	 * stays on this host too unless the option names an address. */
	const char *host = o->websocket_has_host ? o->websocket_host
			   : o->unix_socket	 ? "127.0.0.1"
						 : o->host;
	return vnc_listen_tcp(host, o->websocket_port, "websocket", address, err, err_len);
}
