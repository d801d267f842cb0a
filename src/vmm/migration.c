/* The migration stream's two ends and their handshake (migration.h). */
#include "vmm/migration.h"

#include "lib/log.h"
#include "lib/monotonic.h"
#include "lib/socket_line.h"
#include "lib/state_stream.h"
#include "virtio/virtio_device.h"
#include "virtio/virtio_pci.h"
#include "vmm/page_set.h"
#include "vmm/postcopy.h"
#include "vmm/vm_state.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_TIMEOUT_S 120 /* loading a large VM's records and devices takes a while */
#define LINE_MAX_BYTES	    512

/* ---- transport ---- */

static int unix_address(const char *path, struct sockaddr_un *addr, char *err, size_t err_len)
{
	*addr = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (!path[0] || strlen(path) >= sizeof(addr->sun_path)) {
		snprintf(err, err_len, "migration: '%s' is not a usable unix socket path", path);
		return -1;
	}
	strcpy(addr->sun_path, path);
	return 0;
}

/* tcp:HOST:PORT (HOST may be empty: any address to listen on, localhost to connect to). */
static struct addrinfo *tcp_address(const char *rest, bool listening, char *err, size_t err_len)
{
	const char *colon = strrchr(rest, ':');
	char host[256];
	if (!colon || (size_t)(colon - rest) >= sizeof(host) || !colon[1]) {
		snprintf(err, err_len, "migration: 'tcp:%s' is not tcp:HOST:PORT", rest);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - rest), rest);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = listening ? AI_PASSIVE : 0};
	struct addrinfo *list = NULL;
	int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &list);
	if (rc != 0) {
		snprintf(err, err_len, "migration: tcp:%s: %s", rest, gai_strerror(rc));
		return NULL;
	}
	return list;
}

static void set_timeout(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Connects fd to the address, or binds and listens on it. */
static bool attach(int fd, const struct sockaddr *addr, socklen_t len, bool listening)
{
	if (!listening)
		return connect(fd, addr, len) == 0;
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	return bind(fd, addr, len) == 0 && listen(fd, 1) == 0;
}

/* A socket connected to `uri` (the source) or listening on it (the destination); -1 with err. */
static int open_endpoint(const char *uri, bool listening, char *err, size_t err_len)
{
	const char *what = listening ? "--incoming" : "migration";
	int fd = -1;
	if (strncmp(uri, "unix:", 5) == 0) {
		struct sockaddr_un addr;
		if (unix_address(uri + 5, &addr, err, err_len) < 0)
			return -1;
		if (listening)
			unlink(addr.sun_path); /* a stale socket of an earlier run */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !attach(fd, (struct sockaddr *)&addr, sizeof(addr), listening)) {
			close(fd);
			fd = -1;
		}
	} else if (strncmp(uri, "tcp:", 4) == 0) {
		struct addrinfo *list = tcp_address(uri + 4, listening, err, err_len);
		if (!list)
			return -1;
		for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
			fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
			if (fd >= 0 && !attach(fd, a->ai_addr, a->ai_addrlen, listening)) {
				close(fd);
				fd = -1;
			}
		}
		freeaddrinfo(list);
	} else {
		snprintf(err, err_len, "%s: '%s' is not unix:PATH or tcp:HOST:PORT", what, uri);
		return -1;
	}
	if (fd < 0 && listening)
		snprintf(err, err_len, "--incoming: cannot listen on %s: %s", uri, strerror(errno));
	else if (fd < 0)
		snprintf(err, err_len,
			 "migration: cannot connect to %s: %s (is the destination running gureum "
			 "run --incoming %s?)",
			 uri, strerror(errno), uri);
	return fd;
}

/* A TCP link whose peer vanished without a word (a host down, a network cut) fails after
 * KEEPALIVE_IDLE_S + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL_S seconds of silence, or when data
 * sent stays unacknowledged for UNACKED_MS, instead of waiting forever: the source then keeps
 * the VM, or a post-copy connects again. */
