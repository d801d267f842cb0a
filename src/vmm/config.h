/* A VM's configuration, as given on the command line or in a JSON file (same keys). */
#ifndef GUREUM_VMM_CONFIG_H
#define GUREUM_VMM_CONFIG_H

#include "devices/debug_exit.h"
#include "display/display_options.h"
#include "virtio/virtio_options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum console_kind { CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_NONE };
enum on_reboot { ON_REBOOT_RESTART, ON_REBOOT_EXIT };

#define CONFIG_MIN_MEMORY (16ULL << 20)
#define CONFIG_MAX_CPUS	  255
#define CONFIG_MAX_DISKS  16
#define CONFIG_MAX_NICS	  8

/* Where the console (stdio/file) is connected: the 16550A (ttyS0) or virtio-console (hvc0).
 * With virtio, the UART's output still reaches the console (early boot messages). */
enum console_device { CONSOLE_DEVICE_SERIAL, CONSOLE_DEVICE_VIRTIO };

struct vm_config {
	char *name; /* --name: the VM's name in log lines and status; NULL: none */
	char *kernel;
	char *initrd;
	char *cmdline;
	char *bios;
	char *accel;
	char *cpu_model; /* --cpu-model (accel/cpu_models.h); NULL: host */
	unsigned cpus;
	unsigned max_cpus; /* --cpus N,max=M: M, the most vCPUs it can have (N when not given) */
	bool cpu_hotplug;  /* max= given: vCPUs can be added and removed (up to M, down to 1) */
	uint64_t tsc_khz;  /* --tsc-khz: the guest TSC's rate; 0: the accelerator's own */
	uint64_t memory;
	/* --memory-hotplug SIZE: that much more the guest can be given while it runs, through
	 * virtio-mem (0: none). */
	uint64_t memory_hotplug;
	enum console_kind console;
	char *console_path;
	/* --console-socket PATH: one client at a time attaches there to the console (its
	 * output besides --console's, its input to the guest). NULL: none. */
	char *console_socket;
	bool has_debug_exit;
	uint16_t debug_exit_port;
	unsigned debug_exit_iosize; /* ports from debug_exit_port: 1, 2 or 4 (QEMU's iosize) */
	bool stats;
	bool seccomp; /* the VMM's seccomp filters (vmm/sandbox.h); on unless --seccomp off */
	enum on_reboot on_reboot;
	/* --jail DIR: once the VM's files are open, the VMM's whole file system is DIR (a
	 * mount namespace of its own; vmm/jail.h). NULL: none. */
	char *jail_dir;
	/* --user UID[:GID]: the VMM then runs as this uid and gid, with no capabilities. */
	bool drop_user;
	uint32_t uid, gid;

	unsigned nr_disks;
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned nr_nics;
	struct net_config nics[CONFIG_MAX_NICS];
	/* --net given to a restored or incoming VM: the new host side of its cards, in order
	 * (config_apply_net_hosts). */
	unsigned nr_net_hosts;
	char *net_hosts[CONFIG_MAX_NICS];
	bool rng;		   /* --rng: virtio-rng fed by getrandom() */
	bool balloon;		   /* --balloon: virtio-balloon */
	uint64_t balloon_target;   /* bytes the balloon holds at boot (--balloon-size) */
	struct vsock_config vsock; /* --vsock cid=N[,socket=PATH] (vsock.cid 0: none) */
	enum console_device console_device;
	char *api_socket; /* --api-socket PATH: control socket (balloon, status) */
	/* --display: the framebuffer and where it is shown (kind DISPLAY_NONE: no framebuffer) */
	struct display_options display;

	/* Every option as it was set, in order (a repeated option once per value; a later value
	 * of a single-valued option replaces the earlier one): what a snapshot writes down so
	 * that `run --restore` builds the same machine (config_save_json). */
	struct config_setting {
		char *key, *value;
	} * settings;
	unsigned nr_settings;
	/* --restore DIR: start from that snapshot (vmm/vm_snapshot.c) instead of booting. */
	char *restore_dir;
	/* --incoming URI: start from a VM migrated to this host (vmm/migration.c). */
	char *incoming;
};

/* The longest --name. */
#define CONFIG_NAME_MAX 64

