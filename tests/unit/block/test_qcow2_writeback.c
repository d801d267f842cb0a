/* The qcow2 driver's writeback metadata and asynchronous allocating writes, on real files:
 * allocations reach the file's tables only at a flush (or close), every write reads back, and
 * the image checks clean (no corruption, no leak) after a flush, at queue depth 32, with
 * concurrent writes into one cluster and with an L2 cache so small that it evicts constantly. */
#include "block/block.h"
#include "block/qcow2_check.h"
#include "block/qcow2_create.h"

#include <criterion/criterion.h>
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1ull << 20)

static char dir[] = "/tmp/gureum-writeback-XXXXXX";
static char path[256], base_path[256];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
	snprintf(base_path, sizeof(base_path), "%s/base.raw", dir);
	unsetenv("GUREUM_L2_CACHE_SIZE");
	unsetenv("GUREUM_BLOCK_AIO");
}

static void teardown(void)
{
	unlink(path);
	unlink(base_path);
	rmdir(dir);
}

TestSuite(qcow2_writeback, .init = setup, .fini = teardown);

static void create(uint64_t size, unsigned cluster_bits, bool backing)
{
	struct qcow2_create_options opt = qcow2_default_options(size);
	opt.cluster_bits = cluster_bits;
	if (backing) {
		int fd = open(base_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		uint8_t *b = malloc(size);
		memset(b, 0x11, size);
		cr_assert_eq(write(fd, b, size), (ssize_t)size);
		free(b);
		close(fd);
		opt.backing_file = "base.raw";
		opt.backing_format = "raw";
	}
	struct block_error err;
	cr_assert_eq(qcow2_create(path, &opt, &err), 0, "%s", err.message);
}

static struct block_device *open_image(unsigned flags)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, NULL, flags, &dev, &err), 0, "%s", err.message);
	return dev;
}

/* The image as stored in the file, checked by a fresh open: nothing wrong, nothing leaked. */
static void assert_checks_clean(void)
{
	struct block_device *dev = open_image(BLOCK_OPEN_READ_ONLY);
	struct qcow2_check_result res;
	struct block_error err;
	cr_assert_eq(qcow2_check(dev, false, &res, &err), 0, "%s", err.message);
	cr_assert_eq(res.corruptions, 0);
	cr_assert_eq(res.leaks, 0);
	block_close(dev);
}

/* The first L1 entry as stored in the file. */
static uint64_t stored_l1_entry(void)
{
	int fd = open(path, O_RDONLY);
	uint64_t l1_offset, entry;
	cr_assert_eq(pread(fd, &l1_offset, 8, 40), 8);
	cr_assert_eq(pread(fd, &entry, 8, (off_t)be64toh(l1_offset)), 8);
	close(fd);
	return be64toh(entry);
}

static void fill(uint8_t *buf, size_t length, uint64_t offset, unsigned salt)
{
	for (size_t i = 0; i < length; i++)
		buf[i] = (uint8_t)((offset + i) * 7 + salt);
}

Test(qcow2_writeback, allocations_reach_the_tables_at_flush)
{
	create(16 * MIB, 16, false);
	struct block_device *dev = open_image(0);
	uint8_t data[4096];
	fill(data, sizeof(data), 0, 1);
	cr_assert_eq(block_write(dev, 8192, data, sizeof(data)), 0);
	cr_assert_eq(stored_l1_entry(), 0, "the new L2 table must not be linked before a flush");
	cr_assert_eq(block_flush(dev), 0);
	cr_assert_neq(stored_l1_entry(), 0);
	assert_checks_clean();
	block_close(dev);
}

