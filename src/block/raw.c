/* The raw backend: the disk is the file (or block device), byte for byte. */
#include "block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw_state {
	int fd;
};

static int raw_fd(struct block_device *dev)
{
	return ((struct raw_state *)dev->state)->fd;
}

static int raw_read(struct block_device *dev, uint64_t offset, void *buf, size_t length)
{
	char *p = buf;
	while (length > 0) {
		ssize_t n = pread(raw_fd(dev), p, length, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) { /* a file shorter than it was at open: the rest reads as zeroes */
			memset(p, 0, length);
			return 0;
		}
		p += n;
		offset += n;
		length -= n;
	}
	return 0;
}

static int raw_write(struct block_device *dev, uint64_t offset, const void *buf, size_t length)
{
	const char *p = buf;
	while (length > 0) {
		ssize_t n = pwrite(raw_fd(dev), p, length, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		offset += n;
		length -= n;
	}
	return 0;
}

static int raw_flush(struct block_device *dev)
{
	return fdatasync(raw_fd(dev)) < 0 ? -errno : 0;
}

/* Writes zero bytes in bounded chunks: the fallback when the file system cannot punch holes. */
static int raw_write_zero_bytes(struct block_device *dev, uint64_t offset, uint64_t length)
{
	static const char zeroes[65536];
	while (length > 0) {
		size_t chunk = length < sizeof(zeroes) ? length : sizeof(zeroes);
		int ret = raw_write(dev, offset, zeroes, chunk);
		if (ret < 0)
			return ret;
		offset += chunk;
		length -= chunk;
	}
	return 0;
}

static int raw_write_zeroes(struct block_device *dev, uint64_t offset, uint64_t length)
{
	if (fallocate(raw_fd(dev), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)length) == 0)
		return 0;
	return raw_write_zero_bytes(dev, offset, length);
}

static int raw_discard(struct block_device *dev, uint64_t offset, uint64_t length)
{
	/* Discard is advisory: a file system that cannot punch holes simply keeps the data. */
	if (fallocate(raw_fd(dev), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)length) < 0 &&
	    errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

/* Every byte of a raw disk is where the guest sees it. */
static int raw_map_direct(struct block_device *dev, int op, uint64_t offset, uint64_t length,
			  struct block_extent *ext)
{
	(void)op;
	*ext = (struct block_extent){.file = dev, .offset = offset, .length = length};
	return 1;
}

/* Holes of a sparse file read as zeroes; everything else is data. */
static int raw_status(struct block_device *dev, uint64_t offset, uint64_t length,
		      struct block_status *st)
{
	off_t data = lseek(raw_fd(dev), (off_t)offset, SEEK_DATA);
	uint64_t end = offset + length;
	st->has_offset = true;
	st->host_offset = offset;
	if (data == (off_t)offset) {
		off_t hole = lseek(raw_fd(dev), (off_t)offset, SEEK_HOLE);
		st->kind = BLOCK_STATUS_DATA;
		st->length =
		    hole < 0 || (uint64_t)hole > end ? end - offset : (uint64_t)hole - offset;
		return 0;
	}
	if (data < 0 && errno != ENXIO) { /* no SEEK_DATA here: call it all data */
		st->kind = BLOCK_STATUS_DATA;
		st->length = length;
		return 0;
	}
	st->kind = BLOCK_STATUS_ZERO;
	st->length = data < 0 || (uint64_t)data > end ? end - offset : (uint64_t)data - offset;
	return 0;
}

static void raw_close(struct block_device *dev)
{
	close(raw_fd(dev));
	free(dev->state);
}

static const struct block_driver raw_driver = {
    .format_name = "raw",
    .read = raw_read,
    .write = raw_write,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = raw_close,
    .map_direct = raw_map_direct,
    .status = raw_status,
};

static int file_size(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

int raw_open(struct block_device *dev, int fd, struct block_error *err)
{
	struct raw_state *state = calloc(1, sizeof(*state));
	int ret = state ? file_size(fd, &dev->size) : -ENOMEM;
	if (ret < 0) {
		block_error_set(err, "%s: %s", dev->filename, strerror(-ret));
		free(state);
		close(fd);
		return ret;
	}
	state->fd = fd;
	dev->state = state;
	dev->data_fd = fd;
	dev->driver = &raw_driver;
	return 0;
}
