#include "vmm/session.h"

#include "accel/accel.h"
#include "display/display.h"
#include "lib/event_loop.h"
#include "lib/log.h"
#include "lib/monotonic.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"
#include "vmm/api_server.h"
#include "vmm/console.h"
#include "vmm/jail.h"
#include "vmm/migration.h"
#include "vmm/sandbox.h"
#include "vmm/vm.h"
#include "vmm/vm_counters.h"
#include "vmm/vm_disk_snapshot.h"
#include "vmm/vm_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t process_start_ns;

/* Runs before main(): the reference point of "VMM start-up time". */
__attribute__((constructor)) static void record_process_start(void)
{
	process_start_ns = monotonic_ns();
}

/* A migration under way: api_migrate runs it on the control socket's worker thread, while
 * migrate-status reads its progress and migrate-cancel ends it. `active`, `cancelled` and
 * `out.fd` are under the session lock. */
struct migration_job {
	bool active;
	bool cancelled;
	char uri[256];
	struct state_out out;
	struct migration_progress progress;
	uint64_t started_ns;
	/* The last migration that ended here (a successful one ends this process). */
	const char *last_state; /* NULL (none yet), "failed" or "cancelled" */
	char last_error[512];
};

struct session {
	struct vm_config *config; /* changed only under `lock`, with the VM paused */
	struct console console;
	struct event_loop loop;
	int signal_pipe[2];
	int hotplug_fd;		    /* the VM's guest ejected a PCI slot (on_hotplug_event) */
	struct vm *_Atomic current; /* the VM of the boot in progress, for quit and signals */
	pthread_mutex_t lock;
	int pending_signal;
	unsigned boots;
	uint64_t first_run_ns;
	struct api_server *api;		/* --api-socket, kept across reboots */
	struct display *display;	/* --display, kept across reboots (clients stay) */
	const struct vm_origin *origin; /* what the first boot goes on from, or NULL */
	struct migration_job migration;
	pthread_cond_t migration_ended;
	/* The counters of this session's VMs before the current one (guest reboots), under
	 * `lock`; NULL until the first reboot. */
	struct api_counters *carried;
};

static int signal_write_fd = -1;

static void on_host_signal(int sig)
{
	unsigned char byte = (unsigned char)sig;
	if (write(signal_write_fd, &byte, 1) < 0) {
		/* the pipe is full: a stop is already on its way */
	}
}

static void stop_current(struct session *s, enum vm_stop_reason reason, int status)
{
	pthread_mutex_lock(&s->lock);
	if (reason == VM_STOP_SIGNAL)
		s->pending_signal = status;
	if (s->current)
		vm_request_stop(s->current, reason, status);
	pthread_mutex_unlock(&s->lock);
}

static int api_power_button(void *opaque, char *err, size_t err_len);

/* SIGPWR, as init takes it (power is failing: shut down cleanly): the guest's power button.
 * A host daemon stops its VMs this way before it resorts to SIGTERM. */
static void press_power_button_for_signal(struct session *s)
{
	char err[512];
	if (api_power_button(s, err, sizeof(err)) < 0)
		log_warn("received SIGPWR, but the power button could not be pressed: %s", err);
}

static void on_signal_pipe(void *opaque, uint32_t events)
{
	struct session *s = opaque;
	unsigned char sig;
	(void)events;
	if (read(s->signal_pipe[0], &sig, 1) != 1)
		return;
	if (sig == SIGPWR) {
		press_power_button_for_signal(s);
		return;
	}
	log_info("received signal %d, stopping the VM", sig);
	stop_current(s, VM_STOP_SIGNAL, 128 + sig);
}

static void on_console_quit(void *opaque)
{
	stop_current(opaque, VM_STOP_QUIT, 0);
}

