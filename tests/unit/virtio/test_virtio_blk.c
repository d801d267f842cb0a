/* virtio-blk driven as a guest driver would: split rings in real guest memory, feature
 * negotiation and DRIVER_OK through the device core, kicks, and the used ring read back, over
 * real raw and qcow2 files. A fake transport counts the interrupts. */
#include "block/overlay.h"
#include "block/qcow2_create.h"
#include "machine/guest_memory.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_devices.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QSIZE	   256
#define DESC_GPA   0x10000
#define AVAIL_GPA  0x20000
#define USED_GPA   0x30000
#define DATA_GPA   0x100000
#define RAM_SIZE   (64u << 20)
#define DISK_SIZE  (8u << 20)
#define SECTORS	   (DISK_SIZE / 512)
#define NO_ANSWER  0xee /* status byte before the device writes it */
#define TIMEOUT_MS 10000

struct driver {
	struct guest_memory mem;
	struct virtio_device *dev;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t next_desc;
	uint16_t avail_idx;
	uint64_t next_data; /* bump allocator for buffers in guest RAM */
	bool hold_avail;    /* post() leaves the avail index to publish() */
	unsigned interrupts;
};

static char dir[] = "/tmp/gureum-vblk-XXXXXX";
static char path[256];
static struct driver drv;

static void notify_queue(void *opaque, unsigned index)
{
	struct driver *d = opaque;
	(void)index;
	__atomic_add_fetch(&d->interrupts, 1, __ATOMIC_SEQ_CST);
}

static void notify_config(void *opaque)
{
	(void)opaque;
}

static void make_raw(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	make_raw();
	memset(&drv, 0, sizeof(drv));
	cr_assert_eq(guest_memory_create(&drv.mem, RAM_SIZE), 0);
	drv.desc = guest_memory_ptr(&drv.mem, DESC_GPA, QSIZE * sizeof(struct virtq_desc));
	drv.avail = guest_memory_ptr(&drv.mem, AVAIL_GPA, 6 + 2 * QSIZE);
	drv.used = guest_memory_ptr(&drv.mem, USED_GPA, 6 + 8 * QSIZE);
	drv.next_data = DATA_GPA;
}

static void teardown(void)
{
	if (drv.dev)
		virtio_device_destroy(drv.dev);
	guest_memory_destroy(&drv.mem);
	unlink(path);
	rmdir(dir);
}

TestSuite(virtio_blk, .init = setup, .fini = teardown);

static struct virtio_device *create(struct disk_config *cfg)
{
	char err[512] = "";
	struct virtio_device *d = virtio_blk_create(cfg, 0, err, sizeof(err));
	cr_assert_not_null(d, "%s", err);
	return d;
}

/* Realizes the device and brings it to DRIVER_OK as Linux would, with the given features
 * (EVENT_IDX left out: every used buffer then asks for an interrupt). */
static void bring_up(struct virtio_device *d, uint64_t features)
{
	struct virtio_transport t = {
	    .notify_queue = notify_queue, .notify_config = notify_config, .opaque = &drv};
	cr_assert_eq(virtio_device_realize(d, &drv.mem, t), 0);
	virtio_device_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_write_features(d, 0, (uint32_t)features);
	virtio_device_write_features(d, 1, (uint32_t)(features >> 32));
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	virtio_device_write_status(d, st);
	cr_assert(d->status & VIRTIO_STATUS_FEATURES_OK, "features refused");
	struct virtqueue *vq = &d->queues[0];
	vq->size = QSIZE;
	vq->desc_addr = DESC_GPA;
	vq->avail_addr = AVAIL_GPA;
	vq->used_addr = USED_GPA;
	virtio_device_enable_queue(d, 0);
	virtio_device_write_status(d, st | VIRTIO_STATUS_DRIVER_OK);
	cr_assert(d->started, "device did not start");
}

static uint64_t default_features(const struct virtio_device *d)
{
	return d->host_features & ~VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX);
}

static void start_disk(struct disk_config *cfg)
{
	drv.dev = create(cfg);
	bring_up(drv.dev, default_features(drv.dev));
}

static void start_default(void)
{
	struct disk_config cfg = {.path = path, .serial = "gureum-serial-1"};
	start_disk(&cfg);
}

/* ---- A tiny driver ---------------------------------------------------------------------- */

static uint64_t alloc(size_t len)
{
	uint64_t gpa = drv.next_data;
	drv.next_data += (len + 4095) & ~4095ull;
	cr_assert_leq(drv.next_data, RAM_SIZE);
	return gpa;
}

