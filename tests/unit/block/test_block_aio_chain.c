/* Asynchronous reads through a backing chain: a qcow2 overlay over a qcow2 image over a raw
 * base that is shorter than the disk. Reads of clusters the overlay does not hold go to the
 * backend on the backing image's file; every byte must still come from the right layer (top,
 * middle, base, or zeroes past the base's end), whatever the request's size, alignment, buffers,
 * engine and cache mode of the top image; so must partial writes that copy the old contents of
 * their cluster from below. */
#include "block/block.h"
#include "block/qcow2_create.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISK_SIZE (4u << 20)
#define BASE_SIZE (3u << 20) /* the last MiB of the disk lies past the base: zeroes */
#define CLUSTER	  (64u << 10)
#define DEPTH	  32

static char dir[] = "/tmp/gureum-aio-chain-XXXXXX";
static char base_path[256], mid_path[256], top_path[256];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(base_path, sizeof(base_path), "%s/base.raw", dir);
	snprintf(mid_path, sizeof(mid_path), "%s/mid.qcow2", dir);
	snprintf(top_path, sizeof(top_path), "%s/top.qcow2", dir);
	unsetenv("GUREUM_BLOCK_AIO");
}

static void teardown(void)
{
	unlink(base_path);
	unlink(mid_path);
	unlink(top_path);
	rmdir(dir);
}

TestSuite(block_aio_chain, .init = setup, .fini = teardown);

/* Which layer holds cluster k: the top every third cluster, the middle the next ones, the base
 * the rest (where it reaches). */
enum layer { TOP, MID, BASE };

static enum layer layer_of(uint64_t offset)
{
	uint64_t k = offset / CLUSTER;
	return k % 3 == 0 ? TOP : k % 3 == 1 ? MID : BASE;
}

static uint8_t byte_in(enum layer layer, uint64_t offset)
{
	return (uint8_t)(offset * 7 + (offset >> 12) + 0x40 * layer + 1);
}

/* What the disk reads at offset. */
static uint8_t expected(uint64_t offset)
{
	enum layer layer = layer_of(offset);
	if (layer == BASE && offset >= BASE_SIZE)
		return 0;
	return byte_in(layer, offset);
}

static struct block_device *open_image(const char *p, unsigned flags)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(p, NULL, flags, &dev, &err), 0, "%s", err.message);
	return dev;
}

static void make_qcow2(const char *p, const char *backing, const char *format)
{
	struct qcow2_create_options opt = qcow2_default_options(DISK_SIZE);
	opt.backing_file = backing;
	opt.backing_format = format;
	struct block_error err;
	cr_assert_eq(qcow2_create(p, &opt, &err), 0, "%s", err.message);
}

/* Writes layer's bytes into the clusters it holds (all of them for the base, which the upper
 * layers hide where they hold data). */
static void fill_layer(const char *p, enum layer layer, uint64_t size)
{
	struct block_device *dev = open_image(p, 0);
	uint8_t *cluster = malloc(CLUSTER);
	for (uint64_t at = 0; at < size; at += CLUSTER) {
		if (layer != BASE && layer_of(at) != layer)
			continue;
		for (uint64_t i = 0; i < CLUSTER; i++)
			cluster[i] = byte_in(layer, at + i);
		cr_assert_eq(block_write(dev, at, cluster, CLUSTER), 0);
	}
	free(cluster);
	cr_assert_eq(block_flush(dev), 0);
	block_close(dev);
}

static void make_chain(void)
{
	int fd = open(base_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, BASE_SIZE), 0);
	close(fd);
	fill_layer(base_path, BASE, BASE_SIZE);
	make_qcow2(mid_path, "base.raw", "raw");
	fill_layer(mid_path, MID, DISK_SIZE);
	make_qcow2(top_path, "mid.qcow2", "qcow2");
	fill_layer(top_path, TOP, DISK_SIZE);
}

struct read_request {
	struct block_request req;
	struct iovec iov[3];
	uint8_t *buf;
	int result;
	bool done;
};

static void record(struct block_request *req, int result)
{
	struct read_request *r = req->opaque;
	r->result = result;
	r->done = true;
}

/* Request i: `length` bytes at a spot that straddles layers, page aligned or not; vectored
 * requests split the buffer into three uneven pieces. */
static void prepare(struct read_request *r, int i, uint64_t length, bool aligned, bool vectored)
{
	uint64_t slot = (DISK_SIZE - length) / DEPTH;
	uint64_t offset = (uint64_t)i * slot & ~(uint64_t)4095;
	if (!aligned)
		offset += 512 * (uint64_t)(1 + i % 7);
	*r = (struct read_request){.buf = aligned_alloc(4096, length)};
	memset(r->buf, 0xee, length);
	r->req = (struct block_request){.op = BLOCK_OP_READ,
					.offset = offset,
					.length = length,
					.complete = record,
					.opaque = r};
	if (!vectored) {
		r->req.buffer = r->buf;
		return;
	}
	uint64_t a = aligned ? length / 4 : length / 4 + 512, b = length / 2;
	r->iov[0] = (struct iovec){r->buf, a};
	r->iov[1] = (struct iovec){r->buf + a, b - a};
	r->iov[2] = (struct iovec){r->buf + b, length - b};
	r->req.iov = r->iov;
	r->req.iovcnt = 3;
}