static int install_signal_handlers(struct session *s)
{
	if (pipe2(s->signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	signal_write_fd = s->signal_pipe[1];
	struct sigaction action = {.sa_handler = on_host_signal};
	sigemptyset(&action.sa_mask);
	int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPWR};
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaction(handled[i], &action, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed console pipe must not kill the VMM */
	return event_loop_add(&s->loop, s->signal_pipe[0], EPOLLIN, on_signal_pipe, s);
}

static size_t uart_receive(void *opaque, const uint8_t *buf, size_t len)
{
	return uart16550_receive(opaque, buf, len);
}

static bool uart_can_receive(void *opaque)
{
	return uart16550_can_receive(opaque);
}

static size_t hvc_receive(void *opaque, const uint8_t *buf, size_t len)
{
	return virtio_console_receive(opaque, buf, len);
}

static bool hvc_can_receive(void *opaque)
{
	return virtio_console_can_receive(opaque);
}

static void print_bus_stats(const struct io_bus *bus, const char *prefix)
{
	for (size_t i = 0; i < bus->count; i++)
		if (bus->ranges[i].accesses)
			fprintf(stderr, "gureum: stat %s_%s %llu\n", prefix, bus->ranges[i].name,
				(unsigned long long)bus->ranges[i].accesses);
	fprintf(stderr, "gureum: stat %s_unclaimed %llu\n", prefix,
		(unsigned long long)bus->unclaimed_accesses);
	/* Only addresses with at least two certain hits: the sketch's inherited counts would make
	 * a spray of one-off accesses look like hot spots. */
	for (int i = 0; i < IO_BUS_UNCLAIMED_SLOTS; i++) {
		uint64_t certain = bus->unclaimed[i].count - bus->unclaimed[i].error;
		if (certain >= 2)
			fprintf(stderr, "gureum: stat %s_unclaimed_0x%llx %llu\n", prefix,
				(unsigned long long)bus->unclaimed[i].addr,
				(unsigned long long)certain);
	}
}

/* Kicks the device thread saw and interrupts it raised: with ioeventfd and irqfd, neither shows
 * up as a VM exit, so these are the only record of a device's notification traffic. */
static void print_virtio_stats(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		const struct virtio_device *d = virtio_pci_device(vm->virtio[i]);
		fprintf(stderr, "gureum: stat %s_kicks %llu\n", d->name,
			(unsigned long long)d->kicks);
		fprintf(stderr, "gureum: stat %s_interrupts %llu\n", d->name,
			(unsigned long long)d->interrupts);
	}
}

static void print_stats(struct session *s, struct vm *vm)
{
	/* Every non-zero counter the accelerator keeps (for kvm: exits by type, injections,
	 * halt polling), in its own order, so benchmarks can compare exit causes. */
	struct accel_stat stats[256];
	size_t n = vm->accel->vm_stats(vm->accel_vm, stats, 256);
	for (size_t i = 0; i < n; i++)
		if (stats[i].value)
			fprintf(stderr, "gureum: stat %s %llu\n", stats[i].name,
				(unsigned long long)stats[i].value);
	if (s->first_run_ns)
		fprintf(stderr, "gureum: stat vmm_startup_us %llu\n",
			(unsigned long long)((s->first_run_ns - process_start_ns) / 1000));
	fprintf(stderr, "gureum: stat boots %u\n", s->boots);
	fprintf(stderr, "gureum: stat wall_ms %llu\n",
		(unsigned long long)((monotonic_ns() - process_start_ns) / 1000000));
	print_bus_stats(&vm->pio, "pio");
	print_bus_stats(&vm->mmio, "mmio");
	print_virtio_stats(vm);
}

/* A VM that went on from a snapshot or a migration may be on another host now: each NIC
 * announces the guest's MAC three times, 100 ms apart (a switch that missed one as its port
 * came up learns from the next), while the guest runs. */
static void announce_nics(struct vm *vm)
{
	for (unsigned round = 0; round < 3; round++) {
		if (round)
			nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
		for (unsigned i = 0; i < vm->nr_virtio; i++) {
			struct virtio_device *d = virtio_pci_device(vm->virtio[i]);
			int rc = d->device_id == VIRTIO_ID_NET ? virtio_net_announce(d) : 0;
			if (rc < 0 && round == 0)
				log_warn("%s: announcing the guest's MAC failed: %s", d->name,
					 strerror(-rc));
		}
	}
}

/* The VM is going (a reboot makes the next): its counters go on in the next VM's, so that the
 * API's only grow. Called under the session lock as current goes NULL: no request sees them
 * twice. */
static void carry_counters(struct session *s, struct vm *vm)
{
	struct api_counters *last = calloc(1, sizeof(*last));
	if (!s->carried)
		s->carried = calloc(1, sizeof(*s->carried));
	if (last && s->carried) {
		vm_read_counters(vm, last);
		vm_counters_add(s->carried, last);
	} else {
		log_warn("out of memory: the counters start again from 0 with the next boot");
	}
	free(last);
}

/* A guest reboot keeps the vCPUs hotplug gave it, as a PC keeps the CPUs put in it. */
static void keep_vcpu_count(struct session *s, struct vm *vm)
{
	if (!vm->has_cpu_hotplug)
		return;
	struct vm_vcpus_info info;
	vm_vcpus_info(vm, &info);
	if (info.present && info.present != s->config->cpus) {
		s->config->cpus = info.present;
		log_info("the next boot has the %u vCPUs the guest had", info.present);
	}
}

/* The jail and the change of user, once the first boot's files are open and before the
 * guest runs; the seccomp filter then denies the jail's calls to every thread. */
static int confine(const struct vm_config *config, char *err, size_t err_len)
{
	if (!jail_wanted(config))
		return 0;
	if (jail_enter(config, err, err_len) < 0 || sandbox_seal(err, err_len) < 0)
		return -1;
	return 0;
}

/* One power cycle. Returns the stop reason; *status gets the exit status. */
static enum vm_stop_reason boot_once(struct session *s, const struct accel_ops *accel, int *status)
{
	char err[512] = "";
	/* Only the first boot goes on from a snapshot or a migration; a guest reboot boots
	 * afresh. */
	const struct vm_origin *origin = s->boots == 0 ? s->origin : NULL;
	uint64_t start_ns = monotonic_ns();
	struct vm *vm =
	    vm_create(s->config, accel, &s->console, s->display, origin, err, sizeof(err));
	if (vm && s->boots == 0 && confine(s->config, err, sizeof(err)) < 0) {
		vm_destroy(vm);
		vm = NULL;
	}
	if (!vm) {
		log_error("%s", err);
		*status = VM_EXIT_ERROR;
		return VM_STOP_ERROR;
	}
	if (origin)
		log_info("%s %s in %llu ms%s%s%s%s", origin->what, origin->source,
			 (unsigned long long)((monotonic_ns() - start_ns) / 1000000),
			 vm->saved_on_accel[0] ? " (it ran on the " : "", vm->saved_on_accel,
			 vm->saved_on_accel[0] ? " accelerator, now on " : "",
			 vm->saved_on_accel[0] ? accel->name : "");
	/* Input goes to hvc0 when there is one; the UART still prints (early boot messages). */
	struct console_sink sink = {uart_receive, uart_can_receive, &vm->uart};
	if (vm->virtio_console)
		sink = (struct console_sink){hvc_receive, hvc_can_receive, vm->virtio_console};
	console_set_sink(&s->console, &sink);
	vm->hotplug_fd = s->hotplug_fd;
	pthread_mutex_lock(&s->lock);
	s->current = vm;
	s->boots++; /* with current, so that a request sees the VM with its boot's number */
	if (s->pending_signal)
		vm_request_stop(vm, VM_STOP_SIGNAL, s->pending_signal);
	pthread_mutex_unlock(&s->lock);
	enum vm_stop_reason reason = VM_STOP_ERROR;
	if (vm_start(vm, err, sizeof(err)) < 0)
		log_error("%s", err);
	else if (origin)
		announce_nics(vm);
	reason = vm_wait(vm);
	*status = vm->exit_status;
	console_set_sink(&s->console, NULL);
	pthread_mutex_lock(&s->lock);
	/* A migration still sending this VM cannot succeed now: end it, and let it finish with
	 * the VM before the VM goes. */
	if (s->migration.active)
		log_warn("the VM stopped while a migration to %s was sending it: it ends",
			 s->migration.uri);
	while (s->migration.active) {
		if (s->migration.out.fd >= 0)
			shutdown(s->migration.out.fd, SHUT_RDWR);
		pthread_cond_wait(&s->migration_ended, &s->lock);
	}
	carry_counters(s, vm);
	keep_vcpu_count(s, vm);
	s->current = NULL;
	pthread_mutex_unlock(&s->lock);
	/* Let every vCPU leave the guest before reading counters. */
	vm_request_stop(vm, reason, *status);
	if (!s->first_run_ns)
		s->first_run_ns = vm->first_run_ns;
	if (s->config->stats && (reason != VM_STOP_RESET || s->config->on_reboot == ON_REBOOT_EXIT))
		print_stats(s, vm);
	vm_destroy(vm);
	return reason;
}

/* The control socket's view of the session. The session lock is held while a request uses the
 * current VM, so boot_once cannot destroy it meanwhile (it clears s->current under the lock
 * first); between two boots requests get an error reply. */
static struct vm *lock_current_vm(struct session *s, char *err, size_t err_len)
{
	pthread_mutex_lock(&s->lock);
	if (!s->current) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, err_len,
			 "the VM is between two boots (rebooting); retry in a moment");
	}
	return s->current;
}

