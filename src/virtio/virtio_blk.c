/* virtio-blk (virtio 1.2, section 5.2) on the block layer: one request queue of 256 entries,
 * requests served asynchronously (block_submit), completions collected when the block layer's
 * eventfd fires and returned to the guest in batches with one interrupt per batch.
 *
 * Data is not copied here: every guest buffer of a chain is already a contiguous piece of host
 * memory (guest RAM), so a read or write of n buffers becomes one vectored block request over
 * them (a readv/writev into guest memory where the image maps the range in place; the block
 * layer bounces the rest, e.g. qcow2 allocating writes).
 *
 * Everything in a request is guest-controlled and checked before use (header size and type,
 * direction and size of the data, sector ranges against the capacity without overflow, discard
 * segments). A request that is wrong gets an IOERR (or UNSUPP) status; only a chain without a
 * writable status byte, which cannot be answered at all, fails the device.
 *
 * I/O limits (bps=, iops=; io_throttle.h): a chain whose tokens are not there yet is held,
 * kicks stay off, and a timer on the device thread takes it up when they are; the guest sees
 * slower I/O, never an error. A pause does not wait for tokens: it serves the held chain at
 * once (the buckets go into debt), so every chain taken is answered before it returns. */
#include "virtio/virtio_blk.h"

#include "block/block.h"
#include "lib/log.h"
#include "virtio/io_throttle.h"
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#define BLK_QUEUE_SIZE 256
/* Data buffers per request that the driver may use (Linux adds the header and the status), and
 * the size of each: together they bound a request (63.5 MiB). Larger ones are refused, since
 * the block layer may need a bounce buffer as large as the request. */
#define BLK_SEG_MAX	      254
#define BLK_SIZE_MAX	      (256u << 10)
#define BLK_MAX_REQUEST_BYTES ((uint64_t)BLK_SEG_MAX * BLK_SIZE_MAX)
/* Discard: ranges per request and sectors per range. 1 GiB per range keeps one synchronous
 * fallocate reasonably short on the device thread. */
#define BLK_MAX_RANGE_SEGS    32
#define BLK_MAX_RANGE_SECTORS (1u << 21)
/* Write zeroes: one range of up to 32 MiB, since without UNMAP it is a write of zeroes (which
 * the block layer may bounce). */
#define BLK_MAX_WRITE_ZEROES_SEGS    1
#define BLK_MAX_WRITE_ZEROES_SECTORS (1u << 16)
/* The zero buffer such writes list as many times as needed. */
#define BLK_ZERO_CHUNK (1u << 20)
/* Discards are rounded by the host file system to its blocks anyway; 4 KiB tells the guest. */
#define BLK_DISCARD_ALIGNMENT_SECTORS 8
/* More requests than the queue has entries can only come from a driver reusing descriptors
 * that are still in flight; stop taking new ones until some complete. */
#define BLK_MAX_IN_FLIGHT (2 * BLK_QUEUE_SIZE)
/* Data in flight at which no more chains are taken until some complete: bounds the memory a
 * guest can make us allocate for bounce buffers (plus one request). */
#define BLK_MAX_BYTES_IN_FLIGHT (128ull << 20)

struct virtio_blk {
	struct virtio_device vdev; /* first: the core hands us a pointer to it */
	char name[32];
	struct block_device *disk;
	int completion_fd;
	bool watching;
	/* The device is being reset: completions only free their requests, the guest's memory
	 * and rings belong to a driver that has forgotten them. */
	bool quiescing;
	bool throttled; /* stopped taking chains at one of the in-flight limits */
	unsigned in_flight;
	uint64_t bytes_in_flight;
	unsigned pushed;			  /* chains returned since the last interrupt */
	bool bad_request_logged, io_error_logged; /* each kind is logged once */
	uint64_t capacity;
	char serial[VIRTIO_BLK_ID_BYTES];
	void *zeroes; /* BLK_ZERO_CHUNK zero bytes, only ever read */
	struct virtio_blk_config config;
	struct virtq_chain chain; /* scratch: the chain being parsed */
	/* chain holds a chain taken from the ring that waits for the I/O limits' tokens */
	bool held;
	struct io_throttle throttle;
	struct virtio_blk_counters counters; /* under the device lock */
};