#define KEEPALIVE_IDLE_S     5
#define KEEPALIVE_INTERVAL_S 2
#define KEEPALIVE_COUNT	     3
#define UNACKED_MS	     20000

void migration_watch_link(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 ||
	    (addr.ss_family != AF_INET && addr.ss_family != AF_INET6))
		return; /* a unix socket breaks at once when its peer goes */
	int on = 1, idle = KEEPALIVE_IDLE_S, interval = KEEPALIVE_INTERVAL_S,
	    count = KEEPALIVE_COUNT;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
	unsigned unacked = UNACKED_MS;
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &unacked, sizeof(unacked));
}

int migration_connect(const char *uri, char *err, size_t err_len)
{
	int fd = open_endpoint(uri, false, err, err_len);
	if (fd >= 0) {
		set_timeout(fd, HANDSHAKE_TIMEOUT_S);
		migration_watch_link(fd);
	}
	return fd;
}

int migration_accept(const char *uri, char *err, size_t err_len)
{
	int listener = open_endpoint(uri, true, err, err_len);
	if (listener < 0)
		return -1;
	/* Said once the socket listens: whoever waits for this line can connect at once. */
	log_info("waiting for a migration on %s", uri);
	int fd;
	do
		fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		snprintf(err, err_len, "--incoming: accepting on %s failed: %s", uri,
			 strerror(errno));
	close(listener);
	if (strncmp(uri, "unix:", 5) == 0)
		unlink(uri + 5);
	if (fd >= 0) {
		set_timeout(fd, HANDSHAKE_TIMEOUT_S);
		migration_watch_link(fd);
	}
	return fd;
}

int migration_listen(const char *uri, char *err, size_t err_len)
{
	return open_endpoint(uri, true, err, err_len);
}

/* ---- the handshake ---- */

void migration_refuse(int fd, const char *why)
{
	char line[LINE_MAX_BYTES];
	snprintf(line, sizeof(line), "error: %s\n", why);
	for (char *p = line; p[1]; p++) /* one line, whatever the sentence holds */
		if (*p == '\n')
			*p = ' ';
	socket_send_line(fd, line);
}

/* ---- source ---- */

/* The destination's next line: 0 when it is `expected`; otherwise -1 with its refusal, or
 * with its silence (it died, the link broke, 120 s passed), in err. */
static int await_answer(int fd, const char *expected, char *err, size_t err_len)
{
	char line[LINE_MAX_BYTES];
	errno = 0;
	if (socket_read_line(fd, line, sizeof(line)) != 0) {
		snprintf(err, err_len,
			 "migration: the destination did not answer (%s; see its log); the VM "
			 "stays here",
			 errno ? strerror(errno) : "it closed the connection");
		return -1;
	}
	if (strcmp(line, expected) != 0) {
		snprintf(err, err_len, "migration: the destination refused the VM: %s",
			 strncmp(line, "error: ", 7) == 0 ? line + 7 : line);
		return -1;
	}
	return 0;
}

#define MAX_ROUNDS 30 /* then the VM is paused for whatever is left */

static int send_head(struct vm *vm, struct state_out *out, char *err, size_t err_len)
{
	/* The accelerator that ran it: the destination must use the same (the CPU it saw). And
	 * the vCPUs it has now, which hotplug may have changed since it started. */
	if (!vm_vcpus_settled(vm, err, err_len) || !vm_pci_settled(vm, err, err_len))
		return -1;
	char cpus[32];
	vm_cpus_setting(vm, cpus, sizeof(cpus));
	const char *const overrides[] = {"accel", vm->accel->name, "cpus", cpus, NULL};
	char *config = config_to_json_text(vm->config, overrides);
	if (!config) {
		snprintf(err, err_len, "migration: out of memory");
		return -1;
	}
	int rc = state_stream_write_header(out, err, err_len);
	rc = rc ?: state_stream_write_config(out, config, err, err_len);
	free(config);
	return rc;
}

_Static_assert(CPU_FEATURES_BYTES == STATE_STREAM_CPU_BYTES, "the CPU section holds the features");