static void *host(uint64_t gpa, size_t len)
{
	void *p = guest_memory_ptr(&drv.mem, gpa, len);
	cr_assert_not_null(p);
	return p;
}

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Puts a chain of buffers in the descriptor table and makes it available (no kick). */
static uint16_t post(const struct buf *bufs, unsigned n)
{
	uint16_t head = drv.next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t at = (uint16_t)((head + i) % QSIZE);
		drv.desc[at] = (struct virtq_desc){
		    .addr = bufs[i].gpa,
		    .len = bufs[i].len,
		    .flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
		    .next = (uint16_t)((at + 1) % QSIZE)};
	}
	drv.next_desc = (uint16_t)((head + n) % QSIZE);
	drv.avail->ring[drv.avail_idx % QSIZE] = head;
	drv.avail_idx++;
	if (!drv.hold_avail)
		__atomic_store_n(&drv.avail->idx, drv.avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* Makes every chain posted so far available at once. */
static void publish(void)
{
	drv.hold_avail = false;
	__atomic_store_n(&drv.avail->idx, drv.avail_idx, __ATOMIC_RELEASE);
}

static void kick(void)
{
	virtio_device_kick(drv.dev, 0);
}

static uint16_t used_idx(void)
{
	return __atomic_load_n(&drv.used->idx, __ATOMIC_ACQUIRE);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits until the device has used every chain made available so far. */
static void wait_all_used(void)
{
	for (unsigned waited = 0; used_idx() != drv.avail_idx; waited++) {
		cr_assert_lt(waited, TIMEOUT_MS, "device used %u of %u chains", used_idx(),
			     drv.avail_idx);
		sleep_ms(1);
	}
}

/* The used element of chain `head` (searched from the end). */
static struct virtq_used_elem used_elem_of(uint16_t head)
{
	for (uint16_t i = used_idx(); i-- > 0;)
		if (drv.used->ring[i % QSIZE].id == head)
			return drv.used->ring[i % QSIZE];
	cr_assert_fail("chain %u not used", head);
	return (struct virtq_used_elem){0};
}

/* A request: header, data buffers (writable for IN-like requests), status. */
struct request {
	uint64_t hdr_gpa, status_gpa;
	uint16_t head;
};

static struct request post_request(uint32_t type, uint64_t sector, const struct buf *data,
				   unsigned n)
{
	struct request r = {.hdr_gpa = alloc(sizeof(struct virtio_blk_outhdr)),
			    .status_gpa = alloc(1)};
	struct virtio_blk_outhdr *hdr = host(r.hdr_gpa, sizeof(*hdr));
	*hdr = (struct virtio_blk_outhdr){.type = type, .sector = sector};
	*(uint8_t *)host(r.status_gpa, 1) = NO_ANSWER;
	struct buf chain[VIRTQ_MAX_CHAIN];
	chain[0] = (struct buf){r.hdr_gpa, sizeof(*hdr), false};
	for (unsigned i = 0; i < n; i++)
		chain[1 + i] = data[i];
	chain[1 + n] = (struct buf){r.status_gpa, 1, true};
	r.head = post(chain, n + 2);
	return r;
}

static uint8_t status_of(const struct request *r)
{
	return *(volatile uint8_t *)host(r->status_gpa, 1);
}

/* Posts, kicks, waits; returns the status byte. */
static uint8_t run(uint32_t type, uint64_t sector, const struct buf *data, unsigned n)
{
	struct request r = post_request(type, sector, data, n);
	kick();
	wait_all_used();
	return status_of(&r);
}

static struct buf data_buf(size_t len, bool writable)
{
	return (struct buf){alloc(len), (uint32_t)len, writable};
}

static void fill_pattern(struct buf b, unsigned seed)
{
	uint8_t *p = host(b.gpa, b.len);
	for (uint32_t i = 0; i < b.len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static bool has_pattern(struct buf b, unsigned seed)
{
	uint8_t *p = host(b.gpa, b.len);
	for (uint32_t i = 0; i < b.len; i++)
		if (p[i] != (uint8_t)(seed * 31 + i * 7 + (i >> 9)))
			return false;
	return true;
}

static bool all_zero(struct buf b)
{
	uint8_t *p = host(b.gpa, b.len);
	for (uint32_t i = 0; i < b.len; i++)
		if (p[i])
			return false;
	return true;
}

static void read_file(off_t offset, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, offset), (ssize_t)len);
	close(fd);
}

/* ---- Configuration ------------------------------------------------------------------------ */

static void config(struct virtio_device *d, uint32_t offset, void *out, unsigned size)
{
	d->ops->config_read(d, offset, out, size);
}

Test(virtio_blk, offers_features_and_config_per_spec)
{
	start_default();
	struct virtio_device *d = drv.dev;
	cr_assert_eq(d->device_id, VIRTIO_ID_BLOCK);
	uint64_t f = d->host_features;
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_SEG_MAX));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_SIZE_MAX));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_BLK_SIZE));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_FLUSH));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_DISCARD));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_WRITE_ZEROES));
	cr_assert_not(f & VIRTIO_FEATURE(VIRTIO_BLK_F_RO));
	cr_assert_not(f & VIRTIO_FEATURE(VIRTIO_BLK_F_MQ));
	cr_assert_eq(d->queues[0].max_size, 256);

	uint64_t capacity;
	uint32_t seg_max, blk_size, max_discard, discard_seg, align, max_wz, wz_seg;
	uint8_t may_unmap;
	config(d, 0, &capacity, 8);
	config(d, 12, &seg_max, 4);
	uint32_t size_max;
	config(d, 8, &size_max, 4);
	cr_assert_geq(size_max, 4096);
	config(d, 20, &blk_size, 4);
	config(d, 36, &max_discard, 4);
	config(d, 40, &discard_seg, 4);
	config(d, 44, &align, 4);
	config(d, 48, &max_wz, 4);
	config(d, 52, &wz_seg, 4);
	config(d, 56, &may_unmap, 1);
	cr_assert_eq(capacity, SECTORS);
	cr_assert_eq(seg_max, 254);
	cr_assert_eq(blk_size, 512);
	cr_assert_gt(max_discard, 0);
	cr_assert_gt(discard_seg, 0);
	cr_assert_gt(align, 0);
	cr_assert_gt(max_wz, 0);
	cr_assert_gt(wz_seg, 0);
	cr_assert_eq(may_unmap, 1);
	cr_assert_eq(d->config_size, sizeof(struct virtio_blk_config));
}

Test(virtio_blk, readonly_disk_offers_ro_and_no_discard)
{
	struct disk_config cfg = {.path = path, .readonly = true};
	drv.dev = create(&cfg);
	uint64_t f = drv.dev->host_features;
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_BLK_F_RO));
	cr_assert_not(f & VIRTIO_FEATURE(VIRTIO_BLK_F_DISCARD));
	cr_assert_not(f & VIRTIO_FEATURE(VIRTIO_BLK_F_WRITE_ZEROES));
}