Test(qcow2_writeback, close_without_flush_writes_everything_back)
{
	create(16 * MIB, 16, true);
	struct block_device *dev = open_image(0);
	uint8_t data[3000], back[3000];
	fill(data, sizeof(data), 100000, 2);
	cr_assert_eq(block_write(dev, 100000, data, sizeof(data)), 0);
	cr_assert_eq(block_write_zeroes(dev, 4 * MIB, MIB), 0);
	block_close(dev);
	assert_checks_clean();
	dev = open_image(BLOCK_OPEN_READ_ONLY);
	cr_assert_eq(block_read(dev, 100000, back, sizeof(back)), 0);
	cr_assert_arr_eq(back, data, sizeof(data));
	cr_assert_eq(block_read(dev, 100000 - 10, back, 10), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(back[i], 0x11, "copy-on-write kept the backing data");
	cr_assert_eq(block_read(dev, 4 * MIB, back, sizeof(back)), 0);
	for (size_t i = 0; i < sizeof(back); i++)
		cr_assert_eq(back[i], 0);
	block_close(dev);
}

struct async_run {
	int pending;
	int failures;
};

static void done(struct block_request *req, int result)
{
	struct async_run *run = req->opaque;
	run->pending--;
	run->failures += result != 0;
}

/* Writes nreq requests of length bytes, all in flight together, at offsets[i]; then flushes
 * and reads everything back against a model of the disk (starting as model). */
static void async_writes(struct block_device *dev, const uint64_t *offsets, int nreq, size_t length,
			 uint8_t *model)
{
	struct block_request *reqs = calloc(nreq, sizeof(*reqs));
	uint8_t *bufs = malloc((size_t)nreq * length);
	struct async_run run = {0};
	for (int i = 0; i < nreq; i++) {
		uint8_t *b = bufs + (size_t)i * length;
		fill(b, length, offsets[i], 3 + i);
		memcpy(model + offsets[i], b, length);
		reqs[i] = (struct block_request){.op = BLOCK_OP_WRITE,
						 .offset = offsets[i],
						 .length = length,
						 .buffer = b,
						 .complete = done,
						 .opaque = &run};
		run.pending++;
		block_submit(dev, &reqs[i]);
	}
	block_drain(dev);
	struct block_request flush = {.op = BLOCK_OP_FLUSH, .complete = done, .opaque = &run};
	run.pending++;
	block_submit(dev, &flush);
	block_drain(dev);
	cr_assert_eq(run.pending, 0);
	cr_assert_eq(run.failures, 0);
	uint8_t *back = malloc(dev->size);
	cr_assert_eq(block_read(dev, 0, back, dev->size), 0);
	for (uint64_t i = 0; i < dev->size; i++)
		if (back[i] != model[i])
			cr_assert_fail("byte %lu: %#x, wrote %#x", (unsigned long)i, back[i],
				       model[i]);
	free(back);
	free(bufs);
	free(reqs);
}

static void scattered_then_sequential(uint64_t size, unsigned cluster_bits, bool backing)
{
	create(size, cluster_bits, backing);
	uint8_t *model = malloc(size);
	memset(model, backing ? 0x11 : 0, size);
	struct block_device *dev = open_image(0);
	uint64_t offsets[64];
	for (int i = 0; i < 64; i++) /* 4 KiB blocks at scattered, unaligned places */
		offsets[i] = ((uint64_t)i * 7919 * 4096 + 512 * (i % 5)) % (size - 8192);
	async_writes(dev, offsets, 64, 4096, model);
	for (int i = 0; i < 8; i++) /* 1 MiB sequential: runs of whole clusters */
		offsets[i] = (uint64_t)i * MIB;
	async_writes(dev, offsets, 8, MIB, model);
	block_close(dev);
	assert_checks_clean();
	free(model);
}

Test(qcow2_writeback, async_allocating_writes_at_depth_read_back)
{
	scattered_then_sequential(64 * MIB, 16, false);
}

Test(qcow2_writeback, async_allocating_writes_over_a_backing_file_on_threads)
{
	setenv("GUREUM_BLOCK_AIO", "threads", 1);
	scattered_then_sequential(32 * MIB, 16, true);
}

Test(qcow2_writeback, tiny_l2_cache_evicts_and_keeps_every_write)
{
	/* 512-byte clusters: 16 cached L2 tables cover 512 KiB of a 16 MiB disk. */
	setenv("GUREUM_L2_CACHE_SIZE", "1K", 1);
	scattered_then_sequential(16 * MIB, 9, true);
}

Test(qcow2_writeback, concurrent_writes_into_one_new_cluster_all_land)
{
	create(4 * MIB, 16, true);
	uint8_t *model = malloc(4 * MIB);
	memset(model, 0x11, 4 * MIB);
	struct block_device *dev = open_image(0);
	uint64_t offsets[16];
	for (int i = 0; i < 16; i++) /* every 4 KiB of one 64 KiB cluster, in a shuffled order */
		offsets[i] = MIB + (uint64_t)((i * 5) % 16) * 4096;
	async_writes(dev, offsets, 16, 4096, model);
	block_close(dev);
	assert_checks_clean();
	free(model);
}