/* The CPU features the guest saw, and the destination's answer whether it offers them all: a
 * refusal comes before the VM pauses or any memory moves. */
static int offer_cpu(struct vm *vm, struct state_out *out, char *err, size_t err_len)
{
	uint8_t bytes[CPU_FEATURES_BYTES] = {0}; /* all zero: this accelerator cannot tell */
	vm_cpu_features_save(vm, bytes);
	if (state_stream_write_cpu(out, bytes, err, err_len) < 0)
		return -1;
	return await_answer(out->fd, "accepted", err, err_len);
}

static int send_all_memory(struct vm *vm, struct state_out *out, bool compress, char *err,
			   size_t err_len)
{
	int rc = 0;
	for (unsigned i = 0; rc == 0 && i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		rc = state_stream_write_memory(out, r->gpa, r->host, r->size, compress, err,
					       err_len);
	}
	return rc;
}

/* The records and the end of the stream (the VM is paused). */
static int send_tail(struct vm *vm, struct state_out *out, char *err, size_t err_len)
{
	struct state_writer w;
	state_writer_init(&w);
	int rc = vm_save_state(vm, &w, err, err_len);
	rc = rc ?: state_stream_write_records(out, &w, err, err_len);
	rc = rc ?: state_stream_write_end(out, err, err_len);
	state_writer_free(&w);
	return rc;
}

/* The destination's "ready", then our "go". */
static int hand_over(struct state_out *out, char *err, size_t err_len)
{
	if (await_answer(out->fd, "ready", err, err_len) < 0)
		return -1;
	if (socket_send_line(out->fd, "go\n") < 0) {
		snprintf(err, err_len, "migration: the destination went away before taking over");
		return -1;
	}
	return 0;
}

/* Dirty pages, and how many. */
struct dirty_set {
	struct page_set set;
	uint64_t pages;
};

/* Adds what the vCPUs wrote since the last fetch (and, with `devices`, every page a device was
 * given to write since the start) to d, and counts d's pages. */
static int dirty_collect(struct vm *vm, struct dirty_set *d, bool devices, char *err,
			 size_t err_len)
{
	d->pages = 0;
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		int rc = vm->accel->dirty_log_fetch(vm->accel_vm, r->gpa, r->size, d->set.bits[i]);
		if (rc < 0) {
			snprintf(err, err_len, "migration: reading the dirty log failed: %s",
				 strerror(-rc));
			return -1;
		}
		if (devices)
			guest_memory_log_take(&vm->mem, i, d->set.bits[i]);
		for (uint64_t w = 0; w < guest_region_bitmap_words(r); w++)
			d->pages += (uint64_t)__builtin_popcountll(d->set.bits[i][w]);
	}
	return 0;
}

/* Sends d's pages and empties it. */
static int dirty_send(struct vm *vm, struct state_out *out, struct dirty_set *d, bool compress,
		      char *err, size_t err_len)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		if (state_stream_write_pages(out, r->gpa, r->host, r->size, d->set.bits[i],
					     compress, err, err_len) < 0)
			return -1;
		memset(d->set.bits[i], 0, guest_region_bitmap_words(r) * sizeof(uint64_t));
	}
	d->pages = 0;
	return 0;
}

/* Pre-copy needs the vCPUs' dirty log from the accelerator, and every device write in the
 * device-write log: userspace virtio-net notes the receive buffers it held across the pause
 * that starts the log, and a vhost-net card moves its packets in userspace while the log runs
 * (virtio_net.c: net_resume). */
static bool can_precopy(const struct vm *vm)
{
	return vm->accel->dirty_log_start != NULL;
}

/* Starts both logs with the devices drained, so every buffer a device writes from now on is
 * noted in the device log. */
