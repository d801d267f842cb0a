/* A VM as the control API's tests see it (api_protocol.h's api_ops): it records what it was
 * asked and answers from its fields. For test_api.c (the commands) and test_api_server.c (the
 * HTTP server); each includes it once. */
#ifndef GUREUM_TESTS_API_FAKE_VM_H
#define GUREUM_TESTS_API_FAKE_VM_H

#include "vmm/api_protocol.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A VM as the protocol sees it: records what it was asked, answers from fields. */
struct fake_vm {
	int balloon_calls, quit_calls, reset_calls, power_button_presses;
	unsigned vcpus, max_vcpus; /* max 0: no room to add any */
	bool paused;
	uint64_t balloon_bytes;
	int snapshot_calls, migrate_calls;
	uint64_t migrate_downtime, migrate_bandwidth;
	bool migrate_compress, migrate_converge, migrate_postcopy;
	unsigned migrate_postcopy_after;
	bool hold_migrate; /* migrate waits until this is false (under hold_lock) */
	int cancel_calls, reconnect_calls;
	int link_calls;
	unsigned link_card;
	bool link_up;
	int mac_calls;
	uint8_t mac[6];
	int screendump_calls;
	char screendump_path[256];
	char snapshot_dir[256];
	bool snapshot_resume;
	uint64_t counters_calls;
	bool refuse; /* every operation fails, as between two boots */
	/* Disk hotplug: the disks' paths (NULL: none), the last removal asked. */
	const char *disk_paths[4];
	bool disk_readonly[4];
	int removed_disk;
	/* Card hotplug: the --net settings of cards added, the last removal asked. */
	char nic_settings[2][64];
	unsigned nr_nics_added;
	int removed_nic;
	uint64_t memory_total; /* the last memory request; 0: none */
	struct balloon_info info;
};

static int fake_balloon_set(void *opaque, uint64_t bytes, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "the VM is rebooting");
		return -1;
	}
	vm->balloon_calls++;
	vm->balloon_bytes = bytes;
	return 0;
}

static int fake_balloon_info(void *opaque, struct balloon_info *info, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "this VM has no balloon device");
		return -1;
	}
	*info = vm->info;
	return 0;
}

static int fake_status(void *opaque, struct api_status *status, char *err, size_t err_len)
{
	(void)opaque;
	(void)err;
	(void)err_len;
	status->name = "web-1";
	status->state = "running";
	status->accel = "emu";
	status->vcpus = 2;
	status->memory = 512ULL << 20;
	status->boots = 1;
	status->nr_devices = 2;
	strcpy(status->devices[0], "virtio-console");
	strcpy(status->devices[1], "virtio-balloon");
	return 0;
}

static int fake_quit(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err;
	(void)err_len;
	vm->quit_calls++;
	return 0;
}

static int fake_reset(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err;
	(void)err_len;
	vm->reset_calls++;
	return 0;
}

/* The power button as the VM answers it: pressed unless paused. */
static int fake_power_button(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->paused) {
		snprintf(err, err_len, "the VM is paused: resume it first");
		return -1;
	}
	vm->power_button_presses++;
	return 0;
}

static int fake_vcpus_set(void *opaque, unsigned count, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (count > vm->max_vcpus) {
		snprintf(err, err_len, "a vCPU count from 1 to %u", vm->max_vcpus);
		return -1;
	}
	vm->vcpus = count;
	return 0;
}

static int fake_vcpus_info(void *opaque, struct api_vcpus *info, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err;
	(void)err_len;
	*info = (struct api_vcpus){.present = vm->vcpus, .max = vm->max_vcpus};
	return 0;
}

/* Pause and resume as the VM answers them: each only from the other state. */
static int fake_pause(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->paused) {
		snprintf(err, err_len, "the VM is already paused");
		return -1;
	}
	vm->paused = true;
	return 0;
}

static int fake_resume(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (!vm->paused) {
		snprintf(err, err_len, "the VM is not paused");
		return -1;
	}
	vm->paused = false;
	return 0;
}

