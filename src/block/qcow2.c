/* The qcow2 driver: opening an image, and reads and writes through its L1/L2 tables.
 *
 * Allocating writes change L2 entries and refcounts in the metadata caches only; the order in
 * which those reach the file keeps the image consistent after a crash (see qcow2_writeback.c),
 * and a flush makes everything before it durable. Asynchronous allocating writes are planned
 * here and their data written by the engine (see qcow2_async.c). */
#include "block/qcow2.h"
#include "block/driver.h"
#include "block/qcow2_check.h"
#include "block/qcow2_header.h"
#include "block/qcow2_internal.h"

#include "lib/log.h"
#include "lib/size.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest header area read at open: the largest possible first cluster. */
#define HEADER_READ_MAX (1u << QCOW2_MAX_CLUSTER_BITS)

struct qcow2_driver_state {
	struct qcow2 q;
};

static const struct block_driver qcow2_driver;

static struct qcow2_driver_state *state_of(struct block_device *dev)
{
	return dev->state;
}

const struct qcow2_header *qcow2_header_of(struct block_device *dev)
{
	return dev->driver == &qcow2_driver ? &state_of(dev)->q.h : NULL;
}

struct qcow2 *qcow2_internal_of(struct block_device *dev)
{
	return dev->driver == &qcow2_driver ? &state_of(dev)->q : NULL;
}

struct block_device *qcow2_backing_of(struct block_device *dev)
{
	return dev->driver == &qcow2_driver ? state_of(dev)->q.backing : NULL;
}

/* ---- reading ---- */

static int read_backing(struct qcow2 *q, uint64_t offset, uint8_t *dst, size_t length)
{
	size_t available = 0;
	if (q->backing && offset < q->backing->size)
		available = q->backing->size - offset < length ? q->backing->size - offset : length;
	if (available) {
		int ret = block_read(q->backing, offset, dst, available);
		if (ret < 0)
			return ret;
	}
	memset(dst + available, 0, length - available);
	return 0;
}

/* Reads file data; what lies past the end of the file reads as zeroes. */
static int read_data(struct qcow2 *q, uint64_t offset, uint8_t *dst, size_t length)
{
	size_t available = 0;
	if (offset < q->file_size)
		available = q->file_size - offset < length ? q->file_size - offset : length;
	int ret = available ? qcow2_pread(q, offset, dst, available) : 0;
	memset(dst + available, 0, length - available);
	return ret;
}

/* Reads length bytes at guest_offset, all inside the cluster that m maps. */
static int read_mapped(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t guest_offset,
		       uint8_t *dst, size_t length)
{
	uint64_t in_cluster = guest_offset & (q->cluster_size - 1);
	switch (m->kind) {
	case QCOW2_UNALLOCATED:
		return read_backing(q, guest_offset, dst, length);
	case QCOW2_ZERO:
		memset(dst, 0, length);
		return 0;
	case QCOW2_NORMAL:
		return read_data(q, m->host_offset + in_cluster, dst, length);
	case QCOW2_COMPRESSED:
		if (q->decompressed_from != m->l2_entry) {
			q->decompressed_from = 0;
			int ret = qcow2_read_compressed(q, m, q->decompressed);
			if (ret < 0)
				return ret;
			q->decompressed_from = m->l2_entry;
		}
		memcpy(dst, q->decompressed + in_cluster, length);
		return 0;
	}
	return -EINVAL;
}

/* Iterates over the pieces of [offset, offset + length) that lie within one aligned granule of
 * granule bytes (a power of two). */
#define FOR_EACH_PIECE(granule, offset, length, piece_offset, piece_length)                        \
	for (uint64_t piece_offset = (offset), end_ = (offset) + (length), piece_length;           \
	     piece_offset < end_ &&                                                                \
	     ((piece_length = (granule) - (piece_offset & ((granule)-1))),                         \
	      (piece_length = piece_length < end_ - piece_offset ? piece_length                    \
								 : end_ - piece_offset),           \
	      1);                                                                                  \
	     piece_offset += piece_length)

