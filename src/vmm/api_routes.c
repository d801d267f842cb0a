#include "vmm/api_routes.h"

#include "lib/json_body.h"

#include "lib/name_chars.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A path segment "{card}" stands for a network card's index, 0-255; "{disk}" for a disk's
 * index, or its serial (1-20 letters, digits, '.', '_', '-'; all digits: an index). */
#define CARD_SEGMENT "{card}"
#define DISK_SEGMENT "{disk}"

struct route {
	const char *method;
	const char *path; /* after API_PATH_PREFIX */
	const char *command;
	/* The body's fields; NULL: the request takes no body. */
	const char *const *fields;
	bool long_running;
};

static const char *const balloon_fields[] = {"size", NULL};
static const char *const vcpus_fields[] = {"count", NULL};
static const char *const snapshot_fields[] = {"dir", "resume", "disk_snapshot", NULL};
static const char *const migrate_fields[] = {
    "uri",	"downtime_ms",		 "compress", "max_bandwidth", "auto_converge",
    "postcopy", "postcopy_after_rounds", NULL};
static const char *const link_fields[] = {"up", NULL};
static const char *const mac_fields[] = {"mac", NULL};
static const char *const screendump_fields[] = {"file", NULL};
static const char *const disk_add_fields[] = {"path",	"readonly", "serial",
					      "format", "cache",    NULL};
static const char *const nic_add_fields[] = {"net", NULL};
static const char *const limit_fields[] = {"bps", "bps_burst", "iops", "iops_burst", NULL};
static const char *const net_limit_fields[] = {"rx_bps",       "rx_bps_burst", "rx_pps",
					       "rx_pps_burst", "tx_bps",       "tx_bps_burst",
					       "tx_pps",       "tx_pps_burst", NULL};

static const struct route routes[] = {
    {"GET", "/vm", "status", NULL, false},
    {"POST", "/vm/pause", "pause", NULL, false},
    {"POST", "/vm/resume", "resume", NULL, false},
    {"POST", "/vm/stop", "quit", NULL, false},
    {"POST", "/vm/reset", "reset", NULL, false},
    {"POST", "/vm/power-button", "power-button", NULL, false},
    {"GET", "/vm/cpus", "vcpus-info", NULL, false},
    {"PUT", "/vm/cpus", "vcpus", vcpus_fields, false},
    {"GET", "/vm/memory", "memory-info", NULL, false},
    {"PUT", "/vm/memory", "memory", balloon_fields, false},
    {"GET", "/vm/balloon", "balloon-info", NULL, false},
    {"PUT", "/vm/balloon", "balloon", balloon_fields, false},
    {"POST", "/vm/snapshot", "snapshot", snapshot_fields, false},
    {"POST", "/vm/migration", "migrate", migrate_fields, true},
    {"GET", "/vm/migration", "migrate-status", NULL, false},
    {"DELETE", "/vm/migration", "migrate-cancel", NULL, false},
    {"POST", "/vm/migration/reconnect", "migrate-reconnect", NULL, false},
    {"GET", "/vm/net", "nics", NULL, false},
    {"POST", "/vm/net", "nic-add", nic_add_fields, false},
    {"GET", "/vm/net/" CARD_SEGMENT, "net-info", NULL, false},
    {"DELETE", "/vm/net/" CARD_SEGMENT, "nic-remove", NULL, false},
    {"PUT", "/vm/net/" CARD_SEGMENT "/link", "net-link", link_fields, false},
    {"PUT", "/vm/net/" CARD_SEGMENT "/mac", "net-mac", mac_fields, false},
    {"GET", "/vm/net/" CARD_SEGMENT "/limits", "net-limit", NULL, false},
    {"PATCH", "/vm/net/" CARD_SEGMENT "/limits", "net-limit", net_limit_fields, false},
    {"POST", "/vm/screendump", "screendump", screendump_fields, false},
    {"GET", "/vm/disks", "disks", NULL, false},
    {"POST", "/vm/disks", "disk-add", disk_add_fields, false},
    {"DELETE", "/vm/disks/" DISK_SEGMENT, "disk-remove", NULL, false},
    {"GET", "/vm/disks/" DISK_SEGMENT "/limits", "disk-limit", NULL, false},
    {"PATCH", "/vm/disks/" DISK_SEGMENT "/limits", "disk-limit", limit_fields, false},
    {"GET", "/vm/counters", "counters", NULL, false},
};

#define NR_ROUTES (sizeof(routes) / sizeof(routes[0]))

static void fail(struct api_routing *out, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct api_routing *out, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
	out->status = status;
}

/* A card index of 1-3 decimal digits up to 255 at the start of `text`; its length, or 0. */
static size_t card_digits(const char *text, int *card)
{
	size_t n = 0;
	int value = 0;
	while (n < 3 && text[n] >= '0' && text[n] <= '9')
		value = value * 10 + (text[n++] - '0');
	if (n == 0 || value > 255 || (text[n] >= '0' && text[n] <= '9') ||
	    (n > 1 && text[0] == '0'))
		return 0;
	*card = value;
	return n;
}

