#include "cmd/ctl_limits.h"

#include "vmm/api_routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const disk_keys[] = {"bps", "bps-burst", "iops", "iops-burst", NULL};
static const char *const net_keys[] = {"rx-bps",       "rx-bps-burst", "rx-pps",
				       "rx-pps-burst", "tx-bps",       "tx-bps-burst",
				       "tx-pps",       "tx-pps-burst", NULL};

/* "bps-burst=1M" becomes "bps_burst": "1M" (the VMM parses the value as --disk does). */
static bool add_limit(json_t *request, const char *const *keys, const char *item)
{
	const char *eq = strchr(item, '=');
	if (!eq || !eq[1])
		return false;
	for (size_t i = 0; keys[i]; i++) {
		if (strlen(keys[i]) != (size_t)(eq - item) ||
		    strncmp(item, keys[i], strlen(keys[i])))
			continue;
		char field[16];
		snprintf(field, sizeof(field), "%s", keys[i]);
		for (char *p = field; *p; p++)
			*p = *p == '-' ? '_' : *p;
		json_object_set_new(request, field, json_string(eq + 1));
		return true;
	}
	return false;
}

/* argv[2..] as limits under `keys` (NULL after a bad one); GET without any, PATCH with. */
static bool limits_request(int argc, char **argv, const char *const *keys, const char *path,
			   const char **method, json_t **body)
{
	json_t *limits = json_object();
	for (int i = 2; limits && i < argc; i++) {
		if (!add_limit(limits, keys, argv[i])) {
			json_decref(limits);
			limits = NULL;
		}
	}
	if (!limits || !path[0]) {
		json_decref(limits);
		return false;
	}
	*method = json_object_size(limits) ? "PATCH" : "GET";
	*body = json_object_size(limits) ? limits : NULL;
	if (!*body)
		json_decref(limits);
	return true;
}

bool ctl_disk_limit_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			    json_t **body)
{
	path[0] = '\0';
	if (argc >= 2 && api_disk_name_valid(argv[1]))
		snprintf(path, path_len, "/vm/disks/%s/limits", argv[1]);
	if (limits_request(argc, argv, disk_keys, path, method, body))
		return true;
	fprintf(stderr, "gureum ctl: disk-limit needs DISK (its index, 0 for the first --disk, or "
			"its serial), then any of bps=RATE, bps-burst=SIZE, iops=N, iops-burst=N "
			"(0 lifts a limit)\n");
	return false;
}

/* A card's index: 1-3 decimal digits up to 255. */
static bool card_valid(const char *text)
{
	size_t n = strspn(text, "0123456789");
	return n >= 1 && n <= 3 && !text[n] && atoi(text) <= 255;
}

bool ctl_net_limit_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			   json_t **body)
{
	path[0] = '\0';
	if (argc >= 2 && card_valid(argv[1]))
		snprintf(path, path_len, "/vm/net/%d/limits", atoi(argv[1]));
	if (limits_request(argc, argv, net_keys, path, method, body))
		return true;
	fprintf(stderr, "gureum ctl: net-limit needs CARD (its index, 0 for the first --net), "
			"then any of rx-bps=RATE, rx-bps-burst=SIZE, rx-pps=N, rx-pps-burst=N and "
			"the same with tx- (rx: to the guest, tx: from it; 0 lifts a limit)\n");
	return false;
}

static long long field(const json_t *reply, const char *name)
{
	return (long long)json_integer_value(json_object_get(reply, name));
}

static void print_limit(const char *what, const char *unit, long long rate, long long burst)
{
	if (rate)
		printf("%-7s %lld %s per second, burst %lld\n", what, rate, unit, burst);
	else
		printf("%-7s no limit\n", what);
}

void ctl_print_disk_limit(const json_t *reply)
{
	printf("disk %lld:\n", field(reply, "disk"));
	print_limit("bps", "bytes", field(reply, "bps"), field(reply, "bps_burst"));
	print_limit("iops", "requests", field(reply, "iops"), field(reply, "iops_burst"));
}

void ctl_print_net_limit(const json_t *reply)
{
	printf("card %lld:\n", field(reply, "card"));
	print_limit("rx bps", "bytes", field(reply, "rx_bps"), field(reply, "rx_bps_burst"));
	print_limit("rx pps", "frames", field(reply, "rx_pps"), field(reply, "rx_pps_burst"));
	print_limit("tx bps", "bytes", field(reply, "tx_bps"), field(reply, "tx_bps_burst"));
	print_limit("tx pps", "frames", field(reply, "tx_pps"), field(reply, "tx_pps_burst"));
}
