#include "vmm/api_protocol.h"

#include "lib/size.h"
#include "vmm/api_reply.h"
#include "vmm/config.h"
#include "vmm/config_devices.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_LEN API_ERR_LEN

/* "size" as a JSON integer (bytes) or a string with an optional K/M/G/T suffix. */
static int parse_size_field(const char *command, const json_t *size, uint64_t *bytes, char *err,
			    size_t err_len)
{
	if (json_is_integer(size) && json_integer_value(size) >= 0) {
		*bytes = (uint64_t)json_integer_value(size);
		return 0;
	}
	if (json_is_string(size) && parse_size(json_string_value(size), false, bytes))
		return 0;
	snprintf(err, err_len,
		 "%s: \"size\" must be a byte count, as an integer or a string like "
		 "\"512M\" or \"1G\"",
		 command);
	return -1;
}

static json_t *do_balloon(const struct api_ops *ops, const json_t *request)
{
	char err[ERR_LEN] = "";
	const json_t *size = json_object_get(request, "size");
	uint64_t bytes;
	if (!size)
		return error_reply("balloon: missing \"size\" (the memory the balloon should "
				   "take from the guest, e.g. \"512M\"; 0 gives it all back)");
	if (parse_size_field("balloon", size, &bytes, err, sizeof(err)) < 0)
		return error_reply(err);
	if (ops->balloon_set(ops->opaque, bytes, err, sizeof(err)) < 0)
		return refused_reply(err);
	return ok_reply();
}

/* {"command": "memory", "size": TOTAL}: the guest's RAM with what virtio-mem adds. */
static json_t *do_memory(const struct api_ops *ops, const json_t *request)
{
	char err[ERR_LEN] = "";
	const json_t *size = json_object_get(request, "size");
	uint64_t bytes;
	if (!size)
		return error_reply("memory: missing \"size\" (the guest's memory in all, e.g. "
				   "\"2G\")");
	if (parse_size_field("memory", size, &bytes, err, sizeof(err)) < 0)
		return error_reply(err);
	if (ops->memory_set(ops->opaque, bytes, err, sizeof(err)) < 0)
		return refused_reply(err);
	return ok_reply();
}