/* One guest request in flight: its block requests (one for data or flush, one per range). */
struct blk_request {
	struct virtio_blk *blk;
	uint16_t head;
	uint32_t type;	 /* VIRTIO_BLK_T_*, for the counters */
	uint8_t *status; /* the last writable byte of the chain, in guest RAM */
	uint32_t written;
	uint64_t bytes; /* data length, counted in bytes_in_flight */
	unsigned pending;
	int result;
	unsigned nr_io;
	struct block_request *io; /* nr_io of them, after the iovecs */
	struct iovec iov[];	  /* IN/OUT: the data buffers (one vectored request) */
};

static struct virtio_blk *blk_of(struct virtio_device *d)
{
	return (struct virtio_blk *)d;
}

/* The driver broke the protocol: the core stops the device until the driver resets it. The
 * core runs no completion handler meanwhile, so the block layer's eventfd would stay readable
 * and spin the device thread: stop watching it until the next start (reset drains the
 * requests still in flight). */
static void __attribute__((format(printf, 2, 3)))
blk_fail(struct virtio_blk *blk, const char *fmt, ...)
{
	char reason[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	virtio_device_fail(&blk->vdev, "%s", reason);
	if (blk->watching)
		virtio_device_watch_modify(&blk->vdev, blk->completion_fd, 0);
}

/* ---- Answering requests -------------------------------------------------------------- */

static void answer(struct virtio_blk *blk, uint16_t head, uint8_t *status, uint8_t value,
		   uint32_t written)
{
	*(volatile uint8_t *)status = value;
	virtq_push(&blk->vdev.queues[0], head, written);
	blk->pushed++;
}

/* A request answered OK: its type's count, and its data for reads and writes. */
static void count_done(struct virtio_blk *blk, uint32_t type, uint64_t bytes)
{
	struct virtio_blk_counters *c = &blk->counters;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		c->read_requests++;
		c->read_bytes += bytes;
		break;
	case VIRTIO_BLK_T_OUT:
		c->write_requests++;
		c->write_bytes += bytes;
		break;
	case VIRTIO_BLK_T_FLUSH:
		c->flush_requests++;
		break;
	case VIRTIO_BLK_T_DISCARD:
		c->discard_requests++;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		c->write_zeroes_requests++;
		break;
	}
}

static void io_complete(struct block_request *io, int result)
{
	struct blk_request *req = io->opaque;
	struct virtio_blk *blk = req->blk;
	if (result < 0 && req->result == 0)
		req->result = result;
	if (--req->pending > 0)
		return;
	if (!blk->quiescing) {
		if (req->result < 0 && !blk->io_error_logged) {
			blk->io_error_logged = true;
			log_warn("%s: I/O error on '%s': %s; the guest sees an I/O error (further "
				 "errors are not logged)",
				 blk->name, blk->disk->filename, strerror(-req->result));
		}
		answer(blk, req->head, req->status,
		       req->result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, req->written);
		if (req->result < 0)
			blk->counters.errors++;
		else
			count_done(blk, req->type, req->bytes);
	}
	blk->in_flight--;
	blk->bytes_in_flight -= req->bytes;
	free(req);
}

static struct blk_request *request_new(struct virtio_blk *blk, const struct virtq_chain *c,
				       uint8_t *status, unsigned nr_io, unsigned nr_iov)
{
	size_t iov_bytes = nr_iov * sizeof(struct iovec);
	struct blk_request *req =
	    calloc(1, sizeof(*req) + iov_bytes + nr_io * sizeof(struct block_request));
	if (!req)
		return NULL;
	req->io = (struct block_request *)((char *)req->iov + iov_bytes);
	req->blk = blk;
	req->head = c->head;
	req->status = status;
	req->written = 1;
	req->nr_io = nr_io;
	for (unsigned i = 0; i < nr_io; i++)
		req->io[i] = (struct block_request){.complete = io_complete, .opaque = req};
	return req;
}

/* Hands every piece to the block layer; completions arrive through io_complete. */
static void request_submit(struct virtio_blk *blk, struct blk_request *req)
{
	blk->in_flight++;
	blk->bytes_in_flight += req->bytes;
	req->pending = req->nr_io;
	for (unsigned i = 0; i < req->nr_io; i++)
		block_submit(blk->disk, &req->io[i]);
}

/* ---- Parsing a chain ------------------------------------------------------------------ */

/* Host address of the chain's last device-writable byte, or NULL if it has none. */
static uint8_t *find_status_byte(const struct virtq_chain *c)
{
	for (unsigned i = c->nr_out + c->nr_in; i > c->nr_out; i--) {
		const struct iovec *iov = &c->iov[i - 1];
		if (iov->iov_len > 0)
			return (uint8_t *)iov->iov_base + iov->iov_len - 1;
	}
	return NULL;
}

