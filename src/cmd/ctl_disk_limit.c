#include "cmd/ctl_disk_limit.h"

#include "vmm/api_routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "bps-burst=1M" becomes "bps_burst": "1M" (the VMM parses the value as --disk does). */
static bool add_limit(json_t *request, const char *item)
{
	static const char *const keys[] = {"bps", "bps-burst", "iops", "iops-burst"};
	const char *eq = strchr(item, '=');
	if (!eq || !eq[1])
		return false;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
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

bool ctl_disk_limit_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			    json_t **body)
{
	json_t *limits = argc >= 2 && api_disk_name_valid(argv[1]) ? json_object() : NULL;
	for (int i = 2; limits && i < argc; i++) {
		if (!add_limit(limits, argv[i])) {
			json_decref(limits);
			limits = NULL;
		}
	}
	if (!limits) {
		fprintf(stderr, "gureum ctl: disk-limit needs DISK (its index, 0 for the first "
				"--disk, or its serial), then any of bps=RATE, bps-burst=SIZE, "
				"iops=N, iops-burst=N (0 lifts a limit)\n");
		return false;
	}
	snprintf(path, path_len, "/vm/disks/%s/limits", argv[1]);
	*method = json_object_size(limits) ? "PATCH" : "GET";
	*body = json_object_size(limits) ? limits : NULL;
	if (!*body)
		json_decref(limits);
	return true;
}

static void print_limit(const char *what, const char *unit, long long rate, long long burst)
{
	if (rate)
		printf("%-5s %lld %s per second, burst %lld\n", what, rate, unit, burst);
	else
		printf("%-5s no limit\n", what);
}

void ctl_print_disk_limit(const json_t *reply)
{
	printf("disk %lld:\n", (long long)json_integer_value(json_object_get(reply, "disk")));
	print_limit("bps", "bytes", (long long)json_integer_value(json_object_get(reply, "bps")),
		    (long long)json_integer_value(json_object_get(reply, "bps_burst")));
	print_limit("iops", "requests",
		    (long long)json_integer_value(json_object_get(reply, "iops")),
		    (long long)json_integer_value(json_object_get(reply, "iops_burst")));
}