Test(virtio_blk, create_error_says_what_to_do)
{
	char err[512] = "";
	struct disk_config missing = {.path = "/nonexistent/disk.img"};
	cr_assert_null(virtio_blk_create(&missing, 0, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open disk '/nonexistent/disk.img'"), "%s", err);
	cr_assert(strstr(err, "check the path"), "%s", err);

	if (geteuid() == 0)
		return; /* root may write anything: the permission case cannot happen */
	cr_assert_eq(chmod(path, 0444), 0);
	struct disk_config ro_file = {.path = path};
	cr_assert_null(virtio_blk_create(&ro_file, 0, err, sizeof(err)));
	cr_assert(strstr(err, "Permission denied"), "%s", err);
	cr_assert(strstr(err, "readonly=on"), "%s", err);
}

/* ---- Data ---------------------------------------------------------------------------------- */

Test(virtio_blk, data_written_in_pieces_reads_back_and_is_in_the_file)
{
	start_default();
	/* One request over three guest buffers of unequal sizes (scatter-gather). */
	struct buf w[3] = {data_buf(512, false), data_buf(1536, false), data_buf(2048, false)};
	for (unsigned i = 0; i < 3; i++)
		fill_pattern(w[i], i + 1);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, 100, w, 3), VIRTIO_BLK_S_OK);

	/* Read back split differently: 1024 + 3072. */
	struct buf r[2] = {data_buf(1024, true), data_buf(3072, true)};
	struct request rq = post_request(VIRTIO_BLK_T_IN, 100, r, 2);
	kick();
	wait_all_used();
	cr_assert_eq(status_of(&rq), VIRTIO_BLK_S_OK);
	cr_assert_eq(used_elem_of(rq.head).len, 4096 + 1, "used length: data plus status");
	uint8_t expect[4096], *got1 = host(r[0].gpa, 1024), *got2 = host(r[1].gpa, 3072);
	memcpy(expect, host(w[0].gpa, 512), 512);
	memcpy(expect + 512, host(w[1].gpa, 1536), 1536);
	memcpy(expect + 2048, host(w[2].gpa, 2048), 2048);
	cr_assert_arr_eq(got1, expect, 1024);
	cr_assert_arr_eq(got2, expect + 1024, 3072);

	uint8_t file[4096];
	read_file(100 * 512, file, sizeof(file));
	cr_assert_arr_eq(file, expect, 4096);
	cr_assert_geq(drv.interrupts, 2);
}

/* cache=none: page-aligned buffers go through O_DIRECT, unaligned ones through the page cache;
 * both read back, through the device and in the file. */
Test(virtio_blk, cache_none_round_trip)
{
	struct disk_config cfg = {.path = path, .direct = true};
	start_disk(&cfg);
	struct buf w[2] = {data_buf(4096, false), data_buf(8192, false)};
	fill_pattern(w[0], 21);
	fill_pattern(w[1], 22);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, 64, w, 2), VIRTIO_BLK_S_OK);
	struct buf odd[2] = {data_buf(512, false), data_buf(1024, false)};
	fill_pattern(odd[0], 23);
	fill_pattern(odd[1], 24);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, 3, odd, 2), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	struct buf r = data_buf(12288, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 64, &r, 1), VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(host(r.gpa, 4096), host(w[0].gpa, 4096), 4096);
	cr_assert_arr_eq((uint8_t *)host(r.gpa, 12288) + 4096, host(w[1].gpa, 8192), 8192);
	uint8_t file[1536];
	read_file(3 * 512, file, sizeof(file));
	cr_assert_arr_eq(file, host(odd[0].gpa, 512), 512);
	cr_assert_arr_eq(file + 512, host(odd[1].gpa, 1024), 1024);
}

/* Pausing (the VM's pause or a snapshot) finishes every request the device took: when
 * virtio_device_pause returns, each chain taken from the ring is answered and nothing more
 * happens to guest memory until resume; chains the device had not taken wait for resume. */
Test(virtio_blk, pause_answers_every_request_taken_and_resume_takes_the_rest)
{
	/* Data on disk, not holes (O_DIRECT reads of a hole finish at once). */
	int fd = open(path, O_WRONLY);
	static uint8_t chunk[1u << 20];
	memset(chunk, 0x5a, sizeof(chunk));
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(pwrite(fd, chunk, sizeof(chunk), (off_t)i << 20),
			     (ssize_t)sizeof(chunk));
	cr_assert_eq(fsync(fd), 0);
	close(fd);
	struct disk_config cfg = {.path = path, .direct = true};
	start_disk(&cfg);
	struct request r[24];
	for (unsigned i = 0; i < 16; i++) {
		struct buf b = data_buf(256u << 10, true);
		r[i] = post_request(VIRTIO_BLK_T_IN, (uint64_t)i * 512, &b, 1);
	}
	kick();
	/* Pause once the device has taken them all (O_DIRECT: most are still in flight). */
	for (unsigned waited = 0;
	     __atomic_load_n(&drv.dev->queues[0].last_avail_idx, __ATOMIC_ACQUIRE) != 16;
	     waited++) {
		cr_assert_lt(waited, TIMEOUT_MS * 100, "the device did not take the requests");
		usleep(10);
	}
	virtio_device_pause(drv.dev);
	uint16_t taken = drv.dev->queues[0].last_avail_idx, used = used_idx();
	cr_assert_eq(used, taken, "paused with %u of %u taken requests unanswered",
		     (unsigned)(taken - used), (unsigned)taken);
	for (unsigned i = 16; i < 24; i++) {
		struct buf b = data_buf(4096, true);
		r[i] = post_request(VIRTIO_BLK_T_IN, (uint64_t)i, &b, 1);
	}
	kick();
	sleep_ms(50);
	cr_assert_eq(used_idx(), used, "a paused device answered a request");
	virtio_device_resume(drv.dev);
	wait_all_used();
	for (unsigned i = 0; i < 24; i++)
		cr_assert_eq(status_of(&r[i]), VIRTIO_BLK_S_OK, "request %u", i);
}

/* ---- I/O limits (bps=, iops=) ---------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Posts n reads of `len` bytes at once, kicks, and returns the ms until all were answered OK. */
static uint64_t time_reads(unsigned n, uint32_t len)
{
	struct request r[64];
	cr_assert_leq(n, 64);
	for (unsigned i = 0; i < n; i++) {
		struct buf b = data_buf(len, true);
		r[i] = post_request(VIRTIO_BLK_T_IN, (uint64_t)i * (len / 512), &b, 1);
	}
	uint64_t t0 = now_ms();
	kick();
	wait_all_used();
	uint64_t elapsed = now_ms() - t0;
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(status_of(&r[i]), VIRTIO_BLK_S_OK, "request %u", i);
	return elapsed;
}

/* Waits until `n` chains are used; false after `ms` without. */
static bool wait_used(uint16_t n, unsigned ms)
{
	for (unsigned waited = 0; used_idx() < n; waited++) {
		if (waited >= ms)
			return false;
		sleep_ms(1);
	}
	return true;
}

Test(virtio_blk, iops_limit_spaces_requests_and_answers_all)
{
	struct disk_config cfg = {.path = path, .limits = {.iops = 20, .iops_burst = 1}};
	start_disk(&cfg);
	/* 11 requests: one from the burst, ten at 20 per second: 500 ms. */
	uint64_t ms = time_reads(11, 4096);
	cr_assert(ms >= 450 && ms < 3000, "11 requests at 20/s (burst 1) took %llu ms",
		  (unsigned long long)ms);
}

