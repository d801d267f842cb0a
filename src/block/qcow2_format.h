/* The qcow2 on-disk format (QEMU's docs/interop/qcow2.txt): constants, the parsed header and the
 * big-endian accessors used to read and write it. */
#ifndef GUREUM_BLOCK_QCOW2_FORMAT_H
#define GUREUM_BLOCK_QCOW2_FORMAT_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define QCOW2_MAGIC		 "QFI\xfb"
#define QCOW2_V2_HEADER_LENGTH	 72
#define QCOW2_V3_HEADER_LENGTH	 104
#define QCOW2_MIN_CLUSTER_BITS	 9
#define QCOW2_MAX_CLUSTER_BITS	 21
#define QCOW2_MAX_BACKING_NAME	 1023
#define QCOW2_MAX_L1_BYTES	 (32u << 20) /* as QEMU: bounds memory for the L1 table */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_SNAPSHOTS	 65536
#define QCOW2_MAX_REFCOUNT_ORDER 6
#define QCOW2_MAX_VIRTUAL_SIZE	 (1ull << 61)

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY	    (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT	    (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2	    (1ull << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* Header extension types. */
#define QCOW2_EXT_END		 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE	 0x6803f857u
#define QCOW2_EXT_BITMAPS	 0x23852875u
#define QCOW2_EXT_ENCRYPTION	 0x0537be77u
#define QCOW2_EXT_DATA_FILE	 0x44415441u

/* L1 and L2 entries. */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull /* bits 9..55 */
#define QCOW2_L1_RESERVED      0x7f000000000001ffull
#define QCOW2_L2_RESERVED      0x3f000000000001feull

/* Extended L2 entries: a 64-bit subcluster bitmap follows each descriptor. Each cluster is split
 * into 32 subclusters; bit i says subcluster i is allocated (its data is in the host cluster),
 * bit 32 + i that it reads as zeroes. */
#define QCOW2_SUBCLUSTERS	     32
#define QCOW2_SUBCLUSTER_ALLOC_MASK  0x00000000ffffffffull
#define QCOW2_EXTL2_MIN_CLUSTER_BITS 14 /* subclusters of at least 512 bytes, as QEMU */
#define QCOW2_SUBCLUSTER_ALLOC(i)    (1ull << (i))
#define QCOW2_SUBCLUSTER_ZERO(i)     (1ull << (32 + (i)))

struct qcow2_header {
	uint32_t version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size;
	uint32_t cluster_bits;
	uint64_t size;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompatible_features;
	uint64_t compatible_features;
	uint64_t autoclear_features;
	uint32_t refcount_order;
	uint32_t header_length;
	uint8_t compression_type;

	char backing_file[QCOW2_MAX_BACKING_NAME + 1]; /* "" when there is none */
	char backing_format[32];		       /* "" when not recorded */
	bool has_bitmaps;
};

static inline uint64_t qcow2_cluster_size(const struct qcow2_header *h)
{
	return 1ull << h->cluster_bits;
}

static inline bool qcow2_has_extended_l2(const struct qcow2_header *h)
{
	return (h->incompatible_features & QCOW2_INCOMPAT_EXTL2) != 0;
}

/* Bytes per L2 entry: 16 with extended L2 entries (descriptor and subcluster bitmap), else 8. */
static inline uint64_t qcow2_l2_entry_size(const struct qcow2_header *h)
{
	return qcow2_has_extended_l2(h) ? 16 : 8;
}

/* log2 of the guest bytes covered by one L2 table. */
static inline unsigned qcow2_l2_coverage_bits(const struct qcow2_header *h)
{
	return 2 * h->cluster_bits - (qcow2_has_extended_l2(h) ? 4 : 3);
}

/* Guest bytes covered by one L2 table. */
static inline uint64_t qcow2_l2_coverage(const struct qcow2_header *h)
{
	return 1ull << qcow2_l2_coverage_bits(h);
}

static inline uint64_t qcow2_l1_entries_needed(const struct qcow2_header *h, uint64_t size)
{
	uint64_t coverage = qcow2_l2_coverage(h);
	return size / coverage + (size % coverage != 0);
}

static inline uint16_t be16_at(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t be64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

#endif
