/* qcow2 header validation: a well-formed header parses, and each broken rule is refused with a
 * message that says what is wrong. */
#include "block/qcow2_header.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define CLUSTER	  65536u
#define FILE_SIZE (4ull * CLUSTER)

static uint8_t buf[CLUSTER];
static struct qcow2_header h;
static struct block_error err;

/* A valid version 3 image: header cluster, refcount table, refcount block, L1 table. */
static void valid_header(void)
{
	memset(buf, 0, sizeof(buf));
	memcpy(buf, QCOW2_MAGIC, 4);
	put_be32(buf + 4, 3);
	put_be32(buf + 20, 16);
	put_be64(buf + 24, 1ull << 30); /* 1 GiB: two L2 tables of 512 MiB */
	put_be32(buf + 36, 2);
	put_be64(buf + 40, 3 * CLUSTER);
	put_be64(buf + 48, CLUSTER);
	put_be32(buf + 56, 1);
	put_be32(buf + 96, 4);
	put_be32(buf + 100, 112);
}

static int parse(void)
{
	return qcow2_header_parse(buf, sizeof(buf), FILE_SIZE, &h, &err);
}

static void expect_refused(int expected, const char *words)
{
	int ret = parse();
	cr_assert_eq(ret, expected, "got %d (%s)", ret, err.message);
	cr_assert(strstr(err.message, words), "message '%s' lacks '%s'", err.message, words);
}

TestSuite(qcow2_header, .init = valid_header);

Test(qcow2_header, valid_v3_header_parses)
{
	cr_assert_eq(parse(), 0, "%s", err.message);
	cr_assert_eq(h.version, 3);
	cr_assert_eq(qcow2_cluster_size(&h), CLUSTER);
	cr_assert_eq(h.size, 1ull << 30);
	cr_assert_eq(h.refcount_order, 4);
}

Test(qcow2_header, valid_v2_header_parses_with_16_bit_refcounts)
{
	put_be32(buf + 4, 2);
	memset(buf + 72, 0, 40);
	cr_assert_eq(parse(), 0, "%s", err.message);
	cr_assert_eq(h.refcount_order, 4);
	cr_assert_eq(h.header_length, 72);
}

Test(qcow2_header, bad_magic)
{
	buf[0] = 'X';
	expect_refused(-EINVAL, "magic");
}

Test(qcow2_header, unknown_version)
{
	put_be32(buf + 4, 4);
	expect_refused(-ENOTSUP, "version 4");
}

Test(qcow2_header, cluster_bits_too_small)
{
	put_be32(buf + 20, 8);
	expect_refused(-EINVAL, "cluster bits");
}

Test(qcow2_header, cluster_bits_too_large)
{
	put_be32(buf + 20, 22);
	expect_refused(-EINVAL, "cluster bits");
}

Test(qcow2_header, header_length_too_short)
{
	put_be32(buf + 100, 96);
	expect_refused(-EINVAL, "header length");
}

Test(qcow2_header, header_length_not_multiple_of_8)
{
	put_be32(buf + 100, 108);
	expect_refused(-EINVAL, "header length");
}

Test(qcow2_header, header_length_beyond_first_cluster)
{
	put_be32(buf + 100, CLUSTER + 8);
	expect_refused(-EINVAL, "header length");
}

Test(qcow2_header, refcount_order_above_6)
{
	put_be32(buf + 96, 7);
	expect_refused(-EINVAL, "refcount order");
}

Test(qcow2_header, virtual_size_too_large)
{
	put_be64(buf + 24, UINT64_MAX);
	expect_refused(-EINVAL, "virtual size");
}

Test(qcow2_header, l1_table_too_small_for_size)
{
	put_be32(buf + 36, 1);
	expect_refused(-EINVAL, "L1 table too small");
}

Test(qcow2_header, l1_table_larger_than_32_mib)
{
	put_be32(buf + 36, (32u << 20) / 8 + 1);
	expect_refused(-EINVAL, "L1 table larger");
}

Test(qcow2_header, l1_table_misaligned)
{
	put_be64(buf + 40, 3 * CLUSTER + 512);
	expect_refused(-EINVAL, "L1 table offset not aligned");
}

Test(qcow2_header, l1_table_beyond_end_of_file)
{
	put_be64(buf + 40, 4 * CLUSTER);
	expect_refused(-EINVAL, "L1 table outside");
}

Test(qcow2_header, l1_table_offset_overflow_wraps_not)
{
	put_be64(buf + 40, 0xffffffffffff0000ull);
	expect_refused(-EINVAL, "L1 table outside");
}

Test(qcow2_header, refcount_table_without_clusters)
{
	put_be32(buf + 56, 0);
	expect_refused(-EINVAL, "refcount table has no clusters");
}

Test(qcow2_header, refcount_table_larger_than_8_mib)
{
	put_be32(buf + 56, 129);
	expect_refused(-EINVAL, "refcount table larger");
}

Test(qcow2_header, refcount_table_misaligned)
{
	put_be64(buf + 48, CLUSTER + 8);
	expect_refused(-EINVAL, "refcount table offset");
}

Test(qcow2_header, refcount_table_beyond_end_of_file)
{
	put_be32(buf + 56, 4);
	expect_refused(-EINVAL, "refcount table outside");
}

Test(qcow2_header, too_many_snapshots)
{
	put_be32(buf + 60, 65537);
	expect_refused(-EINVAL, "snapshots");
}

