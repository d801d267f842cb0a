/* The control API's commands (--api-socket, `gureum ctl`): a request is a JSON object that
 * names one, and its reply a JSON object (api_routes.h maps HTTP requests to them, and
 * api_server.c the replies to HTTP: "ok" to the status, "refused" to 409):
 *   {"command":"balloon","size":"512M"}   or "size":536870912   -> {"ok":true}
 *   {"command":"balloon-info"}  -> {"ok":true,"target":..,"actual":..,"reported":..,"stats":{..}}
 *   {"command":"status"}        -> {"ok":true,"name":..,"state":"running","accel":"kvm",
 *                                   "vcpus":..,"memory":..,"boots":..,"devices":[..]}
 *                                   ("accel" null before the VM exists, "name" without
 *                                   --name)
 *   {"command":"pause"}         -> {"ok":true} once every vCPU has stopped and the devices
 *                                   finished their requests in flight ("state":"paused")
 *   {"command":"resume"}        -> {"ok":true}, the VM runs on
 *   {"command":"snapshot","dir":"/abs/dir","resume":true}
 *                               -> {"ok":true,"ms":..,"memory_bytes":..,"state_bytes":..,
 *                                   "paused":false}: the VM paused, written to dir, and resumed
 *                                   unless "resume" is false or it was paused already
 *   {"command":"migrate","uri":"unix:PATH"|"tcp:HOST:PORT","downtime_ms":300,"compress":false,
 *    "max_bandwidth":BYTES_PER_S,"auto_converge":false,"postcopy":false,
 *    "postcopy_after_rounds":5}
 *                               -> {"ok":true,"ms":..,"downtime_ms":..,"rounds":..,
 *                                   "precopy":true,"memory_bytes":..,"throttle_pct":..,
 *                                   "postcopy":false,"postcopy_ms":..,"postcopy_pages":..,
 *                                   "postcopy_requested":..,"postcopy_recoveries":..}: the VM
 * moved to the gureum run --incoming there, and this one stops. It runs on a thread of its own
 * (api_routes.h marks it long), so the requests below are answered meanwhile
 *   {"command":"migrate-status"} -> {"ok":true,"state":"none"|"active"|"failed"|"cancelled",
 *                                   "uri":..,"elapsed_ms":..,"transferred_bytes":..,
 *                                   "rounds":..,"dirty_bytes":..,"dirty_bytes_per_s":..,
 *                                   "expected_downtime_ms":..,"paused":..,
 *                                   "throttle_pct":..,"postcopy":..,
 *                                   "postcopy_left_bytes":..,"postcopy_reconnecting":..,
 *                                   "error":..}
 *   {"command":"migrate-cancel"} -> {"ok":true}: the migration fails, the VM stays here
 *                                   (refused once a post-copy handed the VM over)
 *   {"command":"migrate-reconnect"} -> {"ok":true}: a post-copy's connection is dropped and
 *                                   made again, as when its link breaks (refused otherwise)
 *   {"command":"screendump","file":"/abs/shot.png"}
 *                               -> {"ok":true,"width":..,"height":..}: the screen (--display)
 *                                   as it is now, written there as a PNG
 *   {"command":"disk-limit","disk":0|"SERIAL","bps":8388608|"8M","bps_burst":..,"iops":500,
 *    "iops_burst":..}
 *                               -> {"ok":true,"disk":0,"bps":..,"bps_burst":..,"iops":..,
 *                                   "iops_burst":..}: the disk (its --disk index, or its
 *                                   serial=) gets the I/O limits given (bytes and requests per
 *                                   second; 0 lifts one; a rate given without its burst gets one
 *                                   second's worth), the others stay; the reply has the limits
 *                                   in effect (none given: just that). Reboots, snapshots and
 *                                   migrations keep them (the recorded --disk changes)
 *   {"command":"counters"}      -> {"ok":true,"boots":..,"vcpus":[{"index":0,"exits":{"io":..,
 *                                   "mmio":..,"hlt":..,"interrupted":..,"other":..},
 *                                   "accel":{NAME:..}}],"devices":[{"name":"virtio-blk0",
 *                                   "kicks":..,"interrupts":..,"blk":{"read_requests":..,
 *                                   ...}}]}: counters since the VM started, reboots
 *                                   included ("net" for a network card, neither for
 *                                   other devices)
 *   {"command":"memory","size":TOTAL} -> {"ok":true}: virtio-mem asks the guest to have
 *                                   TOTAL - --memory bytes plugged (it plugs or unplugs blocks)
 *   {"command":"memory-info"}   -> {"ok":true,"boot":..,"hotplug_max":..,"block_size":..,
 *                                   "requested":..,"plugged":..}
 *   {"command":"disks"}         -> {"ok":true,"disks":[{"index":0,"slot":1,"name":"virtio-blk0",
 *                                   "path":..,"readonly":false,"serial":..,"state":"attached"}]}
 *   {"command":"disk-add","path":"/abs/img","readonly":false,"serial":..,"format":..,
 *    "cache":..}            -> {"ok":true,"disk":{..}}: plugged into a free PCI slot and
 *                                   announced to the guest ("state":"inserting" until it took
 *                                   it); reboots, snapshots and migrations keep it there
 *   {"command":"disk-remove","disk":N|"SERIAL"}
 *                               -> {"ok":true,"disk":{.."state":"removing"}}: the guest is
 *                                   asked to let it go; it leaves the list once it did
 *   {"command":"nics"}          -> {"ok":true,"nics":[{"index":0,"slot":2,"name":"virtio-net0",
 *                                   "mac":..,"backend":"tap","state":"attached"}]}
 *   {"command":"nic-add","net":"user,hostfwd=..."|"tap=NAME,..."}
 *                               -> {"ok":true,"nic":{..}}: a card as --net gives it, plugged
 *                                   into a free slot; reboots, snapshots and migrations keep it
 *   {"command":"nic-remove","card":N} -> {"ok":true,"nic":{.."state":"removing"}}
 *   {"command":"quit"}          -> {"ok":true}, then the VM stops
 * and anything wrong gets {"ok":false,"error":"one sentence"}. This file only parses and
 * dispatches (no sockets, no VM), so it is tested on its own; api_server.c does the I/O. */
