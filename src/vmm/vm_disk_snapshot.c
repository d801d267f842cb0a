/* Disk snapshots taken with a VM snapshot (vm_disk_snapshot.h). */
#include "vmm/vm_disk_snapshot.h"

#include "block/overlay.h"
#include "lib/log.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"
#include "vmm/config_devices.h"
#include "vmm/vm.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A --disk value long enough for any path and the properties after it. */
#define DISK_SETTING_LEN (PATH_MAX + 256)

/* The virtio-blk device of disk `index`: the board plugs the disks first, in their order. */
static struct virtio_device *disk_device(struct vm *vm, unsigned index)
{
	for (unsigned i = 0, seen = 0; i < vm->nr_virtio; i++) {
		struct virtio_device *d = virtio_pci_device(vm->virtio[i]);
		if (d->device_id == VIRTIO_ID_BLOCK && seen++ == index)
			return d;
	}
	return NULL;
}

/* The recorded settings become the disks as they are now. */
static int record_disks(struct vm_config *c)
{
	char value[DISK_SETTING_LEN];
	for (unsigned i = 0; i < c->nr_disks; i++)
		if (config_disk_setting(&c->disks[i], value, sizeof(value)) < 0 ||
		    config_rewrite_setting(c, "disk", i, value) < 0)
			return -1;
	return 0;
}

/* For the snapshot's configuration: each writable disk recorded as its image, by absolute path
 * (a restore may run elsewhere), with overlay=on. */
static int record_images_for_restore(struct vm_config *c, char *err, size_t err_len)
{
	char value[DISK_SETTING_LEN], absolute[PATH_MAX];
	for (unsigned i = 0; i < c->nr_disks; i++) {
		if (c->disks[i].readonly)
			continue;
		if (!realpath(c->disks[i].path, absolute)) {
			snprintf(err, err_len, "snapshot: disk '%s': %s", c->disks[i].path,
				 strerror(errno));
			return -1;
		}
		struct disk_config image = c->disks[i];
		image.path = absolute;
		image.overlay = true;
		if (config_disk_setting(&image, value, sizeof(value)) < 0 ||
		    config_rewrite_setting(c, "disk", i, value) < 0) {
			snprintf(err, err_len,
				 "snapshot: disk '%s' cannot be recorded as '%s' (too long, or a "
				 "comma in the path)",
				 c->disks[i].path, absolute);
			return -1;
		}
	}
	return 0;
}

/* Disk `index` goes on in a new overlay of its image; *overlay receives its path. */
static int move_to_overlay(struct vm *vm, const struct disk_config *disk, unsigned index,
			   char *overlay, size_t overlay_len, char *err, size_t err_len)
{
	struct virtio_device *dev = disk_device(vm, index);
	struct block_error berr;
	if (!dev) {
		snprintf(err, err_len, "snapshot: disk %u has no device", index);
		return -1;
	}
	if (block_overlay_create(disk->path, disk->format, overlay, overlay_len, &berr) < 0) {
		snprintf(err, err_len, "snapshot: disk %u: %s", index, berr.message);
		return -1;
	}
	struct disk_config next = *disk;
	next.path = overlay;
	next.format = "qcow2";
	if (virtio_blk_replace_image(dev, &next, err, err_len) < 0) {
		block_overlay_discard(overlay);
		return -1;
	}
	return 0;
}

/* Disks 0..count-1 (those that moved) go back to their images; an image that cannot be
 * opened again keeps its overlay, which then stays the disk. */
static void move_back(struct vm *vm, struct vm_config *c, char *overlays[], unsigned count)
{
	for (unsigned i = count; i-- > 0;) {
		if (!overlays[i])
			continue;
		char why[512];
		if (virtio_blk_replace_image(disk_device(vm, i), &c->disks[i], why, sizeof(why)) <
		    0) {
			log_warn("disk %u stays on %s: %s", i, overlays[i], why);
			config_replace_string(&c->disks[i].path, overlays[i]);
			config_replace_string(&c->disks[i].format, "qcow2");
			continue;
		}
		block_overlay_discard(overlays[i]);
		free(overlays[i]);
		overlays[i] = NULL;
	}
}

/* Every writable disk to an overlay, or none of them. */
static int move_disks(struct vm *vm, struct vm_config *c, char *overlays[], char *err,
		      size_t err_len)
{
	char overlay[PATH_MAX];
	for (unsigned i = 0; i < c->nr_disks; i++) {
		overlays[i] = NULL;
		if (c->disks[i].readonly)
			continue;
		if (move_to_overlay(vm, &c->disks[i], i, overlay, sizeof(overlay), err, err_len) <
			0 ||
		    !(overlays[i] = strdup(overlay))) {
			move_back(vm, c, overlays, i + 1);
			return -1;
		}
	}
	for (unsigned i = 0; i < c->nr_disks; i++) {
		if (!overlays[i])
			continue;
		log_info("disk %u: the snapshot keeps %s; the VM writes to %s now", i,
			 c->disks[i].path, overlays[i]);
		config_replace_string(&c->disks[i].path, overlays[i]);
		config_replace_string(&c->disks[i].format, "qcow2");
	}
	return 0;
}

/* The snapshot's state file goes: without it `dir` is no snapshot (vm_snapshot.h). */
static void unpublish(const char *dir)
{
	char state[PATH_MAX + 16];
	snprintf(state, sizeof(state), "%s/%s", dir, SNAPSHOT_STATE_FILE);
	unlink(state);
}

int vm_snapshot_with_disks(struct vm *vm, struct vm_config *config, const char *dir,
			   struct snapshot_stats *stats, char *overlays[CONFIG_MAX_DISKS],
			   char *err, size_t err_len)
{
	int rc = record_images_for_restore(config, err, err_len);
	if (rc == 0)
		rc = vm_snapshot_write(vm, dir, stats, err, err_len);
	if (rc == 0 && move_disks(vm, config, overlays, err, err_len) < 0) {
		unpublish(dir);
		size_t used = strlen(err);
		snprintf(err + used, err_len - used,
			 "; '%s' holds no snapshot, and the VM's disks are as they were", dir);
		rc = -1;
	}
	if (record_disks(config) < 0)
		log_warn("snapshot: out of memory recording the disks; a later snapshot or "
			 "migration of this VM may name the wrong images");
	return rc;
}