void config_init(struct vm_config *config);
void config_free(struct vm_config *config);

/* Sets option `key` (long option name without "--", e.g. "memory") from its text form.
 * Returns 0, or -1 with one sentence in `err` naming the key and what is wrong. */
int config_set(struct vm_config *config, const char *key, const char *value, char *err,
	       size_t err_len);

/* True if `key` may be given several times (--disk, --net): each adds one device. */
bool config_key_repeats(const char *key);

/* True if `key` is an option that takes no value on the command line (a flag). */
bool config_key_is_flag(const char *key);
/* True if `key` names a configuration option. */
bool config_key_known(const char *key);

/* Loads a JSON object of the same keys. Returns 0, or -1 with `err` set. */
int config_load_json(struct vm_config *config, const char *path, char *err, size_t err_len);

/* Writes the options as a JSON file that config_load_json reads back (`--config`): every
 * setting as a string, repeated options as arrays. `overrides` (NULL-terminated key, value
 * pairs, or NULL) replace or add settings in the file only. Returns 0, or -1 with err. */
int config_save_json(const struct vm_config *config, const char *path, const char *const *overrides,
		     char *err, size_t err_len);

/* The same as JSON text (malloc'd; NULL without memory), and loading such text; `source` names
 * where it came from in errors. */
char *config_to_json_text(const struct vm_config *config, const char *const *overrides);
int config_load_json_text(struct vm_config *config, const char *text, size_t len,
			  const char *source, char *err, size_t err_len);

/* Checks the whole configuration (required keys, files readable, limits of this host). */
int config_validate(const struct vm_config *config, char *err, size_t err_len);
/* A VM restored or received here keeps its network cards (their MACs, their place on the PCI
 * bus) but not its host's taps: each --net given here (set as "net-host") replaces the host
 * side (tap, vhost) of one card, in order, and the card keeps its MAC, pinned if it was
 * derived from the old tap's name. Rewrites the recorded settings to match, so a later
 * snapshot or migration carries the new taps. Returns 0, or -1 with err. */
int config_apply_net_hosts(struct vm_config *config, char *err, size_t err_len);
/* The operator gave card `index` another MAC (net-mac): a snapshot or migration from now on
 * creates the card with it. 0, or -1 (no such card, or the setting cannot be rewritten). */
int config_set_net_mac(struct vm_config *config, unsigned index, const uint8_t mac[6]);

/* The operator changed disk `index`'s I/O limits (disk-limit): a reboot, snapshot or migration
 * from now on creates the disk with them. 0, or -1 (no such disk, or the setting cannot be
 * rewritten: a comma in the path). */
int config_set_disk_limits(struct vm_config *config, unsigned index, const struct io_limits *l);
/* The same for card `index`'s limits in each direction (net-limit). */
int config_set_net_limits(struct vm_config *config, unsigned index, const struct io_limits *rx,
			  const struct io_limits *tx);

/* Disk or card `index` is gone (the guest let it go): the later ones move down an index, and a
 * reboot, snapshot or migration from now on has no such device. */
void config_remove_disk(struct vm_config *config, unsigned index);
void config_remove_nic(struct vm_config *config, unsigned index);
/* Card `index` keeps the MAC it has now (one derived from its index would change when an
 * earlier card leaves) and, unless `slot` is 0, is pinned to that PCI slot. 0, or -1. */
int config_pin_net_card(struct vm_config *config, unsigned index, unsigned slot);

/* The recorded value of the index-th setting of a repeated key (the index-th disk or card)
 * becomes `value`, so a later snapshot or migration records the device as it is now. Returns 0
 * (also when there is no such setting: a device a test built), or -1 without memory. */
int config_rewrite_setting(struct vm_config *config, const char *key, unsigned index,
			   const char *value);
/* Each disk with overlay=on goes on in a new qcow2 overlay of its image (block/overlay.h): the
 * disk then names the overlay, and its recorded setting too. Returns 0, or -1 with err. */
int config_apply_disk_overlays(struct vm_config *config, char *err, size_t err_len);

/* True when the guest could use more RAM than the host has (allowed, worth a warning). */
bool config_memory_exceeds_host(const struct vm_config *config);

#endif