#ifndef GUREUM_VMM_API_PROTOCOL_H
#define GUREUM_VMM_API_PROTOCOL_H

#include "accel/accel.h"
#include "virtio/virtio_devices.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_MAX_LINE	    4096
#define API_MAX_DEVICES	    32
#define API_DEVICE_NAME_LEN 32

struct api_status {
	const char *name;  /* --name; NULL: none */
	const char *state; /* "starting", "running", "paused", "stopping", "rebooting" */
	const char *accel; /* the accelerator that runs it ("kvm", "emu"); NULL: none yet */
	unsigned vcpus;
	uint64_t memory;
	unsigned boots;
	unsigned nr_devices;
	char devices[API_MAX_DEVICES][API_DEVICE_NAME_LEN];
};

/* The guest's vCPUs (vCPU hotplug). */
struct api_vcpus {
	unsigned present;   /* the vCPUs the guest has */
	unsigned max;	    /* --cpus ...,max= (the count at boot without it) */
	unsigned inserting; /* added, and not yet taken by the guest */
	unsigned removing;  /* asked to go, and not yet ejected by the guest */
};

#define API_SNAPSHOT_MAX_DISKS 16

struct api_snapshot {
	const char *dir;    /* absolute */
	bool resume;	    /* resume afterwards if the snapshot paused it */
	bool disk_snapshot; /* each writable disk goes on in a new overlay */
	/* out, with disk_snapshot: the new image of each disk (malloc'd; NULL: unchanged) */
	char *overlays[API_SNAPSHOT_MAX_DISKS];
	bool paused;			    /* out: the VM is paused after the snapshot */
	uint64_t ms;			    /* out */
	uint64_t memory_bytes, state_bytes; /* out */
};

#define API_DEFAULT_DOWNTIME_MS		  300
#define API_DEFAULT_POSTCOPY_AFTER_ROUNDS 5
#define API_MAX_POSTCOPY_AFTER_ROUNDS	  30

