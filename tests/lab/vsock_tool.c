/* vsock-tool: both ends of the lab's virtio-vsock scenario (tests/lab/scenarios/vvsock.sh).
 * Built static by scripts/guest-image.sh into the guest's initramfs (/bin/vsock-tool); the
 * scenario runs the same binary on the host side, taken from that initramfs.
 *
 *   vsock-tool listen PORT         guest: echo server on vsock PORT (a process per connection)
 *   vsock-tool send CID PORT       guest: connect to CID:PORT, send stdin, then shut the
 *                                  write side; what comes back goes to stdout
 *   vsock-tool unix-listen PATH    host: the same echo server on a Unix socket (PATH_PORT of a
 *                                  VM's --vsock socket=PATH receives the guest's connections)
 *   vsock-tool connect PATH PORT   host: "CONNECT PORT" through the VM's Unix socket PATH,
 *                                  expects "OK <n>", then as send
 *
 * send and connect print "vsock-tool: sent N received M" on stderr. Exit status 0, or 1 with a
 * sentence on stderr. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "vsock-tool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static void echo(int fd)
{
	static char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(fd, buf, (size_t)n) < 0)
			break;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static int serve(int lfd)
{
	struct sigaction sa = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
	sigaction(SIGCHLD, &sa, NULL);
	if (listen(lfd, 64) < 0)
		die("listen");
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			echo(fd);
			_exit(0);
		}
		close(fd);
	}
}

/* stdin to fd, fd to stdout, at once (an echo peer stops reading when we stop reading). */
static int pump(int fd)
{
	static char buf[65536];
	unsigned long long sent = 0, received = 0;
	bool in_open = true;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		if (poll(p, in_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[0].revents) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("reading the socket");
			if (n == 0)
				break;
			if (write_all(1, buf, (size_t)n) < 0)
				die("writing stdout");
			received += (unsigned long long)n;
		}
		if (in_open && p[1].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("reading stdin");
			if (n == 0) {
				in_open = false;
				shutdown(fd, SHUT_WR);
			} else {
				if (write_all(fd, buf, (size_t)n) < 0)
					die("writing the socket");
				sent += (unsigned long long)n;
			}
		}
	}
	fprintf(stderr, "vsock-tool: sent %llu received %llu\n", sent, received);
	return 0;
}

static unsigned parse_u32(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 0xffffffffUL) {
		fprintf(stderr, "vsock-tool: '%s' is not a number\n", s);
		exit(1);
	}
	return (unsigned)v;
}

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "vsock-tool: socket path too long\n");
		exit(1);
	}
	memcpy(a.sun_path, path, strlen(path));
	return a;
}

static int host_connect(const char *path, unsigned port)
{
	struct sockaddr_un a = unix_addr(path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die(path);
	char line[64];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (write_all(fd, line, (size_t)n) < 0)
		die("writing CONNECT");
	/* The answer, a byte at a time: what follows it is the guest's. */
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "vsock-tool: %s closed without OK (port %u refused?)\n",
				path, port);
			exit(1);
		}
		if (c == '\n' || len == sizeof(line) - 1)
			break;
		line[len++] = c;
	}
	line[len] = '\0';
	if (strncmp(line, "OK ", 3) != 0) {
		fprintf(stderr, "vsock-tool: %s answered '%s', not OK\n", path, line);
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "listen") == 0) {
		struct sockaddr_vm a = {.svm_family = AF_VSOCK,
					.svm_cid = VMADDR_CID_ANY,
					.svm_port = parse_u32(argv[2])};
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("vsock bind");
		return serve(fd);
	}
	if (argc == 4 && strcmp(argv[1], "send") == 0) {
		struct sockaddr_vm a = {.svm_family = AF_VSOCK,
					.svm_cid = parse_u32(argv[2]),
					.svm_port = parse_u32(argv[3])};
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("vsock connect");
		return pump(fd);
	}
	if (argc == 3 && strcmp(argv[1], "unix-listen") == 0) {
		struct sockaddr_un a = unix_addr(argv[2]);
		unlink(argv[2]);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die(argv[2]);
		return serve(fd);
	}
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return pump(host_connect(argv[2], parse_u32(argv[3])));
	fprintf(stderr, "usage: vsock-tool listen PORT | send CID PORT | unix-listen PATH | "
			"connect PATH PORT\n");
	return 2;
}
