/* Asynchronous requests at queue depth 32 on both engines (io_uring and the thread pool), on raw
 * and qcow2 images: data lands where it should, callbacks run only from block_poll/block_drain,
 * the eventfd wakes a poll loop, and errors arrive through the callback. */
#include "block/block.h"
#include "block/qcow2_check.h"
#include "block/qcow2_create.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPTH 32
#define BLOCK 4096

static char dir[] = "/tmp/gureum-aio-XXXXXX";
static char path[256], base_path[256];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk", dir);
	snprintf(base_path, sizeof(base_path), "%s/base.raw", dir);
	unsetenv("GUREUM_BLOCK_AIO");
}

static void teardown(void)
{
	unlink(path);
	unlink(base_path);
	rmdir(dir);
}

TestSuite(block_aio, .init = setup, .fini = teardown);

struct tracked {
	struct block_request req;
	int result;
	bool done;
	uint8_t *buf;
};

static void record(struct block_request *req, int result)
{
	struct tracked *t = req->opaque;
	t->result = result;
	t->done = true;
}

static void make_raw(uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

static void make_qcow2(uint64_t size, const char *backing)
{
	struct qcow2_create_options opt = qcow2_default_options(size);
	opt.backing_file = backing;
	opt.backing_format = backing ? "raw" : NULL;
	struct block_error err;
	cr_assert_eq(qcow2_create(path, &opt, &err), 0, "%s", err.message);
}

static struct block_device *open_path(const char *p, unsigned flags)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(p, NULL, flags, &dev, &err), 0, "%s", err.message);
	return dev;
}

/* Block i of the test pattern: DEPTH distinct, scattered, non-overlapping 4 KiB blocks. */
static uint64_t block_offset(int i)
{
	return (uint64_t)((i * 37) % 256) * BLOCK * 3 + (i % 2 ? 512 : 0);
}

static void submit_all(struct block_device *dev, struct tracked *t, enum block_op op, bool fill)
{
	for (int i = 0; i < DEPTH; i++) {
		t[i] = (struct tracked){.buf = aligned_alloc(BLOCK, BLOCK)};
		memset(t[i].buf, fill ? 0x40 + i : 0, BLOCK);
		t[i].req = (struct block_request){.op = op,
						  .offset = block_offset(i),
						  .length = BLOCK,
						  .buffer = t[i].buf,
						  .complete = record,
						  .opaque = &t[i]};
		block_submit(dev, &t[i].req);
		cr_assert_not(t[i].done, "request %d completed inside block_submit", i);
	}
}

/* Waits on the eventfd as an event loop would, polling until every request has completed. */
static void run_event_loop(struct block_device *dev, struct tracked *t, int n)
{
	int completed = 0, rounds = 0;
	while (completed < n) {
		struct pollfd pfd = {.fd = block_event_fd(dev), .events = POLLIN};
		cr_assert_eq(poll(&pfd, 1, 5000), 1, "eventfd never became readable");
		completed += block_poll(dev);
		cr_assert_lt(++rounds, 10000);
	}
	for (int i = 0; i < n; i++)
		cr_assert(t[i].done && t[i].result == 0, "request %d: %d", i, t[i].result);
}

static void free_buffers(struct tracked *t)
{
	for (int i = 0; i < DEPTH; i++)
		free(t[i].buf);
}

/* Writes DEPTH blocks at once, flushes, reads them back at once, and checks every byte. */
static void write_then_read_back(struct block_device *dev)
{
	struct tracked w[DEPTH], r[DEPTH], f = {0};
	submit_all(dev, w, BLOCK_OP_WRITE, true);
	run_event_loop(dev, w, DEPTH);
	f.req = (struct block_request){.op = BLOCK_OP_FLUSH, .complete = record, .opaque = &f};
	block_submit(dev, &f.req);
	block_drain(dev);
	cr_assert(f.done && f.result == 0);
	submit_all(dev, r, BLOCK_OP_READ, false);
	run_event_loop(dev, r, DEPTH);
	for (int i = 0; i < DEPTH; i++)
		for (int b = 0; b < BLOCK; b++)
			cr_assert_eq(r[i].buf[b], 0x40 + i, "block %d byte %d", i, b);
	free_buffers(w);
	free_buffers(r);
}