/* A snapshot as the session answers it: pauses, "writes", resumes when asked. */
static int fake_snapshot(void *opaque, struct api_snapshot *snapshot, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "snapshot: cannot create the directory");
		return -1;
	}
	vm->snapshot_calls++;
	snprintf(vm->snapshot_dir, sizeof(vm->snapshot_dir), "%s", snapshot->dir);
	vm->snapshot_resume = snapshot->resume;
	snapshot->paused = vm->paused || !snapshot->resume;
	snapshot->ms = 12;
	snapshot->memory_bytes = 4096;
	snapshot->state_bytes = 100;
	if (snapshot->disk_snapshot) /* disk 1 moves; disk 0 (read-only) does not */
		snapshot->overlays[1] = strdup("/img/data.ovl1.qcow2");
	return 0;
}

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_changed = PTHREAD_COND_INITIALIZER;

static inline void release_migrate(struct fake_vm *vm)
{
	pthread_mutex_lock(&hold_lock);
	vm->hold_migrate = false;
	pthread_cond_broadcast(&hold_changed);
	pthread_mutex_unlock(&hold_lock);
}

static int fake_migrate_status(void *opaque, struct api_migration_status *status, char *err,
			       size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	status->state = "active";
	snprintf(status->uri, sizeof(status->uri), "unix:/run/m.sock");
	status->transferred_bytes = 123456;
	status->rounds = 2;
	status->expected_downtime_ms = 17;
	return 0;
}

static int fake_migrate_reconnect(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "no post-copy is under way");
		return -1;
	}
	vm->reconnect_calls++;
	return 0;
}

static int fake_net_link(void *opaque, unsigned card, bool up, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (card > 1) {
		snprintf(err, err_len, "net-link: the VM has 2 network cards; card %u is not one",
			 card);
		return -1;
	}
	vm->link_calls++;
	vm->link_card = card;
	vm->link_up = up;
	return 0;
}

static int fake_net_mac(void *opaque, unsigned card, const uint8_t mac[6], char *err,
			size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (card > 1) {
		snprintf(err, err_len, "net-mac: the VM has 2 network cards; card %u is not one",
			 card);
		return -1;
	}
	vm->mac_calls++;
	memcpy(vm->mac, mac, 6);
	return 0;
}

static int fake_net_info(void *opaque, unsigned card, struct virtio_net_info *info, char *err,
			 size_t err_len)
{
	(void)opaque;
	if (card > 1) {
		snprintf(err, err_len, "net-info: the VM has 2 network cards; card %u is not one",
			 card);
		return -1;
	}
	memset(info, 0, sizeof(*info));
	uint8_t mac[6] = {0x52, 0x54, 0, 0xab, 0xcd, (uint8_t)card};
	memcpy(info->mac, mac, 6);
	memcpy(info->assigned_mac, mac, 6);
	info->link_up = true;
	info->pairs = 2;
	info->active_pairs = 2;
	info->pair_rx_packets[0] = 10, info->pair_rx_packets[1] = 20;
	info->pair_tx_packets[0] = 3, info->pair_tx_packets[1] = 4;
	info->ctrl_errors = 1;
	return 0;
}

static int fake_migrate_cancel(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "no migration is under way");
		return -1;
	}
	vm->cancel_calls++;
	return 0;
}

static int fake_migrate(void *opaque, struct api_migrate *migrate, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "migration: cannot connect to %s", migrate->uri);
		return -1;
	}
	pthread_mutex_lock(&hold_lock);
	while (vm->hold_migrate)
		pthread_cond_wait(&hold_changed, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
	vm->migrate_calls++;
	vm->migrate_downtime = migrate->max_downtime_ms;
	vm->migrate_compress = migrate->compress;
	vm->migrate_bandwidth = migrate->max_bytes_per_s;
	vm->migrate_converge = migrate->auto_converge;
	vm->migrate_postcopy = migrate->postcopy;
	vm->migrate_postcopy_after = migrate->postcopy_after_rounds;
	migrate->throttle_pct = migrate->auto_converge ? 40 : 0;
	if (migrate->postcopy) { /* as if it switched */
		migrate->postcopy_ms = 700;
		migrate->postcopy_pages = 5000;
		migrate->postcopy_requested = 12;
		migrate->postcopy_recoveries = 2;
	}
	migrate->ms = 900;
	migrate->downtime_ms = 40;
	migrate->rounds = 3;
	migrate->precopy = true;
	return 0;
}