static json_t *do_memory_info(const struct api_ops *ops)
{
	char err[ERR_LEN] = "";
	struct api_memory info = {0};
	if (ops->memory_info(ops->opaque, &info, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "ok", 1, "boot", (json_int_t)info.boot,
			 "hotplug_max", (json_int_t)info.hotplug_max, "block_size",
			 (json_int_t)info.block_size, "requested", (json_int_t)info.requested,
			 "plugged", (json_int_t)info.plugged);
}

static json_t *do_balloon_info(const struct api_ops *ops)
{
	char err[ERR_LEN] = "";
	struct balloon_info info;
	if (ops->balloon_info(ops->opaque, &info, err, sizeof(err)) < 0)
		return refused_reply(err);
	json_t *stats = json_null();
	if (info.stats_valid)
		stats = json_pack("{s:I,s:I,s:I}", "free", (json_int_t)info.free_memory, "total",
				  (json_int_t)info.total_memory, "available",
				  (json_int_t)info.available_memory);
	return json_pack("{s:b,s:I,s:I,s:I,s:o}", "ok", 1, "target", (json_int_t)info.target,
			 "actual", (json_int_t)info.actual, "reported", (json_int_t)info.reported,
			 "stats", stats);
}

static json_t *do_status(const struct api_ops *ops)
{
	char err[ERR_LEN] = "";
	struct api_status status;
	memset(&status, 0, sizeof(status));
	if (ops->status(ops->opaque, &status, err, sizeof(err)) < 0)
		return refused_reply(err);
	json_t *devices = json_array();
	for (unsigned i = 0; i < status.nr_devices && i < API_MAX_DEVICES; i++)
		json_array_append_new(devices, json_string(status.devices[i]));
	return json_pack("{s:b,s:s?,s:s,s:s?,s:i,s:I,s:i,s:o}", "ok", 1, "name", status.name,
			 "state", status.state ? status.state : "unknown", "accel", status.accel,
			 "vcpus", (int)status.vcpus, "memory", (json_int_t)status.memory, "boots",
			 (int)status.boots, "devices", devices);
}

/* A command without arguments whose reply is just ok or the error. */
static json_t *do_action(const struct api_ops *ops,
			 int (*action)(void *opaque, char *err, size_t err_len))
{
	char err[ERR_LEN] = "";
	if (action(ops->opaque, err, sizeof(err)) < 0)
		return refused_reply(err);
	return ok_reply();
}

static json_t *do_snapshot(const struct api_ops *ops, const json_t *request)
{
	const json_t *dir = json_object_get(request, "dir");
	const json_t *resume = json_object_get(request, "resume");
	const json_t *disks = json_object_get(request, "disk_snapshot");
	if (!json_is_string(dir) || json_string_value(dir)[0] != '/')
		return error_reply("snapshot: \"dir\" must be an absolute directory path");
	if (resume && !json_is_boolean(resume))
		return error_reply("snapshot: \"resume\" must be true or false");
	if (disks && !json_is_boolean(disks))
		return error_reply("snapshot: \"disk_snapshot\" must be true or false");
	struct api_snapshot snapshot = {.dir = json_string_value(dir),
					.resume = !resume || json_is_true(resume),
					.disk_snapshot = json_is_true(disks)};
	char err[ERR_LEN] = "";
	if (ops->snapshot(ops->opaque, &snapshot, err, sizeof(err)) < 0) {
		for (unsigned i = 0; i < API_SNAPSHOT_MAX_DISKS; i++)
			free(snapshot.overlays[i]);
		return refused_reply(err);
	}
	json_t *overlays = json_array();
	for (unsigned i = 0; i < API_SNAPSHOT_MAX_DISKS; i++) {
		if (snapshot.overlays[i])
			json_array_append_new(overlays, json_string(snapshot.overlays[i]));
		free(snapshot.overlays[i]);
	}
	return json_pack("{s:b,s:I,s:I,s:I,s:b,s:o}", "ok", 1, "ms", (json_int_t)snapshot.ms,
			 "memory_bytes", (json_int_t)snapshot.memory_bytes, "state_bytes",
			 (json_int_t)snapshot.state_bytes, "paused", snapshot.paused, "overlays",
			 overlays);
}

static json_t *do_migrate(const struct api_ops *ops, const json_t *request)
{
	const char *uri = json_string_value(json_object_get(request, "uri"));
	if (!uri || (strncmp(uri, "unix:", 5) != 0 && strncmp(uri, "tcp:", 4) != 0))
		return error_reply(
		    "migrate: \"uri\" must be unix:PATH or tcp:HOST:PORT (where the destination "
		    "runs gureum run --incoming)");
	const json_t *downtime = json_object_get(request, "downtime_ms");
	if (downtime && (!json_is_integer(downtime) || json_integer_value(downtime) < 1 ||
			 json_integer_value(downtime) > 60000))
		return error_reply("migrate: \"downtime_ms\" must be an integer from 1 to 60000");
	const json_t *compress = json_object_get(request, "compress");
	if (compress && !json_is_boolean(compress))
		return error_reply("migrate: \"compress\" must be true or false");
	const json_t *converge = json_object_get(request, "auto_converge");
	if (converge && !json_is_boolean(converge))
		return error_reply("migrate: \"auto_converge\" must be true or false");
	const json_t *postcopy = json_object_get(request, "postcopy");
	if (postcopy && !json_is_boolean(postcopy))
		return error_reply("migrate: \"postcopy\" must be true or false");
	const json_t *after = json_object_get(request, "postcopy_after_rounds");
	if (after && (!json_is_integer(after) || json_integer_value(after) < 0 ||
		      json_integer_value(after) > API_MAX_POSTCOPY_AFTER_ROUNDS))
		return error_reply(
		    "migrate: \"postcopy_after_rounds\" must be an integer from 0 to 30");
	const json_t *bandwidth = json_object_get(request, "max_bandwidth");
	if (bandwidth && (!json_is_integer(bandwidth) || json_integer_value(bandwidth) < 1))
		return error_reply(
		    "migrate: \"max_bandwidth\" must be a positive number of bytes per second");
	struct api_migrate migrate = {
	    .uri = uri,
	    .compress = json_is_true(compress),
	    .auto_converge = json_is_true(converge),
	    .postcopy = json_is_true(postcopy),
	    .postcopy_after_rounds =
		after ? (unsigned)json_integer_value(after) : API_DEFAULT_POSTCOPY_AFTER_ROUNDS,
	    .max_bytes_per_s = bandwidth ? (uint64_t)json_integer_value(bandwidth) : 0,
	    .max_downtime_ms =
		downtime ? (uint64_t)json_integer_value(downtime) : API_DEFAULT_DOWNTIME_MS};
	char err[ERR_LEN] = "";
	if (ops->migrate(ops->opaque, &migrate, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:I,s:I,s:i,s:b,s:I,s:i,s:b,s:I,s:I,s:I,s:i}", "ok", 1, "ms",
			 (json_int_t)migrate.ms, "downtime_ms", (json_int_t)migrate.downtime_ms,
			 "rounds", (int)migrate.rounds, "precopy", migrate.precopy, "memory_bytes",
			 (json_int_t)migrate.memory_bytes, "throttle_pct",
			 (int)migrate.throttle_pct, "postcopy", migrate.postcopy, "postcopy_ms",
			 (json_int_t)migrate.postcopy_ms, "postcopy_pages",
			 (json_int_t)migrate.postcopy_pages, "postcopy_requested",
			 (json_int_t)migrate.postcopy_requested, "postcopy_recoveries",
			 (int)migrate.postcopy_recoveries);
}

static json_t *do_migrate_status(const struct api_ops *ops)
{
	struct api_migration_status st = {0};
	char err[ERR_LEN] = "";
	if (ops->migrate_status(ops->opaque, &st, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:s,s:s,s:I,s:I,s:i,s:I,s:I,s:I,s:b,s:i,s:b,s:I,s:b,s:s}", "ok", 1,
			 "state", st.state, "uri", st.uri, "elapsed_ms", (json_int_t)st.elapsed_ms,
			 "transferred_bytes", (json_int_t)st.transferred_bytes, "rounds",
			 (int)st.rounds, "dirty_bytes", (json_int_t)st.dirty_bytes,
			 "dirty_bytes_per_s", (json_int_t)st.dirty_bytes_per_s,
			 "expected_downtime_ms", (json_int_t)st.expected_downtime_ms, "paused",
			 st.paused, "throttle_pct", (int)st.throttle_pct, "postcopy", st.postcopy,
			 "postcopy_left_bytes", (json_int_t)st.postcopy_left_bytes,
			 "postcopy_reconnecting", st.postcopy_reconnecting, "error", st.error);
}

#define COMMAND_LIST                                                                               \
	"balloon, balloon-info, memory, memory-info, status, pause, resume, snapshot, migrate, "   \
	"migrate-status, "                                                                         \
	"migrate-cancel, migrate-reconnect, net-link, net-mac, net-info, screendump, disk-limit, " \
	"net-limit, "                                                                              \
	"power-button, vcpus, vcpus-info, counters, disks, disk-add, disk-remove, nics, nic-add, " \
	"nic-remove, reset, quit"

/* {"command": "net-link", "card": N, "up": true|false} */
static json_t *do_net_link(const struct api_ops *ops, const json_t *request)
{
	const json_t *card = json_object_get(request, "card"), *up = json_object_get(request, "up");
	if (!json_is_integer(card) || json_integer_value(card) < 0 ||
	    json_integer_value(card) > 255 || !json_is_boolean(up))
		return error_reply("net-link: give \"card\" (0 for the first --net) and \"up\" "
				   "(true or false)");
	char err[ERR_LEN] = "";
	if (ops->net_link(ops->opaque, (unsigned)json_integer_value(card), json_is_true(up), err,
			  sizeof(err)) < 0)
		return refused_reply(err);
	return ok_reply();
}

/* {"command": "vcpus", "count": N} */
static json_t *do_vcpus(const struct api_ops *ops, const json_t *request)
{
	const json_t *count = json_object_get(request, "count");
	if (!json_is_integer(count) || json_integer_value(count) < 1 ||
	    json_integer_value(count) > CONFIG_MAX_CPUS)
		return error_reply("vcpus: give \"count\", the vCPUs the guest should have (1 to "
				   "the VM's --cpus ...,max=)");
	char err[ERR_LEN] = "";
	if (ops->vcpus_set(ops->opaque, (unsigned)json_integer_value(count), err, sizeof(err)) < 0)
		return refused_reply(err);
	return ok_reply();
}

static json_t *do_vcpus_info(const struct api_ops *ops)
{
	char err[ERR_LEN] = "";
	struct api_vcpus info = {0};
	if (ops->vcpus_info(ops->opaque, &info, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:i,s:i,s:i,s:i}", "ok", 1, "present", (int)info.present, "max",
			 (int)info.max, "inserting", (int)info.inserting, "removing",
			 (int)info.removing);
}

/* "card": N, the index of a --net (0 for the first); -1 when missing or not one. */
static int card_index(const json_t *request)
{
	const json_t *card = json_object_get(request, "card");
	if (!json_is_integer(card) || json_integer_value(card) < 0 ||
	    json_integer_value(card) > 255)
		return -1;
	return (int)json_integer_value(card);
}

/* "52:54:00:12:34:56" into mac; 0 or -1 (not six hex bytes, or a multicast address). */
static int parse_unicast_mac(const char *text, uint8_t mac[6])
{
	return text && config_parse_mac(text, mac) == 0 && !(mac[0] & 1) ? 0 : -1;
}

/* {"command": "net-mac", "card": N, "mac": "52:54:00:12:34:56"} */
static json_t *do_net_mac(const struct api_ops *ops, const json_t *request)
{
	int card = card_index(request);
	uint8_t mac[6];
	if (card < 0 || parse_unicast_mac(json_string_value(json_object_get(request, "mac")), mac))
		return error_reply("net-mac: give \"card\" (0 for the first --net) and \"mac\", "
				   "a unicast address like \"52:54:00:12:34:56\"");
	char err[ERR_LEN] = "";
	if (ops->net_mac(ops->opaque, (unsigned)card, mac, err, sizeof(err)) < 0)
		return refused_reply(err);
	return ok_reply();
}

static json_t *mac_string(const uint8_t mac[6])
{
	return json_sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
			    mac[5]);
}