/* As lock_current_vm, for requests that must not run during a migration (they would pause,
 * resume, change or stop the VM under it). */
static struct vm *lock_idle_vm(struct session *s, char *err, size_t err_len)
{
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (vm && s->migration.active) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, err_len,
			 "a migration to %s is under way; wait for it (gureum ctl SOCKET "
			 "migrate-status) or stop it (migrate-cancel)",
			 s->migration.uri);
		return NULL;
	}
	return vm;
}

static struct vm *lock_balloon_vm(struct session *s, char *err, size_t err_len)
{
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (vm && !vm->virtio_balloon) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, err_len, "this VM has no balloon device (start it with --balloon)");
		return NULL;
	}
	return vm;
}

static int api_balloon_set(void *opaque, uint64_t bytes, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_balloon_vm(s, err, err_len);
	if (!vm)
		return -1;
	int rc = virtio_balloon_set_target(vm->virtio_balloon, bytes);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		snprintf(err, err_len,
			 "balloon: %llu bytes is not less than the guest's RAM (%llu bytes); ask "
			 "for less",
			 (unsigned long long)bytes, (unsigned long long)s->config->memory);
	return rc < 0 ? -1 : 0;
}

/* The running VM with its virtio-mem device, with the session locked (the caller unlocks), or
 * NULL with the session unlocked and a sentence in err. */
static struct vm *lock_memory_vm(struct session *s, char *err, size_t err_len)
{
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (vm && !vm->virtio_mem) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, err_len,
			 "memory: this VM's memory cannot change (start it with --memory-hotplug "
			 "SIZE)");
		return NULL;
	}
	return vm;
}

static int api_memory_set(void *opaque, uint64_t total, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_memory_vm(s, err, err_len);
	if (!vm)
		return -1;
	uint64_t boot = s->config->memory, max = boot + s->config->memory_hotplug;
	struct virtio_mem_info info;
	virtio_mem_get_info(vm->virtio_mem, &info);
	int rc = -1;
	if (total < boot || total > max || (total - boot) % info.block_size)
		snprintf(err, err_len,
			 "memory: %llu MiB is not from %llu to %llu MiB in steps of %llu MiB",
			 (unsigned long long)(total >> 20), (unsigned long long)(boot >> 20),
			 (unsigned long long)(max >> 20),
			 (unsigned long long)(info.block_size >> 20));
	else
		rc = virtio_mem_set_requested(vm->virtio_mem, total - boot);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		log_info("virtio-mem: the guest is asked to have %llu MiB (memory)",
			 (unsigned long long)(total >> 20));
	return rc < 0 ? -1 : 0;
}

static int api_memory_info(void *opaque, struct api_memory *out, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_memory_vm(s, err, err_len);
	if (!vm)
		return -1;
	struct virtio_mem_info info;
	virtio_mem_get_info(vm->virtio_mem, &info);
	pthread_mutex_unlock(&s->lock);
	*out = (struct api_memory){.boot = s->config->memory,
				   .hotplug_max = info.region_size,
				   .block_size = info.block_size,
				   .requested = info.requested,
				   .plugged = info.plugged};
	return 0;
}

