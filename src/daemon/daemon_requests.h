/* The bodies of the host daemon's requests (docs/api/daemon.yaml), checked before anything is
 * done: a JSON object of known fields with values of the right type and range. No sockets and
 * no supervisor here, so the checks are tested and fuzzed on their own. */
#ifndef GUREUM_DAEMON_DAEMON_REQUESTS_H
#define GUREUM_DAEMON_DAEMON_REQUESTS_H

#include "daemon/vm_record.h"

#include <stdbool.h>
#include <stddef.h>

/* What the parsers say of a body they refuse: the HTTP status (400 or 415) and why. */
struct request_error {
	unsigned status;
	char message[256];
};

struct request_body {
	const char *content_type; /* NULL: none given */
	const char *body;
	size_t len;
};

/* POST /vms: {"name", "args": [...], "restart", "autostart", "limits"}. Fills `out` (free
 * with vm_record_free). */
int parse_vm_definition(const struct request_body *body, struct vm_record *out,
			struct request_error *error);

/* Limits as requests give them: {"cpu_percent", "cpu_weight", "memory_max", "io_read_bps",
 * "io_write_bps", "io_read_iops", "io_write_iops"}, each optional (0: unlimited, or the
 * default weight). */
#define LIMIT_CPU_PERCENT_MAX 100000 /* a thousand CPUs */
#define LIMIT_CPU_WEIGHT_MAX  10000
#define LIMIT_MEMORY_MIN      (16ull << 20)
#define LIMIT_IO_BPS_MIN      (64ull << 10) /* below that a guest cannot even boot */
#define LIMIT_IO_IOPS_MIN     10
#define LIMIT_IO_MAX	      (1ull << 50)

/* PATCH /vms/{name}: {"restart", "autostart", "limits"}, each optional. */
struct vm_change {
	bool has_restart;
	enum restart_policy restart;
	bool has_autostart;
	bool autostart;
	struct vm_limits limits;
	unsigned limits_given; /* LIMIT_* bits of supervisor.h */
};
int parse_vm_change(const struct request_body *body, struct vm_change *out,
		    struct request_error *error);

/* POST /vms/{name}/stop: optional {"timeout", "force"}; defaults 30 s and false. */
#define STOP_DEFAULT_TIMEOUT_S 30
#define STOP_MAX_TIMEOUT_S     3600
int parse_vm_stop(const struct request_body *body, unsigned *timeout_s, bool *force,
		  struct request_error *error);

#endif
