/* The migration stream's two ends and their handshake (migration.h). */
#include "vmm/migration.h"

#include "lib/state_stream.h"
#include "vmm/vm_state.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_TIMEOUT_S 120 /* loading a large VM's records and devices takes a while */
#define LINE_MAX_BYTES	    512

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- transport ---- */

static int unix_address(const char *path, struct sockaddr_un *addr, char *err, size_t err_len)
{
	*addr = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (!path[0] || strlen(path) >= sizeof(addr->sun_path)) {
		snprintf(err, err_len, "migration: '%s' is not a usable unix socket path", path);
		return -1;
	}
	strcpy(addr->sun_path, path);
	return 0;
}

/* tcp:HOST:PORT (HOST may be empty: any address to listen on, localhost to connect to). */
static struct addrinfo *tcp_address(const char *rest, bool listening, char *err, size_t err_len)
{
	const char *colon = strrchr(rest, ':');
	char host[256];
	if (!colon || (size_t)(colon - rest) >= sizeof(host) || !colon[1]) {
		snprintf(err, err_len, "migration: 'tcp:%s' is not tcp:HOST:PORT", rest);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - rest), rest);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = listening ? AI_PASSIVE : 0};
	struct addrinfo *list = NULL;
	int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &list);
	if (rc != 0) {
		snprintf(err, err_len, "migration: tcp:%s: %s", rest, gai_strerror(rc));
		return NULL;
	}
	return list;
}

static void set_timeout(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int migration_connect(const char *uri, char *err, size_t err_len)
{
	int fd = -1;
	if (strncmp(uri, "unix:", 5) == 0) {
		struct sockaddr_un addr;
		if (unix_address(uri + 5, &addr, err, err_len) < 0)
			return -1;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			close(fd);
			fd = -1;
		}
	} else if (strncmp(uri, "tcp:", 4) == 0) {
		struct addrinfo *list = tcp_address(uri + 4, false, err, err_len);
		if (!list)
			return -1;
		for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
			fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
			if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
				close(fd);
				fd = -1;
			}
		}
		freeaddrinfo(list);
	} else {
		snprintf(err, err_len, "migration: '%s' is not unix:PATH or tcp:HOST:PORT", uri);
		return -1;
	}
	if (fd < 0)
		snprintf(err, err_len,
			 "migration: cannot connect to %s: %s (is the destination running gureum "
			 "run --incoming %s?)",
			 uri, strerror(errno), uri);
	else
		set_timeout(fd, HANDSHAKE_TIMEOUT_S);
	return fd;
}

static int listen_on(const char *uri, char *err, size_t err_len)
{
	int fd = -1;
	if (strncmp(uri, "unix:", 5) == 0) {
		struct sockaddr_un addr;
		if (unix_address(uri + 5, &addr, err, err_len) < 0)
			return -1;
		unlink(addr.sun_path); /* a stale socket of an earlier run */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)) {
			close(fd);
			fd = -1;
		}
	} else if (strncmp(uri, "tcp:", 4) == 0) {
		struct addrinfo *list = tcp_address(uri + 4, true, err, err_len);
		if (!list)
			return -1;
		for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
			fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
			int on = 1;
			if (fd >= 0)
				setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
			if (fd >= 0 &&
			    (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 1) < 0)) {
				close(fd);
				fd = -1;
			}
		}
		freeaddrinfo(list);
	} else {
		snprintf(err, err_len, "--incoming: '%s' is not unix:PATH or tcp:HOST:PORT", uri);
		return -1;
	}
	if (fd < 0)
		snprintf(err, err_len, "--incoming: cannot listen on %s: %s", uri, strerror(errno));
	return fd;
}

int migration_accept(const char *uri, char *err, size_t err_len)
{
	int listener = listen_on(uri, err, err_len);
	if (listener < 0)
		return -1;
	int fd;
	do
		fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		snprintf(err, err_len, "--incoming: accepting on %s failed: %s", uri,
			 strerror(errno));
	close(listener);
	if (strncmp(uri, "unix:", 5) == 0)
		unlink(uri + 5);
	if (fd >= 0)
		set_timeout(fd, HANDSHAKE_TIMEOUT_S);
	return fd;
}

/* ---- the handshake ---- */