static int start_logs(struct vm *vm, char *err, size_t err_len)
{
	if (vm_pause(vm, err, err_len) < 0)
		return -1;
	int rc = guest_memory_log_start(&vm->mem);
	if (rc == 0 && (rc = vm->accel->dirty_log_start(vm->accel_vm)) < 0)
		guest_memory_log_stop(&vm->mem);
	char ignored[128];
	vm_resume(vm, ignored, sizeof(ignored));
	if (rc < 0)
		snprintf(err, err_len, "migration: cannot log dirty pages: %s", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static void note_round(struct migration_progress *progress, unsigned rounds, uint64_t dirty_bytes,
		       uint64_t round_ms, uint64_t expected_ms)
{
	if (!progress)
		return;
	atomic_store(&progress->rounds, rounds);
	atomic_store(&progress->dirty_bytes, dirty_bytes);
	atomic_store(&progress->dirty_bytes_per_s, dirty_bytes * 1000 / round_ms);
	atomic_store(&progress->expected_downtime_ms, expected_ms);
}

#define THROTTLE_FIRST_PCT 20
#define THROTTLE_STEP_PCT  10

/* Auto-converge: the guest dirtied more than half of what the last round sent. */
static int throttle_more(struct vm *vm, struct migration_progress *progress,
			 struct migration_stats *stats)
{
	unsigned pct =
	    stats->throttle_pct ? stats->throttle_pct + THROTTLE_STEP_PCT : THROTTLE_FIRST_PCT;
	if (pct > VM_THROTTLE_MAX_PCT)
		pct = VM_THROTTLE_MAX_PCT;
	if (vm_throttle_set(vm, pct) < 0)
		return -1;
	stats->throttle_pct = pct;
	if (progress)
		atomic_store(&progress->throttle_pct, pct);
	return 0;
}

/* Rounds while the VM runs, until the pages left would go in `downtime_ms` at the rate seen
 * (returns 1) or `max_rounds` went by (returns 0); the pages left stay in d for the paused
 * round. */
static int precopy_rounds(struct vm *vm, struct state_out *out,
			  const struct migration_options *options, struct dirty_set *d,
			  unsigned max_rounds, struct migration_stats *stats, char *err,
			  size_t err_len)
{
	uint64_t start = monotonic_ms();
	if (send_all_memory(vm, out, options->compress, err, err_len) < 0)
		return -1;
	stats->memory_bytes = vm->config->memory;
	uint64_t elapsed = monotonic_ms() - start + 1, sent = vm->config->memory;
	for (stats->rounds = 0; stats->rounds < max_rounds; stats->rounds++) {
		if (dirty_collect(vm, d, false, err, err_len) < 0)
			return -1;
		uint64_t bytes = d->pages * 4096;
		uint64_t expected_ms = bytes * elapsed / sent; /* at the last round's rate */
		note_round(options->progress, stats->rounds, bytes, elapsed, expected_ms);
		if (expected_ms <= options->downtime_ms)
			return 1;
		if (options->auto_converge && bytes * 2 > sent &&
		    throttle_more(vm, options->progress, stats) < 0) {
			snprintf(err, err_len, "migration: cannot throttle the vCPUs");
			return -1;
		}
		start = monotonic_ms();
		if (dirty_send(vm, out, d, options->compress, err, err_len) < 0)
			return -1;
		elapsed = monotonic_ms() - start + 1, sent = bytes;
		stats->memory_bytes += bytes;
	}
	return 0;
}

/* The end of a pre-copy: the VM paused (and migrate-status told) at *paused_at, and d holding
 * every page written since the last round and every page a device was given to write. */
static int pause_for_the_rest(struct vm *vm, const struct migration_options *options,
			      struct dirty_set *d, uint64_t *paused_at, char *err, size_t err_len)
{
	if (vm_pause(vm, err, err_len) < 0)
		return -1;
	if (options->progress)
		atomic_store(&options->progress->paused, true);
	*paused_at = monotonic_ms();
	return dirty_collect(vm, d, true, err, err_len);
}

/* The final round: paused, the rest of the pages, every page a device wrote, the records. */
static int final_round(struct vm *vm, struct state_out *out,
		       const struct migration_options *options, struct dirty_set *d,
		       struct migration_stats *stats, char *err, size_t err_len)
{
	uint64_t paused_at;
	if (pause_for_the_rest(vm, options, d, &paused_at, err, err_len) < 0)
		return -1;
	stats->memory_bytes += d->pages * 4096;
	if (dirty_send(vm, out, d, options->compress, err, err_len) < 0 ||
	    send_tail(vm, out, err, err_len) < 0 || hand_over(out, err, err_len) < 0)
		return -1;
	stats->downtime_ms = monotonic_ms() - paused_at;
	return 0;
}

struct ring_pages {
	const struct guest_memory *mem;
	struct page_set *set;
};

static void add_ring(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ring_pages *rp = opaque;
	for (unsigned r = 0; r < rp->mem->nr_regions; r++) {
		const struct guest_region *reg = &rp->mem->regions[r];
		if (gpa < reg->gpa || gpa - reg->gpa >= reg->size ||
		    len > reg->size - (gpa - reg->gpa))
			continue;
		for (uint64_t p = (gpa - reg->gpa) / 4096; p <= (gpa - reg->gpa + len - 1) / 4096;
		     p++)
			page_set_add(rp->set, r, p);
	}
}

/* The pending pages that hold virtqueue rings go now, while paused, and leave `pending`: the
 * destination's devices touch them as they load, before anything can fetch a page. */
static int send_ring_pages(struct vm *vm, struct state_out *out, struct page_set *pending,
			   bool compress, char *err, size_t err_len)
{
	struct page_set rings;
	struct ring_pages rp = {&vm->mem, &rings};
	if (page_set_alloc(&rings, &vm->mem) < 0) {
		page_set_free(&rings);
		snprintf(err, err_len, "migration: out of memory");
		return -1;
	}
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_device_each_ring(virtio_pci_device(vm->virtio[i]), add_ring, &rp);
	int rc = 0;
	for (unsigned i = 0; rc == 0 && i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		for (uint64_t w = 0; w < guest_region_bitmap_words(r); w++) {
			rings.bits[i][w] &= pending->bits[i][w];
			pending->bits[i][w] &= ~rings.bits[i][w];
		}
		rc = state_stream_write_pages(out, r->gpa, r->host, r->size, rings.bits[i],
					      compress, err, err_len);
	}
	page_set_free(&rings);
	return rc;
}

/* The switch to post-copy, paused: the ring pages, the pages the destination lacks
 * (`pending`) as PENDING sections, the records, the handover. Returns 0 once the destination
 * runs the VM. */
static int hand_over_postcopy(struct vm *vm, struct state_out *out, struct page_set *pending,
			      bool compress, uint64_t paused_at, struct migration_stats *stats,
			      char *err, size_t err_len)
{
	int rc = send_ring_pages(vm, out, pending, compress, err, err_len);
	rc = rc ?: page_set_write_pending(pending, &vm->mem, out, err, err_len);
	rc = rc ?: send_tail(vm, out, err, err_len);
	rc = rc ?: hand_over(out, err, err_len);
	if (rc == 0) {
		stats->downtime_ms = monotonic_ms() - paused_at;
		stats->postcopy = true;
	}
	return rc;
}

/* After the handover: the pending pages. A failure now leaves the VM on neither host (-2). */
static int finish_postcopy(struct vm *vm, struct state_out *out,
			   const struct migration_options *options, struct page_set *pending,
			   struct migration_stats *stats, char *err, size_t err_len)
{
	struct postcopy_stats ps = {0};
	if (options->progress) {
		ps.left = &options->progress->postcopy_left_bytes;
		atomic_store(ps.left, page_set_count(pending, &vm->mem) * 4096);
		atomic_store(&options->progress->postcopy, true);
	}
	int rc =
	    postcopy_send(vm, out, pending, options->compress, options->relink, &ps, err, err_len);
	stats->postcopy_recoveries = ps.recoveries;
	stats->postcopy_ms = ps.ms;
	stats->postcopy_pages = ps.pages;
	stats->postcopy_requested = ps.requested;
	stats->memory_bytes += ps.pages * 4096;
	return rc < 0 ? -2 : 0;
}

/* A pre-copy that did not converge goes on in post-copy: paused, the pages written since the
 * last round (and every page a device wrote) become the destination's to fetch. */
static int switch_to_postcopy(struct vm *vm, struct state_out *out,
			      const struct migration_options *options, struct dirty_set *d,
			      struct migration_stats *stats, char *err, size_t err_len)
{
	uint64_t paused_at;
	if (pause_for_the_rest(vm, options, d, &paused_at, err, err_len) < 0 ||
	    hand_over_postcopy(vm, out, &d->set, options->compress, paused_at, stats, err,
			       err_len) < 0)
		return -1;
	return finish_postcopy(vm, out, options, &d->set, stats, err, err_len);
}

static int send_precopy(struct vm *vm, struct state_out *out,
			const struct migration_options *options, struct migration_stats *stats,
			char *err, size_t err_len)
{
	struct dirty_set d;
	d.pages = 0;
	if (page_set_alloc(&d.set, &vm->mem) < 0) {
		page_set_free(&d.set);
		snprintf(err, err_len, "migration: out of memory");
		return -1;
	}
	if (start_logs(vm, err, err_len) < 0) {
		page_set_free(&d.set);
		return -1;
	}
	stats->precopy = true;
	unsigned max_rounds = options->postcopy ? options->postcopy_after_rounds : MAX_ROUNDS;
	int rc = precopy_rounds(vm, out, options, &d, max_rounds, stats, err, err_len);
	if (rc == 0 && options->postcopy)
		rc = switch_to_postcopy(vm, out, options, &d, stats, err, err_len);
	else if (rc >= 0)
		rc = final_round(vm, out, options, &d, stats, err, err_len);
	vm_throttle_stop(vm); /* paused by now, or going on here at full speed */
	/* The logs end with the devices quiet: paused now, or paused for it. */
	char ignored[128];
	if (rc == -1 && !vm_is_paused(vm))
		vm_pause(vm, ignored, sizeof(ignored));
	vm->accel->dirty_log_stop(vm->accel_vm);
	guest_memory_log_stop(&vm->mem);
	if (rc == -1 && vm_is_paused(vm)) /* the pause above, or the final round's */
		vm_resume(vm, ignored, sizeof(ignored));
	page_set_free(&d.set);
	return rc;
}

/* Stop-and-copy: everything with the VM paused (it stays paused: the caller decides). */
static int send_paused(struct vm *vm, struct state_out *out, bool compress,
		       struct migration_stats *stats, char *err, size_t err_len)
{
	uint64_t start = monotonic_ms();
	int rc = send_all_memory(vm, out, compress, err, err_len);
	rc = rc ?: send_tail(vm, out, err, err_len);
	rc = rc ?: hand_over(out, err, err_len);
	stats->memory_bytes = vm->config->memory;
	stats->downtime_ms = monotonic_ms() - start;
	return rc;
}

/* Post-copy from the start (no dirty log, or a paused VM): only the records while paused,
 * every page after the switch. */
static int send_postcopy_only(struct vm *vm, struct state_out *out,
			      const struct migration_options *options,
			      struct migration_stats *stats, char *err, size_t err_len)
{
	struct page_set all;
	if (page_set_alloc(&all, &vm->mem) < 0) {
		page_set_free(&all);
		snprintf(err, err_len, "migration: out of memory");
		return -1;
	}
	page_set_fill(&all, &vm->mem);
	int rc = hand_over_postcopy(vm, out, &all, options->compress, monotonic_ms(), stats, err,
				    err_len);
	rc = rc ?: finish_postcopy(vm, out, options, &all, stats, err, err_len);
	page_set_free(&all);
	return rc;
}

/* Every failure leaves the VM here (running, or paused as it was): the error says so. */
static void say_the_vm_stays(char *err, size_t err_len)
{
	size_t used = strlen(err);
	if (!strstr(err, "stays here") && used + 1 < err_len)
		snprintf(err + used, err_len - used, "; the VM stays here");
}

int migration_send(struct vm *vm, struct state_out *out, const struct migration_options *options,
		   struct migration_stats *stats, char *err, size_t err_len)
{
	uint64_t start = monotonic_ms();
	*stats = (struct migration_stats){0};
	bool was_paused = vm_is_paused(vm);
	int rc = send_head(vm, out, err, err_len);
	rc = rc ?: offer_cpu(vm, out, err, err_len);
	if (rc < 0) { /* refused before anything moved: the VM runs on (or stays paused) */
		stats->ms = monotonic_ms() - start;
		say_the_vm_stays(err, err_len);
		return rc;
	}
	bool postcopy_at_once = options->postcopy && options->postcopy_after_rounds == 0;
	if (!was_paused && can_precopy(vm) && !postcopy_at_once) {
		rc = send_precopy(vm, out, options, stats, err, err_len);
	} else {
		char ignored[128];
		rc = was_paused ? 0 : vm_pause(vm, err, err_len);
		if (rc == 0 && options->progress)
			atomic_store(&options->progress->paused, true);
		if (rc == 0)
			rc = options->postcopy
				 ? send_postcopy_only(vm, out, options, stats, err, err_len)
				 : send_paused(vm, out, options->compress, stats, err, err_len);
		if (rc == -1 && !was_paused)
			vm_resume(vm, ignored, sizeof(ignored));
	}
	stats->ms = monotonic_ms() - start;
	if (rc == -1)
		say_the_vm_stays(err, err_len);
	return rc;
}

/* ---- destination ---- */

int migration_receive_config(int fd, const struct vm_config *local, struct vm_config *config,
			     char *err, size_t err_len)
{
	struct state_section section;
	void *storage = NULL;
	char why[512] = "";
	int rc = state_stream_read_header(fd, why, sizeof(why));
	rc = rc ?: state_stream_read_section(fd, &section, &storage, why, sizeof(why));
	if (rc == 0 && section.kind != STREAM_CONFIG) {
		snprintf(why, sizeof(why), "the stream does not start with the VM's configuration");
		rc = -1;
	}
	if (rc == 0)
		rc = config_load_json_text(config, (const char *)section.payload, section.length,
					   "from the source", why, sizeof(why));
	for (unsigned i = 0; rc == 0 && i < local->nr_settings; i++)
		rc = config_set(config, local->settings[i].key, local->settings[i].value, why,
				sizeof(why));
	free(storage);
	if (rc < 0) {
		snprintf(err, err_len, "migration: %s", why);
		migration_refuse(fd, err);
	}
	return rc;
}

/* One memory section into guest RAM, which must hold all of its range. */
static int receive_memory(struct vm *vm, const struct state_section *section, char *err,
			  size_t err_len)
{
	uint64_t gpa, size;
	state_stream_memory_range(section, &gpa, &size);
	uint8_t *host = guest_memory_ptr(&vm->mem, gpa, size);
	if (!host) {
		snprintf(err, err_len, "guest memory at 0x%llx is outside this VM's RAM",
			 (unsigned long long)gpa);
		return -1;
	}
	return state_stream_load_memory(section, host, size, err, err_len);
}

/* A pending section's pages into `pending` (allocated at the first). */
static int note_pending(struct vm *vm, const struct state_section *section,
			struct page_set *pending, char *err, size_t err_len)
{
	if (!pending->bits[0] && page_set_alloc(pending, &vm->mem) < 0) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	return page_set_add_pending(pending, &vm->mem, section, err, err_len);
}

/* The records into the VM. For a post-copy its devices load quiet: guest RAM is not ready for
 * them until the end of the stream (postcopy_destination_prepare), and they wake after "go". */
static int load_records(struct vm *vm, const struct state_section *section,
			const struct page_set *pending, char *err, size_t err_len)
{
	if (pending->bits[0])
		vm_pause_devices(vm);
	return vm_load_state(vm, section->payload, section->length, err, err_len);
}

/* Memory sections, pending pages (a post-copy), then the records, up to the end section. */
static int receive_state(struct vm *vm, int fd, struct postcopy_destination **postcopy, char *err,
			 size_t err_len)
{
	struct page_set pending = {0};
	bool records = false;
	*postcopy = NULL;
	for (;;) {
		struct state_section section;
		void *storage;
		if (state_stream_read_section(fd, &section, &storage, err, err_len) < 0)
			break;
		int rc = 0;
		if ((section.kind == STREAM_MEMORY || section.kind == STREAM_PAGES) && !records)
			rc = receive_memory(vm, &section, err, err_len);
		else if (section.kind == STREAM_PENDING && !records)
			rc = note_pending(vm, &section, &pending, err, err_len);
		else if (section.kind == STREAM_RECORDS && !records)
			rc = load_records(vm, &section, &pending, err, err_len);
		else if (section.kind != STREAM_END || !records) {
			snprintf(err, err_len, "the stream has a section out of place (kind %u)",
				 (unsigned)section.kind);
			rc = -1;
		}
		free(storage);
		if (rc == 0 && section.kind == STREAM_END && pending.bits[0]) {
			*postcopy = postcopy_destination_prepare(vm, &pending, err, err_len);
			rc = *postcopy ? 0 : -1;
		}
		if (rc < 0 || section.kind == STREAM_END) {
			page_set_free(&pending);
			return rc;
		}
		records |= section.kind == STREAM_RECORDS;
	}
	page_set_free(&pending);
	return -1;
}

/* The source's CPU section: whether this VM offers every feature the guest saw. */
static int answer_cpu(struct vm *vm, int fd, char *err, size_t err_len)
{
	struct state_section section;
	void *storage;
	if (state_stream_read_section(fd, &section, &storage, err, err_len) < 0)
		return -1;
	int rc = 0;
	if (section.kind != STREAM_CPU) {
		snprintf(err, err_len, "the stream lacks the CPU section after the configuration");
		rc = -1;
	} else {
		rc = vm_cpu_features_check(vm, section.payload, err, err_len);
	}
	free(storage);
	if (rc == 0 && socket_send_line(fd, "accepted\n") < 0) {
		snprintf(err, err_len, "the source went away");
		rc = -1;
	}
	return rc;
}

static int load_from_stream(struct vm *vm, void *opaque, char *err, size_t err_len)
{
	int fd = *(int *)opaque;
	char why[512] = "", line[LINE_MAX_BYTES];
	struct postcopy_destination *postcopy = NULL;
	if (answer_cpu(vm, fd, why, sizeof(why)) < 0 ||
	    receive_state(vm, fd, &postcopy, why, sizeof(why)) < 0) {
		postcopy_destination_finish(postcopy);
		migration_refuse(fd, why);
		snprintf(err, err_len, "migration: %s", why);
		return -1;
	}
	if (socket_send_line(fd, "ready\n") < 0 || socket_read_line(fd, line, sizeof(line)) != 0 ||
	    strcmp(line, "go") != 0) {
		postcopy_destination_finish(postcopy);
		snprintf(err, err_len,
			 "migration: the source did not hand the VM over; it keeps running there");
		return -1;
	}
	if (postcopy &&
	    postcopy_destination_start(postcopy, fd, vm->origin->source, err, err_len) < 0) {
		/* The source gave the VM up already and the RAM is there only in part. */
		log_error("%s; the VM cannot go on", err);
		_exit(VM_EXIT_ERROR);
	}
	if (postcopy)
		*(int *)opaque = -1; /* the post-copy's link now (it may make a new one) */
	if (postcopy)
		vm_resume_devices(vm);
	vm->postcopy = postcopy;
	return 0;
}

static void refuse_on_stream(void *opaque, const char *why)
{
	migration_refuse(*(int *)opaque, why);
}

struct vm_origin migration_origin(int *fd, const char *uri)
{
	return (struct vm_origin){.what = "received from",
				  .source = uri,
				  .load = load_from_stream,
				  .refuse = refuse_on_stream,
				  .opaque = fd};
}
