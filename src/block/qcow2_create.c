/* Layout of a new image: header cluster, refcount table, refcount blocks, L1 table. */
#include "block/qcow2_create.h"
#include "block/qcow2_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct layout {
	uint64_t cluster_size;
	uint64_t l1_entries;
	uint64_t reftable_clusters;
	uint64_t refblock_clusters;
	uint64_t l1_clusters;
	uint64_t total_clusters; /* metadata clusters in use at creation */
};

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

struct qcow2_create_options qcow2_default_options(uint64_t size)
{
	return (struct qcow2_create_options){
	    .size = size, .cluster_bits = 16, .version = 3, .refcount_order = 4};
}

static int plan_layout(const struct qcow2_create_options *opt, struct layout *l)
{
	l->cluster_size = 1ull << opt->cluster_bits;
	uint64_t l2_coverage = 1ull << (2 * opt->cluster_bits - 3);
	l->l1_entries = div_round_up(opt->size, l2_coverage);
	if (l->l1_entries * 8 > QCOW2_MAX_L1_BYTES)
		return -EFBIG;
	l->l1_clusters = div_round_up(l->l1_entries * 8, l->cluster_size);
	uint64_t refblock_entries = (l->cluster_size * 8) >> opt->refcount_order;
	/* Everything the image may ever need: every data cluster and L2 table, plus slack. */
	uint64_t full =
	    div_round_up(opt->size, l->cluster_size) + l->l1_entries + l->l1_clusters + 64;
	uint64_t refblocks_full = div_round_up(full, refblock_entries);
	l->reftable_clusters = div_round_up((refblocks_full + 1) * 8, l->cluster_size);
	if (l->reftable_clusters * l->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
		return -EFBIG;
	l->refblock_clusters = 1;
	for (;;) { /* refcount blocks must also count themselves */
		l->total_clusters =
		    1 + l->reftable_clusters + l->refblock_clusters + l->l1_clusters;
		uint64_t needed = div_round_up(l->total_clusters, refblock_entries);
		if (needed <= l->refblock_clusters)
			break;
		l->refblock_clusters = needed;
	}
	return 0;
}

/* Appends a header extension at *pos, padded to 8 bytes. */
static void put_extension(uint8_t *hdr, size_t *pos, uint32_t type, const void *data,
			  uint32_t length)
{
	put_be32(hdr + *pos, type);
	put_be32(hdr + *pos + 4, length);
	memcpy(hdr + *pos + 8, data, length);
	*pos += 8 + ((length + 7u) & ~7u);
}

static void build_header(const struct qcow2_create_options *opt, const struct layout *l,
			 uint8_t *hdr)
{
	uint64_t reftable_offset = l->cluster_size;
	uint64_t l1_offset = (1 + l->reftable_clusters + l->refblock_clusters) * l->cluster_size;
	memcpy(hdr, QCOW2_MAGIC, 4);
	put_be32(hdr + 4, opt->version);
	put_be32(hdr + 20, opt->cluster_bits);
	put_be64(hdr + 24, opt->size);
	put_be32(hdr + 36, l->l1_entries);
	put_be64(hdr + 40, l1_offset);
	put_be64(hdr + 48, reftable_offset);
	put_be32(hdr + 56, l->reftable_clusters);
	size_t pos = QCOW2_V2_HEADER_LENGTH;
	if (opt->version >= 3) {
		put_be64(hdr + 80, opt->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
		put_be32(hdr + 96, opt->refcount_order);
		put_be32(hdr + 100, 112); /* includes the compression type byte (zlib) */
		pos = 112;
	}
	if (opt->backing_format)
		put_extension(hdr, &pos, QCOW2_EXT_BACKING_FORMAT, opt->backing_format,
			      strlen(opt->backing_format));
	pos += 8; /* end of extensions: type 0, length 0 */
	if (opt->backing_file) {
		put_be64(hdr + 8, pos);
		put_be32(hdr + 16, strlen(opt->backing_file));
		memcpy(hdr + pos, opt->backing_file, strlen(opt->backing_file));
	}
}

static int check_options(const struct qcow2_create_options *opt, struct block_error *err,
			 const char *filename)
{
	const char *problem = NULL;
	if (opt->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    opt->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		problem = "cluster size must be a power of two from 512 bytes to 2 MiB";
	else if (opt->version != 2 && opt->version != 3)
		problem = "version must be 2 (compat=0.10) or 3 (compat=1.1)";
	else if (opt->refcount_order > QCOW2_MAX_REFCOUNT_ORDER ||
		 (opt->version == 2 && opt->refcount_order != 4))
		problem = "refcount width must be 1..64 bits (16 in version 2)";
	else if (opt->lazy_refcounts && opt->version < 3)
		problem = "lazy refcounts need compat=1.1 (version 3)";
	else if (opt->size % 512 || opt->size > QCOW2_MAX_VIRTUAL_SIZE)
		problem = "size must be a multiple of 512 bytes and at most 2 EiB";
	else if (opt->backing_file && (strlen(opt->backing_file) == 0 ||
				       strlen(opt->backing_file) > QCOW2_MAX_BACKING_NAME))
		problem = "backing file name must be 1..1023 bytes";
	else if (opt->backing_format && strlen(opt->backing_format) > 16)
		problem = "backing format name too long";
	else if (((opt->backing_file ? strlen(opt->backing_file) : 0) + 200) >
		 (1ull << opt->cluster_bits))
		problem = "backing file name does not fit in the first cluster";
	if (problem)
		block_error_set(err, "%s: %s", filename, problem);
	return problem ? -EINVAL : 0;
}

/* Writes the reftable and refblocks so that clusters 0..total-1 have refcount 1. */
static int write_refcounts(int fd, const struct qcow2_create_options *opt, const struct layout *l,
			   uint8_t *buf)
{
	uint64_t refblock_entries = (l->cluster_size * 8) >> opt->refcount_order;
	unsigned bits = 1u << opt->refcount_order;
	memset(buf, 0, l->cluster_size);
	for (uint64_t i = 0; i < l->refblock_clusters; i++)
		put_be64(buf + 8 * i, (1 + l->reftable_clusters + i) * l->cluster_size);
	if (pwrite(fd, buf, l->cluster_size, l->cluster_size) != (ssize_t)l->cluster_size)
		return -EIO;
	for (uint64_t b = 0; b < l->refblock_clusters; b++) {
		memset(buf, 0, l->cluster_size);
		for (uint64_t i = 0; i < refblock_entries; i++) {
			uint64_t cluster = b * refblock_entries + i;
			if (cluster >= l->total_clusters)
				break;
			if (bits >= 8) /* big endian: the 1 is in the entry's last byte */
				buf[(i + 1) * (bits / 8) - 1] = 1;
			else /* packed, first entry in the least significant bits */
				buf[i * bits / 8] |= 1u << (i * bits % 8);
		}
		uint64_t offset = (1 + l->reftable_clusters + b) * l->cluster_size;
		if (pwrite(fd, buf, l->cluster_size, offset) != (ssize_t)l->cluster_size)
			return -EIO;
	}
	return 0;
}

int qcow2_create(const char *filename, const struct qcow2_create_options *opt,
		 struct block_error *err)
{
	struct layout l;
	int ret = check_options(opt, err, filename);
	if (ret < 0)
		return ret;
	if (plan_layout(opt, &l) < 0) {
		block_error_set(err, "%s: size too large for this cluster size", filename);
		return -EFBIG;
	}
	int fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		block_error_set(err, "%s: %s", filename, strerror(-ret));
		return ret;
	}
	uint8_t *buf = calloc(1, l.cluster_size);
	ret = buf ? 0 : -ENOMEM;
	if (!ret && ftruncate(fd, (off_t)(l.total_clusters * l.cluster_size)) < 0)
		ret = -errno;
	if (!ret)
		ret = write_refcounts(fd, opt, &l, buf);
	if (!ret) {
		memset(buf, 0, l.cluster_size);
		build_header(opt, &l, buf);
		if (pwrite(fd, buf, l.cluster_size, 0) != (ssize_t)l.cluster_size)
			ret = -EIO;
	}
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	free(buf);
	close(fd);
	if (ret < 0)
		block_error_set(err, "%s: cannot write the image: %s", filename, strerror(-ret));
	return ret;
}