/* After the asynchronous writes, a fresh synchronous open sees the same data. */
static void verify_synchronously(unsigned flags)
{
	struct block_device *dev = open_path(path, flags | BLOCK_OPEN_READ_ONLY);
	uint8_t buf[BLOCK];
	for (int i = 0; i < DEPTH; i++) {
		cr_assert_eq(block_read(dev, block_offset(i), buf, BLOCK), 0);
		for (int b = 0; b < BLOCK; b++)
			cr_assert_eq(buf[b], 0x40 + i, "block %d byte %d", i, b);
	}
	block_close(dev);
}

Test(block_aio, raw_depth_32_on_io_uring)
{
	make_raw(4 << 20);
	struct block_device *dev = open_path(path, 0);
	cr_assert_str_eq(block_aio_engine(dev), "io_uring");
	write_then_read_back(dev);
	block_close(dev);
	verify_synchronously(0);
}

Test(block_aio, raw_depth_32_on_thread_pool)
{
	setenv("GUREUM_BLOCK_AIO", "threads", 1);
	make_raw(4 << 20);
	struct block_device *dev = open_path(path, 0);
	cr_assert_str_eq(block_aio_engine(dev), "threads");
	write_then_read_back(dev);
	block_close(dev);
	verify_synchronously(0);
}

Test(block_aio, raw_with_o_direct)
{
	make_raw(4 << 20);
	struct block_device *dev = open_path(path, BLOCK_OPEN_DIRECT);
	write_then_read_back(dev);
	block_close(dev);
	verify_synchronously(0);
}

/* Fresh qcow2 over a backing file: the first writes allocate (synchronous path), the reads and
 * the second round of writes go straight to the allocated clusters. */
static void qcow2_round_trip(void)
{
	FILE *f = fopen(base_path, "w");
	for (int i = 0; i < (4 << 20); i++)
		fputc(0x11, f);
	fclose(f);
	make_qcow2(4 << 20, "base.raw");
	struct block_device *dev = open_path(path, 0);
	write_then_read_back(dev);
	write_then_read_back(dev);
	/* Next to each block, the backing file still shows through. */
	uint8_t b[512];
	cr_assert_eq(block_read(dev, block_offset(0) + BLOCK, b, sizeof(b)), 0);
	for (size_t i = 0; i < sizeof(b); i++)
		cr_assert_eq(b[i], 0x11);
	block_close(dev);
	verify_synchronously(0);
}

Test(block_aio, qcow2_with_backing_depth_32_on_io_uring)
{
	qcow2_round_trip();
}

Test(block_aio, qcow2_with_backing_depth_32_on_thread_pool)
{
	setenv("GUREUM_BLOCK_AIO", "threads", 1);
	qcow2_round_trip();
}

Test(block_aio, errors_arrive_through_the_callback)
{
	make_raw(1 << 20);
	struct block_device *dev = open_path(path, BLOCK_OPEN_READ_ONLY);
	uint8_t buf[BLOCK];
	struct tracked beyond = {0}, ro = {0};
	beyond.req = (struct block_request){.op = BLOCK_OP_READ,
					    .offset = (1 << 20) - 100,
					    .length = BLOCK,
					    .buffer = buf,
					    .complete = record,
					    .opaque = &beyond};
	ro.req = (struct block_request){.op = BLOCK_OP_WRITE,
					.offset = 0,
					.length = BLOCK,
					.buffer = buf,
					.complete = record,
					.opaque = &ro};
	block_submit(dev, &beyond.req);
	block_submit(dev, &ro.req);
	cr_assert_not(beyond.done || ro.done);
	block_drain(dev);
	cr_assert_eq(beyond.result, -EINVAL);
	cr_assert_eq(ro.result, -EROFS);
	block_close(dev);
}