Test(virtio_blk, bps_limit_spaces_data)
{
	struct disk_config cfg = {.path = path, .limits = {.bps = 1 << 20, .bps_burst = 64 << 10}};
	start_disk(&cfg);
	/* 8 x 64 KiB at 1 MiB/s with 64 KiB of burst: 7 x 62.5 ms. */
	uint64_t ms = time_reads(8, 64 << 10);
	cr_assert(ms >= 400 && ms < 3000, "8 x 64 KiB at 1 MiB/s took %llu ms",
		  (unsigned long long)ms);
	struct io_limits l;
	virtio_blk_get_limits(drv.dev, &l);
	cr_assert_eq(l.bps, 1 << 20);
	cr_assert_eq(l.bps_burst, 64 << 10);
	cr_assert_eq(l.iops, 0);
}

/* A request larger than the burst goes when the bucket is full (it does not wait forever). */
Test(virtio_blk, request_larger_than_the_burst_goes)
{
	struct disk_config cfg = {.path = path, .limits = {.bps = 4 << 20, .bps_burst = 4096}};
	start_disk(&cfg);
	/* 2 x 1 MiB at 4 MiB/s: the first at once, the second after its debt: 250 ms. */
	uint64_t ms = time_reads(2, 1 << 20);
	cr_assert(ms >= 200 && ms < 3000, "took %llu ms", (unsigned long long)ms);
}

Test(virtio_blk, limits_changed_at_runtime_take_effect_for_a_waiting_request)
{
	struct disk_config cfg = {.path = path, .limits = {.iops = 1, .iops_burst = 1}};
	start_disk(&cfg);
	for (unsigned i = 0; i < 3; i++) {
		struct buf b = data_buf(4096, true);
		post_request(VIRTIO_BLK_T_IN, i, &b, 1);
	}
	kick();
	cr_assert(wait_used(1, TIMEOUT_MS));
	sleep_ms(200);
	cr_assert_eq(used_idx(), 1, "the limit of 1/s let a second request through at once");
	struct io_limits none = {0};
	virtio_blk_set_limits(drv.dev, &none);
	cr_assert(wait_used(3, 500), "lifting the limit did not free the waiting requests");
	virtio_blk_get_limits(drv.dev, &none);
	cr_assert_eq(none.iops, 0);
	/* And a limit set on a running disk applies to the next requests. */
	struct io_limits slow = {.iops = 10, .iops_burst = 1};
	virtio_blk_set_limits(drv.dev, &slow);
	uint64_t ms = time_reads(6, 4096);
	cr_assert(ms >= 400 && ms < 3000, "6 requests at 10/s took %llu ms",
		  (unsigned long long)ms);
}

/* A pause does not wait for tokens: the held request is answered, so every chain taken is;
 * after resume the rest go at the limit's pace. */
Test(virtio_blk, pause_with_a_throttled_request_does_not_wait_for_tokens)
{
	struct disk_config cfg = {.path = path, .limits = {.iops = 1, .iops_burst = 1}};
	start_disk(&cfg);
	struct request r[3];
	for (unsigned i = 0; i < 3; i++) {
		struct buf b = data_buf(4096, true);
		r[i] = post_request(VIRTIO_BLK_T_IN, i, &b, 1);
	}
	kick();
	cr_assert(wait_used(1, TIMEOUT_MS));
	sleep_ms(50);
	uint64_t t0 = now_ms();
	virtio_device_pause(drv.dev);
	cr_assert_lt(now_ms() - t0, 500, "the pause waited for the limit");
	uint16_t taken = drv.dev->queues[0].last_avail_idx;
	cr_assert_eq(used_idx(), taken, "paused with a taken request unanswered");
	cr_assert_eq(taken, 2, "the device took %u requests", taken);
	sleep_ms(50);
	cr_assert_eq(used_idx(), 2, "a paused device answered a request");
	virtio_device_resume(drv.dev);
	struct io_limits none = {0};
	virtio_blk_set_limits(drv.dev, &none);
	wait_all_used();
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(status_of(&r[i]), VIRTIO_BLK_S_OK, "request %u", i);
}

/* A reset forgets the held request (the driver has too) and the device works after. */
Test(virtio_blk, reset_with_a_throttled_request_forgets_it)
{
	struct disk_config cfg = {.path = path, .limits = {.iops = 1, .iops_burst = 1}};
	start_disk(&cfg);
	for (unsigned i = 0; i < 2; i++) {
		struct buf b = data_buf(4096, true);
		post_request(VIRTIO_BLK_T_IN, i, &b, 1);
	}
	kick();
	cr_assert(wait_used(1, TIMEOUT_MS));
	virtio_device_write_status(drv.dev, 0);
	cr_assert_not(drv.dev->started);
	sleep_ms(1200);
	cr_assert_eq(used_idx(), 1, "a reset device answered the request it held");
}

Test(virtio_blk, last_sector_is_readable_and_the_next_is_not)
{
	start_default();
	struct buf b = data_buf(512, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, SECTORS - 1, &b, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, SECTORS, &b, 1), VIRTIO_BLK_S_IOERR);
	struct buf two = data_buf(1024, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, SECTORS - 1, &two, 1), VIRTIO_BLK_S_IOERR);
	/* sector * 512 overflows 64 bits: still refused */
	cr_assert_eq(run(VIRTIO_BLK_T_IN, UINT64_MAX / 256, &b, 1), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, UINT64_MAX, &b, 1), VIRTIO_BLK_S_IOERR);
}

Test(virtio_blk, get_id_returns_the_serial_zero_padded)
{
	start_default();
	struct buf id = data_buf(VIRTIO_BLK_ID_BYTES, true);
	memset(host(id.gpa, id.len), 0xaa, id.len);
	struct request r = post_request(VIRTIO_BLK_T_GET_ID, 0, &id, 1);
	kick();
	wait_all_used();
	cr_assert_eq(status_of(&r), VIRTIO_BLK_S_OK);
	char expect[VIRTIO_BLK_ID_BYTES] = "gureum-serial-1";
	cr_assert_arr_eq(host(id.gpa, id.len), expect, sizeof(expect));
	cr_assert_eq(used_elem_of(r.head).len, VIRTIO_BLK_ID_BYTES + 1);
}