/* True when [sector, sector + bytes/512) lies within the disk (no overflow possible). */
static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t sectors = bytes >> VIRTIO_BLK_SECTOR_SHIFT;
	return sector <= blk->capacity && sectors <= blk->capacity - sector;
}

/* Counts the non-empty buffers among iov[first .. first+n) once `skip` bytes are left out at
 * the start and only `len` bytes are taken. */
static unsigned count_pieces(const struct iovec *iov, unsigned n, size_t skip, size_t len)
{
	unsigned pieces = 0;
	for (unsigned i = 0; i < n && len > 0; i++) {
		size_t part = iov[i].iov_len;
		if (skip >= part) {
			skip -= part;
			continue;
		}
		part -= skip;
		skip = 0;
		len -= part < len ? part : len;
		pieces++;
	}
	return pieces;
}

/* Fills req->iov with the buffer pieces holding the data. */
static void fill_pieces(struct blk_request *req, const struct iovec *iov, unsigned n, size_t skip,
			size_t len)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len > 0; i++) {
		size_t part = iov[i].iov_len;
		if (skip >= part) {
			skip -= part;
			continue;
		}
		part -= skip;
		if (part > len)
			part = len;
		req->iov[k++] = (struct iovec){(uint8_t *)iov[i].iov_base + skip, part};
		len -= part;
		skip = 0;
	}
}

/* IN and OUT: the data is the writable part minus the status byte (IN), or the readable part
 * after the header (OUT). Returns a status byte value to answer at once, or -1 when the request
 * was submitted. */