struct api_migrate {
	const char *uri;
	uint64_t max_downtime_ms;		/* the longest pause wanted */
	bool compress;				/* zstd the RAM on the wire */
	uint64_t ms, memory_bytes, downtime_ms; /* out */
	unsigned rounds;			/* out */
	bool precopy;				/* out */
	uint64_t max_bytes_per_s;		/* 0: as fast as the link goes */
	bool auto_converge;			/* throttle a guest that dirties too fast */
	unsigned throttle_pct;			/* out: the most it was throttled */
	bool postcopy;				/* in: allowed; out: it happened */
	unsigned postcopy_after_rounds;		/* pre-copy rounds before the switch */
	uint64_t postcopy_ms, postcopy_pages, postcopy_requested; /* out */
	unsigned postcopy_recoveries;				  /* out */
};

/* The fields a disk-limit request gives (api_disk_limit.given). */
#define API_LIMIT_BPS	     1u
#define API_LIMIT_BPS_BURST  2u
#define API_LIMIT_IOPS	     4u
#define API_LIMIT_IOPS_BURST 8u
#define API_LIMIT_ALL	     15u
/* net-limit: a card's tx fields are the same bits, shifted by this. */
#define API_LIMIT_TX_SHIFT 4u

struct api_disk_limit {
	int index;	    /* the --disk's index (0: the first), or -1: serial names it */
	const char *serial; /* with index -1 */
	unsigned given;	    /* API_LIMIT_* of the fields the request sets */
	/* in: the values of the fields given; out: the limits in effect, bursts resolved */
	struct io_limits limits;
	unsigned disk; /* out: the disk's index */
};

/* The limits a disk-limit request leaves a disk with, from those it has (`old`, as configured):
 * each field given replaces its own, a rate given without its burst takes the default burst
 * (0), a rate lifted drops its burst. 0, or -1 with a sentence (a burst without a rate). */
int api_disk_limits_merge(const struct io_limits *old, const struct api_disk_limit *request,
			  struct io_limits *out, char *err, size_t err_len);

struct api_net_limit {
	unsigned card;	/* the --net's index (0: the first) */
	unsigned given; /* API_LIMIT_* of rx's fields, and of tx's shifted by API_LIMIT_TX_SHIFT */
	/* [0] rx (to the guest), [1] tx (from it), as api_disk_limit.limits; iops counts
	 * frames */
	struct io_limits limits[2];
};

/* The same for a card's two directions (net-limit). */
int api_net_limits_merge(const struct io_limits old[2], const struct api_net_limit *request,
			 struct io_limits out[2], char *err, size_t err_len);

/* The guest's memory: what it booted with, and what virtio-mem adds. */
struct api_memory {
	uint64_t boot;	      /* --memory */
	uint64_t hotplug_max; /* --memory-hotplug */
	uint64_t block_size;  /* the unit requests are rounded to */
	uint64_t requested;   /* bytes asked for on top of boot */
	uint64_t plugged;     /* bytes the guest has taken */
};

/* A disk as the disks command lists it. */
#define API_MAX_DISKS 16
struct api_disk {
	unsigned index, slot; /* its --disk index; the PCI slot of bus 0 it is in */
	char name[API_DEVICE_NAME_LEN];
	char path[1024];
	char serial[24];
	bool readonly;
	const char *state; /* "attached", "inserting", "removing" */
};
struct api_disks {
	unsigned nr;
	struct api_disk disks[API_MAX_DISKS];
};
/* A network card as the nics command lists it. */
#define API_MAX_NICS 8
struct api_nic {
	unsigned index, slot; /* its --net index; its PCI slot on bus 0 */
	char name[API_DEVICE_NAME_LEN];
	uint8_t mac[6];
	const char *backend; /* "tap" (a switch port's too) or "user" */
	const char *state;   /* "attached", "inserting", "removing" */
};
struct api_nics {
	unsigned nr;
	struct api_nic nics[API_MAX_NICS];
};
/* What disk-add takes; NULL strings are not given. */
struct api_disk_add {
	const char *path, *serial, *format, *cache;
	bool readonly;
};

