/* The control protocol's I/O limit commands (api_protocol.h): disk-limit (a disk's bps, iops
 * and their bursts) and net-limit (a card's, per direction: rx_bps, tx_pps ...). Each field
 * given replaces its own; none given reads the limits. Parsed and merged here, applied by the
 * VM behind api_ops. */
#include "vmm/api_protocol.h"

#include "lib/token_bucket.h"
#include "vmm/api_reply.h"
#include "vmm/config_devices.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* One field of a request: which of the request's io_limits it sets (0; a card's tx: 1), where,
 * its API_LIMIT_* bit (shifted by API_LIMIT_TX_SHIFT for tx) and the --disk key whose parser
 * takes its string form ("8M"). */
struct limit_field {
	const char *name;
	const char *option;
	unsigned side;
	unsigned bit;
	size_t offset;
};

#define FIELD(name, option, side, bit, member)                                                     \
	{                                                                                          \
		name, option, side, (bit) << ((side)*API_LIMIT_TX_SHIFT),                          \
		    offsetof(struct io_limits, member)                                             \
	}

static const struct limit_field disk_fields[] = {
    FIELD("bps", "bps", 0, API_LIMIT_BPS, bps),
    FIELD("bps_burst", "bps-burst", 0, API_LIMIT_BPS_BURST, bps_burst),
    FIELD("iops", "iops", 0, API_LIMIT_IOPS, iops),
    FIELD("iops_burst", "iops-burst", 0, API_LIMIT_IOPS_BURST, iops_burst),
    {NULL, NULL, 0, 0, 0},
};

static const struct limit_field net_fields[] = {
    FIELD("rx_bps", "bps", 0, API_LIMIT_BPS, bps),
    FIELD("rx_bps_burst", "bps-burst", 0, API_LIMIT_BPS_BURST, bps_burst),
    FIELD("rx_pps", "iops", 0, API_LIMIT_IOPS, iops),
    FIELD("rx_pps_burst", "iops-burst", 0, API_LIMIT_IOPS_BURST, iops_burst),
    FIELD("tx_bps", "bps", 1, API_LIMIT_BPS, bps),
    FIELD("tx_bps_burst", "bps-burst", 1, API_LIMIT_BPS_BURST, bps_burst),
    FIELD("tx_pps", "iops", 1, API_LIMIT_IOPS, iops),
    FIELD("tx_pps_burst", "iops-burst", 1, API_LIMIT_IOPS_BURST, iops_burst),
    {NULL, NULL, 0, 0, 0},
};

static uint64_t *field_value(struct io_limits *sides, const struct limit_field *f)
{
	return (uint64_t *)((char *)&sides[f->side] + f->offset);
}

static bool counts_bytes(const struct limit_field *f)
{
	return strncmp(f->option, "bps", 3) == 0;
}

/* One limit as a JSON integer, or a string as --disk takes it ("8M"). 0 or -1. */
static int parse_value(const json_t *value, const struct limit_field *f, struct io_limits *sides)
{
	if (json_is_integer(value) && json_integer_value(value) >= 0 &&
	    (uint64_t)json_integer_value(value) <= TOKEN_BUCKET_MAX) {
		*field_value(sides, f) = (uint64_t)json_integer_value(value);
		return 0;
	}
	char ignored[API_ERR_LEN];
	if (json_is_string(value))
		return config_parse_disk_limit(&sides[f->side], f->option, json_string_value(value),
					       ignored, sizeof(ignored));
	return -1;
}

/* "ID, NAME, NAME, ...": what a request may name, for the message refusing anything else. */
static void known_fields(const char *id, const struct limit_field *fields, char *out, size_t len)
{
	int used = snprintf(out, len, "%s", id);
	for (const struct limit_field *f = fields; f->name && used >= 0 && (size_t)used < len; f++)
		used += snprintf(out + used, len - (size_t)used, ", %s", f->name);
}

/* The request's limit fields (all but "command" and `id`) into sides[], their bits in *given;
 * NULL, or the error reply. Unknown fields are refused, so a misspelt limit is not silently
 * ignored. */
static json_t *parse_fields(const json_t *request, const char *command, const char *id,
			    const struct limit_field *fields, const char *unit,
			    struct io_limits *sides, unsigned *given)
{
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)request, key, value)
	{
		if (strcmp(key, "command") == 0 || strcmp(key, id) == 0)
			continue;
		const struct limit_field *f = fields;
		while (f->name && strcmp(key, f->name) != 0)
			f++;
		if (!f->name) {
			char known[128];
			known_fields(id, fields, known, sizeof(known));
			return error_replyf("%s: unknown field \"%.64s\" (known: %s)", command, key,
					    known);
		}
		if (parse_value(value, f, sides) < 0)
			return error_replyf(
			    "%s: \"%s\" must be %s from 0 to 2^50, as an integer%s (0 lifts the "
			    "limit)",
			    command, f->name, counts_bytes(f) ? "bytes" : unit,
			    counts_bytes(f) ? " or a string like \"8M\"" : "");
		*given |= f->bit;
	}
	return NULL;
}