static int start_data(struct virtio_blk *blk, const struct virtq_chain *c,
		      const struct virtio_blk_outhdr *hdr, uint8_t *status)
{
	bool write = hdr->type == VIRTIO_BLK_T_OUT;
	size_t len = write ? c->out_bytes - sizeof(*hdr) : c->in_bytes - 1;
	bool directions_ok = write ? c->in_bytes == 1 : c->out_bytes == sizeof(*hdr);
	if (!directions_ok || len % VIRTIO_BLK_SECTOR_SIZE != 0 || len > BLK_MAX_REQUEST_BYTES ||
	    !range_ok(blk, hdr->sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (write && blk->disk->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	const struct iovec *iov = write ? c->iov : c->iov + c->nr_out;
	unsigned n = write ? c->nr_out : c->nr_in;
	size_t skip = write ? sizeof(*hdr) : 0;
	unsigned pieces = count_pieces(iov, n, skip, len);
	struct blk_request *req = request_new(blk, c, status, 1, pieces);
	if (!req)
		return VIRTIO_BLK_S_IOERR;
	fill_pieces(req, iov, n, skip, len);
	req->type = hdr->type;
	req->io[0].op = write ? BLOCK_OP_WRITE : BLOCK_OP_READ;
	req->io[0].offset = hdr->sector << VIRTIO_BLK_SECTOR_SHIFT;
	req->io[0].length = len;
	req->io[0].iov = req->iov;
	req->io[0].iovcnt = pieces;
	req->bytes = len;
	if (!write)
		req->written = (uint32_t)c->in_bytes;
	request_submit(blk, req);
	return -1;
}

static int start_flush(struct virtio_blk *blk, const struct virtq_chain *c, uint8_t *status)
{
	if (c->out_bytes != sizeof(struct virtio_blk_outhdr) || c->in_bytes != 1)
		return VIRTIO_BLK_S_IOERR;
	struct blk_request *req = request_new(blk, c, status, 1, 0);
	if (!req)
		return VIRTIO_BLK_S_IOERR;
	req->type = VIRTIO_BLK_T_FLUSH;
	req->io[0].op = BLOCK_OP_FLUSH;
	request_submit(blk, req);
	return -1;
}

/* Checks one discard / write-zeroes range. Returns a status, or -1 when it is acceptable. */
static int check_range(const struct virtio_blk *blk,
		       const struct virtio_blk_discard_write_zeroes *r, bool is_discard)
{
	/* Discard has no flags at all; write zeroes knows only UNMAP (spec 5.2.6.2). */
	uint32_t allowed = is_discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	if (r->flags & ~allowed)
		return VIRTIO_BLK_S_UNSUPP;
	uint32_t max = is_discard ? BLK_MAX_RANGE_SECTORS : BLK_MAX_WRITE_ZEROES_SECTORS;
	if (r->num_sectors > max ||
	    !range_ok(blk, r->sector, (uint64_t)r->num_sectors << VIRTIO_BLK_SECTOR_SHIFT))
		return VIRTIO_BLK_S_IOERR;
	return -1;
}

/* Write zeroes without UNMAP must leave the range allocated (a guest zeroing for fallocate
 * semantics counts on the space; QEMU's rule too), and the block layer's write-zeroes may punch
 * holes: it becomes a write of the zero buffer listed as often as needed. */
static bool writes_zero_bytes(const struct virtio_blk_discard_write_zeroes *r, bool is_discard)
{
	return !is_discard && !(r->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
}

static unsigned zero_chunks(uint64_t length)
{
	return (unsigned)((length + BLK_ZERO_CHUNK - 1) / BLK_ZERO_CHUNK);
}

/* Turns io into a vectored write of `length` zero bytes, its buffers taken from *iov. */
static void make_zero_write(struct virtio_blk *blk, struct block_request *io, struct iovec **iov)
{
	io->op = BLOCK_OP_WRITE;
	io->iov = *iov;
	io->iovcnt = zero_chunks(io->length);
	for (uint64_t left = io->length; left > 0;) {
		size_t part = left < BLK_ZERO_CHUNK ? (size_t)left : BLK_ZERO_CHUNK;
		*(*iov)++ = (struct iovec){blk->zeroes, part};
		left -= part;
	}
}

/* DISCARD and WRITE_ZEROES: an array of ranges follows the header. Write zeroes with UNMAP goes
 * to the block layer's write-zeroes, which punches holes where the file system can. */
static int start_ranges(struct virtio_blk *blk, const struct virtq_chain *c,
			const struct virtio_blk_outhdr *hdr, uint8_t *status)
{
	bool is_discard = hdr->type == VIRTIO_BLK_T_DISCARD;
	unsigned feature = is_discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
	if (!virtio_has_feature(&blk->vdev, feature))
		return VIRTIO_BLK_S_UNSUPP;
	struct virtio_blk_discard_write_zeroes ranges[BLK_MAX_RANGE_SEGS];
	size_t bytes = c->out_bytes - sizeof(*hdr);
	size_t count = bytes / sizeof(ranges[0]);
	size_t max_count = is_discard ? BLK_MAX_RANGE_SEGS : BLK_MAX_WRITE_ZEROES_SEGS;
	if (c->in_bytes != 1 || bytes % sizeof(ranges[0]) != 0 || count == 0 || count > max_count ||
	    blk->disk->read_only)
		return VIRTIO_BLK_S_IOERR;
	virtq_chain_read(c, sizeof(*hdr), ranges, bytes);
	for (size_t i = 0; i < count; i++) {
		int verdict = check_range(blk, &ranges[i], is_discard);
		if (verdict >= 0)
			return verdict;
	}
	unsigned nr_iov = 0;
	for (size_t i = 0; i < count; i++)
		if (writes_zero_bytes(&ranges[i], is_discard))
			nr_iov +=
			    zero_chunks((uint64_t)ranges[i].num_sectors << VIRTIO_BLK_SECTOR_SHIFT);
	struct blk_request *req = request_new(blk, c, status, (unsigned)count, nr_iov);
	if (!req)
		return VIRTIO_BLK_S_IOERR;
	req->type = hdr->type;
	struct iovec *iov = req->iov;
	for (size_t i = 0; i < count; i++) {
		struct block_request *io = &req->io[i];
		io->op = is_discard ? BLOCK_OP_DISCARD : BLOCK_OP_WRITE_ZEROES;
		io->offset = ranges[i].sector << VIRTIO_BLK_SECTOR_SHIFT;
		io->length = (uint64_t)ranges[i].num_sectors << VIRTIO_BLK_SECTOR_SHIFT;
		if (writes_zero_bytes(&ranges[i], is_discard)) {
			make_zero_write(blk, io, &iov);
			req->bytes += io->length;
		}
	}
	request_submit(blk, req);
	return -1;
}

/* GET_ID: the serial, zero padded to 20 bytes (or as much as the buffer holds). */
static int answer_get_id(struct virtio_blk *blk, const struct virtq_chain *c, uint32_t *written)
{
	if (c->out_bytes != sizeof(struct virtio_blk_outhdr))
		return VIRTIO_BLK_S_IOERR;
	size_t room = c->in_bytes - 1;
	size_t n = room < sizeof(blk->serial) ? room : sizeof(blk->serial);
	virtq_chain_write(c, 0, blk->serial, n);
	*written = (uint32_t)n + 1;
	return VIRTIO_BLK_S_OK;
}

/* Starts one request. Returns 0, or -1 when the chain cannot be answered (device failed). */
static int handle_chain(struct virtio_blk *blk, const struct virtq_chain *c)
{
	uint8_t *status = find_status_byte(c);
	if (!status) {
		blk_fail(blk, "request without a writable status byte");
		return -1;
	}
	struct virtio_blk_outhdr hdr = {0};
	uint32_t written = 1;
	int verdict;
	if (virtq_chain_read(c, 0, &hdr, sizeof(hdr)) < sizeof(hdr)) {
		verdict = VIRTIO_BLK_S_IOERR;
	} else {
		switch (hdr.type) {
		case VIRTIO_BLK_T_IN:
		case VIRTIO_BLK_T_OUT:
			verdict = start_data(blk, c, &hdr, status);
			break;
		case VIRTIO_BLK_T_FLUSH:
			verdict = start_flush(blk, c, status);
			break;
		case VIRTIO_BLK_T_GET_ID:
			verdict = answer_get_id(blk, c, &written);
			break;
		case VIRTIO_BLK_T_DISCARD:
		case VIRTIO_BLK_T_WRITE_ZEROES:
			verdict = start_ranges(blk, c, &hdr, status);
			break;
		default:
			verdict = VIRTIO_BLK_S_UNSUPP;
			break;
		}
	}
	if (verdict == VIRTIO_BLK_S_IOERR && !blk->bad_request_logged) {
		blk->bad_request_logged = true;
		log_warn("%s: refused an invalid request (type %u, sector %llu, %zu bytes out, %zu "
			 "in) with an I/O error; further ones are not logged",
			 blk->name, hdr.type, (unsigned long long)hdr.sector, c->out_bytes,
			 c->in_bytes);
	}
	if (verdict >= 0)
		answer(blk, c->head, status, (uint8_t)verdict, written);
	if (verdict == VIRTIO_BLK_S_IOERR || verdict == VIRTIO_BLK_S_UNSUPP)
		blk->counters.errors++;
	return 0;
}

/* ---- Queue and completion processing -------------------------------------------------- */

static void notify_if_pushed(struct virtio_blk *blk)
{
	if (blk->pushed == 0)
		return;
	blk->pushed = 0;
	virtio_device_notify(&blk->vdev, 0);
}

static bool at_limit(const struct virtio_blk *blk)
{
	return blk->in_flight >= BLK_MAX_IN_FLIGHT ||
	       blk->bytes_in_flight >= BLK_MAX_BYTES_IN_FLIGHT;
}

/* The data bytes a chain moves, as the bps= limit counts them: reads and writes (a malformed
 * one is counted as it claims; it is refused anyway). */
static uint64_t chain_bytes(const struct virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	if (virtq_chain_read(c, 0, &hdr, sizeof(hdr)) < sizeof(hdr))
		return 0;
	if (hdr.type == VIRTIO_BLK_T_IN && c->in_bytes > 0)
		return c->in_bytes - 1;
	if (hdr.type == VIRTIO_BLK_T_OUT)
		return c->out_bytes - sizeof(hdr);
	return 0;
}

/* Whether blk->chain may go now under the I/O limits; if not, it is held and the timer set
 * for when its tokens will be there. */
static bool admit_chain(struct virtio_blk *blk)
{
	uint64_t wait = io_throttle_admit(&blk->throttle, chain_bytes(&blk->chain));
	blk->held = wait != 0;
	if (blk->held)
		io_throttle_arm(&blk->throttle, wait);
	return !blk->held;
}

/* Takes chains until the ring is empty (kicks suppressed meanwhile) or too many requests are
 * in flight, in which case the completion handler resumes, or a chain must wait for the I/O
 * limits, in which case the throttle's timer resumes (kicks stay off meanwhile: the queue
 * takes nothing more, the guest's requests wait in the ring). */
static void process_queue(struct virtio_blk *blk)
{
	struct virtqueue *vq = &blk->vdev.queues[0];
	blk->throttled = false;
	for (;;) {
		virtq_disable_kicks(vq);
		while (!at_limit(blk)) {
			if (!blk->held) {
				int got = virtq_pop(vq, &blk->chain);
				if (got < 0) {
					blk_fail(blk, "%s", vq->error);
					return;
				}
				if (got == 0)
					break;
			}
			if (blk->throttle.limited && !admit_chain(blk))
				return;
			blk->held = false;
			if (handle_chain(blk, &blk->chain) < 0)
				return;
		}
		if (at_limit(blk)) {
			blk->throttled = true;
			return;
		}
		if (!virtq_enable_kicks(vq))
			return;
	}
}

static void blk_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_blk *blk = blk_of(d);
	if (index != 0)
		return;
	process_queue(blk);
	/* Requests the backend finished while they were submitted (page-cache hits on io_uring)
	 * are answered in this same pass and interrupt, not after another trip through epoll. */
	if (blk->in_flight > 0 && !(d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		block_poll(blk->disk);
	notify_if_pushed(blk);
}

/* The block layer's eventfd: run the finished requests' callbacks, then one interrupt. */
static void blk_on_completions(struct virtio_device *d, int fd, uint32_t events)
{
	(void)fd;
	struct virtio_blk *blk = blk_of(d);
	(void)events;
	block_poll(blk->disk);
	if (blk->throttled && blk->vdev.started)
		process_queue(blk);
	notify_if_pushed(blk);
}

/* The throttle's timer: the held chain's tokens should be there now. */
static void blk_on_throttle_timer(struct virtio_device *d, int fd, uint32_t events)
{
	(void)fd, (void)events;
	struct virtio_blk *blk = blk_of(d);
	io_throttle_ack(&blk->throttle);
	if (blk->vdev.queues[0].enabled)
		blk_queue_kick(d, 0);
}

/* ---- Device operations ------------------------------------------------------------------ */

static void blk_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	struct virtio_blk *blk = blk_of(d);
	memcpy(data, (const uint8_t *)&blk->config + offset, size);
}

static int blk_start(struct virtio_device *d)
{
	struct virtio_blk *blk = blk_of(d);
	blk->pushed = 0;
	blk->throttled = false;
	/* Watched once: the core pauses the watch across resets and resumes it at start;
	 * blk_fail may have turned it off. */
	if (blk->watching)
		virtio_device_watch_modify(d, blk->completion_fd, EPOLLIN);
	if (!blk->watching) {
		if (virtio_device_watch(d, blk->completion_fd, EPOLLIN, blk_on_completions) < 0) {
			virtio_device_fail(d, "cannot watch the disk's completions");
			return -1;
		}
		blk->watching = true;
	}
	return 0;
}

/* Requests in flight may still read into or write from guest memory: wait for all of them,
 * and answer none (the driver has forgotten them). */
static void blk_reset(struct virtio_device *d)
{
	struct virtio_blk *blk = blk_of(d);
	blk->quiescing = true;
	block_drain(blk->disk);
	blk->quiescing = false;
	blk->pushed = 0;
	blk->throttled = false;
	blk->held = false; /* the driver has forgotten it too */
	io_throttle_disarm(&blk->throttle);
}

/* The VM pauses: every request in flight completes and is answered (the guest finds the
 * results when it runs again); chains still in the ring wait for resume. */
static void blk_pause(struct virtio_device *d)
{
	struct virtio_blk *blk = blk_of(d);
	if (blk->held) {
		blk->held = false;
		io_throttle_force(&blk->throttle, chain_bytes(&blk->chain));
		handle_chain(blk, &blk->chain);
	}
	block_drain(blk->disk);
	blk->throttled = false;
	notify_if_pushed(blk);
}

static void blk_destroy(struct virtio_device *d)
{
	struct virtio_blk *blk = blk_of(d);
	blk->quiescing = true;	/* normally reset already drained; never answer from here */
	block_close(blk->disk); /* drains first */
	io_throttle_destroy(&blk->throttle);
	munmap(blk->zeroes, BLK_ZERO_CHUNK);
	free(blk);
}

static const struct virtio_device_ops blk_ops = {
    .config_read = blk_config_read,
    .start = blk_start,
    .reset = blk_reset,
    .queue_kick = blk_queue_kick,
    .destroy = blk_destroy,
    .pause = blk_pause,
};

/* ---- Construction --------------------------------------------------------------------- */

static void fill_config(struct virtio_blk *blk)
{
	struct virtio_blk_config *cfg = &blk->config;
	cfg->capacity = blk->capacity;
	cfg->size_max = BLK_SIZE_MAX;
	cfg->seg_max = BLK_SEG_MAX;
	cfg->blk_size = VIRTIO_BLK_SECTOR_SIZE;
	/* 4 KiB physical blocks: the guest then aligns its I/O to pages, which O_DIRECT and
	 * host file systems serve best. */
	cfg->topology.physical_block_exp = 3;
	cfg->topology.min_io_size = 1;
	cfg->num_queues = 1;
	cfg->max_discard_sectors = BLK_MAX_RANGE_SECTORS;
	cfg->max_discard_seg = BLK_MAX_RANGE_SEGS;
	cfg->discard_sector_alignment = BLK_DISCARD_ALIGNMENT_SECTORS;
	cfg->max_write_zeroes_sectors = BLK_MAX_WRITE_ZEROES_SECTORS;
	cfg->max_write_zeroes_seg = BLK_MAX_WRITE_ZEROES_SEGS;
	cfg->write_zeroes_may_unmap = 1;
}

static uint64_t device_features(bool read_only)
{
	uint64_t f = VIRTIO_FEATURE(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_FEATURE(VIRTIO_BLK_F_SEG_MAX) |
		     VIRTIO_FEATURE(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_FEATURE(VIRTIO_BLK_F_FLUSH) |
		     VIRTIO_FEATURE(VIRTIO_BLK_F_TOPOLOGY);
	if (read_only)
		return f | VIRTIO_FEATURE(VIRTIO_BLK_F_RO);
	return f | VIRTIO_FEATURE(VIRTIO_BLK_F_DISCARD) | VIRTIO_FEATURE(VIRTIO_BLK_F_WRITE_ZEROES);
}

/* The block layer's error names the file; add what the user can do about it. */
static void describe_open_error(const struct disk_config *cfg, int ret,
				const struct block_error *berr, char *err, size_t err_len)
{
	const char *hint = "";
	if ((ret == -EACCES || ret == -EROFS || ret == -EPERM) && !cfg->readonly)
		hint = "; add readonly=on to --disk if the guest only reads it, or make the file "
		       "writable";
	else if (ret == -ENOENT)
		hint = "; check the path given to --disk";
	else if (ret == -EINVAL && cfg->direct)
		hint = "; the file system may refuse O_DIRECT: try cache=writeback";
	snprintf(err, err_len, "cannot open disk '%s': %s%s", cfg->path, berr->message, hint);
}

/* Opens the image of `cfg` with its completion eventfd. */
static int open_image(const struct disk_config *cfg, struct block_device **disk, int *fd, char *err,
		      size_t err_len)
{
	unsigned flags =
	    (cfg->readonly ? BLOCK_OPEN_READ_ONLY : 0) | (cfg->direct ? BLOCK_OPEN_DIRECT : 0);
	struct block_error berr = {{0}};
	*disk = NULL;
	int ret = block_open(cfg->path, cfg->format, flags, disk, &berr);
	if (ret < 0) {
		describe_open_error(cfg, ret, &berr, err, err_len);
		return -1;
	}
	*fd = block_event_fd(*disk);
	if (*fd < 0) {
		snprintf(err, err_len,
			 "disk '%s': cannot start asynchronous I/O (%s); check the limits on "
			 "open files and threads",
			 cfg->path, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_disk(struct virtio_blk *blk, const struct disk_config *cfg, char *err,
		     size_t err_len)
{
	if (open_image(cfg, &blk->disk, &blk->completion_fd, err, err_len) < 0)
		return -1;
	if (blk->disk->size % VIRTIO_BLK_SECTOR_SIZE)
		log_warn("disk '%s': its size is not a multiple of 512 bytes; the guest sees "
			 "only the whole sectors",
			 cfg->path);
	blk->capacity = blk->disk->size >> VIRTIO_BLK_SECTOR_SHIFT;
	return 0;
}

/* The old image's writes reach its file before anything reads it as a backing file. */
static int flush_for_replace(struct virtio_blk *blk, char *err, size_t err_len)
{
	block_drain(blk->disk);
	int ret = block_flush(blk->disk);
	if (ret < 0)
		snprintf(err, err_len, "%s: cannot flush '%s' before changing images: %s",
			 blk->name, blk->disk->filename, strerror(-ret));
	return ret < 0 ? -1 : 0;
}

int virtio_blk_replace_image(struct virtio_device *d, const struct disk_config *cfg, char *err,
			     size_t err_len)
{
	struct virtio_blk *blk = blk_of(d);
	pthread_mutex_lock(&d->lock);
	struct block_device *fresh = NULL;
	int fd = -1;
	int rc = flush_for_replace(blk, err, err_len);
	if (rc == 0)
		rc = open_image(cfg, &fresh, &fd, err, err_len);
	if (rc == 0 && fresh->size >> VIRTIO_BLK_SECTOR_SHIFT != blk->capacity) {
		snprintf(err, err_len, "%s: '%s' holds %llu bytes, but the guest's disk has %llu",
			 blk->name, cfg->path, (unsigned long long)fresh->size,
			 (unsigned long long)blk->capacity << VIRTIO_BLK_SECTOR_SHIFT);
		rc = -1;
	}
	if (rc == 0 && blk->watching) {
		virtio_device_unwatch(d, blk->completion_fd);
		blk->watching = false;
		if (virtio_device_watch(d, fd, EPOLLIN, blk_on_completions) == 0)
			blk->watching = true;
		else
			virtio_device_fail(d, "cannot watch the completions of '%s'", cfg->path);
	}
	if (rc < 0) {
		block_close(fresh);
	} else {
		block_close(blk->disk);
		blk->disk = fresh;
		blk->completion_fd = fd;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

struct virtio_device *virtio_blk_create(const struct disk_config *cfg, unsigned index, char *err,
					size_t err_len)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	if (!blk) {
		snprintf(err, err_len, "disk '%s': out of memory", cfg->path);
		return NULL;
	}
	snprintf(blk->name, sizeof(blk->name), "virtio-blk%u", index);
	int rc = io_throttle_init(&blk->throttle, &cfg->limits);
	if (rc < 0) {
		snprintf(err, err_len, "disk '%s': cannot create its I/O limits' timer: %s",
			 cfg->path, strerror(-rc));
		free(blk);
		return NULL;
	}
	/* Read-only anonymous memory: every page is the kernel's shared zero page (no RSS). */
	blk->zeroes = mmap(NULL, BLK_ZERO_CHUNK, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (blk->zeroes == MAP_FAILED) {
		snprintf(err, err_len, "disk '%s': out of memory", cfg->path);
		io_throttle_destroy(&blk->throttle);
		free(blk);
		return NULL;
	}
	if (open_disk(blk, cfg, err, err_len) < 0) {
		block_close(blk->disk);
		io_throttle_destroy(&blk->throttle);
		munmap(blk->zeroes, BLK_ZERO_CHUNK);
		free(blk);
		return NULL;
	}
	memcpy(blk->serial, cfg->serial, strnlen(cfg->serial, sizeof(blk->serial)));
	fill_config(blk);
	int ret = virtio_device_init(&blk->vdev, &blk_ops, blk->name, VIRTIO_ID_BLOCK,
				     device_features(cfg->readonly), sizeof(blk->config), 1,
				     BLK_QUEUE_SIZE);
	if (ret < 0) {
		snprintf(err, err_len, "%s: cannot set up the device: %s", blk->name,
			 strerror(-ret));
		block_close(blk->disk);
		io_throttle_destroy(&blk->throttle);
		munmap(blk->zeroes, BLK_ZERO_CHUNK);
		free(blk);
		return NULL;
	}
	/* Watched from here on; the core listens only while the device is started. */
	ret =
	    virtio_device_watch(&blk->vdev, blk->throttle.timer_fd, EPOLLIN, blk_on_throttle_timer);
	if (ret < 0) {
		snprintf(err, err_len, "%s: cannot watch its I/O limits' timer: %s", blk->name,
			 strerror(-ret));
		virtio_device_destroy(&blk->vdev);
		return NULL;
	}
	return &blk->vdev;
}

void virtio_blk_set_limits(struct virtio_device *d, const struct io_limits *limits)
{
	struct virtio_blk *blk = blk_of(d);
	pthread_mutex_lock(&d->lock);
	io_throttle_set(&blk->throttle, limits);
	/* A held chain is looked at again on the device thread, under the new limits. */
	if (blk->held)
		io_throttle_arm(&blk->throttle, 1);
	pthread_mutex_unlock(&d->lock);
}

void virtio_blk_get_limits(struct virtio_device *d, struct io_limits *limits)
{
	struct virtio_blk *blk = blk_of(d);
	pthread_mutex_lock(&d->lock);
	io_throttle_get(&blk->throttle, limits);
	pthread_mutex_unlock(&d->lock);
}

void virtio_blk_get_counters(struct virtio_device *d, struct virtio_blk_counters *counters)
{
	pthread_mutex_lock(&d->lock);
	*counters = blk_of(d)->counters;
	pthread_mutex_unlock(&d->lock);
}