static int api_balloon_info(void *opaque, struct balloon_info *info, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_balloon_vm(s, err, err_len);
	if (!vm)
		return -1;
	virtio_balloon_get_info(vm->virtio_balloon, info);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Network card `card` of the running VM, with the session locked (the caller unlocks), or NULL
 * with the session unlocked and a sentence in err. */
static struct virtio_device *lock_net_card(struct session *s, const char *command, unsigned card,
					   char *err, size_t err_len)
{
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (!vm)
		return NULL;
	unsigned cards = vm->config->nr_nics;
	if (card < cards && vm->nics[card])
		return virtio_pci_device(vm->nics[card]);
	snprintf(err, err_len, "%s: the VM has %u network card%s; card %u is not one", command,
		 cards, cards == 1 ? "" : "s", card);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int api_net_link(void *opaque, unsigned card, bool up, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct virtio_device *d = lock_net_card(s, "net-link", card, err, err_len);
	if (!d)
		return -1;
	virtio_net_set_link(d, up);
	pthread_mutex_unlock(&s->lock);
	log_info("%s: link %s (net-link)", d->name, up ? "up" : "down");
	return 0;
}

static int api_net_mac(void *opaque, unsigned card, const uint8_t mac[6], char *err, size_t err_len)
{
	struct session *s = opaque;
	struct virtio_device *d = lock_net_card(s, "net-mac", card, err, err_len);
	if (!d)
		return -1;
	int rc = virtio_net_set_mac(d, mac, err, err_len);
	/* The VM's configuration follows, so that a snapshot or migration keeps the MAC. */
	if (rc == 0 && config_set_net_mac(s->config, card, mac) < 0)
		log_warn("%s: the new MAC is not recorded: a snapshot would have the old one",
			 d->name);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		log_info("%s: MAC %02x:%02x:%02x:%02x:%02x:%02x (net-mac)", d->name, mac[0], mac[1],
			 mac[2], mac[3], mac[4], mac[5]);
	return rc;
}

static int api_net_info(void *opaque, unsigned card, struct virtio_net_info *info, char *err,
			size_t err_len)
{
	struct session *s = opaque;
	struct virtio_device *d = lock_net_card(s, "net-info", card, err, err_len);
	if (!d)
		return -1;
	virtio_net_get_info(d, info);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void log_net_limits(const char *name, const struct io_limits *l)
{
	log_info("%s: rate limits rx bps=%llu (burst %llu) pps=%llu (burst %llu), tx bps=%llu "
		 "(burst %llu) pps=%llu (burst %llu) (net-limit)",
		 name, (unsigned long long)l[0].bps, (unsigned long long)l[0].bps_burst,
		 (unsigned long long)l[0].iops, (unsigned long long)l[0].iops_burst,
		 (unsigned long long)l[1].bps, (unsigned long long)l[1].bps_burst,
		 (unsigned long long)l[1].iops, (unsigned long long)l[1].iops_burst);
}

static int api_net_limit(void *opaque, struct api_net_limit *req, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct virtio_device *d = lock_net_card(s, "net-limit", req->card, err, err_len);
	if (!d)
		return -1;
	const struct net_config *n = &s->config->nics[req->card];
	const struct io_limits old[2] = {n->rx_limits, n->tx_limits};
	struct io_limits next[2];
	int rc = api_net_limits_merge(old, req, next, err, err_len);
	if (rc == 0 && req->given)
		rc = virtio_net_set_limits(d, &next[0], &next[1], err, err_len);
	/* The configuration follows: a reboot, snapshot or migration keeps the limits. */
	if (rc == 0 && req->given &&
	    config_set_net_limits(s->config, req->card, &next[0], &next[1]) < 0)
		log_warn("%s: the new limits are not recorded: a snapshot would have the old ones",
			 d->name);
	if (rc == 0)
		virtio_net_get_limits(d, &req->limits[0], &req->limits[1]);
	if (rc == 0 && req->given)
		log_net_limits(d->name, req->limits);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The index of the disk whose serial is `serial`, or -1. */
static int disk_with_serial(const struct vm_config *c, const char *serial)
{
	for (unsigned i = 0; i < c->nr_disks; i++)
		if (strcmp(c->disks[i].serial, serial) == 0)
			return (int)i;
	return -1;
}

/* The disk a disk-limit request names (index or serial), with the session locked (the caller
 * unlocks), or NULL with the session unlocked and a sentence in err. */
static struct virtio_device *lock_disk(struct session *s, struct api_disk_limit *req, char *err,
				       size_t err_len)
{
	const struct vm_config *c = s->config;
	if (req->index < 0)
		req->index = disk_with_serial(c, req->serial);
	if (req->index < 0 || (unsigned)req->index >= c->nr_disks) {
		snprintf(err, err_len, "disk-limit: the VM has %u disk%s; no disk %s%.32s",
			 c->nr_disks, c->nr_disks == 1 ? "" : "s",
			 req->serial ? "has the serial " : "",
			 req->serial ? req->serial : "with that index");
		return NULL;
	}
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (vm && vm->disks[req->index])
		return virtio_pci_device(vm->disks[req->index]);
	if (vm) {
		snprintf(err, err_len, "disk-limit: disk %d is not on the VM", req->index);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

static int api_disk_limit(void *opaque, struct api_disk_limit *req, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct virtio_device *d = lock_disk(s, req, err, err_len);
	if (!d)
		return -1;
	req->disk = (unsigned)req->index;
	struct io_limits next;
	int rc =
	    api_disk_limits_merge(&s->config->disks[req->disk].limits, req, &next, err, err_len);
	if (rc == 0 && req->given) {
		virtio_blk_set_limits(d, &next);
		/* The configuration follows: a reboot, snapshot or migration keeps the limits. */
		if (config_set_disk_limits(s->config, req->disk, &next) < 0)
			log_warn(
			    "%s: the new limits are not recorded (a comma in the disk's path): "
			    "a snapshot would have the old ones",
			    d->name);
	}
	if (rc == 0)
		virtio_blk_get_limits(d, &req->limits);
	const struct io_limits *now = &req->limits;
	if (rc == 0 && req->given)
		log_info("%s: I/O limits bps=%llu (burst %llu) iops=%llu (burst %llu) (disk-limit)",
			 d->name, (unsigned long long)now->bps, (unsigned long long)now->bps_burst,
			 (unsigned long long)now->iops, (unsigned long long)now->iops_burst);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The framebuffer is the session's, so this works between two boots too (the picture of a
 * VM that is gone, or black). */
static int api_screendump(void *opaque, const char *path, unsigned *width, unsigned *height,
			  char *err, size_t err_len)
{
	struct session *s = opaque;
	if (!s->display) {
		snprintf(err, err_len,
			 "screendump: this VM has no display (start it with --display "
			 "vnc=ADDR:PORT)");
		return -1;
	}
	struct framebuffer view;
	display_view(s->display, &view);
	*width = view.width;
	*height = view.height;
	return display_screendump(s->display, path, err, err_len);
}

static int api_status(void *opaque, struct api_status *status, char *err, size_t err_len)
{
	struct session *s = opaque;
	status->name = s->config->name;
	status->vcpus = s->config->cpus;
	status->memory = s->config->memory;
	status->boots = s->boots;
	status->state = s->boots ? "rebooting" : "starting";
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (!vm)
		return 0; /* a state of its own, not an error */
	status->accel = vm->accel->name;
	struct vm_vcpus_info vcpus;
	vm_vcpus_info(vm, &vcpus);
	/* Before vm_start the threads are not running yet: the vCPUs the VM boots with. */
	status->vcpus = vcpus.present ? vcpus.present : s->config->cpus;
	pthread_mutex_lock(&vm->lock);
	status->state = vm->stop_reason != VM_RUNNING ? "stopping"
			: vm->paused		      ? "paused"
						      : "running";
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_virtio && i < API_MAX_DEVICES; i++)
		snprintf(status->devices[status->nr_devices++], API_DEVICE_NAME_LEN, "%s",
			 virtio_pci_device(vm->virtio[i])->name);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Since the session started, guest reboots included (the VMs before are carried). Between two
 * boots there is no VM to count: an error, as for the other requests about it. */
static int api_counters(void *opaque, struct api_counters *counters, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (!vm)
		return -1;
	counters->boots = s->boots;
	vm_read_counters(vm, counters);
	if (s->carried)
		vm_counters_add(counters, s->carried);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* A stop the control socket asked for (not during a migration); `doing` goes in the log. */
static int stop_from_api(struct session *s, enum vm_stop_reason reason, const char *doing,
			 char *err, size_t err_len)
{
	if (!lock_idle_vm(s, err, err_len))
		return -1;
	pthread_mutex_unlock(&s->lock);
	log_info("%s", doing);
	stop_current(s, reason, 0);
	return 0;
}

static int api_quit(void *opaque, char *err, size_t err_len)
{
	return stop_from_api(opaque, VM_STOP_QUIT, "stopping the VM (quit from the control socket)",
			     err, err_len);
}

/* As a guest reboot: run_boots builds the next VM (or ends with --on-reboot exit). */
static int api_reset(void *opaque, char *err, size_t err_len)
{
	return stop_from_api(opaque, VM_STOP_RESET,
			     "resetting the VM (reset from the control socket)", err, err_len);
}

/* Runs a pause or resume on the current VM under the session lock; logs `done` on success. */
static int change_run_state(struct session *s, int (*change)(struct vm *, char *, size_t),
			    const char *done, char *err, size_t err_len)
{
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	int rc = change(vm, err, err_len);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		log_info("%s", done);
	return rc;
}

static int api_pause(void *opaque, char *err, size_t err_len)
{
	return change_run_state(opaque, vm_pause,
				"the VM is paused (resume it with: gureum ctl SOCKET resume)", err,
				err_len);
}

static int api_resume(void *opaque, char *err, size_t err_len)
{
	return change_run_state(opaque, vm_resume, "the VM runs again", err, err_len);
}

static int api_power_button(void *opaque, char *err, size_t err_len)
{
	return change_run_state(opaque, vm_press_power_button,
				"the power button is pressed (the guest decides what follows)", err,
				err_len);
}

/* Not during a migration: the destination is made with the vCPUs the source had when the
 * migration began. */
static int api_vcpus_set(void *opaque, unsigned count, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	int rc = vm_set_vcpus(vm, count, err, err_len);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Between boots (or before the first) the configuration says what the VM will have. */
static int api_vcpus_info(void *opaque, struct api_vcpus *info, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (!vm) {
		*info = (struct api_vcpus){.present = s->config->cpus, .max = s->config->max_cpus};
		return 0;
	}
	struct vm_vcpus_info vcpus;
	vm_vcpus_info(vm, &vcpus);
	pthread_mutex_unlock(&s->lock);
	*info = (struct api_vcpus){.present = vcpus.present,
				   .max = vcpus.max,
				   .inserting = vcpus.inserting,
				   .removing = vcpus.removing};
	return 0;
}

static void describe_disk(struct vm *vm, unsigned index, struct api_disk *out)
{
	const struct disk_config *d = &vm->config->disks[index];
	*out = (struct api_disk){.index = index, .readonly = d->readonly};
	if (vm->disks[index]) {
		out->slot = virtio_pci_slot(vm->disks[index]);
		snprintf(out->name, sizeof(out->name), "%s",
			 virtio_pci_device(vm->disks[index])->name);
	}
	snprintf(out->path, sizeof(out->path), "%s", d->path);
	snprintf(out->serial, sizeof(out->serial), "%s", d->serial);
	out->state = vm_device_state(vm, VM_HOTPLUG_DISK, index);
}

static int api_disks_info(void *opaque, struct api_disks *out, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (!vm)
		return -1;
	for (unsigned i = 0; i < s->config->nr_disks && i < API_MAX_DISKS; i++)
		describe_disk(vm, i, &out->disks[out->nr++]);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The request as a --disk setting pinned to `slot`. */
static int disk_setting(const struct api_disk_add *req, unsigned slot, char *out, size_t len)
{
	int n = snprintf(out, len, "%s,readonly=%s%s%s%s%s%s%s,slot=%u", req->path,
			 req->readonly ? "on" : "off", req->serial ? ",serial=" : "",
			 req->serial ? req->serial : "", req->format ? ",format=" : "",
			 req->format ? req->format : "", req->cache ? ",cache=" : "",
			 req->cache ? req->cache : "", slot);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int add_disk(struct session *s, struct vm *vm, const struct api_disk_add *req,
		    struct api_disk *out, char *err, size_t err_len)
{
	unsigned slot = board_free_pci_slot(vm);
	if (s->config->nr_disks >= CONFIG_MAX_DISKS || slot == 0) {
		snprintf(err, err_len,
			 "disk-add: the VM has no room for another disk (%u disks, %s)",
			 s->config->nr_disks, slot ? "the most it can have" : "no free PCI slot");
		return -1;
	}
	char setting[4096 + 256];
	if (disk_setting(req, slot, setting, sizeof(setting)) < 0) {
		snprintf(err, err_len, "disk-add: the path is too long");
		return -1;
	}
	if (config_set(s->config, "disk", setting, err, err_len) < 0)
		return -1;
	unsigned index = s->config->nr_disks - 1;
	if (vm_add_device(vm, VM_HOTPLUG_DISK, index, err, err_len) < 0) {
		config_remove_disk(s->config, index);
		return -1;
	}
	describe_disk(vm, index, out);
	log_info("%s: %s added in PCI slot %u (disk-add)", out->name, req->path, slot);
	return 0;
}

static int api_disk_add(void *opaque, const struct api_disk_add *req, struct api_disk *out,
			char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	int rc = add_disk(s, vm, req, out, err, err_len);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int api_disk_remove(void *opaque, int index, const char *serial, struct api_disk *out,
			   char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	if (index < 0)
		index = disk_with_serial(s->config, serial);
	int rc = -1;
	if (index < 0 || (unsigned)index >= s->config->nr_disks)
		snprintf(err, err_len, "disk-remove: the VM has no disk %s%.32s",
			 serial ? "with the serial " : "", serial ? serial : "with that index");
	else
		rc = vm_request_removal(vm, VM_HOTPLUG_DISK, (unsigned)index, err, err_len);
	if (rc == 0) {
		describe_disk(vm, (unsigned)index, out);
		log_info("%s: the guest is asked to let it go (disk-remove)", out->name);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void describe_nic(struct vm *vm, unsigned index, struct api_nic *out)
{
	const struct net_config *n = &vm->config->nics[index];
	*out = (struct api_nic){.index = index};
	if (vm->nics[index]) {
		out->slot = virtio_pci_slot(vm->nics[index]);
		snprintf(out->name, sizeof(out->name), "%s",
			 virtio_pci_device(vm->nics[index])->name);
	}
	virtio_net_card_mac(n, index, out->mac);
	out->backend = n->backend == NET_BACKEND_USER ? "user" : "tap";
	out->state = vm_device_state(vm, VM_HOTPLUG_NIC, index);
}

static int api_nics_info(void *opaque, struct api_nics *out, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_current_vm(s, err, err_len);
	if (!vm)
		return -1;
	for (unsigned i = 0; i < s->config->nr_nics && i < API_MAX_NICS; i++)
		describe_nic(vm, i, &out->nics[out->nr++]);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int add_nic(struct session *s, struct vm *vm, const char *setting, struct api_nic *out,
		   char *err, size_t err_len)
{
	unsigned slot = board_free_pci_slot(vm);
	if (s->config->nr_nics >= CONFIG_MAX_NICS || slot == 0) {
		snprintf(err, err_len,
			 "nic-add: the VM has no room for another card (%u cards, %s)",
			 s->config->nr_nics, slot ? "the most it can have" : "no free PCI slot");
		return -1;
	}
	if (config_set(s->config, "net", setting, err, err_len) < 0)
		return -1;
	unsigned index = s->config->nr_nics - 1;
	if (s->config->nics[index].slot) {
		snprintf(err, err_len, "nic-add: leave slot= out: the VMM takes a free slot");
		config_remove_nic(s->config, index);
		return -1;
	}
	/* Its MAC and slot as it gets them now, whatever happens to the cards before it. */
	if (config_pin_net_card(s->config, index, slot) < 0 ||
	    vm_add_device(vm, VM_HOTPLUG_NIC, index, err, err_len) < 0) {
		if (!err[0])
			snprintf(err, err_len, "nic-add: out of memory");
		config_remove_nic(s->config, index);
		return -1;
	}
	describe_nic(vm, index, out);
	log_info("%s: a network card (%s) added in PCI slot %u (nic-add)", out->name, setting,
		 slot);
	return 0;
}

static int api_nic_add(void *opaque, const char *setting, struct api_nic *out, char *err,
		       size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	int rc = add_nic(s, vm, setting, out, err, err_len);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int api_nic_remove(void *opaque, unsigned card, struct api_nic *out, char *err,
			  size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	int rc = -1;
	if (card >= s->config->nr_nics)
		snprintf(err, err_len,
			 "nic-remove: the VM has %u network card%s; card %u is not one",
			 s->config->nr_nics, s->config->nr_nics == 1 ? "" : "s", card);
	else
		rc = vm_request_removal(vm, VM_HOTPLUG_NIC, card, err, err_len);
	if (rc == 0) {
		describe_nic(vm, card, out);
		log_info("%s: the guest is asked to let it go (nic-remove)", out->name);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* A device the guest ejected leaves the configuration. The cards after a card that leaves
 * keep the MACs they have (one derived from its index would change with it). */
static void forget_device(struct session *s, enum vm_hotplug_kind kind, unsigned index,
			  unsigned slot)
{
	struct vm_config *c = s->config;
	if (kind == VM_HOTPLUG_DISK) {
		log_info("disk %u (%s) left PCI slot %u: the guest ejected it", index,
			 c->disks[index].path, slot);
		config_remove_disk(c, index);
		return;
	}
	log_info("network card %u left PCI slot %u: the guest ejected it", index, slot);
	for (unsigned j = index + 1; j < c->nr_nics; j++)
		if (config_pin_net_card(c, j, 0) < 0)
			log_warn("network card %u: its MAC is not recorded", j);
	config_remove_nic(c, index);
}

/* The guest ejected PCI slots (vm_hotplug.c): their devices leave the VM and its
 * configuration. */
static void on_hotplug_event(void *opaque, uint32_t events)
{
	struct session *s = opaque;
	uint64_t count;
	(void)events;
	if (read(s->hotplug_fd, &count, sizeof(count)) < 0)
		return;
	char err[256];
	struct vm *vm = lock_current_vm(s, err, sizeof(err));
	if (!vm)
		return; /* the VM it was is gone, and its ejects with it */
	uint32_t slots = vm_take_ejected_slots(vm);
	for (unsigned slot = 1; slot < 32; slot++) {
		enum vm_hotplug_kind kind;
		int index = slots & (1u << slot)
				? vm_remove_ejected(vm, slot, &kind, err, sizeof(err))
				: -2;
		if (index == -1)
			log_warn("%s", err);
		else if (index >= 0)
			forget_device(s, kind, (unsigned)index, slot);
	}
	pthread_mutex_unlock(&s->lock);
}

static int watch_hotplug(struct session *s)
{
	s->hotplug_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->hotplug_fd < 0)
		return -1;
	return event_loop_add(&s->loop, s->hotplug_fd, EPOLLIN, on_hotplug_event, s);
}

/* Pauses the VM unless it is paused, writes the snapshot, resumes it when it was running and
 * the request asks so. The session lock keeps the VM alive throughout. */
static int api_snapshot(void *opaque, struct api_snapshot *snapshot, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return -1;
	bool was_paused = vm_is_paused(vm);
	if (!was_paused && vm_pause(vm, err, err_len) < 0) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	log_info("writing a snapshot to %s", snapshot->dir);
	struct snapshot_stats stats;
	_Static_assert(API_SNAPSHOT_MAX_DISKS == CONFIG_MAX_DISKS, "one overlay per disk");
	int rc = snapshot->disk_snapshot
		     ? vm_snapshot_with_disks(vm, s->config, snapshot->dir, &stats,
					      snapshot->overlays, err, err_len)
		     : vm_snapshot_write(vm, snapshot->dir, &stats, err, err_len);
	/* A failed snapshot leaves the VM as it found it. */
	bool resume = !was_paused && (snapshot->resume || rc < 0);
	char ignored[128];
	if (resume)
		vm_resume(vm, ignored, sizeof(ignored));
	snapshot->paused = !resume;
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return -1;
	snapshot->ms = stats.elapsed_ms;
	snapshot->memory_bytes = stats.memory_bytes;
	snapshot->state_bytes = stats.state_bytes;
	log_info("snapshot written to %s in %llu ms (%llu MiB of guest RAM)%s", snapshot->dir,
		 (unsigned long long)stats.elapsed_ms,
		 (unsigned long long)(stats.memory_bytes >> 20),
		 snapshot->paused ? "; the VM stays paused" : "");
	return 0;
}

/* The job's start, under the session lock: refused while another one runs. */
static struct vm *begin_migration(struct session *s, const char *uri, char *err, size_t err_len)
{
	struct vm *vm = lock_idle_vm(s, err, err_len);
	if (!vm)
		return NULL;
	struct migration_job *job = &s->migration;
	job->active = true;
	job->cancelled = false;
	job->out.fd = -1;
	atomic_store(&job->out.bytes, 0);
	snprintf(job->uri, sizeof(job->uri), "%s", uri);
	memset(&job->progress, 0, sizeof(job->progress));
	job->started_ns = monotonic_ns();
	pthread_mutex_unlock(&s->lock);
	return vm;
}

/* The job's end: the VM is no longer used by it, boot_once may let it go. */
static void end_migration(struct session *s, int rc, char *err, size_t err_len)
{
	struct migration_job *job = &s->migration;
	pthread_mutex_lock(&s->lock);
	if (rc < 0 && job->cancelled)
		snprintf(err, err_len,
			 "migration to %s cancelled (gureum ctl SOCKET migrate-cancel); the VM "
			 "stays here",
			 job->uri);
	if (rc < 0) {
		job->last_state = job->cancelled ? "cancelled" : "failed";
		snprintf(job->last_error, sizeof(job->last_error), "%s", err);
	}
	job->active = false;
	job->out.fd = -1;
	pthread_cond_broadcast(&s->migration_ended);
	pthread_mutex_unlock(&s->lock);
}

/* A broken post-copy link made again (postcopy_relink): a new connection in the job's
 * stream, the old one closed. */
static int reconnect_migration(void *opaque, struct state_out *out, char *err, size_t err_len)
{
	struct session *s = opaque;
	int fd = migration_connect(s->migration.uri, err, err_len);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	int old = out->fd;
	out->fd = fd;
	pthread_mutex_unlock(&s->lock);
	close(old);
	return 0;
}

/* Connects and sends the VM (migration_send pauses it as it needs). */
static int send_vm(struct session *s, struct vm *vm, struct api_migrate *migrate,
		   struct migration_stats *stats, char *err, size_t err_len)
{
	struct migration_job *job = &s->migration;
	int fd = migration_connect(migrate->uri, err, err_len);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	state_out_init(&job->out, fd, migrate->max_bytes_per_s);
	if (job->cancelled)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	log_info("migrating the VM to %s", migrate->uri);
	struct migration_options options = {.downtime_ms = migrate->max_downtime_ms,
					    .compress = migrate->compress,
					    .progress = &job->progress,
					    .auto_converge = migrate->auto_converge,
					    .postcopy = migrate->postcopy,
					    .postcopy_after_rounds =
						migrate->postcopy_after_rounds};
	struct postcopy_relink relink = {reconnect_migration, s,
					 &job->progress.postcopy_reconnecting};
	options.relink = &relink;
	int rc = migration_send(vm, &job->out, &options, stats, err, err_len);
	pthread_mutex_lock(&s->lock);
	fd = job->out.fd; /* a post-copy may have connected again */
	job->out.fd = -1; /* before the close: a cancel must not shut down a reused number */
	pthread_mutex_unlock(&s->lock);
	close(fd);
	return rc;
}

/* Runs on the control socket's worker thread, without the session lock, so that status,
 * migrate-status and migrate-cancel are answered meanwhile. Once the destination has the VM
 * this one stops (exit status 0); otherwise the VM goes on here as it was. */
static int api_migrate(void *opaque, struct api_migrate *migrate, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct vm *vm = begin_migration(s, migrate->uri, err, err_len);
	if (!vm)
		return -1;
	struct migration_stats stats;
	int rc = send_vm(s, vm, migrate, &stats, err, err_len);
	end_migration(s, rc, err, err_len);
	if (rc == -2) { /* a post-copy broke off after the handover: nowhere to run it */
		log_error("%s; stopping", err);
		stop_current(s, VM_STOP_ERROR, VM_EXIT_ERROR);
		return -1;
	}
	if (rc < 0) {
		log_warn("%s", err);
		return -1;
	}
	migrate->ms = stats.ms;
	migrate->downtime_ms = stats.downtime_ms;
	migrate->rounds = stats.rounds;
	migrate->precopy = stats.precopy;
	migrate->memory_bytes = stats.memory_bytes;
	migrate->throttle_pct = stats.throttle_pct;
	migrate->postcopy = stats.postcopy;
	migrate->postcopy_ms = stats.postcopy_ms;
	migrate->postcopy_pages = stats.postcopy_pages;
	migrate->postcopy_requested = stats.postcopy_requested;
	migrate->postcopy_recoveries = stats.postcopy_recoveries;
	log_info("the VM moved to %s in %llu ms (%s, paused for %llu ms, %u rounds); stopping here",
		 migrate->uri, (unsigned long long)stats.ms,
		 stats.postcopy	 ? "post-copy"
		 : stats.precopy ? "copied while running"
				 : "copied paused",
		 (unsigned long long)stats.downtime_ms, stats.rounds);
	stop_current(s, VM_STOP_QUIT, 0);
	return 0;
}

static int api_migrate_cancel(void *opaque, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct migration_job *job = &s->migration;
	pthread_mutex_lock(&s->lock);
	bool active = job->active;
	if (active && atomic_load(&job->progress.postcopy)) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, err_len,
			 "the migration to %s is in post-copy: the VM runs there already and "
			 "cannot come back; wait for its last pages (migrate-status)",
			 job->uri);
		return -1;
	}
	if (active) {
		job->cancelled = true;
		if (job->out.fd >= 0)
			shutdown(job->out.fd, SHUT_RDWR); /* whatever it waits on fails now */
	}
	pthread_mutex_unlock(&s->lock);
	if (!active) {
		snprintf(err, err_len, "no migration is under way");
		return -1;
	}
	log_info("cancelling the migration to %s", job->uri);
	return 0;
}

/* Drops a post-copy's connection: its source connects again at once (postcopy.h), as after a
 * broken link; for a link that hangs rather than breaks. */
static int api_migrate_reconnect(void *opaque, char *err, size_t err_len)
{
	struct session *s = opaque;
	struct migration_job *job = &s->migration;
	pthread_mutex_lock(&s->lock);
	bool postcopy = job->active && atomic_load(&job->progress.postcopy) && job->out.fd >= 0;
	if (postcopy)
		shutdown(job->out.fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	if (!postcopy) {
		snprintf(err, err_len,
			 "no post-copy is under way: migrate-reconnect makes a post-copy's link "
			 "again; before the switch migrate-cancel stops a migration");
		return -1;
	}
	log_info("dropping the post-copy connection to %s (migrate-reconnect)", job->uri);
	return 0;
}

static int api_migrate_status(void *opaque, struct api_migration_status *status, char *err,
			      size_t err_len)
{
	(void)err, (void)err_len;
	struct session *s = opaque;
	struct migration_job *job = &s->migration;
	pthread_mutex_lock(&s->lock);
	status->state = job->active ? "active" : job->last_state ? job->last_state : "none";
	snprintf(status->uri, sizeof(status->uri), "%s",
		 job->active || job->last_state ? job->uri : "");
	snprintf(status->error, sizeof(status->error), "%s", job->active ? "" : job->last_error);
	if (job->active) {
		status->elapsed_ms = (monotonic_ns() - job->started_ns) / 1000000;
		status->transferred_bytes = atomic_load(&job->out.bytes);
		status->rounds = atomic_load(&job->progress.rounds);
		status->dirty_bytes = atomic_load(&job->progress.dirty_bytes);
		status->dirty_bytes_per_s = atomic_load(&job->progress.dirty_bytes_per_s);
		status->expected_downtime_ms = atomic_load(&job->progress.expected_downtime_ms);
		status->paused = atomic_load(&job->progress.paused);
		status->throttle_pct = atomic_load(&job->progress.throttle_pct);
		status->postcopy = atomic_load(&job->progress.postcopy);
		status->postcopy_left_bytes = atomic_load(&job->progress.postcopy_left_bytes);
		status->postcopy_reconnecting = atomic_load(&job->progress.postcopy_reconnecting);
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int open_api_socket(struct session *s)
{
	if (!s->config->api_socket)
		return 0;
	struct api_ops ops = {.balloon_set = api_balloon_set,
			      .balloon_info = api_balloon_info,
			      .memory_set = api_memory_set,
			      .memory_info = api_memory_info,
			      .status = api_status,
			      .quit = api_quit,
			      .reset = api_reset,
			      .pause = api_pause,
			      .resume = api_resume,
			      .power_button = api_power_button,
			      .vcpus_set = api_vcpus_set,
			      .vcpus_info = api_vcpus_info,
			      .snapshot = api_snapshot,
			      .migrate = api_migrate,
			      .migrate_status = api_migrate_status,
			      .migrate_cancel = api_migrate_cancel,
			      .migrate_reconnect = api_migrate_reconnect,
			      .net_link = api_net_link,
			      .net_mac = api_net_mac,
			      .net_info = api_net_info,
			      .screendump = api_screendump,
			      .disk_limit = api_disk_limit,
			      .net_limit = api_net_limit,
			      .counters = api_counters,
			      .disks_info = api_disks_info,
			      .disk_add = api_disk_add,
			      .disk_remove = api_disk_remove,
			      .nics_info = api_nics_info,
			      .nic_add = api_nic_add,
			      .nic_remove = api_nic_remove,
			      .opaque = s};
	char err[512] = "";
	s->api = api_server_open(s->config->api_socket, &ops, err, sizeof(err));
	if (!s->api)
		log_error("%s", err);
	return s->api ? 0 : -1;
}

static int open_display(struct session *s)
{
	if (s->config->display.kind == DISPLAY_NONE)
		return 0;
	char err[512] = "";
	s->display = display_open(&s->config->display, err, sizeof(err));
	if (!s->display)
		log_error("%s", err);
	return s->display ? 0 : -1;
}

static int run_boots(struct session *s, const struct accel_ops *accel)
{
	for (;;) {
		int status;
		enum vm_stop_reason reason = boot_once(s, accel, &status);
		if (reason == VM_STOP_RESET) {
			if (s->config->on_reboot == ON_REBOOT_EXIT) {
				log_info("the guest rebooted; exiting (--on-reboot exit)");
				return 0;
			}
			if (jail_wanted(s->config)) {
				log_info(
				    "the guest rebooted; a VMM in its jail cannot open the VM's "
				    "files again, so it exits with status %d for its "
				    "supervisor to start a new one",
				    VM_EXIT_REBOOT);
				return VM_EXIT_REBOOT;
			}
			log_info("the guest rebooted; restarting the VM");
			continue;
		}
		if (reason == VM_STOP_POWEROFF)
			log_debug("the guest powered off");
		if (reason == VM_STOP_CRASH)
			log_error("the guest crashed; exit status %d", VM_EXIT_CRASH);
		return status;
	}
}

int session_run(struct vm_config *config, const struct vm_origin *origin)
{
	log_set_name(config->name); /* an incoming VM's came with it */
	const struct accel_ops *accel = vm_choose_accel(config->accel);
	if (!accel)
		return VM_EXIT_ERROR;
	struct session s = {.config = config, .origin = origin, .hotplug_fd = -1};
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.migration_ended, NULL);
	char err[512] = "";
	if (console_open(&s.console, config, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return VM_EXIT_ERROR;
	}
	int status = VM_EXIT_ERROR;
	if (event_loop_init(&s.loop) < 0 || install_signal_handlers(&s) < 0 ||
	    console_attach(&s.console, &s.loop, on_console_quit, &s) < 0 || watch_hotplug(&s) < 0 ||
	    event_loop_start(&s.loop) < 0)
		log_error("cannot start the event loop: %s", strerror(errno));
	else if (open_api_socket(&s) == 0 && open_display(&s) == 0)
		status = run_boots(&s, accel);
	event_loop_stop(&s.loop);
	api_server_close(s.api); /* removes the socket file */
	display_close(s.display);
	event_loop_destroy(&s.loop);
	console_close(&s.console);
	if (s.hotplug_fd >= 0)
		close(s.hotplug_fd);
	free(s.carried);
	return status;
}