/* Pieces within one cluster (the unit of allocation). */
#define FOR_EACH_CLUSTER_PIECE(q, offset, length, piece_offset, piece_length)                      \
	FOR_EACH_PIECE((q)->cluster_size, offset, length, piece_offset, piece_length)

/* Pieces within one subcluster (the unit of mapping with extended L2 entries; else a cluster). */
#define FOR_EACH_MAPPED_PIECE(q, offset, length, piece_offset, piece_length)                       \
	FOR_EACH_PIECE(1ull << (q)->subcluster_bits, offset, length, piece_offset, piece_length)

/* Looks up what the (sub)cluster containing guest_offset maps to. */
static int lookup_mapped(struct qcow2 *q, uint64_t guest_offset, struct qcow2_mapping *m)
{
	int ret = qcow2_lookup(q, guest_offset, m);
	if (ret == 0)
		m->kind = qcow2_subcluster_kind(q, m, guest_offset);
	return ret;
}

int qcow2_read_cluster(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t cluster_start,
		       uint8_t *dst)
{
	return read_mapped(q, m, cluster_start, dst, q->cluster_size);
}

static int qcow2_read(struct block_device *dev, uint64_t offset, void *buf, size_t length)
{
	struct qcow2 *q = &state_of(dev)->q;
	uint8_t *dst = buf;
	FOR_EACH_MAPPED_PIECE(q, offset, length, at, n)
	{
		struct qcow2_mapping m;
		int ret = lookup_mapped(q, at, &m);
		if (!ret)
			ret = read_mapped(q, &m, at, dst + (at - offset), n);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- writing ---- */

/* Points L1 entry l1_index at a new L2 table. Only in memory: the entry reaches the file at the
 * next flush, after the table itself (see qcow2_writeback.c). */
static void point_l1_at(struct qcow2 *q, uint64_t l1_index, uint64_t l2_offset)
{
	q->l1[l1_index] = l2_offset | QCOW2_OFLAG_COPIED;
	q->l1_dirty = true;
}

/* Writes a new L2 table holding a copy of src (or zeroes) and returns its offset. Writing it
 * at once (without a sync) extends the file over it; nothing on disk points at it yet. */
static int write_new_l2(struct qcow2 *q, uint64_t src, uint64_t *offset)
{
	uint8_t *table = calloc(1, q->cluster_size);
	if (!table)
		return -ENOMEM;
	uint8_t *cached;
	int ret = src ? qcow2_cache_get(&q->l2_cache, src, &cached) : 0;
	if (!ret && src)
		memcpy(table, cached, q->cluster_size);
	if (!ret)
		ret = qcow2_mark_dirty(q);
	if (!ret)
		ret = qcow2_alloc_cluster(q, offset);
	if (!ret)
		ret = qcow2_pwrite(q, *offset, table, q->cluster_size);
	if (!ret)
		ret = qcow2_cache_install(&q->l2_cache, *offset, table);
	free(table);
	return ret;
}

/* An L2 table shared with an internal snapshot is copied before it is changed; the copy keeps
 * the data clusters' references, which the snapshot already counted. */
int qcow2_ensure_l2(struct qcow2 *q, uint64_t guest_offset, struct qcow2_mapping *m)
{
	uint64_t l1_index = guest_offset >> qcow2_l2_coverage_bits(&q->h);
	uint64_t refcount = 0;
	if (m->l2_offset != 0) {
		if (q->l1[l1_index] & QCOW2_OFLAG_COPIED)
			return 0;
		int ret = qcow2_get_refcount(q, m->l2_offset >> q->h.cluster_bits, &refcount);
		if (ret < 0 || refcount == 1)
			return ret;
		if (refcount == 0)
			return qcow2_corrupt(q, "L2 table in use has refcount 0");
	}
	uint64_t offset, old = m->l2_offset;
	int ret = write_new_l2(q, old, &offset);
	if (!ret && old)
		ret = qcow2_release_later(q, old, q->cluster_size);
	if (ret < 0)
		return ret;
	point_l1_at(q, l1_index, offset);
	m->l2_offset = offset;
	return 0;
}

/* Writes one piece inside one cluster: in place when the cluster is ours alone, else into a new
 * cluster filled with the old contents (copy-on-write). The L2 entry changes in the cache; the
 * writeback order makes the data and the refcount durable before the entry. */
static int write_piece(struct qcow2 *q, uint64_t guest_offset, const uint8_t *src, size_t length)
{
	struct qcow2_mapping m;
	int ret = qcow2_lookup(q, guest_offset, &m);
	if (ret < 0)
		return ret;
	uint64_t in_cluster = guest_offset & (q->cluster_size - 1);
	if (m.kind == QCOW2_NORMAL && m.copied)
		return qcow2_pwrite(q, m.host_offset + in_cluster, src, length);
	ret = qcow2_ensure_l2(q, guest_offset, &m);
	if (ret < 0)
		return ret;
	const uint8_t *data = src;
	if (length != q->cluster_size) {
		uint64_t cluster_start = guest_offset - in_cluster;
		ret = read_mapped(q, &m, cluster_start, q->cluster_buf, q->cluster_size);
		if (ret < 0)
			return ret;
		memcpy(q->cluster_buf + in_cluster, src, length);
		data = q->cluster_buf;
	}
	uint64_t offset;
	ret = qcow2_alloc_cluster(q, &offset);
	if (!ret)
		ret = qcow2_pwrite(q, offset, data, q->cluster_size);
	if (ret < 0)
		return ret; /* the new cluster is counted but unreferenced: leaked, not lost */
	return qcow2_set_l2_entry(q, &m, offset | QCOW2_OFLAG_COPIED);
}

/* Synchronous writes and asynchronous allocating writes in flight together would race on the
 * same L2 entries; the asynchronous engine drains first, so this only catches misuse. */
static int refuse_if_inflight(struct qcow2 *q)
{
	if (!q->inflight)
		return 0;
	log_error("%s: synchronous metadata update while asynchronous writes are in flight",
		  q->filename);
	return -EBUSY;
}

static int qcow2_write(struct block_device *dev, uint64_t offset, const void *buf, size_t length)
{
	struct qcow2 *q = &state_of(dev)->q;
	const uint8_t *src = buf;
	int ret = 0;
	FOR_EACH_CLUSTER_PIECE(q, offset, length, at, n)
	{
		ret = qcow2_inflight_covers(q, at) ? refuse_if_inflight(q) : 0;
		if (!ret)
			ret = write_piece(q, at, src + (at - offset), n);
		if (ret < 0)
			break;
	}
	return ret;
}

/* Zeroes a whole cluster through its L2 entry: unallocated when nothing shows through from
 * a backing file, the zero flag otherwise (version 3), or written zeroes (version 2). */
static int zero_cluster(struct qcow2 *q, uint64_t guest_offset, bool unallocate)
{
	struct qcow2_mapping m;
	int ret = qcow2_lookup(q, guest_offset, &m);
	if (ret < 0)
		return ret;
	if (!q->backing || unallocate) {
		if (m.kind == QCOW2_UNALLOCATED || (m.kind == QCOW2_ZERO && !m.host_offset))
			return 0;
		ret = qcow2_ensure_l2(q, guest_offset, &m);
		return ret < 0 ? ret : qcow2_set_l2_entry(q, &m, 0);
	}
	if (m.kind == QCOW2_ZERO && !m.host_offset)
		return 0;
	if (q->h.version < 3) {
		memset(q->cluster_buf, 0, q->cluster_size);
		return write_piece(q, guest_offset, q->cluster_buf, q->cluster_size);
	}
	ret = qcow2_ensure_l2(q, guest_offset, &m);
	return ret < 0 ? ret : qcow2_set_l2_entry(q, &m, QCOW2_OFLAG_ZERO);
}

static int zero_range(struct qcow2 *q, uint64_t offset, uint64_t length, bool partial_too,
		      bool unallocate)
{
	int ret = refuse_if_inflight(q);
	uint8_t *zeroes = NULL;
	FOR_EACH_CLUSTER_PIECE(q, offset, length, at, n)
	{
		if (ret < 0)
			break;
		if (n == q->cluster_size) {
			ret = zero_cluster(q, at, unallocate);
		} else if (partial_too) {
			if (!zeroes && !(zeroes = calloc(1, q->cluster_size)))
				ret = -ENOMEM;
			if (!ret)
				ret = write_piece(q, at, zeroes, n);
		}
	}
	free(zeroes);
	return ret;
}

static int qcow2_write_zeroes(struct block_device *dev, uint64_t offset, uint64_t length)
{
	return zero_range(&state_of(dev)->q, offset, length, true, false);
}

static int qcow2_discard(struct block_device *dev, uint64_t offset, uint64_t length)
{
	struct qcow2 *q = &state_of(dev)->q;
	/* Discarded data may read back as anything, but must not expose the backing file's
	 * contents where a version 2 image cannot express zeroes: then keep the data. */
	if (q->backing && q->h.version < 3)
		return 0;
	return zero_range(q, offset, length, false, false);
}

static int qcow2_flush(struct block_device *dev)
{
	return qcow2_flush_all(&state_of(dev)->q);
}

int qcow2_deallocate(struct block_device *dev, uint64_t offset, uint64_t length)
{
	if (!qcow2_internal_of(dev))
		return -EINVAL;
	if (dev->read_only)
		return -EROFS;
	return zero_range(&state_of(dev)->q, offset, length, false, true);
}

/* ---- allocation status ---- */

static void status_of_mapping(const struct qcow2_mapping *m, struct block_status *st)
{
	static const enum block_status_kind kinds[] = {
	    [QCOW2_UNALLOCATED] = BLOCK_STATUS_UNALLOCATED,
	    [QCOW2_ZERO] = BLOCK_STATUS_ZERO,
	    [QCOW2_NORMAL] = BLOCK_STATUS_DATA,
	    [QCOW2_COMPRESSED] = BLOCK_STATUS_DATA,
	};
	st->kind = kinds[m->kind];
	/* As QEMU, an offset is shown wherever a host cluster is allocated, even for zero or
	 * unallocated (sub)clusters of it: they are not compressed, and the space is there. */
	st->has_offset = m->kind != QCOW2_COMPRESSED && m->host_offset != 0;
	st->host_offset = m->host_offset;
}

/* Clusters with the same status (and, for data, contiguous in the file) form one extent. */
static int qcow2_status(struct block_device *dev, uint64_t offset, uint64_t length,
			struct block_status *st)
{
	struct qcow2 *q = &state_of(dev)->q;
	uint64_t done = 0;
	FOR_EACH_MAPPED_PIECE(q, offset, length, at, n)
	{
		struct qcow2_mapping m;
		int ret = lookup_mapped(q, at, &m);
		if (ret < 0)
			return done ? 0 : ret;
		struct block_status here;
		status_of_mapping(&m, &here);
		here.host_offset += at & (q->cluster_size - 1);
		if (done == 0) {
			*st = here;
		} else if (here.kind != st->kind || here.has_offset != st->has_offset ||
			   (here.has_offset && here.host_offset != st->host_offset + done)) {
			break;
		}
		done += n;
		st->length = done;
	}
	return 0;
}

static struct block_device *qcow2_backing_device(struct block_device *dev)
{
	return state_of(dev)->q.backing;
}

/* ---- asynchronous data path ---- */

/* Where the piece [at, at + n) of one (sub)cluster can be reached directly: its cluster in this
 * file, or for a read of an unallocated one, wherever the backing image keeps those bytes (so
 * reads of a base image under an overlay go to the backend like any other, instead of being
 * read synchronously on the submitting thread). Returns like map_direct; ext->length <= n. */
static int map_piece(struct block_device *dev, struct qcow2 *q, int op, uint64_t at, uint64_t n,
		     struct block_extent *ext)
{
	struct qcow2_mapping m = {0};
	int ret = lookup_mapped(q, at, &m);
	*ext = (struct block_extent){.file = dev, .length = n};
	if (ret < 0)
		return ret;
	struct block_device *backing = q->backing;
	if (m.kind == QCOW2_UNALLOCATED && op == BLOCK_OP_READ && backing && at < backing->size &&
	    backing->driver->map_direct) {
		uint64_t in_backing = backing->size - at < n ? backing->size - at : n;
		return backing->driver->map_direct(backing, op, at, in_backing, ext);
	}
	ext->offset = m.host_offset + (at & (q->cluster_size - 1));
	return m.kind == QCOW2_NORMAL && (op == BLOCK_OP_READ || m.copied) &&
	       ext->offset + n <= q->file_size;
}

/* Allocated clusters can be read directly, and written directly when they are ours alone; a run
 * of pieces that is contiguous in one file becomes one direct piece. */
static int qcow2_map_direct(struct block_device *dev, int op, uint64_t offset, uint64_t length,
			    struct block_extent *ext)
{
	struct qcow2 *q = &state_of(dev)->q;
	uint64_t done = 0;
	FOR_EACH_MAPPED_PIECE(q, offset, length, at, n)
	{
		struct block_extent piece;
		int direct = map_piece(dev, q, op, at, n, &piece);
		if (done == 0 && direct <= 0) {
			*ext = piece;
			return direct;
		}
		if (done == 0)
			*ext = piece;
		else if (direct <= 0 || piece.file != ext->file ||
			 piece.offset != ext->offset + done)
			break;
		done += piece.length;
		if (piece.length < n)
			break;
	}
	ext->length = done;
	return 1;
}

/* ---- open and close ---- */

static void free_state(struct qcow2_driver_state *s)
{
	struct qcow2 *q = &s->q;
	block_close(q->backing);
	qcow2_cache_destroy(&q->l2_cache);
	qcow2_cache_destroy(&q->refblock_cache);
	free(q->l1);
	free(q->reftable);
	free(q->cluster_buf);
	free(q->compressed_buf);
	free(q->decompressed);
	free(q->releases);
	if (q->fd >= 0)
		close(q->fd);
	free(s);
}

static void qcow2_close(struct block_device *dev)
{
	struct qcow2 *q = &state_of(dev)->q;
	int ret = dev->read_only ? 0 : qcow2_close_clean(q);
	if (ret < 0)
		log_error("%s: cannot write the metadata back on close: %s", dev->filename,
			  strerror(-ret));
	free_state(state_of(dev));
}

static const struct block_driver qcow2_driver = {
    .format_name = "qcow2",
    .read = qcow2_read,
    .write = qcow2_write,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .close = qcow2_close,
    .map_direct = qcow2_map_direct,
    .status = qcow2_status,
    .backing = qcow2_backing_device,
    .plan_write = qcow2_plan_write,
    .finish_write = qcow2_finish_write,
    .caches_metadata = true,
};

static int read_header(struct block_device *dev, struct qcow2 *q, struct block_error *err)
{
	struct stat st;
	if (fstat(q->fd, &st) < 0) {
		int e = errno;
		block_error_set(err, "%s: %s", dev->filename, strerror(e));
		return -e;
	}
	q->file_size = st.st_size;
	size_t len = q->file_size < HEADER_READ_MAX ? q->file_size : HEADER_READ_MAX;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	int ret = qcow2_pread(q, 0, buf, len);
	struct block_error parse_err;
	if (!ret)
		ret = qcow2_header_parse(buf, len, q->file_size, &q->h, &parse_err);
	free(buf);
	if (ret < 0)
		block_error_set(err, "%s: %s", dev->filename,
				ret == -EIO ? "cannot read the header" : parse_err.message);
	return ret;
}

/* Refuses states in which writing would make things worse, and says what to do instead. */
static int check_open_mode(struct block_device *dev, const struct qcow2_header *h, unsigned flags,
			   struct block_error *err)
{
	if (flags & BLOCK_OPEN_FOR_REPAIR)
		return 0;
	if ((h->incompatible_features & QCOW2_INCOMPAT_CORRUPT) && !dev->read_only) {
		block_error_set(err,
				"%s: image is marked corrupt; only read-only access is allowed "
				"(repair it with 'qemu-img check -r all')",
				dev->filename);
		return -EROFS;
	}
	/* Writes would have to keep the subcluster bitmaps right; only reading is implemented. */
	if (qcow2_has_extended_l2(h) && !dev->read_only) {
		block_error_set(err,
				"%s: writing images with extended L2 entries is not supported; "
				"open it read-only",
				dev->filename);
		return -EROFS;
	}
	return 0;
}

/* An image left dirty (lazy refcounts in use and not closed cleanly) has refcounts that may lag
 * behind its L2 tables. Read-only it is fine as it is; before writing, the refcounts are rebuilt
 * from the metadata, as QEMU does on open. */
static int repair_if_dirty(struct block_device *dev, struct qcow2 *q, unsigned flags,
			   struct block_error *err)
{
	if (dev->read_only || (flags & BLOCK_OPEN_FOR_REPAIR) ||
	    !(q->h.incompatible_features & QCOW2_INCOMPAT_DIRTY))
		return 0;
	struct qcow2_check_result res;
	struct block_error inner;
	int ret = qcow2_check_quietly(dev, true, &res, &inner);
	if (ret < 0) {
		block_error_set(err, "%s", inner.message);
		return ret;
	}
	if (res.corruptions != res.corruptions_fixed || res.leaks != res.leaks_fixed) {
		block_error_set(err,
				"%s: image is dirty and its refcounts could not be rebuilt "
				"(%" PRIu64 " errors left); try 'qemu-img check -r all'",
				dev->filename, res.corruptions - res.corruptions_fixed);
		return -EIO;
	}
	/* One line, whatever the number of clusters fixed (`gureum img -v` lists them). */
	log_warn("%s: image was not closed cleanly (dirty bit set); rebuilding refcounts: "
		 "%" PRIu64 " refcounts raised, %" PRIu64 " leaked clusters freed",
		 dev->filename, res.corruptions_fixed, res.leaks_fixed);
	return 0;
}

static int load_table(struct qcow2 *q, uint64_t offset, uint64_t entries, uint64_t **table)
{
	*table = malloc(entries ? entries * 8 : 8);
	if (!*table)
		return -ENOMEM;
	int ret = qcow2_pread(q, offset, *table, entries * 8);
	for (uint64_t i = 0; i < entries; i++)
		(*table)[i] = be64toh((*table)[i]);
	return ret;
}

/* The L2 cache covers this many bytes of L2 tables unless GUREUM_L2_CACHE_SIZE says otherwise
 * (QEMU's default l2-cache-size): 32 MiB of 64 KiB-cluster tables maps 256 GiB of disk. */
#define DEFAULT_L2_CACHE_BYTES (32ull << 20)

static uint64_t l2_cache_bytes(void)
{
	const char *text = getenv("GUREUM_L2_CACHE_SIZE");
	uint64_t bytes;
	if (text && parse_size(text, false, &bytes))
		return bytes;
	if (text)
		log_warn("GUREUM_L2_CACHE_SIZE=%s is not a size; using 32M", text);
	return DEFAULT_L2_CACHE_BYTES;
}

static int allocate_buffers(struct qcow2 *q)
{
	int ret = qcow2_caches_init(q, l2_cache_bytes());
	q->cluster_buf = malloc(q->cluster_size);
	q->decompressed = malloc(q->cluster_size);
	q->compressed_buf = malloc(2 * q->cluster_size + 512);
	if (!q->cluster_buf || !q->decompressed || !q->compressed_buf)
		ret = -ENOMEM;
	return ret;
}

static int open_backing(struct block_device *dev, struct qcow2 *q, struct block_chain *chain,
			struct block_error *err)
{
	const char *name = q->h.backing_file;
	char path[PATH_MAX + QCOW2_MAX_BACKING_NAME + 2];
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else if (!strchr(dev->filename, '/')) {
		snprintf(path, sizeof(path), "%s", name);
	} else { /* relative names are relative to the image, not to our working directory */
		char *copy = strdup(dev->filename);
		if (!copy)
			return -ENOMEM;
		snprintf(path, sizeof(path), "%s/%s", dirname(copy), name);
		free(copy);
	}
	const char *format = q->h.backing_format[0] ? q->h.backing_format : NULL;
	struct block_error inner;
	int ret = block_open_backing(path, format, chain, &q->backing, &inner);
	if (ret < 0)
		block_error_set(err, "%s: cannot open backing file: %s", dev->filename,
				inner.message);
	return ret;
}

/* Clears autoclear feature bits when opening for writing, as the specification requires of a
 * writer that does not maintain the extensions they protect (e.g. persistent bitmaps). */
static int clear_autoclear(struct qcow2 *q)
{
	if (q->h.version < 3 || q->h.autoclear_features == 0)
		return 0;
	uint8_t zero[8] = {0};
	int ret = qcow2_pwrite(q, 88, zero, sizeof(zero));
	if (!ret)
		ret = qcow2_order_flush(q);
	if (!ret)
		q->h.autoclear_features = 0;
	return ret;
}

int qcow2_open(struct block_device *dev, int fd, unsigned flags, struct block_chain *chain,
	       struct block_error *err)
{
	struct qcow2_driver_state *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		block_error_set(err, "%s: out of memory", dev->filename);
		return -ENOMEM;
	}
	struct qcow2 *q = &s->q;
	q->fd = fd;
	q->filename = dev->filename;
	q->unsafe = flags & BLOCK_OPEN_UNSAFE;
	int ret = read_header(dev, q, err);
	if (!ret)
		ret = check_open_mode(dev, &q->h, flags, err);
	if (ret < 0)
		goto fail;
	q->cluster_size = qcow2_cluster_size(&q->h);
	q->extended_l2 = qcow2_has_extended_l2(&q->h);
	q->l2_entry_size = qcow2_l2_entry_size(&q->h);
	q->l2_entries = q->cluster_size / q->l2_entry_size;
	q->subcluster_bits = q->h.cluster_bits - (q->extended_l2 ? 5 : 0); /* 32 subclusters */
	q->refblock_entries = (q->cluster_size * 8) >> q->h.refcount_order;
	q->reftable_entries = ((uint64_t)q->h.refcount_table_clusters << q->h.cluster_bits) / 8;
	ret = load_table(q, q->h.l1_table_offset, q->h.l1_size, &q->l1);
	if (!ret)
		ret = load_table(q, q->h.refcount_table_offset, q->reftable_entries, &q->reftable);
	if (!ret)
		ret = allocate_buffers(q);
	if (ret < 0) {
		block_error_set(err, "%s: cannot load the image tables: %s", dev->filename,
				strerror(-ret));
		goto fail;
	}
	if (q->h.backing_file[0] && !(flags & BLOCK_OPEN_NO_BACKING) &&
	    (ret = open_backing(dev, q, chain, err)) < 0)
		goto fail;
	if (!dev->read_only && (ret = clear_autoclear(q)) < 0) {
		block_error_set(err, "%s: cannot update the header: %s", dev->filename,
				strerror(-ret));
		goto fail;
	}
	q->lazy_refcounts = (q->h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0;
	dev->size = q->h.size;
	dev->data_fd = q->fd;
	dev->state = s;
	dev->driver = &qcow2_driver;
	ret = repair_if_dirty(dev, q, flags, err);
	if (ret < 0) {
		dev->state = NULL;
		dev->driver = NULL;
		goto fail;
	}
	return 0;
fail:
	free_state(s);
	return ret;
}