static int fake_screendump(void *opaque, const char *path, unsigned *width, unsigned *height,
			   char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "screendump: this VM has no display");
		return -1;
	}
	vm->screendump_calls++;
	snprintf(vm->screendump_path, sizeof(vm->screendump_path), "%s", path);
	*width = 1024;
	*height = 768;
	return 0;
}

/* Two disks, the second with the serial "data"; the request's limits are kept as given. */
static struct api_disk_limit last_limit;
static int fake_disk_limit(void *opaque, struct api_disk_limit *req, char *err, size_t err_len)
{
	(void)opaque;
	if (req->index < 0 && strcmp(req->serial, "data") == 0)
		req->index = 1;
	if (req->index < 0 || req->index > 1) {
		snprintf(err, err_len, "disk-limit: the VM has 2 disks; no disk with that index");
		return -1;
	}
	last_limit = *req;
	req->disk = (unsigned)req->index;
	if (!req->limits.bps_burst)
		req->limits.bps_burst = req->limits.bps;
	return 0;
}

/* Two cards; the limits asked for are kept, each rate's burst resolved to the rate. */
static struct api_net_limit last_net_limit;
static int fake_net_limit(void *opaque, struct api_net_limit *req, char *err, size_t err_len)
{
	(void)opaque;
	if (req->card > 1) {
		snprintf(err, err_len, "net-limit: the VM has 2 network cards; card %u is not one",
			 req->card);
		return -1;
	}
	last_net_limit = *req;
	for (unsigned side = 0; side < 2; side++)
		if (!req->limits[side].bps_burst)
			req->limits[side].bps_burst = req->limits[side].bps;
	return 0;
}

/* Two vCPUs and three devices (a disk, a card, an rng), with counters that grow by `bump` at
 * each call, as the real ones grow with the guest's activity. */
static int fake_counters(void *opaque, struct api_counters *c, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len,
			 "the VM is between two boots (rebooting); retry in a moment");
		return -1;
	}
	uint64_t n = ++vm->counters_calls;
	c->boots = 1;
	c->nr_vcpus = 2;
	for (unsigned i = 0; i < 2; i++) {
		c->vcpus[i].exits[API_EXIT_IO] = 100 * n + i;
		c->vcpus[i].exits[API_EXIT_HLT] = 7;
		c->vcpus[i].nr_accel = 1;
		snprintf(c->vcpus[i].accel[0].name, sizeof(c->vcpus[i].accel[0].name), "exits");
		c->vcpus[i].accel[0].value = 1000 * n;
	}
	c->nr_devices = 3;
	c->devices[0] = (struct api_device_counters){
	    .name = "virtio-blk0", .kind = API_DEVICE_BLK, .kicks = 5 * n, .interrupts = 4 * n};
	c->devices[0].blk.read_requests = 2 * n;
	c->devices[0].blk.read_bytes = 4096 * n;
	c->devices[0].blk.errors = 1;
	c->devices[1] = (struct api_device_counters){.name = "virtio-net0", .kind = API_DEVICE_NET};
	c->devices[1].net.rx_packets = 3 * n;
	c->devices[1].net.rx_bytes = 1500 * n;
	c->devices[2] = (struct api_device_counters){.name = "virtio-rng", .kicks = n};
	return 0;
}

static void fake_describe_disk(struct fake_vm *vm, unsigned i, struct api_disk *out)
{
	*out = (struct api_disk){.index = i, .slot = i + 1, .readonly = vm->disk_readonly[i]};
	snprintf(out->name, sizeof(out->name), "virtio-blk%u", i);
	snprintf(out->path, sizeof(out->path), "%s", vm->disk_paths[i]);
	out->state = vm->removed_disk == (int)i ? "removing" : "attached";
}

static int fake_disks_info(void *opaque, struct api_disks *out, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err, (void)err_len;
	for (unsigned i = 0; i < 4 && vm->disk_paths[i]; i++)
		fake_describe_disk(vm, i, &out->disks[out->nr++]);
	return 0;
}

