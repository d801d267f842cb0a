/* virtio-balloon (virtio 1.2, 5.5): the host asks the guest to give back RAM.
 *
 * - inflateq: the driver lists 4 KiB page frames it no longer uses; each is checked against
 *   guest RAM and dropped from the host mapping with MADV_DONTNEED, so the VMM's RSS really
 *   falls (inside a transparent huge page this splits it: fine). deflateq needs nothing: a
 *   page the guest touches again faults back in, zero-filled (no MUST_TELL_HOST).
 * - statsq: the driver hands us one buffer of (tag, value) statistics; we keep the values and
 *   hold the buffer. Every STATS_INTERVAL_S the device thread gives it back, which is how the
 *   device asks for fresh statistics. Polling on a timer keeps balloon-info non-blocking (the
 *   control socket never waits for the guest) at the price of values up to that old.
 * - reporting_vq (free page reporting): each buffer is a range of free guest memory (2-4 MiB
 *   blocks in Linux), dropped with MADV_DONTNEED and counted.
 *
 * Queue numbering: Linux's virtio_pci (since 5.14) and QEMU number the queues in order,
 * skipping those whose feature was not negotiated: with STATS_VQ and REPORTING, reporting is
 * queue 3 (FREE_PAGE_HINT, the spec's queue 3, is never offered here), without STATS_VQ it is
 * 2. The spec's list gives reporting_vq the fixed index 4. Both layouts are served: five
 * queues are offered, and at start a driver that enabled queue 4 gets the fixed layout, any
 * other the sequential one. */
#include "virtio/virtio_devices.h"

#include "lib/little_endian.h"
#include "lib/log.h"
#include "lib/state_record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Feature bits (spec 5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ	1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON	4
#define VIRTIO_BALLOON_F_REPORTING	5

/* Statistics tags (spec 5.5.6.3). */
#define VIRTIO_BALLOON_S_MEMFREE 4
#define VIRTIO_BALLOON_S_MEMTOT	 5
#define VIRTIO_BALLOON_S_AVAIL	 6
#define BALLOON_NR_STATS	 16 /* tags kept (newer tags than the spec's 0-9 fit too) */
#define BALLOON_MAX_STAT_ENTRIES 64 /* entries read from one buffer (Linux sends 10-16) */

#define BALLOON_PAGE_SHIFT 12 /* the balloon always counts 4 KiB pages */
#define BALLOON_PAGE_SIZE  (1ULL << BALLOON_PAGE_SHIFT)
#define BALLOON_NUM_QUEUES 5 /* inflate, deflate, stats, (free page hint), reporting */
#define SPEC_REPORTING_VQ  4
#define BALLOON_QUEUE_SIZE 128
#define STATS_INTERVAL_S   2
#define PFN_BATCH	   64

enum balloon_queue_role { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORTING };

struct virtio_balloon_config {
	uint32_t num_pages; /* target, set by the device */
	uint32_t actual;    /* written by the driver */
} __attribute__((packed));

struct balloon_stat {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

struct virtio_balloon {
	struct virtio_device dev; /* first: the core hands us &dev */
	struct virtio_balloon_config config;
	enum balloon_queue_role role[BALLOON_NUM_QUEUES];

	int stats_timer_fd; /* watched from creation; the core only listens while started */
	bool stats_held;    /* the driver's stats buffer is with us */
	uint16_t stats_head;
	bool stats_valid;
	uint64_t stats[BALLOON_NR_STATS];

	uint64_t reported_bytes;
	bool madvise_failure_logged;
	struct virtq_chain chain; /* scratch, under dev.lock */
};

static struct virtio_balloon *to_balloon(struct virtio_device *d)
{
	return (struct virtio_balloon *)d;
}

static void balloon_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	memcpy(data, (const uint8_t *)&to_balloon(d)->config + offset, size);
}

