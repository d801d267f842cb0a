/* Mapping guest clusters to host clusters through the L1 and L2 tables, with every entry
 * validated before use, and the file I/O helpers the rest of the driver shares. */
#include "block/qcow2_internal.h"

#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...)
{
	char detail[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	log_error("%s: corrupt qcow2 image: %s", q->filename, detail);
	return -EIO;
}

int qcow2_pread(struct qcow2 *q, uint64_t offset, void *buf, size_t length)
{
	char *p = buf;
	while (length > 0) {
		ssize_t n = pread(q->fd, p, length, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return qcow2_corrupt(q, "read past the end of the file at %" PRIu64,
					     offset);
		p += n;
		offset += n;
		length -= n;
	}
	return 0;
}

int qcow2_pwrite(struct qcow2 *q, uint64_t offset, const void *buf, size_t length)
{
	const char *p = buf;
	while (length > 0) {
		ssize_t n = pwrite(q->fd, p, length, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		offset += n;
		length -= n;
	}
	if (offset > q->file_size)
		q->file_size = offset;
	q->unsynced = true;
	return 0;
}

int qcow2_order_flush(struct qcow2 *q)
{
	if (q->unsafe || !q->unsynced)
		return 0;
	if (fdatasync(q->fd) < 0)
		return -errno;
	q->unsynced = false;
	return 0;
}

static bool inside_file(const struct qcow2 *q, uint64_t offset, uint64_t length)
{
	return offset <= q->file_size && length <= q->file_size - offset;
}

int qcow2_l2_offset(struct qcow2 *q, uint64_t l1_index, uint64_t *l2_offset)
{
	if (l1_index >= q->h.l1_size)
		return qcow2_corrupt(q, "guest offset beyond the L1 table");
	uint64_t entry = q->l1[l1_index];
	uint64_t offset = entry & QCOW2_OFFSET_MASK;
	if (entry & QCOW2_L1_RESERVED)
		return qcow2_corrupt(q, "L1 entry %" PRIu64 " has reserved bits set", l1_index);
	if (offset & (q->cluster_size - 1))
		return qcow2_corrupt(q, "L2 table %" PRIu64 " is not cluster aligned", l1_index);
	if (offset != 0 && !inside_file(q, offset, q->cluster_size))
		return qcow2_corrupt(q, "L2 table %" PRIu64 " lies outside the file", l1_index);
	*l2_offset = offset;
	return 0;
}

static int decode_compressed(struct qcow2 *q, uint64_t entry, struct qcow2_mapping *m)
{
	unsigned offset_bits = 62 - (q->h.cluster_bits - 8);
	uint64_t host = entry & ((1ull << offset_bits) - 1);
	uint64_t sectors =
	    ((entry & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> offset_bits) + 1;
	if (entry & QCOW2_OFLAG_COPIED)
		return qcow2_corrupt(q, "compressed cluster marked as copied");
	if (host >= q->file_size)
		return qcow2_corrupt(q, "compressed cluster starts beyond the end of the file");
	/* The sector count may run past the end of the file for the last cluster. */
	uint64_t size = sectors * 512 - (host & 511);
	if (size > q->file_size - host)
		size = q->file_size - host;
	m->kind = QCOW2_COMPRESSED;
	m->host_offset = host;
	m->compressed_size = size;
	return 0;
}

int qcow2_decode_l2_entry(struct qcow2 *q, uint64_t entry, struct qcow2_mapping *m)
{
	m->l2_entry = entry;
	m->copied = entry & QCOW2_OFLAG_COPIED;
	m->host_offset = 0;
	m->compressed_size = 0;
	if (entry & QCOW2_OFLAG_COMPRESSED)
		return decode_compressed(q, entry, m);
	if (entry & QCOW2_L2_RESERVED)
		return qcow2_corrupt(q, "L2 entry with reserved bits set");
	uint64_t host = entry & QCOW2_OFFSET_MASK;
	if (host & (q->cluster_size - 1))
		return qcow2_corrupt(q, "data cluster at %#" PRIx64 " is not aligned", host);
	if (host != 0 && !inside_file(q, host, 1))
		return qcow2_corrupt(q, "data cluster at %#" PRIx64 " lies beyond the file", host);
	m->host_offset = host;
	/* With subclusters, zeroes are in the bitmap; the flag is reserved. */
	if ((entry & QCOW2_OFLAG_ZERO) && q->extended_l2)
		return qcow2_corrupt(q, "zero flag set in an extended L2 entry");
	if ((entry & QCOW2_OFLAG_ZERO) && q->h.version >= 3)
		m->kind = QCOW2_ZERO;
	else if (entry & QCOW2_OFLAG_ZERO)
		return qcow2_corrupt(q, "zero flag in a version 2 image");
	else
		m->kind = host ? QCOW2_NORMAL : QCOW2_UNALLOCATED;
	return 0;
}

int qcow2_check_subcluster_bitmap(struct qcow2 *q, const struct qcow2_mapping *m)
{
	uint64_t allocated = m->bitmap & QCOW2_SUBCLUSTER_ALLOC_MASK;
	uint64_t zero = m->bitmap >> 32;
	if (m->kind == QCOW2_COMPRESSED && m->bitmap)
		return qcow2_corrupt(q,
				     "compressed cluster with a non-zero subcluster bitmap "
				     "%#" PRIx64,
				     m->bitmap);
	if (allocated & zero)
		return qcow2_corrupt(q, "subclusters %#" PRIx64 " both allocated and zero",
				     allocated & zero);
	if (allocated && m->host_offset == 0)
		return qcow2_corrupt(q,
				     "allocated subclusters %#" PRIx64 " in a cluster "
				     "without a host offset",
				     allocated);
	return 0;
}

enum qcow2_cluster_kind qcow2_subcluster_kind(const struct qcow2 *q, const struct qcow2_mapping *m,
					      uint64_t guest_offset)
{
	if (!q->extended_l2 || m->kind == QCOW2_COMPRESSED)
		return m->kind;
	unsigned index = (guest_offset & (q->cluster_size - 1)) >> q->subcluster_bits;
	if (m->bitmap & QCOW2_SUBCLUSTER_ZERO(index))
		return QCOW2_ZERO;
	if (m->bitmap & QCOW2_SUBCLUSTER_ALLOC(index))
		return QCOW2_NORMAL;
	return QCOW2_UNALLOCATED;
}

int qcow2_lookup(struct qcow2 *q, uint64_t guest_offset, struct qcow2_mapping *m)
{
	uint64_t l1_index = guest_offset >> qcow2_l2_coverage_bits(&q->h);
	uint64_t l2_index = (guest_offset >> q->h.cluster_bits) & (q->l2_entries - 1);
	uint64_t l2_offset;
	int ret = qcow2_l2_offset(q, l1_index, &l2_offset);
	if (ret < 0)
		return ret;
	m->l2_offset = l2_offset;
	m->l2_index = l2_index;
	m->bitmap = 0;
	if (l2_offset == 0) {
		m->kind = QCOW2_UNALLOCATED;
		m->l2_entry = 0;
		m->host_offset = 0;
		m->copied = false;
		return 0;
	}
	uint8_t *table;
	ret = qcow2_cache_get(&q->l2_cache, l2_offset, &table);
	if (ret < 0)
		return ret;
	const uint8_t *slot = table + q->l2_entry_size * l2_index;
	ret = qcow2_decode_l2_entry(q, be64_at(slot), m);
	if (ret < 0 || !q->extended_l2)
		return ret;
	m->bitmap = be64_at(slot + 8);
	return qcow2_check_subcluster_bitmap(q, m);
}

static int inflate_zlib(struct qcow2 *q, const uint8_t *in, size_t in_len, uint8_t *out)
{
	z_stream z = {0};
	if (inflateInit2(&z, -15) != Z_OK) /* raw deflate, no zlib header */
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = in_len;
	z.next_out = out;
	z.avail_out = q->cluster_size;
	int ret = inflate(&z, Z_FINISH);
	bool complete = z.avail_out == 0 && (ret == Z_STREAM_END || ret == Z_BUF_ERROR);
	inflateEnd(&z);
	return complete ? 0 : qcow2_corrupt(q, "compressed cluster does not inflate to a cluster");
}

static int inflate_zstd(struct qcow2 *q, const uint8_t *in, size_t in_len, uint8_t *out)
{
	/* A streaming decoder, because QEMU's frames may omit the content size and the input
	 * may be followed by padding up to the sector boundary. */
	ZSTD_DCtx *ctx = ZSTD_createDCtx();
	if (!ctx)
		return -ENOMEM;
	ZSTD_inBuffer input = {in, in_len, 0};
	ZSTD_outBuffer output = {out, q->cluster_size, 0};
	size_t ret;
	do {
		ret = ZSTD_decompressStream(ctx, &output, &input);
	} while (!ZSTD_isError(ret) && ret != 0 && output.pos < output.size &&
		 input.pos < input.size);
	ZSTD_freeDCtx(ctx);
	if (ZSTD_isError(ret) || output.pos != output.size)
		return qcow2_corrupt(q, "compressed cluster does not decompress to a cluster");
	return 0;
}

int qcow2_read_compressed(struct qcow2 *q, const struct qcow2_mapping *m, uint8_t *out)
{
	if (m->compressed_size > 2 * q->cluster_size + 512)
		return qcow2_corrupt(q, "compressed cluster larger than two clusters");
	int ret = qcow2_pread(q, m->host_offset, q->compressed_buf, m->compressed_size);
	if (ret < 0)
		return ret;
	if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD)
		return inflate_zstd(q, q->compressed_buf, m->compressed_size, out);
	return inflate_zlib(q, q->compressed_buf, m->compressed_size, out);
}