struct api_migration_status {
	const char *state; /* "none", "active", or how the last one ended: "failed", "cancelled" */
	char uri[256];
	char error[512]; /* why the last one failed */
	uint64_t elapsed_ms, transferred_bytes, dirty_bytes, dirty_bytes_per_s;
	uint64_t expected_downtime_ms;
	unsigned rounds;
	unsigned throttle_pct; /* auto-converge: the vCPUs' share asleep */
	bool paused;	       /* in the final, paused copy */
	bool postcopy;	       /* the destination runs the VM, pages still go */
	uint64_t postcopy_left_bytes;
	bool postcopy_reconnecting; /* its link broke: connecting again */
};

/* counters: what each vCPU and device has done since the VM started (a boot, restore or
 * incoming migration), guest reboots included: each value only ever grows. */
#define API_MAX_VCPUS	       255
#define API_MAX_ACCEL_COUNTERS 64

/* The vCPU loop's exits by reason (vcpu_exit_reason), as the reply names them. */
enum api_vcpu_exit {
	API_EXIT_IO,
	API_EXIT_MMIO,
	API_EXIT_HLT,
	API_EXIT_INTERRUPTED,
	API_EXIT_OTHER, /* power events, failures: each ends the VM's run */
	API_EXIT_KINDS
};

struct api_vcpu_counters {
	uint64_t exits[API_EXIT_KINDS];
	/* The accelerator's own (accel_ops.vcpu_stats), by its names. */
	unsigned nr_accel;
	struct accel_stat accel[API_MAX_ACCEL_COUNTERS];
};

enum api_device_kind { API_DEVICE_VIRTIO, API_DEVICE_BLK, API_DEVICE_NET };

struct api_device_counters {
	char name[API_DEVICE_NAME_LEN];
	enum api_device_kind kind;
	uint64_t kicks, interrupts; /* every virtio device's notifications */
	union {
		struct virtio_blk_counters blk;
		struct virtio_net_info net; /* its counters */
	};
};

struct api_counters {
	unsigned boots; /* the boots counted (status's "boots": 1 + guest reboots) */
	unsigned nr_vcpus;
	struct api_vcpu_counters vcpus[API_MAX_VCPUS];
	unsigned nr_devices;
	struct api_device_counters devices[API_MAX_DEVICES];
};

/* What the VM behind the socket can do. Each returns 0, or -1 with one sentence in `err` (what
 * is wrong and what to do). Called on the event-loop thread, but migrate on a worker thread of
 * its own. */