Test(virtio_blk, flush_succeeds_after_writes)
{
	start_default();
	struct buf w = data_buf(4096, false);
	fill_pattern(w, 9);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, 8, &w, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	uint8_t file[4096];
	read_file(8 * 512, file, sizeof(file));
	cr_assert_arr_eq(file, host(w.gpa, 4096), 4096);
}

static struct buf ranges_buf(const struct virtio_blk_discard_write_zeroes *r, unsigned n)
{
	struct buf b = data_buf(n * sizeof(*r), false);
	memcpy(host(b.gpa, b.len), r, b.len);
	return b;
}

static blkcnt_t file_blocks(void)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	return st.st_blocks;
}

/* Writes `len` bytes of pattern at `sector` and makes sure they are on disk. */
static void write_data(uint64_t sector, size_t len, unsigned seed)
{
	struct buf w = data_buf(len, false);
	fill_pattern(w, seed);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, sector, &w, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
}

Test(virtio_blk, discard_punches_the_file)
{
	start_default();
	write_data(0, 1 << 20, 3);
	blkcnt_t before = file_blocks();
	cr_assert_geq(before, (1 << 20) / 512);
	struct virtio_blk_discard_write_zeroes r[2] = {{.sector = 0, .num_sectors = 1024},
						       {.sector = 1024, .num_sectors = 1024}};
	struct buf b = ranges_buf(r, 2);
	cr_assert_eq(run(VIRTIO_BLK_T_DISCARD, 0, &b, 1), VIRTIO_BLK_S_OK);
	cr_assert_lt(file_blocks(), before / 4, "blocks before %ld after %ld", (long)before,
		     (long)file_blocks());
}

Test(virtio_blk, write_zeroes_reads_back_zeroes)
{
	start_default();
	write_data(64, 64 << 10, 5);
	struct virtio_blk_discard_write_zeroes r = {.sector = 72, .num_sectors = 16};
	struct buf b = ranges_buf(&r, 1);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1), VIRTIO_BLK_S_OK);
	r = (struct virtio_blk_discard_write_zeroes){
	    .sector = 96, .num_sectors = 8, .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP};
	b = ranges_buf(&r, 1);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1), VIRTIO_BLK_S_OK);

	struct buf rd = data_buf(64 << 10, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 64, &rd, 1), VIRTIO_BLK_S_OK);
	uint8_t *p = host(rd.gpa, rd.len);
	struct buf zeroed = {rd.gpa + 8 * 512, 16 * 512, true};
	struct buf zeroed2 = {rd.gpa + 32 * 512, 8 * 512, true};
	cr_assert(all_zero(zeroed));
	cr_assert(all_zero(zeroed2));
	cr_assert_neq(p[0], 0, "data before the range kept");
	cr_assert_neq(p[24 * 512 + 1], 0, "data between the ranges kept");
}

/* Without UNMAP the zeroed range stays allocated in the file; with UNMAP it may be punched. */
Test(virtio_blk, write_zeroes_without_unmap_keeps_the_space)
{
	start_default();
	write_data(0, 2 << 20, 11);
	blkcnt_t before = file_blocks();
	struct virtio_blk_discard_write_zeroes r = {.sector = 0, .num_sectors = 2048};
	struct buf b = ranges_buf(&r, 1);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	cr_assert_geq(file_blocks(), before, "no-unmap write zeroes punched the file");
	r = (struct virtio_blk_discard_write_zeroes){
	    .sector = 2048, .num_sectors = 2048, .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP};
	b = ranges_buf(&r, 1);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1), VIRTIO_BLK_S_OK);
	cr_assert_lt(file_blocks(), before * 3 / 4, "unmap write zeroes kept the space");
	struct buf rd = data_buf(2 << 20, true);
	memset(host(rd.gpa, rd.len), 0x77, rd.len);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, &rd, 1), VIRTIO_BLK_S_OK);
	cr_assert(all_zero(rd));
	/* more than one range, or a range over the limit, is refused */
	uint32_t max_sectors, max_seg;
	config(drv.dev, 48, &max_sectors, 4);
	config(drv.dev, 52, &max_seg, 4);
	r = (struct virtio_blk_discard_write_zeroes){.sector = 0, .num_sectors = max_sectors + 1};
	b = ranges_buf(&r, 1);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes two[2] = {{.sector = 0, .num_sectors = 8},
							 {.sector = 8, .num_sectors = 8}};
	b = ranges_buf(two, 2);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1),
		     max_seg >= 2 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
}