static void balloon_config_write(struct virtio_device *d, uint32_t offset, const void *data,
				 unsigned size)
{
	/* Only `actual` belongs to the driver; num_pages is ours. */
	uint32_t first = offsetof(struct virtio_balloon_config, actual);
	if (offset < first || offset + size > sizeof(struct virtio_balloon_config))
		return;
	memcpy((uint8_t *)&to_balloon(d)->config + offset, data, size);
}

/* Gives the host memory behind [host, host + len) back; the guest reads zeros next time. */
static void discard(struct virtio_balloon *vb, void *host, uint64_t len)
{
	uintptr_t start = ((uintptr_t)host + BALLOON_PAGE_SIZE - 1) & ~(BALLOON_PAGE_SIZE - 1);
	uintptr_t end = ((uintptr_t)host + len) & ~(BALLOON_PAGE_SIZE - 1);
	if (end <= start)
		return;
	if (madvise((void *)start, end - start, MADV_DONTNEED) < 0 && !vb->madvise_failure_logged) {
		vb->madvise_failure_logged = true;
		log_warn("%s: cannot return guest memory to the host (madvise: %s); the balloon "
			 "keeps working but the VMM's memory use will not drop",
			 vb->dev.name, strerror(errno));
	}
}

/* A run of consecutive host pages, so that neighbouring frames cost one madvise. */
struct page_run {
	uint8_t *start;
	uint64_t len;
};

static void run_add(struct virtio_balloon *vb, struct page_run *run, uint8_t *page)
{
	if (run->len && run->start + run->len == page) {
		run->len += BALLOON_PAGE_SIZE;
		return;
	}
	if (run->len)
		discard(vb, run->start, run->len);
	run->start = page;
	run->len = BALLOON_PAGE_SIZE;
}

/* Drops every page frame the chain lists. Returns false (device failed) on a frame that is
 * not guest RAM. */
static bool inflate_chain(struct virtio_balloon *vb)
{
	struct page_run run = {0};
	uint32_t pfns[PFN_BATCH];
	size_t offset = 0, got;
	while ((got = virtq_chain_read(&vb->chain, offset, pfns, sizeof(pfns))) >=
	       sizeof(pfns[0])) {
		for (size_t i = 0; i < got / sizeof(pfns[0]); i++) {
			uint64_t gpa = (uint64_t)pfns[i] << BALLOON_PAGE_SHIFT;
			uint8_t *page = guest_memory_ptr(vb->dev.mem, gpa, BALLOON_PAGE_SIZE);
			if (!page) {
				if (run.len)
					discard(vb, run.start, run.len);
				virtio_device_fail(&vb->dev,
						   "inflateq: page frame 0x%x is not guest RAM",
						   pfns[i]);
				return false;
			}
			run_add(vb, &run, page);
		}
		offset += got - got % sizeof(pfns[0]);
	}
	if (run.len)
		discard(vb, run.start, run.len);
	return true;
}

/* Free page reporting: every device-writable buffer is a free range of guest RAM (already
 * checked to be RAM when the chain was taken). */
static bool report_chain(struct virtio_balloon *vb)
{
	const struct virtq_chain *c = &vb->chain;
	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		discard(vb, c->iov[i].iov_base, c->iov[i].iov_len);
		vb->reported_bytes += c->iov[i].iov_len;
	}
	return true;
}

/* Keeps the driver's statistics and holds its buffer until we want new ones. */
static bool stats_chain(struct virtio_balloon *vb, struct virtqueue *vq)
{
	struct balloon_stat stat;
	size_t end = BALLOON_MAX_STAT_ENTRIES * sizeof(stat); /* a huge buffer is not our work */
	for (size_t off = 0;
	     off < end && virtq_chain_read(&vb->chain, off, &stat, sizeof(stat)) == sizeof(stat);
	     off += sizeof(stat))
		if (stat.tag < BALLOON_NR_STATS)
			vb->stats[stat.tag] = stat.val; /* unknown tags: ignored (spec) */
	vb->stats_valid = true;
	if (vb->stats_held)
		virtq_push(vq, vb->stats_head, 0); /* a second buffer: give the older back */
	vb->stats_held = true;
	vb->stats_head = vb->chain.head;
	return false; /* not pushed: held */
}

