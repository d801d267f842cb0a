/* --disk ...,overlay=on: the VM writes to a new overlay, the image stays as it is (config.h:
 * config_apply_disk_overlays). A restore of a disk snapshot asks for this, so that every VM
 * restored from one snapshot has its own overlay and none of them changes the snapshot. */
#include "block/overlay.h"
#include "lib/log.h"
#include "vmm/config.h"
#include "vmm/config_devices.h"

#include <limits.h>
#include <stdio.h>

static int apply_overlay(struct vm_config *c, unsigned index, char *err, size_t err_len)
{
	struct disk_config *d = &c->disks[index];
	if (d->readonly) {
		snprintf(err, err_len,
			 "--disk %s: overlay=on takes the VM's writes, and a readonly disk has "
			 "none (give one or the other)",
			 d->path);
		return -1;
	}
	char overlay[PATH_MAX];
	struct block_error berr;
	if (block_overlay_create(d->path, d->format, overlay, sizeof(overlay), &berr) < 0) {
		snprintf(err, err_len, "--disk %s,overlay=on: %s", d->path, berr.message);
		return -1;
	}
	log_info("disk %u writes to the new overlay %s; %s stays as it is", index, overlay,
		 d->path);
	d->overlay = false;
	char value[PATH_MAX + 256];
	if (config_replace_string(&d->path, overlay) < 0 ||
	    config_replace_string(&d->format, "qcow2") < 0 ||
	    config_disk_setting(d, value, sizeof(value)) < 0 ||
	    config_rewrite_setting(c, "disk", index, value) < 0) {
		snprintf(err, err_len,
			 "--disk ...,overlay=on: cannot record the overlay '%s' (a comma in its "
			 "path, or out of memory)",
			 overlay);
		block_overlay_discard(overlay);
		return -1;
	}
	return 0;
}

int config_apply_disk_overlays(struct vm_config *c, char *err, size_t err_len)
{
	for (unsigned i = 0; i < c->nr_disks; i++)
		if (c->disks[i].overlay && apply_overlay(c, i, err, err_len) < 0)
			return -1;
	return 0;
}
