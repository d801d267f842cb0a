#include "daemon/vm_disk_devices.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The disk that holds partition `dev` (the parent of its /sys/dev/block entry), or `dev`
 * itself when it is a whole disk (a disk, an md or a device-mapper volume). */
static dev_t whole_disk(dev_t dev)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(dev), minor(dev));
	if (access(path, F_OK) != 0)
		return dev;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../dev", major(dev), minor(dev));
	FILE *f = fopen(path, "re");
	unsigned maj, min;
	bool ok = f && fscanf(f, "%u:%u", &maj, &min) == 2;
	if (f)
		fclose(f);
	return ok ? makedev(maj, min) : dev;
}

/* The image path of a --disk value: what comes before its first comma. */
static void disk_path(const char *value, char *out, size_t len)
{
	size_t n = strcspn(value, ",");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), value);
}

static int add_disk(const char *value, struct vm_disk_devices *out, char *err, size_t err_len)
{
	char path[PATH_MAX];
	disk_path(value, path, sizeof(path));
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, err_len, "disk %.200s: %s", path, strerror(errno));
		return -1;
	}
	if (major(st.st_dev) == 0) {
		snprintf(err, err_len,
			 "disk %.200s is on a file system without a block device (such as tmpfs "
			 "or overlayfs), whose I/O a cgroup cannot limit: move it to a disk, or "
			 "limit it in the VMM (--disk ...,bps=N)",
			 path);
		return -1;
	}
	dev_t disk = whole_disk(st.st_dev);
	for (size_t i = 0; i < out->count; i++)
		if (out->devices[i] == disk)
			return 0;
	if (out->count == VM_DISK_DEVICES_MAX) {
		snprintf(err, err_len, "the VM's disks are on more than %d block devices",
			 VM_DISK_DEVICES_MAX);
		return -1;
	}
	out->devices[out->count++] = disk;
	return 0;
}

int vm_disk_devices_find(const char *args_json, struct vm_disk_devices *out, char *err,
			 size_t err_len)
{
	out->count = 0;
	json_t *args = json_loads(args_json, 0, NULL);
	size_t n = json_array_size(args);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *arg = json_string_value(json_array_get(args, i));
		const char *next =
		    i + 1 < n ? json_string_value(json_array_get(args, i + 1)) : NULL;
		if (arg && strncmp(arg, "--disk=", 7) == 0)
			rc = add_disk(arg + 7, out, err, err_len);
		else if (arg && strcmp(arg, "--disk") == 0 && next)
			rc = add_disk(next, out, err, err_len), i++;
	}
	json_decref(args);
	return rc;
}