/* Handles one chain of queue `role`; returns true when it was pushed back. */
static bool handle_chain(struct virtio_balloon *vb, struct virtqueue *vq,
			 enum balloon_queue_role role)
{
	bool ok = true;
	if (role == ROLE_STATS)
		return stats_chain(vb, vq);
	if (role == ROLE_INFLATE)
		ok = inflate_chain(vb);
	else if (role == ROLE_REPORTING)
		ok = report_chain(vb);
	virtq_push(vq, vb->chain.head, 0);
	return ok;
}

static void drain_queue(struct virtio_balloon *vb, unsigned index)
{
	struct virtqueue *vq = &vb->dev.queues[index];
	enum balloon_queue_role role = vb->role[index];
	bool pushed = false;
	do {
		virtq_disable_kicks(vq);
		int rc;
		while ((rc = virtq_pop(vq, &vb->chain)) == 1) {
			bool ok = handle_chain(vb, vq, role);
			pushed |= role != ROLE_STATS;
			if (!ok)
				return;
		}
		if (rc < 0) {
			virtio_device_fail(&vb->dev, "balloon queue %u: %s", index, vq->error);
			return;
		}
	} while (virtq_enable_kicks(vq));
	if (pushed)
		virtio_device_notify(&vb->dev, index);
}

static void balloon_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_balloon *vb = to_balloon(d);
	if (index < BALLOON_NUM_QUEUES && vb->role[index] != ROLE_NONE)
		drain_queue(vb, index);
}

static int stats_queue_index(const struct virtio_balloon *vb)
{
	for (int i = 0; i < BALLOON_NUM_QUEUES; i++)
		if (vb->role[i] == ROLE_STATS)
			return i;
	return -1;
}

/* Timer: hands the statistics buffer back, which asks the driver for fresh values. */
static void on_stats_timer(struct virtio_device *d, int fd, uint32_t events)
{
	(void)fd;
	struct virtio_balloon *vb = to_balloon(d);
	uint64_t expirations;
	(void)events;
	if (read(vb->stats_timer_fd, &expirations, sizeof(expirations)) < 0)
		return;
	int index = stats_queue_index(vb);
	if (index < 0 || !vb->stats_held)
		return;
	vb->stats_held = false;
	virtq_push(&d->queues[index], vb->stats_head, 0);
	virtio_device_notify(d, (unsigned)index);
}

/* Which queue does what for this driver (see the top comment). */
static void assign_queue_roles(struct virtio_balloon *vb)
{
	bool stats = virtio_has_feature(&vb->dev, VIRTIO_BALLOON_F_STATS_VQ);
	bool reporting = virtio_has_feature(&vb->dev, VIRTIO_BALLOON_F_REPORTING);
	unsigned next = 0;
	memset(vb->role, 0, sizeof(vb->role));
	vb->role[next++] = ROLE_INFLATE;
	vb->role[next++] = ROLE_DEFLATE;
	if (stats)
		vb->role[next++] = ROLE_STATS;
	if (reporting && vb->dev.queues[SPEC_REPORTING_VQ].enabled)
		vb->role[SPEC_REPORTING_VQ] = ROLE_REPORTING; /* the spec's fixed index */
	else if (reporting)
		vb->role[next++] = ROLE_REPORTING; /* Linux's and QEMU's sequential index */
}

static int start_stats_timer(struct virtio_balloon *vb)
{
	struct itimerspec every = {.it_interval.tv_sec = STATS_INTERVAL_S,
				   .it_value.tv_sec = STATS_INTERVAL_S};
	return timerfd_settime(vb->stats_timer_fd, 0, &every, NULL) < 0 ? -errno : 0;
}

