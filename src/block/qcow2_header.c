#include "block/qcow2_header.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

/* Incompatible features this driver implements (dirty and corrupt are judged by the caller). */
#define SUPPORTED_INCOMPAT                                                                         \
	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION |              \
	 QCOW2_INCOMPAT_EXTL2)

static const char *const known_incompat_names[] = {
    "dirty bit", "corrupt bit", "external data file", "compression type", "extended L2 entries",
};

static int invalid(struct block_error *err, const char *what)
{
	block_error_set(err, "invalid qcow2 header: %s", what);
	return -EINVAL;
}

/* True when [offset, offset + length) lies inside a file of file_size bytes. */
static bool inside_file(uint64_t offset, uint64_t length, uint64_t file_size)
{
	return offset <= file_size && length <= file_size - offset;
}

static bool cluster_aligned(const struct qcow2_header *h, uint64_t offset)
{
	return (offset & (qcow2_cluster_size(h) - 1)) == 0;
}

static void read_fixed_fields(const uint8_t *buf, struct qcow2_header *h)
{
	h->version = be32_at(buf + 4);
	h->backing_file_offset = be64_at(buf + 8);
	h->backing_file_size = be32_at(buf + 16);
	h->cluster_bits = be32_at(buf + 20);
	h->size = be64_at(buf + 24);
	h->crypt_method = be32_at(buf + 32);
	h->l1_size = be32_at(buf + 36);
	h->l1_table_offset = be64_at(buf + 40);
	h->refcount_table_offset = be64_at(buf + 48);
	h->refcount_table_clusters = be32_at(buf + 56);
	h->nb_snapshots = be32_at(buf + 60);
	h->snapshots_offset = be64_at(buf + 64);
}

/* Version 3 adds feature bits, the refcount width and the header length; version 2 implies
 * 16-bit refcounts and a 72-byte header. */
static int read_v3_fields(const uint8_t *buf, size_t len, struct qcow2_header *h,
			  struct block_error *err)
{
	if (h->version == 2) {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HEADER_LENGTH;
		return 0;
	}
	if (len < QCOW2_V3_HEADER_LENGTH)
		return invalid(err, "file too short for a version 3 header");
	h->incompatible_features = be64_at(buf + 72);
	h->compatible_features = be64_at(buf + 80);
	h->autoclear_features = be64_at(buf + 88);
	h->refcount_order = be32_at(buf + 96);
	h->header_length = be32_at(buf + 100);
	if (h->header_length < QCOW2_V3_HEADER_LENGTH || h->header_length % 8 != 0)
		return invalid(err, "header length must be a multiple of 8 and at least 104");
	if (h->header_length > qcow2_cluster_size(h) || h->header_length > len)
		return invalid(err, "header length exceeds the first cluster");
	if (h->header_length > QCOW2_V3_HEADER_LENGTH)
		h->compression_type = buf[104];
	return 0;
}

