/* qcow2 images with extended L2 entries (16-byte entries, 32 subclusters per cluster): each
 * subcluster reads from the host cluster, as zeroes or from the backing file as its bitmap says,
 * synchronously and through the asynchronous engine; every invalid bitmap is an error; the
 * image cannot be opened for writing.
 *
 * The images are made by gureum with 16 KiB clusters and one data cluster at guest offset 0,
 * then switched to extended L2 entries in place: the old entry 0 stays the descriptor and the
 * old (empty) entry 1 becomes its bitmap, which each test sets. */
#include "block/block.h"
#include "block/qcow2_check.h"
#include "block/qcow2_create.h"
#include "block/qcow2_format.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER	   16384u
#define SUBCLUSTER (CLUSTER / QCOW2_SUBCLUSTERS)
#define DATA_BYTE  0x5a
#define BASE_BYTE  0x77

static char dir[] = "/tmp/gureum-extl2-XXXXXX";
static char path[256], base_path[256];
static uint64_t l2_offset, data_offset;

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
	snprintf(base_path, sizeof(base_path), "%s/base.raw", dir);
}

static void teardown(void)
{
	unlink(path);
	unlink(base_path);
	rmdir(dir);
}

TestSuite(qcow2_extl2, .init = setup, .fini = teardown);

static uint64_t peek(uint64_t offset)
{
	int fd = open(path, O_RDONLY);
	uint8_t be[8];
	cr_assert_eq(pread(fd, be, 8, offset), 8);
	close(fd);
	return be64_at(be);
}

static void poke(uint64_t offset, uint64_t value)
{
	int fd = open(path, O_RDWR);
	uint8_t be[8];
	put_be64(be, value);
	cr_assert_eq(pwrite(fd, be, 8, offset), 8);
	close(fd);
}

static void make_base(void)
{
	uint8_t *data = malloc(1 << 20);
	memset(data, BASE_BYTE, 1 << 20);
	int fd = open(base_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	cr_assert_eq(write(fd, data, 1 << 20), 1 << 20);
	close(fd);
	free(data);
}

/* A 1 MiB image whose first cluster is all DATA_BYTE, switched to extended L2 entries with the
 * given descriptor flags and bitmap for that cluster. */
static void create_extl2(bool with_backing, uint64_t bitmap)
{
	if (with_backing)
		make_base();
	struct qcow2_create_options opt = qcow2_default_options(1 << 20);
	opt.cluster_bits = 14;
	opt.backing_file = with_backing ? base_path : NULL;
	opt.backing_format = with_backing ? "raw" : NULL;
	struct block_error err;
	cr_assert_eq(qcow2_create(path, &opt, &err), 0, "%s", err.message);
	struct block_device *dev;
	cr_assert_eq(block_open(path, "qcow2", 0, &dev, &err), 0, "%s", err.message);
	uint8_t *cluster = malloc(CLUSTER);
	memset(cluster, DATA_BYTE, CLUSTER);
	cr_assert_eq(block_write(dev, 0, cluster, CLUSTER), 0);
	free(cluster);
	block_close(dev);

	l2_offset = peek(peek(40) /* L1 table */) & QCOW2_OFFSET_MASK;
	data_offset = peek(l2_offset) & QCOW2_OFFSET_MASK;
	cr_assert_neq(data_offset, 0);
	cr_assert_eq(peek(l2_offset + 8), 0);
	poke(72, peek(72) | QCOW2_INCOMPAT_EXTL2);
	poke(l2_offset + 8, bitmap);
}

static struct block_device *open_read_only(void)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, "qcow2", BLOCK_OPEN_READ_ONLY, &dev, &err), 0, "%s",
		     err.message);
	return dev;
}

/* Subclusters 0-15 allocated, 16-23 zero, 24-31 neither. */
#define MIXED_BITMAP (0x0000ffffull | (0x00ff0000ull << 32))

static int expected_byte(unsigned subcluster, bool with_backing)
{
	if (subcluster < 16)
		return DATA_BYTE;
	if (subcluster < 24)
		return 0;
	return with_backing ? BASE_BYTE : 0;
}

static void expect_mixed_cluster(const uint8_t *got, bool with_backing)
{
	for (unsigned i = 0; i < CLUSTER; i++)
		cr_assert_eq(got[i], expected_byte(i / SUBCLUSTER, with_backing), "byte %u", i);
}

Test(qcow2_extl2, subclusters_read_data_zeroes_or_nothing)
{
	create_extl2(false, MIXED_BITMAP);
	struct block_device *dev = open_read_only();
	uint8_t got[CLUSTER];
	cr_assert_eq(block_read(dev, 0, got, CLUSTER), 0);
	expect_mixed_cluster(got, false);
	block_close(dev);
}

