/* Lazy refcounts and the dirty bit: an image written with lazy refcounts is marked dirty in the
 * file while it is open for writing and clean after close; an image found dirty is opened
 * read-only as it is, and read-write only after its refcounts are rebuilt, so that new
 * allocations never reuse clusters that are in use. */
#include "block/block.h"
#include "block/qcow2.h"
#include "block/qcow2_check.h"
#include "block/qcow2_create.h"

#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER 65536

static char dir[] = "/tmp/gureum-lazy-XXXXXX";
static char path[256];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(qcow2_lazy, .init = setup, .fini = teardown);

static void create(bool lazy, unsigned version, int expect)
{
	struct qcow2_create_options opt = qcow2_default_options(8 << 20);
	opt.lazy_refcounts = lazy;
	opt.version = version;
	struct block_error err;
	cr_assert_eq(qcow2_create(path, &opt, &err), expect, "%s", err.message);
}

static struct block_device *open_image(unsigned flags)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, NULL, flags, &dev, &err), 0, "%s", err.message);
	return dev;
}

static uint64_t peek64(uint64_t offset)
{
	int fd = open(path, O_RDONLY);
	uint64_t be = 0;
	cr_assert_eq(pread(fd, &be, 8, offset), 8);
	close(fd);
	return be64toh(be);
}

static void poke16(uint64_t offset, uint16_t value)
{
	int fd = open(path, O_RDWR);
	uint16_t be = htobe16(value);
	cr_assert_eq(pwrite(fd, &be, 2, offset), 2);
	close(fd);
}

static bool dirty_in_file(void)
{
	return peek64(72) & QCOW2_INCOMPAT_DIRTY;
}

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

static void write_pattern(struct block_device *dev, uint64_t offset, int value)
{
	uint8_t b[4096];
	memset(b, value, sizeof(b));
	cr_assert_eq(block_write(dev, offset, b, sizeof(b)), 0);
}

static void assert_pattern(struct block_device *dev, uint64_t offset, int value)
{
	uint8_t b[4096];
	cr_assert_eq(block_read(dev, offset, b, sizeof(b)), 0);
	for (size_t i = 0; i < sizeof(b); i++)
		cr_assert_eq(b[i], value, "byte %zu at %#lx", i, (unsigned long)offset);
}

Test(qcow2_lazy, version_2_cannot_have_lazy_refcounts)
{
	create(true, 2, -EINVAL);
}

Test(qcow2_lazy, dirty_while_written_clean_after_close)
{
	create(true, 3, 0);
	struct block_device *dev = open_image(0);
	cr_assert_not(dirty_in_file(), "opening alone changes nothing");
	write_pattern(dev, 0, 0x5a);
	cr_assert(dirty_in_file(), "the first allocation marks the image dirty");
	cr_assert_eq(block_flush(dev), 0);
	cr_assert(dirty_in_file(), "stays dirty until closed");
	block_close(dev);
	cr_assert_not(dirty_in_file());
	assert_checks_clean();
}

Test(qcow2_lazy, dirty_image_opens_read_only_untouched)
{
	create(true, 3, 0);
	struct block_device *dev = open_image(0);
	write_pattern(dev, 0, 0x5a);
	block_close(dev);
	int fd = open(path, O_RDWR);
	uint64_t be = htobe64(QCOW2_INCOMPAT_DIRTY);
	cr_assert_eq(pwrite(fd, &be, 8, 72), 8);
	close(fd);
	dev = open_image(BLOCK_OPEN_READ_ONLY);
	assert_pattern(dev, 0, 0x5a);
	block_close(dev);
	cr_assert(dirty_in_file());
}

/* A crash with lazy refcounts leaves clusters in use whose refcount was never written. Here the
 * data cluster's refcount is zeroed and the dirty bit set by hand: opened read-write, the image
 * must be repaired first, or the next allocation would reuse the cluster and destroy its data. */
Test(qcow2_lazy, dirty_image_is_repaired_before_writing)
{
	create(true, 3, 0);
	struct block_device *dev = open_image(0);
	write_pattern(dev, 0, 0x5a);
	block_close(dev);
	uint64_t l2 = peek64(peek64(40)) & 0x00fffffffffffe00ull;
	uint64_t data = peek64(l2) & 0x00fffffffffffe00ull;
	uint64_t refblock = peek64(peek64(48));
	poke16(refblock + 2 * (data / CLUSTER), 0);
	int fd = open(path, O_RDWR);
	uint64_t be = htobe64(QCOW2_INCOMPAT_DIRTY);
	cr_assert_eq(pwrite(fd, &be, 8, 72), 8);
	close(fd);

	dev = open_image(0);
	cr_assert_not(dirty_in_file(), "repaired at open");
	write_pattern(dev, CLUSTER, 0x6b); /* allocates a new cluster */
	assert_pattern(dev, 0, 0x5a);
	assert_pattern(dev, CLUSTER, 0x6b);
	block_close(dev);
	assert_checks_clean();
}