static int fake_disk_add(void *opaque, const struct api_disk_add *req, struct api_disk *out,
			 char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	unsigned i = 0;
	while (i < 4 && vm->disk_paths[i])
		i++;
	if (vm->refuse || i == 4) {
		snprintf(err, err_len, "disk-add: no free PCI slot");
		return -1;
	}
	vm->disk_paths[i] = strdup(req->path); /* leaks a few bytes per test */
	vm->disk_readonly[i] = req->readonly;
	fake_describe_disk(vm, i, out);
	return 0;
}

static int fake_disk_remove(void *opaque, int index, const char *serial, struct api_disk *out,
			    char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (index < 0 || index >= 4 || !vm->disk_paths[index]) {
		snprintf(err, err_len, "disk-remove: the VM has no disk %s",
			 serial ? serial : "with that index");
		return -1;
	}
	vm->removed_disk = index;
	fake_describe_disk(vm, (unsigned)index, out);
	return 0;
}

static int fake_nics_info(void *opaque, struct api_nics *out, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err, (void)err_len;
	for (unsigned i = 0; i < vm->nr_nics_added; i++)
		out->nics[out->nr++] =
		    (struct api_nic){.index = i, .slot = 5 + i, .mac = {0x52, 0x54}};
	return 0;
}

static int fake_nic_add(void *opaque, const char *setting, struct api_nic *out, char *err,
			size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse || vm->nr_nics_added == 2) {
		snprintf(err, err_len, "nic-add: no free PCI slot");
		return -1;
	}
	snprintf(vm->nic_settings[vm->nr_nics_added], sizeof(vm->nic_settings[0]), "%s", setting);
	*out = (struct api_nic){.index = vm->nr_nics_added,
				.slot = 5 + vm->nr_nics_added,
				.backend = "user",
				.state = "inserting"};
	vm->nr_nics_added++;
	return 0;
}

static int fake_nic_remove(void *opaque, unsigned card, struct api_nic *out, char *err,
			   size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (card >= vm->nr_nics_added) {
		snprintf(err, err_len, "nic-remove: card %u is not one", card);
		return -1;
	}
	vm->removed_nic = (int)card;
	*out = (struct api_nic){.index = card, .slot = 5 + card, .state = "removing"};
	return 0;
}

static int fake_memory_set(void *opaque, uint64_t total, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (total < (512u << 20)) {
		snprintf(err, err_len, "memory: below the boot memory");
		return -1;
	}
	vm->memory_total = total;
	return 0;
}

static int fake_memory_info(void *opaque, struct api_memory *info, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err, (void)err_len;
	*info = (struct api_memory){.boot = 512u << 20,
				    .hotplug_max = 1u << 30,
				    .block_size = 2u << 20,
				    .requested =
					vm->memory_total ? vm->memory_total - (512u << 20) : 0};
	return 0;
}

static struct fake_vm vm;
static struct api_ops ops = {.balloon_set = fake_balloon_set,
			     .balloon_info = fake_balloon_info,
			     .status = fake_status,
			     .quit = fake_quit,
			     .reset = fake_reset,
			     .pause = fake_pause,
			     .resume = fake_resume,
			     .power_button = fake_power_button,
			     .vcpus_set = fake_vcpus_set,
			     .vcpus_info = fake_vcpus_info,
			     .snapshot = fake_snapshot,
			     .migrate = fake_migrate,
			     .migrate_status = fake_migrate_status,
			     .migrate_cancel = fake_migrate_cancel,
			     .migrate_reconnect = fake_migrate_reconnect,
			     .net_link = fake_net_link,
			     .net_mac = fake_net_mac,
			     .net_info = fake_net_info,
			     .screendump = fake_screendump,
			     .disk_limit = fake_disk_limit,
			     .net_limit = fake_net_limit,
			     .counters = fake_counters,
			     .disks_info = fake_disks_info,
			     .disk_add = fake_disk_add,
			     .disk_remove = fake_disk_remove,
			     .nics_info = fake_nics_info,
			     .nic_add = fake_nic_add,
			     .nic_remove = fake_nic_remove,
			     .memory_set = fake_memory_set,
			     .memory_info = fake_memory_info,
			     .opaque = &vm};

static void reset_vm(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.removed_disk = -1;
	vm.removed_nic = -1;
}

#endif