struct api_ops {
	int (*balloon_set)(void *opaque, uint64_t bytes, char *err, size_t err_len);
	int (*balloon_info)(void *opaque, struct balloon_info *info, char *err, size_t err_len);
	int (*status)(void *opaque, struct api_status *status, char *err, size_t err_len);
	int (*quit)(void *opaque, char *err, size_t err_len);
	/* The VM is reset, as by its reset button: the guest starts again from the beginning,
	 * without shutting down (as a guest reboot; --on-reboot exit ends the VMM instead). */
	int (*reset)(void *opaque, char *err, size_t err_len);
	int (*pause)(void *opaque, char *err, size_t err_len);
	int (*resume)(void *opaque, char *err, size_t err_len);
	int (*snapshot)(void *opaque, struct api_snapshot *snapshot, char *err, size_t err_len);
	int (*migrate)(void *opaque, struct api_migrate *migrate, char *err, size_t err_len);
	int (*migrate_status)(void *opaque, struct api_migration_status *status, char *err,
			      size_t err_len);
	int (*migrate_cancel)(void *opaque, char *err, size_t err_len);
	int (*migrate_reconnect)(void *opaque, char *err, size_t err_len);
	/* Network card `card` (0 is the first --net) gets its link up or down, as a cable
	 * plugged or pulled: the guest sees the change (its driver's carrier follows). */
	int (*net_link)(void *opaque, unsigned card, bool up, char *err, size_t err_len);
	/* Card `card` gets another MAC (virtio_net_set_mac), kept by later snapshots and
	 * migrations. */
	int (*net_mac)(void *opaque, unsigned card, const uint8_t mac[6], char *err,
		       size_t err_len);
	/* Card `card`'s addresses, link and traffic per queue pair. */
	int (*net_info)(void *opaque, unsigned card, struct virtio_net_info *info, char *err,
			size_t err_len);
	/* The screen as a PNG at `path` (absolute); its size in *width, *height. */
	int (*screendump)(void *opaque, const char *path, unsigned *width, unsigned *height,
			  char *err, size_t err_len);
	/* A disk's I/O limits changed (api_disk_limits_merge) or, with none given, read. */
	int (*disk_limit)(void *opaque, struct api_disk_limit *request, char *err, size_t err_len);
	/* A card's rate limits changed (api_net_limits_merge) or, with none given, read. */
	int (*net_limit)(void *opaque, struct api_net_limit *request, char *err, size_t err_len);
	/* The ACPI power button is pressed: the guest decides what that means (a systemd
	 * guest shuts down cleanly). Refused while paused: the press would wait unseen. */
	int (*power_button)(void *opaque, char *err, size_t err_len);
	/* The guest's vCPUs become `count` (vm_set_vcpus: added at once, removed once the guest
	 * lets them go), and how they stand. */
	int (*vcpus_set)(void *opaque, unsigned count, char *err, size_t err_len);
	int (*vcpus_info)(void *opaque, struct api_vcpus *info, char *err, size_t err_len);
	/* The guest's memory becomes `total` bytes (--memory plus virtio-mem's share; the
	 * guest plugs or unplugs blocks until it has it), and how it stands. */
	int (*memory_set)(void *opaque, uint64_t total, char *err, size_t err_len);
	int (*memory_info)(void *opaque, struct api_memory *info, char *err, size_t err_len);
	/* Disk hotplug: the disks and how they stand; a disk plugged in while the guest runs
	 * (`out` describes it); disk `index` (or, with index -1, the one with `serial`) asked to
	 * go. */
	int (*disks_info)(void *opaque, struct api_disks *out, char *err, size_t err_len);
	int (*disk_add)(void *opaque, const struct api_disk_add *request, struct api_disk *out,
			char *err, size_t err_len);
	int (*disk_remove)(void *opaque, int index, const char *serial, struct api_disk *out,
			   char *err, size_t err_len);
	/* Network card hotplug: the cards; one plugged in from a --net setting (`out`
	 * describes it); card `card` asked to go. */
	int (*nics_info)(void *opaque, struct api_nics *out, char *err, size_t err_len);
	int (*nic_add)(void *opaque, const char *setting, struct api_nic *out, char *err,
		       size_t err_len);
	int (*nic_remove)(void *opaque, unsigned card, struct api_nic *out, char *err,
			  size_t err_len);
	/* Every vCPU's and device's counters (zeroed by the caller). */
	int (*counters)(void *opaque, struct api_counters *counters, char *err, size_t err_len);
	void *opaque;
};

/* The disk hotplug commands' halves of api_dispatch (api_disks.c). */
json_t *api_do_disks(const struct api_ops *ops);
json_t *api_do_disk_add(const struct api_ops *ops, const json_t *request);
json_t *api_do_disk_remove(const struct api_ops *ops, const json_t *request);
/* disk-limit and net-limit (api_limits.c). */
json_t *api_do_disk_limit(const struct api_ops *ops, const json_t *request);
json_t *api_do_net_limit(const struct api_ops *ops, const json_t *request);
/* The same for network cards (api_nics.c). */
json_t *api_do_nics(const struct api_ops *ops);
json_t *api_do_nic_add(const struct api_ops *ops, const json_t *request);
json_t *api_do_nic_remove(const struct api_ops *ops, const json_t *request);

/* The reply to `request` (a JSON object naming a command): a JSON object with "ok", and with
 * "refused" when the VM turned a valid request down. NULL only without memory. */
json_t *api_dispatch(const struct api_ops *ops, const json_t *request);
/* The same for a request as JSON text (need not be NUL-terminated), the reply as malloc'd,
 * NUL-terminated JSON text (never NULL). */
char *api_handle_request(const struct api_ops *ops, const char *line, size_t len);

#endif