static int balloon_start(struct virtio_device *d)
{
	struct virtio_balloon *vb = to_balloon(d);
	assign_queue_roles(vb);
	if (stats_queue_index(vb) >= 0) {
		int rc = start_stats_timer(vb);
		if (rc < 0)
			log_warn("%s: no periodic statistics (%s)", d->name, strerror(-rc));
	}
	return 0;
}

static void balloon_reset(struct virtio_device *d)
{
	struct virtio_balloon *vb = to_balloon(d);
	struct itimerspec off = {0};
	timerfd_settime(vb->stats_timer_fd, 0, &off, NULL);
	/* The driver starts from an empty balloon; its buffers are gone with the reset. */
	vb->stats_held = false;
	vb->config.actual = 0;
	memset(vb->role, 0, sizeof(vb->role));
}

static void balloon_destroy(struct virtio_device *d)
{
	struct virtio_balloon *vb = to_balloon(d);
	if (vb->stats_timer_fd >= 0)
		close(vb->stats_timer_fd);
	free(vb);
}

/* --- saved state: record "virtio-balloon" --------------------------------------------- */

static const char *const balloon_state_keys[] = {
    "num_pages", "actual", "stats_held", "stats_head", "stats_valid", "stats", "reported", NULL,
};

static void balloon_save_state(struct virtio_device *d, struct state_writer *w)
{
	struct virtio_balloon *vb = to_balloon(d);
	uint8_t stats[BALLOON_NR_STATS * 8];
	for (unsigned i = 0; i < BALLOON_NR_STATS; i++)
		le_put(stats + 8 * i, vb->stats[i], 8);
	state_record_begin(w, "virtio-balloon", 1, 1);
	state_put_u64(w, "num_pages", vb->config.num_pages, STATE_ESSENTIAL);
	state_put_u64(w, "actual", vb->config.actual, STATE_ESSENTIAL);
	/* The statistics buffer the device holds: the timer gives it back after the load. */
	state_put_u64(w, "stats_held", vb->stats_held, STATE_ESSENTIAL);
	state_put_u64(w, "stats_head", vb->stats_head, STATE_ESSENTIAL);
	state_put_u64(w, "stats_valid", vb->stats_valid, STATE_ESSENTIAL);
	state_put_bytes(w, "stats", stats, sizeof(stats), STATE_ESSENTIAL);
	state_put_u64(w, "reported", vb->reported_bytes, 0); /* a host counter */
	state_record_end(w);
}

static bool balloon_field(const struct state_record *rec, const char *key, uint64_t max,
			  uint64_t *v, char *err, size_t err_len)
{
	if (state_get_u64(rec, key, v) == 0 && *v <= max)
		return true;
	state_set_error(err, err_len, "virtio-balloon state: \"%s\" is missing or out of range",
			key);
	return false;
}

static int balloon_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			      char *err, size_t err_len)
{
	struct state_reader_spec spec = {"virtio-balloon", 1, 1, balloon_state_keys};
	uint64_t target, actual, held, head, valid, reported = 0;
	/* A target the guest could never reach is what virtio_balloon_set_target refuses. */
	uint64_t max_target = d->mem ? (d->mem->ram_size - 1) >> BALLOON_PAGE_SHIFT : 0;
	if (state_record_check(rec, &spec, err, err_len) < 0 ||
	    !balloon_field(rec, "num_pages", max_target, &target, err, err_len) ||
	    !balloon_field(rec, "actual", UINT32_MAX, &actual, err, err_len) ||
	    !balloon_field(rec, "stats_held", 1, &held, err, err_len) ||
	    !balloon_field(rec, "stats_head", BALLOON_QUEUE_SIZE - 1, &head, err, err_len) ||
	    !balloon_field(rec, "stats_valid", 1, &valid, err, err_len))
		return -1;
	const void *stats;
	uint32_t len;
	if (state_get_bytes(rec, "stats", &stats, &len) < 0 || len != BALLOON_NR_STATS * 8) {
		state_set_error(err, err_len,
				"virtio-balloon state: \"stats\" is missing or not "
				"%d values",
				BALLOON_NR_STATS);
		return -1;
	}
	state_get_u64(rec, "reported", &reported);
	if (!apply)
		return 0;
	struct virtio_balloon *vb = to_balloon(d);
	vb->config.num_pages = (uint32_t)target;
	vb->config.actual = (uint32_t)actual;
	vb->stats_held = held;
	vb->stats_head = (uint16_t)head;
	vb->stats_valid = valid;
	for (unsigned i = 0; i < BALLOON_NR_STATS; i++)
		vb->stats[i] = le_get((const uint8_t *)stats + 8 * i, 8);
	vb->reported_bytes = reported;
	return 0;
}