Test(virtio_blk, readonly_disk_refuses_writes_but_reads)
{
	uint8_t pattern[512];
	memset(pattern, 0x5a, sizeof(pattern));
	int fd = open(path, O_WRONLY);
	cr_assert_eq(pwrite(fd, pattern, sizeof(pattern), 0), 512);
	close(fd);
	struct disk_config cfg = {.path = path, .readonly = true};
	start_disk(&cfg);
	struct buf w = data_buf(512, false);
	memset(host(w.gpa, 512), 0x11, 512);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, 0, &w, 1), VIRTIO_BLK_S_IOERR);
	struct buf r = data_buf(512, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, &r, 1), VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(host(r.gpa, 512), pattern, 512);
	/* discard was not offered: refused as unsupported, the file untouched */
	struct virtio_blk_discard_write_zeroes range = {.sector = 0, .num_sectors = 1};
	struct buf b = ranges_buf(&range, 1);
	cr_assert_neq(run(VIRTIO_BLK_T_DISCARD, 0, &b, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	uint8_t file[512];
	read_file(0, file, sizeof(file));
	cr_assert_arr_eq(file, pattern, 512);
	cr_assert_not(drv.dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* ---- Malformed requests ------------------------------------------------------------------- */

/* Posts an arbitrary chain whose last buffer is a status byte; returns that byte. */
static uint8_t run_chain(const struct buf *chain, unsigned n)
{
	*(uint8_t *)host(chain[n - 1].gpa, 1) = NO_ANSWER;
	post(chain, n);
	kick();
	wait_all_used();
	return *(volatile uint8_t *)host(chain[n - 1].gpa, 1);
}

static struct buf header_buf(uint32_t type, uint64_t sector, uint32_t len)
{
	struct buf b = data_buf(sizeof(struct virtio_blk_outhdr), false);
	*(struct virtio_blk_outhdr *)host(b.gpa, b.len) =
	    (struct virtio_blk_outhdr){.type = type, .sector = sector};
	b.len = len;
	return b;
}

Test(virtio_blk, malformed_requests_get_an_error_status)
{
	start_default();
	struct buf st = data_buf(1, true);
	/* header shorter than 16 bytes */
	struct buf c1[2] = {header_buf(VIRTIO_BLK_T_IN, 0, 8), st};
	cr_assert_eq(run_chain(c1, 2), VIRTIO_BLK_S_IOERR);
	/* read of a length that is not a multiple of 512 */
	struct buf c2[3] = {header_buf(VIRTIO_BLK_T_IN, 0, 16), data_buf(100, true), st};
	cr_assert_eq(run_chain(c2, 3), VIRTIO_BLK_S_IOERR);
	/* read whose data buffer is device-readable (wrong direction) */
	struct buf c3[3] = {header_buf(VIRTIO_BLK_T_IN, 0, 16), data_buf(512, false), st};
	cr_assert_eq(run_chain(c3, 3), VIRTIO_BLK_S_IOERR);
	/* write whose data buffer is device-writable (wrong direction) */
	struct buf c4[3] = {header_buf(VIRTIO_BLK_T_OUT, 0, 16), data_buf(512, true), st};
	cr_assert_eq(run_chain(c4, 3), VIRTIO_BLK_S_IOERR);
	/* unknown request type */
	struct buf c5[2] = {header_buf(99, 0, 16), st};
	cr_assert_eq(run_chain(c5, 2), VIRTIO_BLK_S_UNSUPP);
	/* discard with the unmap flag (reserved for discard) */
	struct virtio_blk_discard_write_zeroes r = {
	    .sector = 0, .num_sectors = 8, .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP};
	struct buf c6[3] = {header_buf(VIRTIO_BLK_T_DISCARD, 0, 16), ranges_buf(&r, 1), st};
	cr_assert_eq(run_chain(c6, 3), VIRTIO_BLK_S_UNSUPP);
	/* discard with no range, with a partial range, past the end, too many ranges */
	struct buf c7[2] = {header_buf(VIRTIO_BLK_T_DISCARD, 0, 16), st};
	cr_assert_eq(run_chain(c7, 2), VIRTIO_BLK_S_IOERR);
	r.flags = 0;
	struct buf partial = ranges_buf(&r, 1);
	partial.len = 12;
	struct buf c8[3] = {header_buf(VIRTIO_BLK_T_DISCARD, 0, 16), partial, st};
	cr_assert_eq(run_chain(c8, 3), VIRTIO_BLK_S_IOERR);
	r = (struct virtio_blk_discard_write_zeroes){.sector = SECTORS - 4, .num_sectors = 8};
	struct buf c9[3] = {header_buf(VIRTIO_BLK_T_DISCARD, 0, 16), ranges_buf(&r, 1), st};
	cr_assert_eq(run_chain(c9, 3), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes many[64];
	for (unsigned i = 0; i < 64; i++)
		many[i] = (struct virtio_blk_discard_write_zeroes){.sector = i, .num_sectors = 1};
	struct buf c10[3] = {header_buf(VIRTIO_BLK_T_DISCARD, 0, 16), ranges_buf(many, 64), st};
	cr_assert_eq(run_chain(c10, 3), VIRTIO_BLK_S_IOERR);
	/* a flush carrying data */
	struct buf c11[3] = {header_buf(VIRTIO_BLK_T_FLUSH, 0, 16), data_buf(512, false), st};
	cr_assert_eq(run_chain(c11, 3), VIRTIO_BLK_S_IOERR);

	cr_assert_not(drv.dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* and the device still works */
	struct buf b = data_buf(512, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, &b, 1), VIRTIO_BLK_S_OK);
}

/* The counters API's view: each request answered OK counted by its type, reads and writes with
 * their bytes, and every request answered with an error, whatever its type. */
Test(virtio_blk, counters_count_answered_requests_and_their_bytes)
{
	start_default();
	struct buf w[2] = {data_buf(4096, false), data_buf(512, false)};
	fill_pattern(w[0], 1);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, 8, w, 2), VIRTIO_BLK_S_OK);
	struct buf r = data_buf(8192, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, &r, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 16, &r, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	struct virtio_blk_discard_write_zeroes range = {.sector = 64, .num_sectors = 8};
	struct buf b = ranges_buf(&range, 1);
	cr_assert_eq(run(VIRTIO_BLK_T_DISCARD, 0, &b, 1), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1), VIRTIO_BLK_S_OK);
	struct buf st = data_buf(1, true);
	struct buf unknown[2] = {header_buf(99, 0, 16), st};
	cr_assert_eq(run_chain(unknown, 2), VIRTIO_BLK_S_UNSUPP);
	struct buf odd[3] = {header_buf(VIRTIO_BLK_T_IN, 0, 16), data_buf(100, true), st};
	cr_assert_eq(run_chain(odd, 3), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, SECTORS, &r, 1), VIRTIO_BLK_S_IOERR, "past the end");

	struct virtio_blk_counters c;
	virtio_blk_get_counters(drv.dev, &c);
	cr_assert_eq(c.write_requests, 1);
	cr_assert_eq(c.write_bytes, 4096 + 512);
	cr_assert_eq(c.read_requests, 2, "the read past the end is an error, not a read");
	cr_assert_eq(c.read_bytes, 2 * 8192);
	cr_assert_eq(c.flush_requests, 1);
	cr_assert_eq(c.discard_requests, 1);
	cr_assert_eq(c.write_zeroes_requests, 1);
	cr_assert_eq(c.errors, 3);
}

/* A request larger than seg_max * size_max (here: one guest buffer listed twice) is refused;
 * one just below is served. */
Test(virtio_blk, oversized_request_is_refused)
{
	int fd = open(path, O_RDWR);
	cr_assert_eq(ftruncate(fd, 1ull << 30), 0);
	close(fd);
	start_default();
	uint32_t seg_max, size_max;
	config(drv.dev, 12, &seg_max, 4);
	config(drv.dev, 8, &size_max, 4);
	uint64_t limit = (uint64_t)seg_max * size_max;
	uint32_t half = (uint32_t)(limit / 2 + 4096) & ~511u;
	struct buf big = data_buf(half, true);
	struct buf twice[2] = {big, big};
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, twice, 2), VIRTIO_BLK_S_IOERR);
	twice[0].len = twice[1].len = (uint32_t)(limit / 2 - 4096) & ~511u;
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, twice, 2), VIRTIO_BLK_S_OK);

	/* Four of them at once exceed the bytes the device keeps in flight: the last ones wait
	 * for completions and are then taken without another kick. */
	struct request r[4];
	for (unsigned i = 0; i < 4; i++)
		r[i] = post_request(VIRTIO_BLK_T_IN, (uint64_t)i << 17, twice, 2);
	kick();
	wait_all_used();
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(status_of(&r[i]), VIRTIO_BLK_S_OK, "request %u", i);
}

