#include "vmm/api_server.h"

#include "lib/log.h"
#include "lib/unix_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct api_client {
	struct api_server *server;
	int fd; /* -1: free slot */
	size_t len;
	char buf[API_MAX_LINE];
};

struct api_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	struct event_loop *loop;
	struct api_ops ops;
	struct api_client clients[API_MAX_CLIENTS];
	/* Long requests in flight on their own threads; closing waits for them. */
	pthread_mutex_t workers_lock;
	pthread_cond_t workers_done;
	unsigned workers;
};

/* A long request (a migration) and the connection it came on, now the worker's. */
struct long_request {
	struct api_server *server;
	int fd;
	size_t len;
	char line[];
};

static void drop_client(struct api_client *client)
{
	event_loop_remove(client->server->loop, client->fd);
	close(client->fd);
	client->fd = -1;
	client->len = 0;
}

/* Replies are small; a client that does not read them loses its connection rather than
 * blocking the event loop. */
static bool send_reply(int fd, char *reply)
{
	size_t len = strlen(reply);
	reply[len] = '\n'; /* the NUL's place: send the newline with the text */
	ssize_t n = send(fd, reply, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(reply);
	return n == (ssize_t)(len + 1);
}

/* The reply of a long request may wait for a client that reads slowly: blocking is fine on
 * the worker's own thread. */
static void send_reply_blocking(int fd, char *reply)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	size_t len = strlen(reply);
	reply[len] = '\n';
	for (size_t done = 0; done < len + 1;) {
		ssize_t n = send(fd, reply + done, len + 1 - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the client went away: nobody to tell */
		done += (size_t)n;
	}
	free(reply);
}

static void *run_long_request(void *arg)
{
	struct long_request *r = arg;
	struct api_server *server = r->server;
	send_reply_blocking(r->fd, api_handle_request(&server->ops, r->line, r->len));
	close(r->fd);
	free(r);
	pthread_mutex_lock(&server->workers_lock);
	server->workers--;
	pthread_cond_broadcast(&server->workers_done);
	pthread_mutex_unlock(&server->workers_lock);
	return NULL;
}

/* Hands the client's connection and its long request to a worker thread; the slot is free
 * again. Lines after it on the same connection are not read (gureum ctl sends one). */
static bool hand_off(struct api_client *client, const char *line, size_t len)
{
	struct api_server *server = client->server;
	struct long_request *r = malloc(sizeof(*r) + len);
	if (!r)
		return false;
	*r = (struct long_request){.server = server, .fd = client->fd, .len = len};
	memcpy(r->line, line, len);
	/* Out of the loop before the worker owns it: the worker may close it at once. */
	event_loop_remove(server->loop, client->fd);
	pthread_mutex_lock(&server->workers_lock);
	server->workers++;
	pthread_mutex_unlock(&server->workers_lock);
	pthread_t thread;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&thread, &attr, run_long_request, r);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_lock(&server->workers_lock);
		server->workers--;
		pthread_mutex_unlock(&server->workers_lock);
		free(r);
		return false; /* the caller answers and drops the client */
	}
	client->fd = -1;
	client->len = 0;
	return true;
}

enum answered { CLIENT_STAYS, CLIENT_GOES, CLIENT_HANDED_OFF };

/* Answers every complete line in the buffer. */
static enum answered answer_lines(struct api_client *client)
{
	char *start = client->buf, *end = client->buf + client->len, *nl;
	while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
		size_t line_len = (size_t)(nl - start);
		if (line_len > 0 && start[line_len - 1] == '\r')
			line_len--;
		if (line_len > 0 && api_request_runs_long(start, line_len)) {
			if (hand_off(client, start, line_len))
				return CLIENT_HANDED_OFF;
			send_reply(client->fd, api_error_reply("the VMM cannot start a thread for "
							       "this request; retry"));
			return CLIENT_GOES;
		}
		if (line_len > 0) {
			char *reply = api_handle_request(&client->server->ops, start, line_len);
			if (!send_reply(client->fd, reply))
				return CLIENT_GOES;
		}
		start = nl + 1;
	}
	client->len = (size_t)(end - start);
	memmove(client->buf, start, client->len);
	if (client->len == sizeof(client->buf)) {
		send_reply(client->fd,
			   api_error_reply("request line too long (at most 4095 bytes)"));
		return CLIENT_GOES;
	}
	return CLIENT_STAYS;
}