/* A callback that submits the next request: a chain of DEPTH writes driven by completions. */
struct chain {
	struct block_request req;
	struct block_device *dev;
	uint8_t buf[BLOCK];
	int next;
};

static void chain_step(struct block_request *req, int result)
{
	struct chain *c = req->opaque;
	cr_assert_eq(result, 0);
	if (c->next == DEPTH)
		return;
	memset(c->buf, 0x40 + c->next, BLOCK);
	c->req.offset = block_offset(c->next++);
	block_submit(c->dev, &c->req);
}

Test(block_aio, callbacks_may_submit_more_requests)
{
	make_qcow2(4 << 20, NULL);
	struct block_device *dev = open_path(path, 0);
	static struct chain c;
	c.dev = dev;
	c.next = 1;
	memset(c.buf, 0x40, BLOCK);
	c.req = (struct block_request){.op = BLOCK_OP_WRITE,
				       .offset = block_offset(0),
				       .length = BLOCK,
				       .buffer = c.buf,
				       .complete = chain_step,
				       .opaque = &c};
	block_submit(dev, &c.req);
	block_drain(dev);
	cr_assert_eq(c.next, DEPTH);
	block_close(dev);
	verify_synchronously(0);
}

/* ---- Vectored requests (iov instead of one buffer) ---- */

#define VEC_LEN 8192

static uint8_t vec_pattern(uint64_t i, unsigned seed)
{
	return (uint8_t)(seed + i * 13 + (i >> 9));
}

/* Buffers of uneven sizes (512, 1536, 4096, 2048) or, aligned, two pages; each allocated on
 * its own so they are not contiguous. */
static unsigned make_iov(struct iovec *iov, bool page_aligned)
{
	static const size_t uneven[] = {512, 1536, 4096, 2048}, pages[] = {4096, 4096};
	const size_t *sizes = page_aligned ? pages : uneven;
	unsigned n = page_aligned ? 2 : 4;
	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){aligned_alloc(BLOCK, BLOCK), sizes[i]};
	return n;
}

static void free_iov(struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(iov[i].iov_base);
}

static int run_vectored(struct block_device *dev, enum block_op op, uint64_t offset,
			const struct iovec *iov, unsigned n, uint64_t length)
{
	struct tracked t = {0};
	t.req = (struct block_request){.op = op,
				       .offset = offset,
				       .length = length,
				       .iov = iov,
				       .iovcnt = n,
				       .complete = record,
				       .opaque = &t};
	block_submit(dev, &t.req);
	cr_assert_not(t.done, "completed inside block_submit");
	block_drain(dev);
	cr_assert(t.done);
	return t.result;
}

/* Writes VEC_LEN bytes from uneven buffers, reads them back into differently split ones
 * (`aligned_read`: whole pages, which O_DIRECT can take), and checks them synchronously too. */
static void vectored_round_trip(struct block_device *dev, uint64_t offset, unsigned seed,
				bool aligned_read)
{
	struct iovec w[4], r[4];
	unsigned nw = make_iov(w, false), nr = make_iov(r, aligned_read);
	uint64_t k = 0;
	for (unsigned i = 0; i < nw; i++)
		for (size_t b = 0; b < w[i].iov_len; b++, k++)
			((uint8_t *)w[i].iov_base)[b] = vec_pattern(k, seed);
	cr_assert_eq(run_vectored(dev, BLOCK_OP_WRITE, offset, w, nw, VEC_LEN), 0);
	cr_assert_eq(run_vectored(dev, BLOCK_OP_READ, offset, r, nr, VEC_LEN), 0);
	k = 0;
	for (unsigned i = 0; i < nr; i++)
		for (size_t b = 0; b < r[i].iov_len; b++, k++)
			cr_assert_eq(((uint8_t *)r[i].iov_base)[b], vec_pattern(k, seed),
				     "byte %lu read back", (unsigned long)k);
	uint8_t flat[VEC_LEN];
	cr_assert_eq(block_read(dev, offset, flat, VEC_LEN), 0);
	for (k = 0; k < VEC_LEN; k++)
		cr_assert_eq(flat[k], vec_pattern(k, seed), "byte %lu in the image",
			     (unsigned long)k);
	free_iov(w, nw);
	free_iov(r, nr);
}