/* DEPTH reads in flight at once; every byte checked against the layer it must come from. */
static void read_at_depth(unsigned flags, uint64_t length, bool aligned, bool vectored)
{
	struct block_device *dev = open_image(top_path, flags | BLOCK_OPEN_READ_ONLY);
	static struct read_request r[DEPTH];
	for (int i = 0; i < DEPTH; i++) {
		prepare(&r[i], i, length, aligned, vectored);
		block_submit(dev, &r[i].req);
	}
	block_drain(dev);
	for (int i = 0; i < DEPTH; i++) {
		cr_assert(r[i].done && r[i].result == 0, "request %d: %d", i, r[i].result);
		for (uint64_t b = 0; b < length; b++)
			cr_assert_eq(r[i].buf[b], expected(r[i].req.offset + b),
				     "request %d (offset %lu), byte %lu", i,
				     (unsigned long)r[i].req.offset, (unsigned long)b);
		free(r[i].buf);
	}
	block_close(dev);
}

static void read_every_way(unsigned flags)
{
	make_chain();
	read_at_depth(flags, 1u << 20, true, false);
	read_at_depth(flags, 1u << 20, true, true);
	read_at_depth(flags, 192u << 10, false, false);
	read_at_depth(flags, 192u << 10, false, true);
	read_at_depth(flags, 4096, true, false);
}

Test(block_aio_chain, reads_through_the_chain_on_io_uring)
{
	read_every_way(0);
}

Test(block_aio_chain, reads_through_the_chain_with_o_direct)
{
	read_every_way(BLOCK_OPEN_DIRECT);
}

Test(block_aio_chain, reads_through_the_chain_on_thread_pool)
{
	setenv("GUREUM_BLOCK_AIO", "threads", 1);
	read_every_way(0);
}

/* ---- Copy-on-write over the chain ---- */

#define COW_WRITES 32
#define COW_LENGTH 4096

/* Write i: 4 KiB inside a cluster the top does not hold: a middle one, a base one, or one past
 * the base's end (several writes share each of those, at different places), page aligned or
 * not. */
static uint64_t cow_offset(int i)
{
	uint64_t j = (uint64_t)i / 3, unaligned = i % 2 ? 512 : 0;
	if (i % 3 == 2) /* clusters 50, 53, ... 62: base layer, past the base's end */
		return (50 + 3 * (j % 5)) * CLUSTER + (j / 5) * 16384 + unaligned;
	uint64_t cluster = 3 * j + 1 + (uint64_t)(i % 3); /* a middle or a base cluster */
	return cluster * CLUSTER + (uint64_t)(i % 5) * 8192 + unaligned;
}

static uint8_t written_byte(int i, uint64_t b)
{
	return (uint8_t)(0x80 + i + b * 3);
}

/* What the disk reads at offset after the writes. */
static uint8_t expected_after_writes(uint64_t offset)
{
	for (int i = 0; i < COW_WRITES; i++)
		if (offset >= cow_offset(i) && offset < cow_offset(i) + COW_LENGTH)
			return written_byte(i, offset - cow_offset(i));
	return expected(offset);
}

/* DEPTH partial-cluster writes in flight at once: each needs the old contents of its cluster
 * from the middle image or the base (or zeroes), read asynchronously on that image's file;
 * afterwards every byte of the disk is what it must be, on a fresh open too. */
static void copy_on_write_at_depth(unsigned flags)
{
	make_chain();
	struct block_device *dev = open_image(top_path, flags);
	static struct read_request w[COW_WRITES];
	for (int i = 0; i < COW_WRITES; i++) {
		w[i] = (struct read_request){.buf = aligned_alloc(4096, COW_LENGTH)};
		for (uint64_t b = 0; b < COW_LENGTH; b++)
			w[i].buf[b] = written_byte(i, b);
		w[i].req = (struct block_request){.op = BLOCK_OP_WRITE,
						  .offset = cow_offset(i),
						  .length = COW_LENGTH,
						  .buffer = w[i].buf,
						  .complete = record,
						  .opaque = &w[i]};
		block_submit(dev, &w[i].req);
	}
	block_drain(dev);
	for (int i = 0; i < COW_WRITES; i++) {
		cr_assert(w[i].done && w[i].result == 0, "write %d: %d", i, w[i].result);
		free(w[i].buf);
	}
	block_close(dev);
	dev = open_image(top_path, BLOCK_OPEN_READ_ONLY);
	uint8_t *disk = malloc(DISK_SIZE);
	cr_assert_eq(block_read(dev, 0, disk, DISK_SIZE), 0);
	for (uint64_t b = 0; b < DISK_SIZE; b++)
		cr_assert_eq(disk[b], expected_after_writes(b), "byte %lu", (unsigned long)b);
	free(disk);
	block_close(dev);
}

Test(block_aio_chain, copy_on_write_on_io_uring)
{
	copy_on_write_at_depth(0);
}

Test(block_aio_chain, copy_on_write_with_o_direct)
{
	copy_on_write_at_depth(BLOCK_OPEN_DIRECT);
}

Test(block_aio_chain, copy_on_write_on_thread_pool)
{
	setenv("GUREUM_BLOCK_AIO", "threads", 1);
	copy_on_write_at_depth(0);
}

/* The synchronous path agrees (the reference the asynchronous one must match). */
Test(block_aio_chain, synchronous_reads_agree)
{
	make_chain();
	struct block_device *dev = open_image(top_path, BLOCK_OPEN_READ_ONLY);
	uint8_t *buf = malloc(DISK_SIZE);
	cr_assert_eq(block_read(dev, 0, buf, DISK_SIZE), 0);
	for (uint64_t b = 0; b < DISK_SIZE; b++)
		cr_assert_eq(buf[b], expected(b), "byte %lu", (unsigned long)b);
	free(buf);
	block_close(dev);
}