static void on_client(void *opaque, uint32_t events)
{
	struct api_client *client = opaque;
	(void)events;
	ssize_t n = recv(client->fd, client->buf + client->len, sizeof(client->buf) - client->len,
			 MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop_client(client);
		return;
	}
	client->len += (size_t)n;
	if (answer_lines(client) == CLIENT_GOES)
		drop_client(client);
}

static struct api_client *free_slot(struct api_server *server)
{
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		if (server->clients[i].fd < 0)
			return &server->clients[i];
	return NULL;
}

static void on_listen(void *opaque, uint32_t events)
{
	struct api_server *server = opaque;
	(void)events;
	int fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct api_client *client = free_slot(server);
	if (!client) {
		send_reply(fd, api_error_reply("too many control connections (at most 8); close "
					       "one and retry"));
		close(fd);
		return;
	}
	client->fd = fd;
	client->len = 0;
	if (event_loop_add(server->loop, fd, EPOLLIN, on_client, client) < 0) {
		send_reply(fd, api_error_reply("the VMM cannot watch more connections; retry"));
		close(fd);
		client->fd = -1;
	}
}

/* The socket controls the whole VM (quit, migrate, files written where a request says): only
 * its owner may connect, whatever the umask. */
static int listen_on(struct api_server *server, char *err, size_t err_len)
{
	char label[sizeof(server->path) + 16];
	snprintf(label, sizeof(label), "--api-socket %s", server->path);
	server->listen_fd =
	    unix_listener_open(server->path, API_MAX_CLIENTS, 0600, label, err, err_len);
	return server->listen_fd < 0 ? -1 : 0;
}

struct api_server *api_server_open(const char *path, struct event_loop *loop,
				   const struct api_ops *ops, char *err, size_t err_len)
{
	struct api_server *server = calloc(1, sizeof(*server));
	if (!server) {
		snprintf(err, err_len, "--api-socket: out of memory");
		return NULL;
	}
	pthread_mutex_init(&server->workers_lock, NULL);
	pthread_cond_init(&server->workers_done, NULL);
	if (strlen(path) >= sizeof(server->path)) {
		snprintf(err, err_len,
			 "--api-socket %s: the path is too long for a unix socket "
			 "(at most 107 bytes); choose a shorter one",
			 path);
		free(server);
		return NULL;
	}
	strcpy(server->path, path);
	server->loop = loop;
	server->ops = *ops;
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		server->clients[i] = (struct api_client){.server = server, .fd = -1};
	int rc = listen_on(server, err, err_len);
	if (rc == 0 && event_loop_add(loop, server->listen_fd, EPOLLIN, on_listen, server) < 0) {
		snprintf(err, err_len, "--api-socket %s: the event loop cannot watch it", path);
		unlink(server->path);
		rc = -1;
	}
	if (rc < 0) {
		if (server->listen_fd >= 0)
			close(server->listen_fd);
		free(server);
		return NULL;
	}
	return server;
}

void api_server_close(struct api_server *server)
{
	if (!server)
		return;
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		if (server->clients[i].fd >= 0)
			drop_client(&server->clients[i]);
	event_loop_remove(server->loop, server->listen_fd);
	close(server->listen_fd);
	unlink(server->path);
	pthread_mutex_lock(&server->workers_lock);
	while (server->workers > 0)
		pthread_cond_wait(&server->workers_done, &server->workers_lock);
	pthread_mutex_unlock(&server->workers_lock);
	free(server);
}
