/* The host block devices under a VM's disks, for its cgroup's I/O limits: io.max (v1:
 * blkio.throttle.*) takes whole disks by major:minor, so each --disk file in the VM's
 * arguments is followed to the file system that holds it and from a partition to its disk. */
#ifndef GUREUM_DAEMON_VM_DISK_DEVICES_H
#define GUREUM_DAEMON_VM_DISK_DEVICES_H

#include <stddef.h>
#include <sys/types.h>

#define VM_DISK_DEVICES_MAX 16

struct vm_disk_devices {
	dev_t devices[VM_DISK_DEVICES_MAX]; /* whole disks, each once */
	size_t count;
};

/* The devices under the --disk files of `args_json` (gureum run's arguments as a JSON array
 * of strings). 0, or -1 with `err` naming the disk whose file is on no block device (tmpfs,
 * overlayfs, a network file system) or cannot be found. */
int vm_disk_devices_find(const char *args_json, struct vm_disk_devices *out, char *err,
			 size_t err_len);

#endif