static int send_line(int fd, const char *line)
{
	size_t len = strlen(line);
	return send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* One line (without its newline) into buf; -1 on EOF, error or timeout before it. */
static int receive_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t got = recv(fd, buf + n, 1, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

void migration_refuse(int fd, const char *why)
{
	char line[LINE_MAX_BYTES];
	snprintf(line, sizeof(line), "error: %s\n", why);
	for (char *p = line; p[1]; p++) /* one line, whatever the sentence holds */
		if (*p == '\n')
			*p = ' ';
	send_line(fd, line);
}

/* ---- source ---- */

static int send_stream(struct vm *vm, int fd, char *err, size_t err_len)
{
	/* The accelerator that ran it: the destination must use the same (the CPU it saw). */
	const char *const overrides[] = {"accel", vm->accel->name, NULL};
	char *config = config_to_json_text(vm->config, overrides);
	struct state_writer w;
	state_writer_init(&w);
	int rc = config ? vm_save_state(vm, &w, err, err_len) : -1;
	if (!config)
		snprintf(err, err_len, "migration: out of memory");
	rc = rc ?: state_stream_write_header(fd, err, err_len);
	rc = rc ?: state_stream_write_config(fd, config, err, err_len);
	for (unsigned i = 0; rc == 0 && i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		rc = state_stream_write_memory(fd, r->gpa, r->host, r->size, err, err_len);
	}
	rc = rc ?: state_stream_write_records(fd, &w, err, err_len);
	rc = rc ?: state_stream_write_end(fd, err, err_len);
	state_writer_free(&w);
	free(config);
	return rc;
}

int migration_send(struct vm *vm, int fd, struct migration_stats *stats, char *err, size_t err_len)
{
	uint64_t start = now_ms();
	char line[LINE_MAX_BYTES];
	if (send_stream(vm, fd, err, err_len) < 0)
		return -1;
	errno = 0;
	if (receive_line(fd, line, sizeof(line)) < 0) {
		snprintf(err, err_len,
			 "migration: the destination did not confirm (%s); the VM stays here",
			 errno ? strerror(errno) : "it closed the connection");
		return -1;
	}
	if (strcmp(line, "ready") != 0) {
		snprintf(err, err_len, "migration: the destination refused the VM: %s",
			 strncmp(line, "error: ", 7) == 0 ? line + 7 : line);
		return -1;
	}
	if (send_line(fd, "go\n") < 0) {
		snprintf(err, err_len, "migration: the destination went away before taking over");
		return -1;
	}
	stats->memory_bytes = vm->config->memory;
	stats->ms = now_ms() - start;
	return 0;
}

/* ---- destination ---- */

int migration_receive_config(int fd, const struct vm_config *local, struct vm_config *config,
			     char *err, size_t err_len)
{
	struct state_section section;
	void *storage = NULL;
	char why[512] = "";
	int rc = state_stream_read_header(fd, why, sizeof(why));
	rc = rc ?: state_stream_read_section(fd, &section, &storage, why, sizeof(why));
	if (rc == 0 && section.kind != STREAM_CONFIG) {
		snprintf(why, sizeof(why), "the stream does not start with the VM's configuration");
		rc = -1;
	}
	if (rc == 0)
		rc = config_load_json_text(config, (const char *)section.payload, section.length,
					   "from the source", why, sizeof(why));
	for (unsigned i = 0; rc == 0 && i < local->nr_settings; i++)
		rc = config_set(config, local->settings[i].key, local->settings[i].value, why,
				sizeof(why));
	free(storage);
	if (rc < 0) {
		snprintf(err, err_len, "migration: %s", why);
		migration_refuse(fd, err);
	}
	return rc;
}

/* One memory section into guest RAM, which must hold all of its range. */
static int receive_memory(struct vm *vm, const struct state_section *section, char *err,
			  size_t err_len)
{
	uint64_t gpa, size;
	state_stream_memory_range(section, &gpa, &size);
	uint8_t *host = guest_memory_ptr(&vm->mem, gpa, size);
	if (!host) {
		snprintf(err, err_len, "guest memory at 0x%llx is outside this VM's RAM",
			 (unsigned long long)gpa);
		return -1;
	}
	return state_stream_load_memory(section, host, size, err, err_len);
}

/* Memory sections, then the records, up to the end section. */
static int receive_state(struct vm *vm, int fd, char *err, size_t err_len)
{
	bool records = false;
	for (;;) {
		struct state_section section;
		void *storage;
		if (state_stream_read_section(fd, &section, &storage, err, err_len) < 0)
			return -1;
		int rc = 0;
		if (section.kind == STREAM_MEMORY && !records)
			rc = receive_memory(vm, &section, err, err_len);
		else if (section.kind == STREAM_RECORDS && !records)
			rc = vm_load_state(vm, section.payload, section.length, err, err_len);
		else if (section.kind != STREAM_END || !records) {
			snprintf(err, err_len, "the stream has a section out of place (kind %u)",
				 (unsigned)section.kind);
			rc = -1;
		}
		free(storage);
		if (rc < 0 || section.kind == STREAM_END)
			return rc;
		records |= section.kind == STREAM_RECORDS;
	}
}

static int load_from_stream(struct vm *vm, void *opaque, char *err, size_t err_len)
{
	int fd = *(int *)opaque;
	char why[512] = "", line[LINE_MAX_BYTES];
	if (receive_state(vm, fd, why, sizeof(why)) < 0) {
		migration_refuse(fd, why);
		snprintf(err, err_len, "migration: %s", why);
		return -1;
	}
	if (send_line(fd, "ready\n") < 0 || receive_line(fd, line, sizeof(line)) < 0 ||
	    strcmp(line, "go") != 0) {
		snprintf(err, err_len,
			 "migration: the source did not hand the VM over; it keeps running there");
		return -1;
	}
	return 0;
}

struct vm_origin migration_origin(int *fd, const char *uri)
{
	return (struct vm_origin){
	    .what = "received from", .source = uri, .load = load_from_stream, .opaque = fd};
}