static const struct virtio_device_ops balloon_ops = {
    .save_state = balloon_save_state,
    .load_state = balloon_load_state,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .start = balloon_start,
    .reset = balloon_reset,
    .queue_kick = balloon_queue_kick,
    .destroy = balloon_destroy,
};

int virtio_balloon_set_target(struct virtio_device *d, uint64_t bytes)
{
	struct virtio_balloon *vb = to_balloon(d);
	pthread_mutex_lock(&d->lock);
	int rc = -EINVAL;
	if (d->mem && bytes < d->mem->ram_size) {
		vb->config.num_pages = (uint32_t)(bytes >> BALLOON_PAGE_SHIFT);
		virtio_device_config_changed(d);
		rc = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void virtio_balloon_get_info(struct virtio_device *d, struct balloon_info *info)
{
	struct virtio_balloon *vb = to_balloon(d);
	pthread_mutex_lock(&d->lock);
	*info = (struct balloon_info){
	    .target = (uint64_t)vb->config.num_pages << BALLOON_PAGE_SHIFT,
	    .actual = (uint64_t)vb->config.actual << BALLOON_PAGE_SHIFT,
	    .reported = vb->reported_bytes,
	    .stats_valid = vb->stats_valid,
	    .free_memory = vb->stats[VIRTIO_BALLOON_S_MEMFREE],
	    .total_memory = vb->stats[VIRTIO_BALLOON_S_MEMTOT],
	    .available_memory = vb->stats[VIRTIO_BALLOON_S_AVAIL],
	};
	pthread_mutex_unlock(&d->lock);
}

struct virtio_device *virtio_balloon_create(uint64_t target, char *err, size_t err_len)
{
	if ((target >> BALLOON_PAGE_SHIFT) > UINT32_MAX) {
		snprintf(err, err_len,
			 "--balloon-size: too large for virtio-balloon (at most 16 TiB)");
		return NULL;
	}
	struct virtio_balloon *vb = calloc(1, sizeof(*vb));
	if (!vb) {
		snprintf(err, err_len, "virtio-balloon: out of memory");
		return NULL;
	}
	vb->config.num_pages = (uint32_t)(target >> BALLOON_PAGE_SHIFT);
	vb->stats_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	uint64_t features = VIRTIO_FEATURE(VIRTIO_BALLOON_F_STATS_VQ) |
			    VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
			    VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING);
	int rc = vb->stats_timer_fd < 0 ? -errno : 0;
	if (rc == 0)
		rc = virtio_device_init(&vb->dev, &balloon_ops, "virtio-balloon", VIRTIO_ID_BALLOON,
					features, sizeof(struct virtio_balloon_config),
					BALLOON_NUM_QUEUES, BALLOON_QUEUE_SIZE);
	if (rc < 0) {
		snprintf(err, err_len, "virtio-balloon: cannot initialise the device: %s",
			 strerror(-rc));
		if (vb->stats_timer_fd >= 0)
			close(vb->stats_timer_fd);
		free(vb);
		return NULL;
	}
	rc = virtio_device_watch(&vb->dev, vb->stats_timer_fd, EPOLLIN, on_stats_timer);
	if (rc < 0) {
		snprintf(err, err_len, "virtio-balloon: cannot watch its statistics timer: %s",
			 strerror(-rc));
		virtio_device_destroy(&vb->dev);
		return NULL;
	}
	return &vb->dev;
}