static int check_geometry(const struct qcow2_header *h, uint64_t file_size, struct block_error *err)
{
	if (h->size > QCOW2_MAX_VIRTUAL_SIZE)
		return invalid(err, "virtual size too large");
	if (h->refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
		return invalid(err, "refcount order above 6 (64-bit refcounts)");
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return invalid(err, "L1 table larger than 32 MiB");
	if (h->l1_size < qcow2_l1_entries_needed(h, h->size))
		return invalid(err, "L1 table too small for the virtual size");
	if (!cluster_aligned(h, h->l1_table_offset))
		return invalid(err, "L1 table offset not aligned to a cluster");
	if (h->l1_size > 0 &&
	    (h->l1_table_offset == 0 ||
	     !inside_file(h->l1_table_offset, (uint64_t)h->l1_size * 8, file_size)))
		return invalid(err, "L1 table outside the file");
	if (h->refcount_table_clusters == 0)
		return invalid(err, "refcount table has no clusters");
	if ((uint64_t)h->refcount_table_clusters << h->cluster_bits > QCOW2_MAX_REFTABLE_BYTES)
		return invalid(err, "refcount table larger than 8 MiB");
	if (!cluster_aligned(h, h->refcount_table_offset) || h->refcount_table_offset == 0)
		return invalid(err, "refcount table offset not aligned to a cluster");
	if (!inside_file(h->refcount_table_offset,
			 (uint64_t)h->refcount_table_clusters << h->cluster_bits, file_size))
		return invalid(err, "refcount table outside the file");
	return 0;
}

static int check_snapshots_and_backing(const struct qcow2_header *h, uint64_t file_size,
				       struct block_error *err)
{
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return invalid(err, "more than 65536 snapshots");
	if (h->nb_snapshots > 0 &&
	    (!cluster_aligned(h, h->snapshots_offset) || h->snapshots_offset == 0 ||
	     !inside_file(h->snapshots_offset, 40ull * h->nb_snapshots, file_size)))
		return invalid(err, "snapshot table outside the file or misaligned");
	if (h->backing_file_offset == 0)
		return 0;
	if (h->backing_file_size == 0 || h->backing_file_size > QCOW2_MAX_BACKING_NAME)
		return invalid(err, "backing file name empty or longer than 1023 bytes");
	if (h->backing_file_offset > qcow2_cluster_size(h) ||
	    h->backing_file_size > qcow2_cluster_size(h) - h->backing_file_offset)
		return invalid(err, "backing file name outside the first cluster");
	if (!inside_file(h->backing_file_offset, h->backing_file_size, file_size))
		return invalid(err, "backing file name outside the file");
	return 0;
}

/* Names the feature bit, preferring the image's own feature table (type 0 = incompatible). */
static void feature_name(const uint8_t *table, uint32_t table_len, int bit, char *out,
			 size_t out_len)
{
	for (uint32_t i = 0; table && i + 48 <= table_len; i += 48) {
		if (table[i] == 0 && table[i + 1] == bit) {
			snprintf(out, out_len, "%.46s", (const char *)table + i + 2);
			return;
		}
	}
	if (bit < (int)(sizeof(known_incompat_names) / sizeof(known_incompat_names[0])))
		snprintf(out, out_len, "%s", known_incompat_names[bit]);
	else
		snprintf(out, out_len, "unknown feature bit %d", bit);
}

static int check_incompatible(const struct qcow2_header *h, const uint8_t *table,
			      uint32_t table_len, struct block_error *err)
{
	uint64_t unsupported = h->incompatible_features & ~SUPPORTED_INCOMPAT;
	if (unsupported) {
		char name[64];
		feature_name(table, table_len, __builtin_ctzll(unsupported), name, sizeof(name));
		block_error_set(err, "unsupported qcow2 feature: %s (incompatible bit %d)", name,
				__builtin_ctzll(unsupported));
		return -ENOTSUP;
	}
	bool has_type = h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;
	if (has_type && h->header_length <= QCOW2_V3_HEADER_LENGTH)
		return invalid(err, "compression type bit set but no compression type field");
	if (!has_type && h->compression_type != QCOW2_COMPRESSION_ZLIB)
		return invalid(err, "compression type other than zlib without its feature bit");
	if (h->compression_type > QCOW2_COMPRESSION_ZSTD) {
		block_error_set(err, "unsupported qcow2 feature: compression type %u",
				h->compression_type);
		return -ENOTSUP;
	}
	/* 32 subclusters of a smaller cluster would be smaller than a sector. */
	if (qcow2_has_extended_l2(h) && h->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
		return invalid(err, "extended L2 entries need clusters of at least 16 KiB");
	if (h->crypt_method != 0) {
		block_error_set(err, "unsupported qcow2 feature: encryption (method %u)",
				h->crypt_method);
		return -ENOTSUP;
	}
	return 0;
}

static int parse_extension(const uint8_t *data, uint32_t type, uint32_t length,
			   struct qcow2_header *h, const uint8_t **table, uint32_t *table_len,
			   struct block_error *err)
{
	switch (type) {
	case QCOW2_EXT_BACKING_FORMAT:
		if (length == 0 || length >= sizeof(h->backing_format))
			return invalid(err, "backing format name empty or too long");
		memcpy(h->backing_format, data, length);
		h->backing_format[length] = '\0';
		if (strlen(h->backing_format) != length)
			return invalid(err, "backing format name contains a NUL byte");
		return 0;
	case QCOW2_EXT_FEATURE_TABLE:
		*table = data;
		*table_len = length;
		return 0;
	case QCOW2_EXT_BITMAPS:
		h->has_bitmaps = true;
		return 0;
	case QCOW2_EXT_DATA_FILE:
		block_error_set(err, "unsupported qcow2 feature: external data file");
		return -ENOTSUP;
	default: /* unknown extensions may be ignored, per the specification */
		return 0;
	}
}

/* Extensions follow the header, each (type, length, data padded to 8 bytes), until type 0. They
 * must all lie inside the first cluster and before the backing file name. */
static int parse_extensions(const uint8_t *buf, size_t len, struct qcow2_header *h,
			    const uint8_t **table, uint32_t *table_len, struct block_error *err)
{
	uint64_t end = len < qcow2_cluster_size(h) ? len : qcow2_cluster_size(h);
	if (h->backing_file_offset != 0 && h->backing_file_offset < end)
		end = h->backing_file_offset;
	uint64_t pos = h->header_length;
	while (pos + 8 <= end) {
		uint32_t type = be32_at(buf + pos);
		uint32_t length = be32_at(buf + pos + 4);
		pos += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (length > end - pos)
			return invalid(err, "header extension extends past the header area");
		int ret = parse_extension(buf + pos, type, length, h, table, table_len, err);
		if (ret < 0)
			return ret;
		pos += ((uint64_t)length + 7) & ~7ull;
	}
	/* Version 2 images may end the header without an end marker. */
	if (h->version == 2)
		return 0;
	return invalid(err, "header extensions are not terminated");
}

static int read_backing_name(const uint8_t *buf, struct qcow2_header *h, struct block_error *err)
{
	if (h->backing_file_offset == 0)
		return 0;
	memcpy(h->backing_file, buf + h->backing_file_offset, h->backing_file_size);
	h->backing_file[h->backing_file_size] = '\0';
	if (strlen(h->backing_file) != h->backing_file_size)
		return invalid(err, "backing file name contains a NUL byte");
	return 0;
}

int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct qcow2_header *h,
		       struct block_error *err)
{
	memset(h, 0, sizeof(*h));
	if (len < QCOW2_V2_HEADER_LENGTH || memcmp(buf, QCOW2_MAGIC, 4) != 0)
		return invalid(err, "no qcow2 magic");
	read_fixed_fields(buf, h);
	if (h->version != 2 && h->version != 3) {
		block_error_set(err, "unsupported qcow2 version %" PRIu32 " (2 and 3 are known)",
				h->version);
		return -ENOTSUP;
	}
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return invalid(err, "cluster bits outside 9..21");
	if (len < qcow2_cluster_size(h) && len < file_size)
		return invalid(err, "header buffer shorter than the first cluster");
	int ret = read_v3_fields(buf, len, h, err);
	if (!ret)
		ret = check_geometry(h, file_size, err);
	if (!ret)
		ret = check_snapshots_and_backing(h, file_size, err);
	const uint8_t *table = NULL;
	uint32_t table_len = 0;
	if (!ret)
		ret = parse_extensions(buf, len, h, &table, &table_len, err);
	if (!ret)
		ret = check_incompatible(h, table, table_len, err);
	if (!ret)
		ret = read_backing_name(buf, h, err);
	return ret;
}