Test(qcow2_header, snapshot_table_outside_file)
{
	put_be32(buf + 60, 1);
	put_be64(buf + 64, 8 * CLUSTER);
	expect_refused(-EINVAL, "snapshot table");
}

Test(qcow2_header, backing_name_too_long)
{
	put_be64(buf + 8, 200);
	put_be32(buf + 16, 1024);
	expect_refused(-EINVAL, "backing file name");
}

Test(qcow2_header, backing_name_outside_first_cluster)
{
	put_be64(buf + 8, CLUSTER - 4);
	put_be32(buf + 16, 10);
	expect_refused(-EINVAL, "backing file name outside");
}

Test(qcow2_header, backing_name_read)
{
	put_be64(buf + 8, 200);
	put_be32(buf + 16, 8);
	memcpy(buf + 200, "base.img", 8);
	cr_assert_eq(parse(), 0, "%s", err.message);
	cr_assert_str_eq(h.backing_file, "base.img");
}

Test(qcow2_header, encryption_refused)
{
	put_be32(buf + 32, 1);
	expect_refused(-ENOTSUP, "encryption");
}

Test(qcow2_header, extended_l2_parses_with_l1_for_half_the_coverage)
{
	put_be64(buf + 72, QCOW2_INCOMPAT_EXTL2);
	put_be32(buf + 36, 4); /* 16-byte entries: an L2 table maps 256 MiB, not 512 */
	cr_assert_eq(parse(), 0, "%s", err.message);
	cr_assert(qcow2_has_extended_l2(&h));
	cr_assert_eq(qcow2_l2_coverage(&h), 256ull << 20);
}

Test(qcow2_header, extended_l2_l1_table_sized_for_8_byte_entries)
{
	put_be64(buf + 72, QCOW2_INCOMPAT_EXTL2);
	expect_refused(-EINVAL, "L1 table too small");
}

Test(qcow2_header, extended_l2_clusters_below_16k)
{
	put_be64(buf + 72, QCOW2_INCOMPAT_EXTL2);
	put_be32(buf + 20, 13);
	put_be32(buf + 36, 256); /* L2 tables of 8 KiB clusters map 4 MiB */
	expect_refused(-EINVAL, "at least 16 KiB");
}

Test(qcow2_header, external_data_file_refused_by_name)
{
	put_be64(buf + 72, QCOW2_INCOMPAT_DATA_FILE);
	expect_refused(-ENOTSUP, "external data file");
}

Test(qcow2_header, unknown_incompatible_bit_refused_with_table_name)
{
	put_be64(buf + 72, 1ull << 40);
	/* feature name table: type 0 (incompatible), bit 40, name */
	put_be32(buf + 112, QCOW2_EXT_FEATURE_TABLE);
	put_be32(buf + 116, 48);
	buf[120] = 0;
	buf[121] = 40;
	memcpy(buf + 122, "time travel", 11);
	expect_refused(-ENOTSUP, "time travel");
}

Test(qcow2_header, unknown_incompatible_bit_refused_by_number)
{
	put_be64(buf + 72, 1ull << 33);
	expect_refused(-ENOTSUP, "bit 33");
}

Test(qcow2_header, dirty_and_corrupt_bits_left_to_the_caller)
{
	put_be64(buf + 72, QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
	cr_assert_eq(parse(), 0, "%s", err.message);
	cr_assert_eq(h.incompatible_features, QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
}

Test(qcow2_header, compression_bit_without_type_field)
{
	put_be32(buf + 100, 104);
	put_be64(buf + 72, QCOW2_INCOMPAT_COMPRESSION);
	expect_refused(-EINVAL, "compression type");
}

Test(qcow2_header, unknown_compression_type)
{
	put_be64(buf + 72, QCOW2_INCOMPAT_COMPRESSION);
	buf[104] = 7;
	expect_refused(-ENOTSUP, "compression type 7");
}

Test(qcow2_header, zstd_without_feature_bit)
{
	buf[104] = QCOW2_COMPRESSION_ZSTD;
	expect_refused(-EINVAL, "compression type");
}

Test(qcow2_header, extension_running_past_cluster)
{
	put_be32(buf + 112, 0x12345678);
	put_be32(buf + 116, CLUSTER);
	expect_refused(-EINVAL, "extension");
}

Test(qcow2_header, extensions_not_terminated)
{
	for (uint32_t pos = 112; pos + 8 <= CLUSTER; pos += 8)
		put_be32(buf + pos, 0x12345678);
	expect_refused(-EINVAL, "not terminated");
}

Test(qcow2_header, backing_format_read)
{
	put_be32(buf + 112, QCOW2_EXT_BACKING_FORMAT);
	put_be32(buf + 116, 3);
	memcpy(buf + 120, "raw", 3);
	cr_assert_eq(parse(), 0, "%s", err.message);
	cr_assert_str_eq(h.backing_format, "raw");
}

Test(qcow2_header, backing_format_with_nul)
{
	put_be32(buf + 112, QCOW2_EXT_BACKING_FORMAT);
	put_be32(buf + 116, 3);
	memcpy(buf + 120, "r\0w", 3);
	expect_refused(-EINVAL, "backing format");
}

Test(qcow2_header, truncated_file)
{
	int ret = qcow2_header_parse(buf, 50, 50, &h, &err);
	cr_assert_eq(ret, -EINVAL);
}