static json_t *counter_array(const uint64_t *values, unsigned n)
{
	json_t *array = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(array, json_integer((json_int_t)values[i]));
	return array;
}

/* {"command": "net-info", "card": N} */
static json_t *do_net_info(const struct api_ops *ops, const json_t *request)
{
	int card = card_index(request);
	if (card < 0)
		return error_reply("net-info: give \"card\" (0 for the first --net)");
	char err[ERR_LEN] = "";
	struct virtio_net_info i;
	if (ops->net_info(ops->opaque, (unsigned)card, &i, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack(
	    "{s:b,s:o,s:o,s:b,s:b,s:i,s:i,s:o,s:o,s:I,s:I,s:I}", "ok", 1, "mac", mac_string(i.mac),
	    "assigned_mac", mac_string(i.assigned_mac), "link_up", i.link_up, "vhost", i.vhost,
	    "queue_pairs", (int)i.pairs, "active_pairs", (int)i.active_pairs, "rx_packets",
	    counter_array(i.pair_rx_packets, i.pairs), "tx_packets",
	    counter_array(i.pair_tx_packets, i.pairs), "rx_dropped", (json_int_t)i.rx_dropped,
	    "tx_dropped", (json_int_t)i.tx_dropped, "control_errors", (json_int_t)i.ctrl_errors);
}

/* {"command": "screendump", "file": "/abs/shot.png"} */
static json_t *do_screendump(const struct api_ops *ops, const json_t *request)
{
	const char *file = json_string_value(json_object_get(request, "file"));
	if (!file || file[0] != '/')
		return error_reply("screendump: \"file\" must be an absolute path (where the "
				   "PNG goes)");
	char err[ERR_LEN] = "";
	unsigned width = 0, height = 0;
	if (ops->screendump(ops->opaque, file, &width, &height, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:i,s:i}", "ok", 1, "width", (int)width, "height", (int)height);
}

/* ---- counters ------------------------------------------------------------------------ */

static const char *const exit_names[API_EXIT_KINDS] = {"io", "mmio", "hlt", "interrupted", "other"};

static json_t *vcpu_counters_json(unsigned index, const struct api_vcpu_counters *v)
{
	json_t *exits = json_object(), *accel = json_object();
	for (unsigned i = 0; i < API_EXIT_KINDS; i++)
		json_object_set_new(exits, exit_names[i], json_integer((json_int_t)v->exits[i]));
	for (unsigned i = 0; i < v->nr_accel && i < API_MAX_ACCEL_COUNTERS; i++)
		json_object_set_new(accel, v->accel[i].name,
				    json_integer((json_int_t)v->accel[i].value));
	return json_pack("{s:i,s:o,s:o}", "index", (int)index, "exits", exits, "accel", accel);
}

static json_t *blk_counters_json(const struct virtio_blk_counters *c)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "read_requests",
			 (json_int_t)c->read_requests, "read_bytes", (json_int_t)c->read_bytes,
			 "write_requests", (json_int_t)c->write_requests, "write_bytes",
			 (json_int_t)c->write_bytes, "flush_requests",
			 (json_int_t)c->flush_requests, "discard_requests",
			 (json_int_t)c->discard_requests, "write_zeroes_requests",
			 (json_int_t)c->write_zeroes_requests, "errors", (json_int_t)c->errors);
}

static json_t *net_counters_json(const struct virtio_net_info *i)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "rx_packets",
			 (json_int_t)i->rx_packets, "rx_bytes", (json_int_t)i->rx_bytes,
			 "tx_packets", (json_int_t)i->tx_packets, "tx_bytes",
			 (json_int_t)i->tx_bytes, "rx_dropped", (json_int_t)i->rx_dropped,
			 "tx_dropped", (json_int_t)i->tx_dropped, "control_errors",
			 (json_int_t)i->ctrl_errors, "vhost", i->vhost);
}

