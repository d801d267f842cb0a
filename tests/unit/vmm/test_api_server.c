/* The control API's HTTP server (api_server.h) against a fake VM, with libcurl and raw sockets
 * as clients: replies and status codes, a migration answered when it ends while others are
 * answered meanwhile, bodies too large, garbage, too many connections, and the socket file
 * (mode, stale and live files, clean-up at close). */
#include "api_fake_vm.h"
#include "vmm/api_routes.h"
#include "vmm/api_server.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static struct api_server *server;
static char socket_path[108];

static void server_setup(void)
{
	reset_vm();
	snprintf(socket_path, sizeof(socket_path), "/tmp/gureum-test-api-%d.sock", getpid());
	unlink(socket_path);
	server = NULL;
}

static void server_teardown(void)
{
	api_server_close(server);
	unlink(socket_path);
}

static struct api_server *open_server(char *err, size_t err_len)
{
	return api_server_open(socket_path, &ops, err, err_len);
}

static void open_or_fail(void)
{
	char err[256] = "";
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
}

struct reply {
	long status;
	char body[8192];
	size_t len;
	char allow[64];
};

static size_t take_body(char *data, size_t size, size_t count, void *opaque)
{
	struct reply *r = opaque;
	size_t len = size * count, room = sizeof(r->body) - 1 - r->len;
	memcpy(r->body + r->len, data, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

static size_t take_header(char *data, size_t size, size_t count, void *opaque)
{
	struct reply *r = opaque;
	size_t len = size * count;
	if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)strcspn(data + 7, "\r\n"),
			 data + 7);
	return len;
}

/* One request with libcurl; `type` NULL with a body: application/json. */
static struct reply http(const char *method, const char *path, const char *type, const char *body)
{
	struct reply r = {0};
	CURL *curl = curl_easy_init();
	cr_assert_not_null(curl);
	char url[256], content_type[128];
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, take_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, take_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
	struct curl_slist *headers = NULL;
	if (body) {
		snprintf(content_type, sizeof(content_type), "Content-Type: %s",
			 type ? type : "application/json");
		headers = curl_slist_append(NULL, content_type);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	CURLcode rc = curl_easy_perform(curl);
	cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return r;
}

/* The body's field `key` as a string, or "" (fails on a body that is not a JSON object). */
static const char *body_string(const struct reply *r, const char *key, char *out, size_t len)
{
	json_t *body = json_loads(r->body, 0, NULL);
	cr_assert(json_is_object(body), "not a JSON object: %s", r->body);
	snprintf(out, len, "%s", json_string_value(json_object_get(body, key)) ?: "");
	json_decref(body);
	return out;
}

static int connect_raw(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0, "connect: %s",
		     strerror(errno));
	struct timeval timeout = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	return fd;
}