Test(qcow2_extl2, unallocated_subclusters_read_the_backing_file)
{
	create_extl2(true, MIXED_BITMAP);
	struct block_device *dev = open_read_only();
	uint8_t got[CLUSTER + 100];
	/* Across the end of the cluster too: the next cluster is unallocated. */
	cr_assert_eq(block_read(dev, 0, got, sizeof(got)), 0);
	expect_mixed_cluster(got, true);
	for (unsigned i = CLUSTER; i < sizeof(got); i++)
		cr_assert_eq(got[i], BASE_BYTE, "byte %u", i);
	block_close(dev);
}

static void read_done(struct block_request *req, int result)
{
	*(int *)req->opaque = result;
}

Test(qcow2_extl2, asynchronous_reads_follow_the_bitmap)
{
	create_extl2(true, MIXED_BITMAP);
	struct block_device *dev = open_read_only();
	uint8_t got[CLUSTER];
	memset(got, 0xee, sizeof(got));
	int result = 1;
	struct block_request req = {.op = BLOCK_OP_READ,
				    .length = CLUSTER,
				    .buffer = got,
				    .complete = read_done,
				    .opaque = &result};
	block_submit(dev, &req);
	block_drain(dev);
	cr_assert_eq(result, 0);
	expect_mixed_cluster(got, true);
	block_close(dev);
}

Test(qcow2_extl2, status_has_subcluster_granularity)
{
	create_extl2(true, MIXED_BITMAP);
	struct block_device *dev = open_read_only();
	struct block_status st;
	cr_assert_eq(block_get_status(dev, 0, 1 << 20, &st), 0);
	cr_assert_eq(st.kind, BLOCK_STATUS_DATA);
	cr_assert_eq(st.length, 16 * SUBCLUSTER);
	cr_assert_eq(st.host_offset, data_offset);
	cr_assert_eq(block_get_status(dev, 16 * SUBCLUSTER, CLUSTER, &st), 0);
	cr_assert_eq(st.kind, BLOCK_STATUS_ZERO);
	cr_assert_eq(st.length, 8 * SUBCLUSTER);
	cr_assert_eq(block_get_status(dev, 24 * SUBCLUSTER, CLUSTER, &st), 0);
	cr_assert_eq(st.kind, BLOCK_STATUS_UNALLOCATED);
	cr_assert_eq(st.length, 8 * SUBCLUSTER);
	block_close(dev);
}

Test(qcow2_extl2, opening_for_writing_is_refused)
{
	create_extl2(false, MIXED_BITMAP);
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, "qcow2", 0, &dev, &err), -EROFS);
	cr_assert(strstr(err.message, "extended L2"), "%s", err.message);
}

Test(qcow2_extl2, check_of_a_valid_image_is_clean)
{
	create_extl2(true, MIXED_BITMAP);
	struct block_device *dev = open_read_only();
	struct qcow2_check_result res;
	struct block_error err;
	cr_assert_eq(qcow2_check(dev, false, &res, &err), 0, "%s", err.message);
	cr_assert_eq(res.corruptions, 0);
	cr_assert_eq(res.leaks, 0);
	cr_assert_eq(res.allocated_clusters, 1);
	block_close(dev);
}

/* The read fails with -EIO and check counts a corruption (and, where the cluster is still
 * referenced, no leak). */
static void expect_corrupt(void)
{
	struct block_device *dev = open_read_only();
	uint8_t got[512];
	cr_assert_eq(block_read(dev, 0, got, sizeof(got)), -EIO);
	struct qcow2_check_result res;
	struct block_error err;
	cr_assert_eq(qcow2_check(dev, false, &res, &err), 0, "%s", err.message);
	cr_assert_gt(res.corruptions, 0);
	block_close(dev);
}

Test(qcow2_extl2, subcluster_both_allocated_and_zero_is_corrupt)
{
	create_extl2(false, 0x1ull | (0x1ull << 32));
	expect_corrupt();
}

Test(qcow2_extl2, allocated_subcluster_without_host_cluster_is_corrupt)
{
	create_extl2(false, 0x3);
	poke(l2_offset, 0);
	expect_corrupt();
}

Test(qcow2_extl2, zero_flag_in_extended_entry_is_corrupt)
{
	create_extl2(false, 0);
	poke(l2_offset, peek(l2_offset) | QCOW2_OFLAG_ZERO);
	expect_corrupt();
}

Test(qcow2_extl2, compressed_cluster_with_bitmap_is_corrupt)
{
	create_extl2(false, 0x1);
	/* A compressed descriptor for the data cluster's bytes (one sector). */
	poke(l2_offset, QCOW2_OFLAG_COMPRESSED | data_offset);
	expect_corrupt();
}

Test(qcow2_extl2, small_clusters_are_refused)
{
	struct qcow2_create_options opt = qcow2_default_options(1 << 20);
	opt.cluster_bits = 13;
	struct block_error err;
	cr_assert_eq(qcow2_create(path, &opt, &err), 0, "%s", err.message);
	poke(72, peek(72) | QCOW2_INCOMPAT_EXTL2);
	struct block_device *dev;
	cr_assert_eq(block_open(path, "qcow2", BLOCK_OPEN_READ_ONLY, &dev, &err), -EINVAL);
	cr_assert(strstr(err.message, "16 KiB"), "%s", err.message);
}