Test(virtio_blk, chain_without_status_byte_fails_the_device_not_the_vmm)
{
	start_default();
	struct buf c[2] = {header_buf(VIRTIO_BLK_T_IN, 0, 16), data_buf(512, false)};
	post(c, 2);
	kick();
	for (unsigned waited = 0; !(drv.dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET); waited++) {
		cr_assert_lt(waited, TIMEOUT_MS);
		sleep_ms(1);
	}
	cr_assert_eq(used_idx(), 0, "the chain cannot be answered");
}

/* ---- Concurrency, batching, reset ------------------------------------------------------------ */

#define MANY 80 /* three descriptors each: 240 of the 256 */

Test(virtio_blk, many_requests_in_flight_all_complete_with_their_data)
{
	start_default();
	struct buf w[MANY];
	struct request req[MANY];
	for (unsigned i = 0; i < MANY; i++) {
		w[i] = data_buf(4096, false);
		fill_pattern(w[i], 100 + i);
		req[i] = post_request(VIRTIO_BLK_T_OUT, (uint64_t)i * 24, &w[i], 1);
	}
	kick();
	wait_all_used();
	for (unsigned i = 0; i < MANY; i++)
		cr_assert_eq(status_of(&req[i]), VIRTIO_BLK_S_OK, "write %u", i);
	drv.next_desc = 0;
	struct buf r[MANY];
	for (unsigned i = 0; i < MANY; i++) {
		r[i] = data_buf(4096, true);
		req[i] = post_request(VIRTIO_BLK_T_IN, (uint64_t)i * 24, &r[i], 1);
	}
	kick();
	wait_all_used();
	for (unsigned i = 0; i < MANY; i++) {
		cr_assert_eq(status_of(&req[i]), VIRTIO_BLK_S_OK, "read %u", i);
		cr_assert(has_pattern(r[i], 100 + i), "read %u has write %u's data", i, i);
	}
	cr_assert_leq(drv.interrupts, 2 * MANY);
}

Test(virtio_blk, requests_answered_together_raise_one_interrupt)
{
	start_default();
	/* All 16 become available with one index update, as a driver's batch does, so the
	 * device cannot see part of them early. */
	drv.hold_avail = true;
	for (unsigned i = 0; i < 16; i++) {
		struct buf id = data_buf(VIRTIO_BLK_ID_BYTES, true);
		post_request(VIRTIO_BLK_T_GET_ID, 0, &id, 1);
	}
	unsigned before = __atomic_load_n(&drv.interrupts, __ATOMIC_SEQ_CST);
	publish();
	kick();
	wait_all_used();
	sleep_ms(20);
	cr_assert_eq(__atomic_load_n(&drv.interrupts, __ATOMIC_SEQ_CST) - before, 1);
}

/* What a driver does after a reset: fresh rings, negotiation, DRIVER_OK. */
static void reinitialize(void)
{
	virtio_device_write_status(drv.dev, 0);
	memset(drv.used, 0, 6 + 8 * QSIZE);
	memset(drv.avail, 0, 6 + 2 * QSIZE);
	drv.avail_idx = 0;
	drv.next_desc = 0;
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	virtio_device_write_status(drv.dev, st);
	uint64_t f = default_features(drv.dev);
	virtio_device_write_features(drv.dev, 0, (uint32_t)f);
	virtio_device_write_features(drv.dev, 1, (uint32_t)(f >> 32));
	virtio_device_write_status(drv.dev, st | VIRTIO_STATUS_FEATURES_OK);
	struct virtqueue *vq = &drv.dev->queues[0];
	vq->size = QSIZE;
	vq->desc_addr = DESC_GPA;
	vq->avail_addr = AVAIL_GPA;
	vq->used_addr = USED_GPA;
	virtio_device_enable_queue(drv.dev, 0);
	virtio_device_write_status(drv.dev,
				   st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	cr_assert(drv.dev->started);
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(virtio_blk, reset_waits_for_requests_and_answers_none_afterwards)
{
	start_default();
	for (unsigned i = 0; i < 64; i++) {
		struct buf w = data_buf(64 << 10, false);
		fill_pattern(w, i);
		post_request(VIRTIO_BLK_T_OUT, (uint64_t)i * 128, &w, 1);
	}
	kick();
	/* Reset as soon as the device has taken every chain, with most still in flight. */
	for (unsigned waited = 0;
	     __atomic_load_n(&drv.dev->queues[0].last_avail_idx, __ATOMIC_ACQUIRE) != 64;
	     waited++) {
		cr_assert_lt(waited, TIMEOUT_MS);
		sleep_ms(1);
	}
	virtio_device_write_status(drv.dev, 0);
	cr_assert_eq(drv.dev->status, 0);
	/* Nothing in the rings changes once the reset has returned. */
	uint16_t idx = used_idx();
	uint8_t ring_copy[8 * QSIZE];
	memcpy(ring_copy, drv.used->ring, sizeof(ring_copy));
	sleep_ms(100);
	cr_assert_eq(used_idx(), idx);
	cr_assert_arr_eq(drv.used->ring, ring_copy, sizeof(ring_copy));

	/* The driver can bring it up again, on fresh rings. */
	reinitialize();
	struct buf r = data_buf(512, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, &r, 1), VIRTIO_BLK_S_OK);
}

Test(virtio_blk, failed_device_with_requests_in_flight_stays_idle_and_recovers)
{
	start_default();
	for (unsigned i = 0; i < 32; i++) {
		struct buf w = data_buf(64 << 10, false);
		post_request(VIRTIO_BLK_T_OUT, (uint64_t)i * 128, &w, 1);
	}
	struct buf bad[2] = {header_buf(VIRTIO_BLK_T_IN, 0, 16), data_buf(512, false)};
	post(bad, 2);
	kick();
	for (unsigned waited = 0; !(drv.dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET); waited++) {
		cr_assert_lt(waited, TIMEOUT_MS);
		sleep_ms(1);
	}
	/* The writes complete while the device is failed: nobody may spin on their eventfd. */
	double before = cpu_seconds();
	sleep_ms(500);
	double used = cpu_seconds() - before;
	cr_log_info("%.3f s of CPU in 0.5 s while failed", used);
	cr_assert_lt(used, 0.05, "%.3f s of CPU in 0.5 s while failed", used);
	reinitialize();
	struct buf r = data_buf(512, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 0, &r, 1), VIRTIO_BLK_S_OK);
}