Test(block_aio, vectored_raw_on_io_uring)
{
	make_raw(4 << 20);
	struct block_device *dev = open_path(path, 0);
	vectored_round_trip(dev, 3 * 512, 1, false);
	vectored_round_trip(dev, 1 << 20, 2, true);
	block_close(dev);
}

Test(block_aio, vectored_raw_on_thread_pool)
{
	setenv("GUREUM_BLOCK_AIO", "threads", 1);
	make_raw(4 << 20);
	struct block_device *dev = open_path(path, 0);
	cr_assert_str_eq(block_aio_engine(dev), "threads");
	vectored_round_trip(dev, 3 * 512, 1, false);
	vectored_round_trip(dev, 1 << 20, 2, true);
	block_close(dev);
}

Test(block_aio, vectored_raw_with_o_direct)
{
	make_raw(4 << 20);
	struct block_device *dev = open_path(path, BLOCK_OPEN_DIRECT);
	vectored_round_trip(dev, 1 << 20, 3, true);  /* aligned: O_DIRECT readv */
	vectored_round_trip(dev, 3 * 512, 4, false); /* unaligned: buffered */
	block_close(dev);
}

/* qcow2: fresh clusters need planned writes (through a bounce buffer), a read of a range that
 * is partly unallocated too; a read of allocated clusters is one readv. */
static void verify_qcow2_clean(void)
{
	struct block_device *dev = open_path(path, BLOCK_OPEN_READ_ONLY);
	struct qcow2_check_result res = {0};
	struct block_error err;
	cr_assert_eq(qcow2_check_quietly(dev, false, &res, &err), 0, "%s", err.message);
	cr_assert_eq(res.corruptions, 0);
	cr_assert_eq(res.leaks, 0);
	block_close(dev);
}

Test(block_aio, vectored_qcow2_allocating_and_in_place)
{
	make_qcow2(4 << 20, NULL);
	struct block_device *dev = open_path(path, 0);
	vectored_round_trip(dev, (64 << 10) - 4096, 5, false); /* straddles a cluster boundary */
	vectored_round_trip(dev, (64 << 10) - 4096, 6, true);  /* now in place */
	struct iovec r[4];
	unsigned n = make_iov(r, false);
	for (unsigned i = 0; i < n; i++)
		memset(r[i].iov_base, 0xff, r[i].iov_len);
	cr_assert_eq(run_vectored(dev, BLOCK_OP_READ, 2 << 20, r, n, VEC_LEN), 0);
	for (unsigned i = 0; i < n; i++)
		for (size_t b = 0; b < r[i].iov_len; b++)
			cr_assert_eq(((uint8_t *)r[i].iov_base)[b], 0, "unallocated reads zeroes");
	free_iov(r, n);
	block_close(dev);
	verify_qcow2_clean();
}

Test(block_aio, vectored_length_must_match_the_buffers)
{
	make_raw(1 << 20);
	struct block_device *dev = open_path(path, 0);
	struct iovec v[4];
	unsigned n = make_iov(v, false);
	cr_assert_eq(run_vectored(dev, BLOCK_OP_WRITE, 0, v, n, VEC_LEN - 512), -EINVAL);
	free_iov(v, n);
	block_close(dev);
}