static void send_text(int fd, const char *text)
{
	cr_assert_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Whatever the server sends until it closes or goes quiet for the socket's timeout. */
static size_t read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	while (len < size - 1 && (n = recv(fd, buf + len, size - 1 - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

TestSuite(api_server, .init = server_setup, .fini = server_teardown);

Test(api_server, replies_are_json_with_their_status)
{
	open_or_fail();
	char text[64];
	struct reply r = http("GET", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(body_string(&r, "state", text, sizeof(text)), "running");
	cr_assert_null(strstr(r.body, "\"ok\""), "HTTP's status says it: %s", r.body);
	r = http("PUT", "/api/v1/vm/balloon", NULL, "{\"size\":\"64M\"}");
	cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
	cr_assert_eq(r.len, 0);
	cr_assert_eq(vm.balloon_bytes, 64ULL << 20);
	r = http("POST", "/api/v1/vm/pause", NULL, NULL);
	cr_assert_eq(r.status, 204);
	r = http("POST", "/api/v1/vm/pause", NULL, NULL);
	cr_assert_eq(r.status, 409, "the VM refuses: %ld", r.status);
	cr_assert_str_eq(body_string(&r, "error", text, sizeof(text)), "the VM is already paused");
	r = http("PUT", "/api/v1/vm/balloon", NULL, "{\"size\":\"lots\"}");
	cr_assert_eq(r.status, 400);
	cr_assert(strstr(r.body, "\"error\""), "%s", r.body);
	r = http("DELETE", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET");
	r = http("GET", "/api/v1/nothing", NULL, NULL);
	cr_assert_eq(r.status, 404);
	r = http("PUT", "/api/v1/vm/balloon", "text/plain", "{\"size\":1}");
	cr_assert_eq(r.status, 415);
	cr_assert_eq(vm.balloon_calls, 1, "no bad request reached the VM");
}

Test(api_server, a_body_too_large_is_413_and_the_server_lives_on)
{
	open_or_fail();
	size_t len = API_MAX_BODY + 1000;
	char *big = malloc(len + 1);
	cr_assert_not_null(big);
	memset(big, ' ', len);
	memcpy(big, "{\"size\":1", 9);
	big[len - 1] = '}';
	big[len] = '\0';
	struct reply r = http("PUT", "/api/v1/vm/balloon", NULL, big);
	free(big);
	cr_assert_eq(r.status, 413, "%ld %s", r.status, r.body);
	cr_assert_eq(vm.balloon_calls, 0);
	r = http("GET", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 200);
}

Test(api_server, garbage_and_half_requests_leave_other_clients_answered)
{
	open_or_fail();
	int half = connect_raw(), garbage = connect_raw();
	send_text(half, "PUT /api/v1/vm/balloon HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			"Content-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"size\"");
	char junk[300];
	for (size_t i = 0; i < sizeof(junk) - 1; i++)
		junk[i] = (char)(i * 31 + 1) ?: 'x';
	junk[sizeof(junk) - 1] = '\0';
	send_text(garbage, junk);
	send_text(garbage, "\r\n\r\n");
	char buf[2048];
	read_all(garbage, buf, sizeof(buf));
	cr_assert(strncmp(buf, "HTTP/1.1 400", 12) == 0 || buf[0] == '\0',
		  "garbage gets 400 or a closed connection: %.80s", buf);
	close(garbage);
	struct reply r = http("GET", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 200, "others are answered while a request is half sent");
	send_text(half, ":\"32M\"}");
	read_all(half, buf, sizeof(buf));
	cr_assert(strncmp(buf, "HTTP/1.1 204", 12) == 0, "%.80s", buf);
	cr_assert_eq(vm.balloon_bytes, 32ULL << 20);
	close(half);
}

struct migrate_call {
	pthread_t thread;
	struct reply reply;
};

static void *migrate_thread(void *opaque)
{
	struct migrate_call *call = opaque;
	call->reply = http("POST", "/api/v1/vm/migration", NULL, "{\"uri\":\"unix:/run/m.sock\"}");
	return NULL;
}

/* A migration is answered when it ends; meanwhile other requests are answered. */
Test(api_server, a_migration_does_not_hold_up_other_requests)
{
	open_or_fail();
	vm.hold_migrate = true;
	struct migrate_call call;
	cr_assert_eq(pthread_create(&call.thread, NULL, migrate_thread, &call), 0);
	char text[64];
	struct reply r = http("GET", "/api/v1/vm/migration", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(body_string(&r, "state", text, sizeof(text)), "active");
	r = http("GET", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(vm.migrate_calls, 0, "the migration is still held");
	release_migrate(&vm);
	pthread_join(call.thread, NULL);
	cr_assert_eq(call.reply.status, 200, "%s", call.reply.body);
	cr_assert(strstr(call.reply.body, "\"rounds\":3"), "%s", call.reply.body);
	cr_assert_eq(vm.migrate_calls, 1);
}

/* Connections beyond the limit hear why; the ones within it are never refused. */
Test(api_server, one_connection_too_many_hears_503_and_others_go_on)
{
	open_or_fail();
	int fds[API_MAX_CLIENTS];
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		fds[i] = connect_raw();
	usleep(100000); /* the server has taken them all */
	int extra = connect_raw();
	char buf[512];
	send_text(extra, "GET /api/v1/vm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_all(extra, buf, sizeof(buf));
	cr_assert(strncmp(buf, "HTTP/1.1 503", 12) == 0, "%.80s", buf);
	cr_assert(strstr(buf, "too many connections"), "%s", buf);
	send_text(fds[0], "GET /api/v1/vm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_all(fds[0], buf, sizeof(buf));
	cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "one of the eight: %.80s", buf);
	close(extra);
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		close(fds[i]);
	usleep(100000);
	struct reply r = http("GET", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 200);
}

/* libmicrohttpd cuts the query off and decodes %XX before its handler sees the path: the
 * target as the client sent it is what is routed. */
Test(api_server, the_target_is_routed_as_sent)
{
	open_or_fail();
	struct reply r = http("POST", "/api/v1/vm/pause?x=1", NULL, NULL);
	cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
	r = http("POST", "/api/v1/vm%2Fpause", NULL, NULL);
	cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
	r = http("GET", "/api/v1/v%6D", NULL, NULL);
	cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
	cr_assert_not(vm.paused, "none of them paused the VM");
}

Test(api_server, close_removes_the_socket_file)
{
	open_or_fail();
	struct stat st;
	cr_assert_eq(stat(socket_path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	api_server_close(server);
	server = NULL;
	cr_assert_eq(stat(socket_path, &st), -1, "the socket file is gone after close");
}

Test(api_server, only_the_owner_may_connect)
{
	mode_t old = umask(0); /* a umask that would leave the socket open to all */
	open_or_fail();
	umask(old);
	struct stat st;
	cr_assert_eq(stat(socket_path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %03o", st.st_mode & 0777);
}

Test(api_server, a_stale_socket_file_is_replaced)
{
	/* What a killed VMM leaves behind: a bound socket file nobody listens on. */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, socket_path);
	cr_assert_eq(bind(stale, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(stale);
	open_or_fail();
	cr_assert_eq(http("GET", "/api/v1/vm", NULL, NULL).status, 200);
}

Test(api_server, a_live_socket_is_not_taken_over)
{
	open_or_fail();
	char err[256] = "";
	struct api_server *second = open_server(err, sizeof(err));
	cr_assert_null(second);
	cr_assert(strstr(err, "another VMM is listening"), "%s", err);
	cr_assert(strstr(err, socket_path), "the error names the path: %s", err);
	cr_assert_eq(http("GET", "/api/v1/vm", NULL, NULL).status, 200, "the first still answers");
}

Test(api_server, a_regular_file_is_never_removed)
{
	FILE *f = fopen(socket_path, "w");
	cr_assert_not_null(f);
	fputs("precious", f);
	fclose(f);
	char err[256] = "";
	server = open_server(err, sizeof(err));
	cr_assert_null(server);
	cr_assert(strstr(err, "not a socket"), "%s", err);
	struct stat st;
	cr_assert_eq(stat(socket_path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
}

Test(api_server, a_path_too_long_is_explained)
{
	char path[300];
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	char err[512] = "";
	cr_assert_null(api_server_open(path, &ops, err, sizeof(err)));
	cr_assert(strstr(err, "too long"), "%s", err);
}