/* ---- qcow2 ------------------------------------------------------------------------------------
 */

Test(virtio_blk, qcow2_image_reads_and_writes)
{
	unlink(path);
	struct qcow2_create_options opt = qcow2_default_options(DISK_SIZE);
	struct block_error err;
	cr_assert_eq(qcow2_create(path, &opt, &err), 0, "%s", err.message);
	struct disk_config cfg = {.path = path};
	start_disk(&cfg);
	uint64_t capacity;
	config(drv.dev, 0, &capacity, 8);
	cr_assert_eq(capacity, SECTORS);

	/* Fresh clusters (allocating writes), in pieces that straddle a cluster boundary. */
	uint64_t sector = (64 << 10) / 512 - 4;
	struct buf w[2] = {data_buf(1024, false), data_buf(3072, false)};
	fill_pattern(w[0], 7);
	fill_pattern(w[1], 8);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, sector, w, 2), VIRTIO_BLK_S_OK);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	struct buf r[2] = {data_buf(1024, true), data_buf(3072, true)};
	cr_assert_eq(run(VIRTIO_BLK_T_IN, sector, r, 2), VIRTIO_BLK_S_OK);
	cr_assert(has_pattern(r[0], 7));
	cr_assert(has_pattern(r[1], 8));
	/* unwritten space reads as zeroes */
	struct buf z = data_buf(4096, true);
	memset(host(z.gpa, z.len), 0xff, z.len);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, 2048, &z, 1), VIRTIO_BLK_S_OK);
	cr_assert(all_zero(z));
}

/* ---- Changing images under a paused VM (disk snapshots) ------------------------------------ */

static void write_pattern_at(uint64_t sector, unsigned seed)
{
	struct buf w = data_buf(4096, false);
	fill_pattern(w, seed);
	cr_assert_eq(run(VIRTIO_BLK_T_OUT, sector, &w, 1), VIRTIO_BLK_S_OK);
}

static bool reads_pattern_at(uint64_t sector, unsigned seed)
{
	struct buf r = data_buf(4096, true);
	cr_assert_eq(run(VIRTIO_BLK_T_IN, sector, &r, 1), VIRTIO_BLK_S_OK);
	return has_pattern(r, seed);
}

static bool file_has_pattern_at(uint64_t sector, unsigned seed)
{
	uint8_t got[4096];
	read_file((off_t)sector * 512, got, sizeof(got));
	for (uint32_t i = 0; i < sizeof(got); i++)
		if (got[i] != (uint8_t)(seed * 31 + i * 7 + (i >> 9)))
			return false;
	return true;
}

/* The guest's writes go to the overlay from the switch on; the image keeps what it had, and the
 * guest reads both through the device as one disk. */
Test(virtio_blk, paused_disk_goes_on_in_an_overlay_and_its_image_stays)
{
	start_default();
	write_pattern_at(100, 31);
	virtio_device_pause(drv.dev);
	char overlay[512], err[512] = "";
	struct block_error berr;
	cr_assert_eq(block_overlay_create(path, "raw", overlay, sizeof(overlay), &berr), 0, "%s",
		     berr.message);
	struct disk_config next = {.path = overlay, .format = "qcow2"};
	cr_assert_eq(virtio_blk_replace_image(drv.dev, &next, err, sizeof(err)), 0, "%s", err);
	virtio_device_resume(drv.dev);

	cr_assert(reads_pattern_at(100, 31), "the image's data does not show through");
	write_pattern_at(100, 32);
	write_pattern_at(200, 33);
	cr_assert_eq(run(VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK);
	cr_assert(reads_pattern_at(100, 32));
	cr_assert(reads_pattern_at(200, 33));
	cr_assert(file_has_pattern_at(100, 31), "the image changed after the switch");
	uint8_t zero[4096], got[4096];
	memset(zero, 0, sizeof(zero));
	read_file(200 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, zero, sizeof(got), "a write after the switch reached the image");
	virtio_device_destroy(drv.dev);
	drv.dev = NULL;
	unlink(overlay);
}

/* An image of another size is refused, and the disk goes on in the one it had. */
Test(virtio_blk, replacing_with_an_image_of_another_size_is_refused)
{
	start_default();
	char other[300];
	snprintf(other, sizeof(other), "%s/other.qcow2", dir);
	struct qcow2_create_options opt = qcow2_default_options(2 * DISK_SIZE);
	struct block_error berr;
	cr_assert_eq(qcow2_create(other, &opt, &berr), 0, "%s", berr.message);
	virtio_device_pause(drv.dev);
	struct disk_config next = {.path = other};
	char err[512] = "";
	cr_assert_lt(virtio_blk_replace_image(drv.dev, &next, err, sizeof(err)), 0);
	cr_assert(strstr(err, "other.qcow2") && strstr(err, "bytes"), "%s", err);
	struct disk_config missing = {.path = "/nonexistent/overlay.qcow2"};
	cr_assert_lt(virtio_blk_replace_image(drv.dev, &missing, err, sizeof(err)), 0);
	virtio_device_resume(drv.dev);
	write_pattern_at(8, 34);
	cr_assert(reads_pattern_at(8, 34));
	cr_assert(file_has_pattern_at(8, 34), "the disk left its image");
	unlink(other);
}