/* A disk's serial at the start of `text`, up to the next '/'; its length, or 0. */
static size_t serial_chars(const char *text)
{
	size_t n = 0;
	while (text[n] && text[n] != '/') {
		if (!name_char(text[n]))
			return 0;
		n++;
	}
	return n <= 20 ? n : 0;
}

/* The path's parameters: a card's index, a disk's index or serial. */
struct path_params {
	int card;     /* -1: none */
	json_t *disk; /* NULL: none */
};

/* "{disk}" at the start of `path` into params; its length, or 0. */
static size_t disk_segment(const char *path, struct path_params *params)
{
	int index;
	size_t n = card_digits(path, &index);
	if (n && (path[n] == '/' || !path[n])) {
		params->disk = json_integer(index);
		return n;
	}
	n = serial_chars(path);
	if (n)
		params->disk = json_stringn(path, n);
	return n;
}

/* Whether `path` (NUL-terminated, no query) is the route's; its parameters into *params
 * (the caller decrefs params->disk). */
static bool path_matches(const char *pattern, const char *path, struct path_params *params)
{
	*params = (struct path_params){.card = -1};
	while (*pattern) {
		size_t n = 0, skip = 0;
		if (strncmp(pattern, CARD_SEGMENT, strlen(CARD_SEGMENT)) == 0)
			n = card_digits(path, &params->card), skip = strlen(CARD_SEGMENT);
		else if (strncmp(pattern, DISK_SEGMENT, strlen(DISK_SEGMENT)) == 0)
			n = disk_segment(path, params), skip = strlen(DISK_SEGMENT);
		if (skip) {
			if (!n)
				return false;
			pattern += skip;
			path += n;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *path == '\0';
}

/* The body as the command's object: a JSON object of known fields. NULL after fail(). */
static json_t *parse_body(const struct route *route, const struct api_http_request *request,
			  struct api_routing *out)
{
	char what[96];
	snprintf(what, sizeof(what), "%s %s%s", route->method, API_PATH_PREFIX, route->path);
	return json_body_object(what, request->content_type, request->body, request->body_len,
				route->fields, &out->status, out->error, sizeof(out->error));
}

static void take_route(const struct route *route, const struct path_params *params,
		       const struct api_http_request *request, struct api_routing *out)
{
	json_t *command;
	if (route->fields)
		command = parse_body(route, request, out);
	else if (request->body_len) {
		fail(out, 400, "%s %s%s takes no body", route->method, API_PATH_PREFIX,
		     route->path);
		return;
	} else
		command = json_object();
	if (!command)
		return;
	json_object_set_new(command, "command", json_string(route->command));
	if (params->card >= 0)
		json_object_set_new(command, "card", json_integer(params->card));
	if (params->disk)
		json_object_set(command, "disk", params->disk);
	out->command = command;
	out->long_running = route->long_running;
}

/* The methods the path takes, for 405's Allow header; whether it names a resource at all. */
static bool allowed_methods(const char *path, char *allow, size_t len)
{
	size_t used = 0;
	struct path_params params;
	allow[0] = '\0';
	for (size_t i = 0; i < NR_ROUTES; i++) {
		if (path_matches(routes[i].path, path, &params) && used < len)
			used += (size_t)snprintf(allow + used, len - used, "%s%s", used ? ", " : "",
						 routes[i].method);
		json_decref(params.disk);
	}
	return used > 0;
}

void api_route(const struct api_http_request *request, struct api_routing *out)
{
	memset(out, 0, sizeof(*out));
	const char *url = request->url ? request->url : "";
	size_t prefix = strlen(API_PATH_PREFIX);
	char path[128];
	size_t path_len = strcspn(url, "?");
	if (strncmp(url, API_PATH_PREFIX, prefix) != 0 || path_len - prefix >= sizeof(path)) {
		fail(out, 404,
		     "no such resource: the API is under " API_PATH_PREFIX
		     "/vm (docs/api/vm.yaml)");
		return;
	}
	memcpy(path, url + prefix, path_len - prefix);
	path[path_len - prefix] = '\0';
	if (url[path_len] == '?') {
		fail(out, 400, "the API takes no query parameters");
		return;
	}
	struct path_params params;
	for (size_t i = 0; i < NR_ROUTES; i++) {
		params = (struct path_params){.card = -1};
		bool match =
		    strcmp(routes[i].method, request->method ? request->method : "") == 0 &&
		    path_matches(routes[i].path, path, &params);
		if (match)
			take_route(&routes[i], &params, request, out);
		json_decref(params.disk);
		if (match)
			return;
	}
	if (allowed_methods(path, out->allow, sizeof(out->allow)))
		fail(out, 405, "%.16s is not allowed on %s%.100s (allowed: %s)",
		     request->method ? request->method : "?", API_PATH_PREFIX, path, out->allow);
	else
		fail(out, 404, "no such resource: %s%.100s (docs/api/vm.yaml lists them)",
		     API_PATH_PREFIX, path);
}

bool api_disk_name_valid(const char *name)
{
	size_t n = serial_chars(name);
	return n && !name[n];
}
