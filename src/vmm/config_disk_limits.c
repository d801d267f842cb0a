/* --disk's I/O limits (bps=, bps-burst=, iops=, iops-burst=): parsing, the checks across them,
 * their text in a recorded --disk value, and a change on a running VM (disk-limit) recorded so
 * that a reboot, a snapshot or a migration keeps it. */
#include "vmm/config_devices.h"

#include "lib/size.h"
#include "lib/token_bucket.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The field of `l` that `key` names, or NULL; *bytes says whether it takes a size. */
static uint64_t *limit_field(struct disk_limits *l, const char *key, bool *bytes)
{
	*bytes = strncmp(key, "bps", 3) == 0;
	if (strcmp(key, "bps") == 0)
		return &l->bps;
	if (strcmp(key, "bps-burst") == 0)
		return &l->bps_burst;
	if (strcmp(key, "iops") == 0)
		return &l->iops;
	if (strcmp(key, "iops-burst") == 0)
		return &l->iops_burst;
	return NULL;
}

bool config_disk_limit_key(const char *key)
{
	struct disk_limits l;
	bool bytes;
	return limit_field(&l, key, &bytes) != NULL;
}

/* A request count: decimal digits only (parse_uint would read "010" as octal, "0x10" as hex). */
static bool parse_decimal(const char *text, uint64_t *value)
{
	if (!*text || strspn(text, "0123456789") != strlen(text) || strlen(text) > 19)
		return false;
	*value = strtoull(text, NULL, 10);
	return true;
}

int config_parse_disk_limit(struct disk_limits *l, const char *key, const char *value, char *err,
			    size_t len)
{
	bool bytes;
	uint64_t *field = limit_field(l, key, &bytes), v;
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
			 "--disk: %s='%s' is not a number of bytes%s from 0 to 1024T (e.g. 8M; "
			 "suffixes K, M, G, T)",
			 key, value, burst ? "" : " per second");
	else
		snprintf(err, len,
			 "--disk: %s='%s' is not a number of requests%s from 0 to %llu (e.g. 500)",
			 key, value, burst ? "" : " per second",
			 (unsigned long long)TOKEN_BUCKET_MAX);
	return -1;
}

int config_check_disk_limits(const struct disk_limits *l, char *err, size_t len)
{
	if (l->bps_burst && !l->bps)
		snprintf(err, len, "--disk: bps-burst needs bps= (the rate it is the burst of)");
	else if (l->iops_burst && !l->iops)
		snprintf(err, len, "--disk: iops-burst needs iops= (the rate it is the burst of)");
	else
		return 0;
	return -1;
}

int config_disk_limits_text(const struct disk_limits *l, char *out, size_t len)
{
	int n = 0;
	out[0] = '\0';
	if (l->bps)
		n = snprintf(out, len, ",bps=%" PRIu64, l->bps);
	if (n >= 0 && (size_t)n < len && l->bps && l->bps_burst)
		n += snprintf(out + n, len - (size_t)n, ",bps-burst=%" PRIu64, l->bps_burst);
	if (n >= 0 && (size_t)n < len && l->iops)
		n += snprintf(out + n, len - (size_t)n, ",iops=%" PRIu64, l->iops);
	if (n >= 0 && (size_t)n < len && l->iops && l->iops_burst)
		n += snprintf(out + n, len - (size_t)n, ",iops-burst=%" PRIu64, l->iops_burst);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int config_set_disk_limits(struct vm_config *c, unsigned index, const struct disk_limits *l)
{
	if (index >= c->nr_disks)
		return -1;
	c->disks[index].limits = *l;
	char value[4096 + 512];
	if (config_disk_setting(&c->disks[index], value, sizeof(value)) < 0)
		return -1;
	return config_rewrite_setting(c, "disk", index, value);
}