static json_t *device_counters_json(const struct api_device_counters *d)
{
	json_t *o = json_pack("{s:s,s:I,s:I}", "name", d->name, "kicks", (json_int_t)d->kicks,
			      "interrupts", (json_int_t)d->interrupts);
	if (o && d->kind == API_DEVICE_BLK)
		json_object_set_new(o, "blk", blk_counters_json(&d->blk));
	else if (o && d->kind == API_DEVICE_NET)
		json_object_set_new(o, "net", net_counters_json(&d->net));
	return o;
}

/* {"command": "counters"}: the struct is large (every vCPU's accelerator counters), so it
 * lives on the heap, not on a connection thread's stack. */
static json_t *do_counters(const struct api_ops *ops)
{
	struct api_counters *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	char err[ERR_LEN] = "";
	if (ops->counters(ops->opaque, c, err, sizeof(err)) < 0) {
		free(c);
		return refused_reply(err);
	}
	json_t *vcpus = json_array(), *devices = json_array();
	for (unsigned i = 0; i < c->nr_vcpus && i < API_MAX_VCPUS; i++)
		json_array_append_new(vcpus, vcpu_counters_json(i, &c->vcpus[i]));
	for (unsigned i = 0; i < c->nr_devices && i < API_MAX_DEVICES; i++)
		json_array_append_new(devices, device_counters_json(&c->devices[i]));
	json_t *reply = json_pack("{s:b,s:i,s:o,s:o}", "ok", 1, "boots", (int)c->boots, "vcpus",
				  vcpus, "devices", devices);
	free(c);
	return reply;
}

