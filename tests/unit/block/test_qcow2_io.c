/* The qcow2 driver through the block interface, on real files: data survives a reopen, backing
 * files show through and are copied on write, and corrupt metadata gives errors, not crashes. */
#include "block/block.h"
#include "block/qcow2_create.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/gureum-qcow2-XXXXXX";
static char path[256], base_path[256];

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

TestSuite(qcow2_io, .init = setup, .fini = teardown);

static void create(uint64_t size, const char *backing, const char *backing_format)
{
	struct qcow2_create_options opt = qcow2_default_options(size);
	opt.backing_file = backing;
	opt.backing_format = backing_format;
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

static void poke(uint64_t offset, uint64_t value)
{
	int fd = open(path, O_RDWR);
	uint64_t be = htobe64(value);
	cr_assert_eq(pwrite(fd, &be, 8, offset), 8);
	close(fd);
}

Test(qcow2_io, written_data_survives_reopen_and_unwritten_reads_zero)
{
	create(16 << 20, NULL, NULL);
	struct block_device *dev = open_image(0);
	cr_assert_str_eq(dev->driver->format_name, "qcow2");
	char data[5000];
	memset(data, 0x5a, sizeof(data));
	cr_assert_eq(block_write(dev, 65536 - 100, data, sizeof(data)), 0);
	cr_assert_eq(block_flush(dev), 0);
	block_close(dev);

	dev = open_image(BLOCK_OPEN_READ_ONLY);
	char back[6000];
	cr_assert_eq(block_read(dev, 65536 - 600, back, sizeof(back)), 0);
	for (int i = 0; i < 6000; i++)
		cr_assert_eq(back[i], (i >= 500 && i < 5500) ? 0x5a : 0, "byte %d", i);
	block_close(dev);
}

Test(qcow2_io, out_of_range_and_read_only_requests_fail)
{
	create(1 << 20, NULL, NULL);
	struct block_device *dev = open_image(BLOCK_OPEN_READ_ONLY);
	char b[16] = {0};
	cr_assert_eq(block_read(dev, (1 << 20) - 8, b, 16), -EINVAL);
	cr_assert_eq(block_write(dev, 0, b, 16), -EROFS);
	block_close(dev);
}

Test(qcow2_io, backing_file_shows_through_and_is_copied_on_write)
{
	FILE *f = fopen(base_path, "w");
	for (int i = 0; i < (1 << 20); i++)
		fputc(0x11, f);
	fclose(f);
	create(2 << 20, "base.raw", "raw"); /* relative to the image's directory */
	struct block_device *dev = open_image(0);
	char b[4096];
	memset(b, 0x22, sizeof(b));
	cr_assert_eq(block_write(dev, 8192, b, sizeof(b)), 0);
	char cluster[65536];
	cr_assert_eq(block_read(dev, 0, cluster, sizeof(cluster)), 0);
	for (int i = 0; i < 65536; i++)
		cr_assert_eq(cluster[i], (i >= 8192 && i < 12288) ? 0x22 : 0x11, "byte %d", i);
	/* beyond the end of the shorter backing file: zeroes */
	cr_assert_eq(block_read(dev, (1 << 20) + 10, b, 100), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(b[i], 0);
	/* zeroing a cluster hides the backing file */
	cr_assert_eq(block_write_zeroes(dev, 65536, 65536), 0);
	cr_assert_eq(block_read(dev, 65536, b, 100), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(b[i], 0);
	block_close(dev);
}

Test(qcow2_io, missing_backing_file_is_named)
{
	create(1 << 20, "nonexistent.img", NULL);
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, NULL, 0, &dev, &err), -ENOENT);
	cr_assert(strstr(err.message, "nonexistent.img"), "%s", err.message);
}

Test(qcow2_io, self_backing_is_a_loop)
{
	create(1 << 20, "disk.qcow2", "qcow2");
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, NULL, 0, &dev, &err), -ELOOP, "%s", err.message);
	cr_assert(strstr(err.message, "loop"), "%s", err.message);
}

/* Layout of a fresh 1 MiB image: header, reftable, refblock, L1 at cluster 3. */
#define L1_OFFSET (3 * 65536)

Test(qcow2_io, l1_entry_with_reserved_bits_gives_eio)
{
	create(1 << 20, NULL, NULL);
	poke(L1_OFFSET, 0x1ff);
	struct block_device *dev = open_image(BLOCK_OPEN_READ_ONLY);
	char b[512];
	cr_assert_eq(block_read(dev, 0, b, sizeof(b)), -EIO);
	block_close(dev);
}

Test(qcow2_io, l2_table_beyond_end_of_file_gives_eio)
{
	create(1 << 20, NULL, NULL);
	poke(L1_OFFSET, (1ull << 40) | (1ull << 63));
	struct block_device *dev = open_image(0);
	char b[512] = {0};
	cr_assert_eq(block_read(dev, 0, b, sizeof(b)), -EIO);
	cr_assert_eq(block_write(dev, 0, b, sizeof(b)), -EIO);
	block_close(dev);
}

Test(qcow2_io, data_cluster_beyond_end_of_file_gives_eio)
{
	create(1 << 20, NULL, NULL);
	struct block_device *dev = open_image(0);
	char b[512] = {1};
	cr_assert_eq(block_write(dev, 0, b, sizeof(b)), 0); /* allocates L2 at cluster 4 */
	block_close(dev);
	poke(4 * 65536, (1ull << 45) | (1ull << 63));
	dev = open_image(BLOCK_OPEN_READ_ONLY);
	cr_assert_eq(block_read(dev, 0, b, sizeof(b)), -EIO);
	block_close(dev);
}

Test(qcow2_io, corrupt_image_is_read_only)
{
	create(1 << 20, NULL, NULL);
	poke(72, 2);
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, NULL, 0, &dev, &err), -EROFS);
	cr_assert(strstr(err.message, "corrupt"), "%s", err.message);
}
