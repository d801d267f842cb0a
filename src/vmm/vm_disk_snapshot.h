/* Snapshots whose disks stay consistent with their memory (`ctl snapshot DIR --disk-snapshot`).
 * At the instant the VM is saved, each writable disk goes on in a new qcow2 overlay
 * (block/overlay.h), and the snapshot records the image below it with overlay=on: the image
 * keeps the disk as the snapshot saw it, and every VM restored from the snapshot writes to an
 * overlay of its own (config_apply_disk_overlays). Read-only disks are recorded as they are. */
#ifndef GUREUM_VMM_VM_DISK_SNAPSHOT_H
#define GUREUM_VMM_VM_DISK_SNAPSHOT_H

#include "vmm/config.h"
#include "vmm/vm_snapshot.h"

#include <stddef.h>

struct vm;

/* Writes the snapshot of `vm` (paused; built from `config`) into `dir`, then moves each
 * writable disk to its overlay: overlays[i] receives the new image of disk i (malloc'd), or
 * NULL for a read-only disk. `config` then names the overlays, so a later snapshot, migration
 * or reboot uses them. On failure nothing has moved, `dir` holds no snapshot and err says why
 * (-1). */
int vm_snapshot_with_disks(struct vm *vm, struct vm_config *config, const char *dir,
			   struct snapshot_stats *stats, char *overlays[CONFIG_MAX_DISKS],
			   char *err, size_t err_len);

#endif