json_t *api_dispatch(const struct api_ops *ops, const json_t *request)
{
	if (!json_is_object(request))
		return error_reply(
		    "the request must be a JSON object, e.g. {\"command\":\"status\"}");
	const char *command = json_string_value(json_object_get(request, "command"));
	if (!command)
		return error_reply("the request has no \"command\" string (commands: " COMMAND_LIST
				   ")");
	if (strcmp(command, "balloon") == 0)
		return do_balloon(ops, request);
	if (strcmp(command, "balloon-info") == 0)
		return do_balloon_info(ops);
	if (strcmp(command, "memory") == 0)
		return do_memory(ops, request);
	if (strcmp(command, "memory-info") == 0)
		return do_memory_info(ops);
	if (strcmp(command, "status") == 0)
		return do_status(ops);
	if (strcmp(command, "quit") == 0)
		return do_action(ops, ops->quit);
	if (strcmp(command, "reset") == 0)
		return do_action(ops, ops->reset);
	if (strcmp(command, "pause") == 0)
		return do_action(ops, ops->pause);
	if (strcmp(command, "resume") == 0)
		return do_action(ops, ops->resume);
	if (strcmp(command, "power-button") == 0)
		return do_action(ops, ops->power_button);
	if (strcmp(command, "vcpus") == 0)
		return do_vcpus(ops, request);
	if (strcmp(command, "vcpus-info") == 0)
		return do_vcpus_info(ops);
	if (strcmp(command, "snapshot") == 0)
		return do_snapshot(ops, request);
	if (strcmp(command, "migrate") == 0)
		return do_migrate(ops, request);
	if (strcmp(command, "migrate-status") == 0)
		return do_migrate_status(ops);
	if (strcmp(command, "migrate-cancel") == 0)
		return do_action(ops, ops->migrate_cancel);
	if (strcmp(command, "migrate-reconnect") == 0)
		return do_action(ops, ops->migrate_reconnect);
	if (strcmp(command, "net-link") == 0)
		return do_net_link(ops, request);
	if (strcmp(command, "net-mac") == 0)
		return do_net_mac(ops, request);
	if (strcmp(command, "net-info") == 0)
		return do_net_info(ops, request);
	if (strcmp(command, "screendump") == 0)
		return do_screendump(ops, request);
	if (strcmp(command, "disk-limit") == 0)
		return api_do_disk_limit(ops, request);
	if (strcmp(command, "net-limit") == 0)
		return api_do_net_limit(ops, request);
	if (strcmp(command, "counters") == 0)
		return do_counters(ops);
	if (strcmp(command, "disks") == 0)
		return api_do_disks(ops);
	if (strcmp(command, "disk-add") == 0)
		return api_do_disk_add(ops, request);
	if (strcmp(command, "disk-remove") == 0)
		return api_do_disk_remove(ops, request);
	if (strcmp(command, "nics") == 0)
		return api_do_nics(ops);
	if (strcmp(command, "nic-add") == 0)
		return api_do_nic_add(ops, request);
	if (strcmp(command, "nic-remove") == 0)
		return api_do_nic_remove(ops, request);
	return error_replyf("unknown command \"%.64s\" (commands: " COMMAND_LIST ")", command);
}

char *api_handle_request(const struct api_ops *ops, const char *line, size_t len)
{
	json_error_t error;
	json_t *request = json_loadb(line, len, JSON_REJECT_DUPLICATES, &error);
	json_t *reply = request ? api_dispatch(ops, request)
				: error_replyf("the request is not valid JSON (%s at column %d)",
					       error.text, error.column);
	json_decref(request);
	char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	json_decref(reply);
	/* jansson fails only without memory */
	return text ? text : strdup("{\"ok\":false,\"error\":\"out of memory\"}");
}