static json_t *limits_reply(const char *id, unsigned index, const struct limit_field *fields,
			    struct io_limits *sides)
{
	json_t *reply = json_pack("{s:b,s:i}", "ok", 1, id, (int)index);
	for (const struct limit_field *f = fields; reply && f->name; f++)
		json_object_set_new(reply, f->name,
				    json_integer((json_int_t)*field_value(sides, f)));
	return reply;
}

/* One rate and its burst: what the request gives replaces, a new rate resets the burst. */
static void merge_pair(uint64_t old_rate, uint64_t old_burst, uint64_t rate, uint64_t burst,
		       bool rate_given, bool burst_given, uint64_t *out_rate, uint64_t *out_burst)
{
	*out_rate = rate_given ? rate : old_rate;
	*out_burst = burst_given ? burst : rate_given ? 0 : old_burst;
	if (!*out_rate && !burst_given)
		*out_burst = 0;
}

/* One io_limits: `given` holds its API_LIMIT_* bits. The name of a rate whose burst is left
 * without it, or NULL. */
static const char *merge_limits(const struct io_limits *old, const struct io_limits *l,
				unsigned given, struct io_limits *out)
{
	merge_pair(old->bps, old->bps_burst, l->bps, l->bps_burst, given & API_LIMIT_BPS,
		   given & API_LIMIT_BPS_BURST, &out->bps, &out->bps_burst);
	merge_pair(old->iops, old->iops_burst, l->iops, l->iops_burst, given & API_LIMIT_IOPS,
		   given & API_LIMIT_IOPS_BURST, &out->iops, &out->iops_burst);
	if (out->bps_burst && !out->bps)
		return "bps";
	if (out->iops_burst && !out->iops)
		return "iops";
	return NULL;
}

/* ---- disk-limit ---------------------------------------------------------------------- */

/* "disk": an index (0 for the first --disk) or a serial. */
static int parse_disk_id(const json_t *disk, struct api_disk_limit *req)
{
	if (json_is_integer(disk) && json_integer_value(disk) >= 0 &&
	    json_integer_value(disk) < 256) {
		req->index = (int)json_integer_value(disk);
		return 0;
	}
	if (json_is_string(disk) && json_string_length(disk) > 0) {
		req->index = -1;
		req->serial = json_string_value(disk);
		return 0;
	}
	return -1;
}

int api_disk_limits_merge(const struct io_limits *old, const struct api_disk_limit *req,
			  struct io_limits *out, char *err, size_t err_len)
{
	const char *bad = merge_limits(old, &req->limits, req->given, out);
	if (bad)
		snprintf(err, err_len, "disk-limit: a burst needs its rate (\"%s\" is 0)", bad);
	return bad ? -1 : 0;
}

/* {"command": "disk-limit", "disk": N|"SERIAL", "bps": .., ...} */
json_t *api_do_disk_limit(const struct api_ops *ops, const json_t *request)
{
	struct api_disk_limit req = {0};
	if (parse_disk_id(json_object_get(request, "disk"), &req) < 0)
		return error_reply("disk-limit: give \"disk\": its index (0 for the first "
				   "--disk) or its serial");
	json_t *bad = parse_fields(request, "disk-limit", "disk", disk_fields, "requests",
				   &req.limits, &req.given);
	if (bad)
		return bad;
	char err[API_ERR_LEN] = "";
	if (ops->disk_limit(ops->opaque, &req, err, sizeof(err)) < 0)
		return refused_reply(err);
	return limits_reply("disk", req.disk, disk_fields, &req.limits);
}

/* ---- net-limit ----------------------------------------------------------------------- */

int api_net_limits_merge(const struct io_limits old[2], const struct api_net_limit *req,
			 struct io_limits out[2], char *err, size_t err_len)
{
	for (unsigned side = 0; side < 2; side++) {
		unsigned given = (req->given >> (side * API_LIMIT_TX_SHIFT)) & API_LIMIT_ALL;
		const char *bad = merge_limits(&old[side], &req->limits[side], given, &out[side]);
		if (bad) {
			snprintf(err, err_len, "net-limit: a burst needs its rate (\"%s_%s\" is 0)",
				 side ? "tx" : "rx", strcmp(bad, "iops") == 0 ? "pps" : bad);
			return -1;
		}
	}
	return 0;
}

/* {"command": "net-limit", "card": N, "rx_bps": .., "tx_pps": .., ...} */
json_t *api_do_net_limit(const struct api_ops *ops, const json_t *request)
{
	struct api_net_limit req = {0};
	const json_t *card = json_object_get(request, "card");
	if (!json_is_integer(card) || json_integer_value(card) < 0 ||
	    json_integer_value(card) > 255)
		return error_reply("net-limit: give \"card\", its index (0 for the first --net)");
	req.card = (unsigned)json_integer_value(card);
	json_t *bad = parse_fields(request, "net-limit", "card", net_fields, "frames", req.limits,
				   &req.given);
	if (bad)
		return bad;
	char err[API_ERR_LEN] = "";
	if (ops->net_limit(ops->opaque, &req, err, sizeof(err)) < 0)
		return refused_reply(err);
	return limits_reply("card", req.card, net_fields, req.limits);
}
