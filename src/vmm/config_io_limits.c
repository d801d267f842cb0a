/* I/O limits of --disk (bps=, bps-burst=, iops=, iops-burst=) and of --net (the same per
 * direction, rx- and tx-, with pps= for frames): parsing, the checks across them, their text in
 * a recorded --disk or --net value, and a change on a running VM (disk-limit) recorded so that
 * a reboot, a snapshot or a migration keeps it. */
#include "vmm/config_devices.h"

#include "lib/size.h"
#include "lib/token_bucket.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How one option spells its limits: the operations' key (iops for a disk's requests, pps for a
 * card's frames) and what an operation is, for the error messages. */
struct limit_spelling {
	const char *option, *ops, *ops_burst, *unit;
};

static const struct limit_spelling disk_spelling = {"--disk", "iops", "iops-burst", "requests"};
static const struct limit_spelling net_spelling = {"--net", "pps", "pps-burst", "frames"};

/* The field of `l` that `key` names, or NULL; *bytes says whether it takes a size. */
static uint64_t *limit_field(struct io_limits *l, const struct limit_spelling *s, const char *key,
			     bool *bytes)
{
	*bytes = strncmp(key, "bps", 3) == 0;
	if (strcmp(key, "bps") == 0)
		return &l->bps;
	if (strcmp(key, "bps-burst") == 0)
		return &l->bps_burst;
	if (strcmp(key, s->ops) == 0)
		return &l->iops;
	if (strcmp(key, s->ops_burst) == 0)
		return &l->iops_burst;
	return NULL;
}

/* A count: decimal digits only (parse_uint would read "010" as octal, "0x10" as hex). */
static bool parse_decimal(const char *text, uint64_t *value)
{
	if (!*text || strspn(text, "0123456789") != strlen(text) || strlen(text) > 19)
		return false;
	*value = strtoull(text, NULL, 10);
	return true;
}

/* One limit `key` (as the spelling names it; `shown` as the user wrote it) into `l`. */
static int parse_limit(struct io_limits *l, const struct limit_spelling *s, const char *key,
		       const char *shown, const char *value, char *err, size_t len)
{
	bool bytes;
	uint64_t *field = limit_field(l, s, key, &bytes), v;
	if (!field)
		return -1;
	bool ok = bytes ? parse_size(value, false, &v) : parse_decimal(value, &v);
	if (ok && v <= TOKEN_BUCKET_MAX) {
		*field = v;
		return 0;
	}
	bool burst = strstr(key, "burst") != NULL;
	if (bytes)
		snprintf(err, len,
			 "%s: %s='%s' is not a number of bytes%s from 0 to 1024T (e.g. 8M; "
			 "suffixes K, M, G, T)",
			 s->option, shown, value, burst ? "" : " per second");
	else
		snprintf(err, len, "%s: %s='%s' is not a number of %s%s from 0 to %llu (e.g. 500)",
			 s->option, shown, value, s->unit, burst ? "" : " per second",
			 (unsigned long long)TOKEN_BUCKET_MAX);
	return -1;
}

static int check_limits(const struct io_limits *l, const struct limit_spelling *s,
			const char *prefix, char *err, size_t len)
{
	if (l->bps_burst && !l->bps)
		snprintf(err, len, "%s: %sbps-burst needs %sbps= (the rate it is the burst of)",
			 s->option, prefix, prefix);
	else if (l->iops_burst && !l->iops)
		snprintf(err, len, "%s: %s%s needs %s%s= (the rate it is the burst of)", s->option,
			 prefix, s->ops_burst, prefix, s->ops);
	else
		return 0;
	return -1;
}

/* ",PREFIXbps=N,..." of the limits that are set, appended at out[*n]. */
static int limits_text(const struct io_limits *l, const struct limit_spelling *s,
		       const char *prefix, char *out, size_t len, int *n)
{
	const struct {
		bool shown;
		const char *key;
		uint64_t value;
	} items[] = {{l->bps, "bps", l->bps},
		     {l->bps && l->bps_burst, "bps-burst", l->bps_burst},
		     {l->iops, s->ops, l->iops},
		     {l->iops && l->iops_burst, s->ops_burst, l->iops_burst}};
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		if (!items[i].shown)
			continue;
		int used = snprintf(out + *n, len - (size_t)*n, ",%s%s=%" PRIu64, prefix,
				    items[i].key, items[i].value);
		if (used < 0 || (size_t)used >= len - (size_t)*n)
			return -1;
		*n += used;
	}
	return 0;
}

bool config_disk_limit_key(const char *key)
{
	struct io_limits l;
	bool bytes;
	return limit_field(&l, &disk_spelling, key, &bytes) != NULL;
}

int config_parse_disk_limit(struct io_limits *l, const char *key, const char *value, char *err,
			    size_t len)
{
	return parse_limit(l, &disk_spelling, key, key, value, err, len);
}

int config_check_disk_limits(const struct io_limits *l, char *err, size_t len)
{
	return check_limits(l, &disk_spelling, "", err, len);
}

int config_disk_limits_text(const struct io_limits *l, char *out, size_t len)
{
	int n = 0;
	if (!len)
		return -1;
	out[0] = '\0';
	return limits_text(l, &disk_spelling, "", out, len, &n);
}

int config_set_disk_limits(struct vm_config *c, unsigned index, const struct io_limits *l)
{
	if (index >= c->nr_disks)
		return -1;
	c->disks[index].limits = *l;
	char value[4096 + 512];
	if (config_disk_setting(&c->disks[index], value, sizeof(value)) < 0)
		return -1;
	return config_rewrite_setting(c, "disk", index, value);
}

/* The direction a --net limit's key is for ("rx-" or "tx-"), its limits, the key after it. */
static struct io_limits *net_direction(struct net_config *n, const char *key, const char **rest)
{
	*rest = key + 3;
	if (strncmp(key, "rx-", 3) == 0)
		return &n->rx_limits;
	if (strncmp(key, "tx-", 3) == 0)
		return &n->tx_limits;
	return NULL;
}

bool config_net_limit_key(const char *key)
{
	struct net_config n;
	const char *rest;
	struct io_limits *l = net_direction(&n, key, &rest);
	bool bytes;
	return l && limit_field(l, &net_spelling, rest, &bytes) != NULL;
}

int config_parse_net_limit(struct net_config *n, const char *key, const char *value, char *err,
			   size_t len)
{
	const char *rest;
	struct io_limits *l = net_direction(n, key, &rest);
	return l ? parse_limit(l, &net_spelling, rest, key, value, err, len) : -1;
}

int config_check_net_limits(const struct net_config *n, char *err, size_t len)
{
	if (check_limits(&n->rx_limits, &net_spelling, "rx-", err, len) < 0 ||
	    check_limits(&n->tx_limits, &net_spelling, "tx-", err, len) < 0)
		return -1;
	if (n->vhost == VHOST_ON &&
	    (io_limits_set(&n->rx_limits) || io_limits_set(&n->tx_limits))) {
		snprintf(err, len,
			 "--net: vhost=on and rate limits exclude each other (the host kernel "
			 "moves vhost's frames, past gureum's limits): use vhost=off or auto");
		return -1;
	}
	return 0;
}

int config_net_limits_text(const struct net_config *n, char *out, size_t len)
{
	int used = 0;
	if (!len)
		return -1;
	out[0] = '\0';
	if (limits_text(&n->rx_limits, &net_spelling, "rx-", out, len, &used) < 0)
		return -1;
	return limits_text(&n->tx_limits, &net_spelling, "tx-", out, len, &used);
}
