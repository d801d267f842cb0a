/* Each VM's process in a cgroup of its own, with the CPU, memory and I/O limits of its
 * definition, changeable while it runs. On a cgroup v2 host: a child of gureumd's own cgroup,
 * which it must have been given the cpu and memory controllers of (systemd: Delegate=yes), and
 * the io controller for I/O limits; gureumd moves itself into a leaf "gureumd" beside the
 * VMs, as v2 wants processes only in leaves. On a host that still mounts the v1 controllers:
 * a child of gureumd's cgroup in the cpu and in the memory hierarchy, and in the blkio one
 * for I/O limits. Elsewhere none: VMs without limits still run, one with limits is refused
 * with the reason. I/O limits apply to the block devices under the VM's --disk files
 * (vm_disk_devices.h). */
#ifndef GUREUM_DAEMON_VM_CGROUP_H
#define GUREUM_DAEMON_VM_CGROUP_H

#include "daemon/vm_record.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum cgroup_version { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

#define CGROUP_MAX_BASES 3

struct cgroup_host {
	enum cgroup_version version;
	/* Where each VM's directory "vm-NAME" is made: v2 one, v1 the cpu, the memory and
	 * (with `io`) the blkio one. */
	char bases[CGROUP_MAX_BASES][PATH_MAX - 64];
	size_t base_count;
	char reason[256];    /* with CGROUP_NONE: why, for the messages */
	bool io;	     /* I/O limits can be set (v2: the io controller; v1: blkio) */
	char io_reason[256]; /* without: why */
};

/* Finds what this host offers gureumd, and prepares it (the v2 leaf, the controllers, the
 * group `group` that holds the VMs' cgroups: one per state directory, so two daemons never
 * share one). Call before any other thread starts. */
void cgroup_host_detect(struct cgroup_host *host, const char *group);
/* Removes the group when no VM's cgroup is left in it (the daemon ends with its VMs gone). */
void cgroup_host_release(const struct cgroup_host *host);
const char *cgroup_version_name(enum cgroup_version version);

/* The VM's directories (host->base_count of them). */
void vm_cgroup_dirs(const struct cgroup_host *host, const char *name,
		    char dirs[CGROUP_MAX_BASES][PATH_MAX]);

/* Creates the VM's cgroup (or takes the one left) and sets `limits`, the I/O ones on the
 * devices under the disks of `args_json` (gureum run's arguments). 0, or -1 with `err`. */
int vm_cgroup_create(const struct cgroup_host *host, const char *name, const char *args_json,
		     const struct vm_limits *limits, char *err, size_t err_len);
/* Sets `limits` on the VM's existing cgroup, as they change while it runs. */
int vm_cgroup_apply(const struct cgroup_host *host, const char *name, const char *args_json,
		    const struct vm_limits *limits, char *err, size_t err_len);
/* Removes the VM's cgroup once its process has ended (what stays in it keeps it). */
void vm_cgroup_remove(const struct cgroup_host *host, const char *name);

#endif
