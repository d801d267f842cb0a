#include "block/qcow2_snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_FIXED_BYTES 40
#define MAX_EXTRA_BYTES	  1024
#define MAX_TABLE_BYTES	  (64ull << 20) /* as QEMU */

static bool inside_file(const struct qcow2 *q, uint64_t offset, uint64_t length)
{
	return offset <= q->file_size && length <= q->file_size - offset;
}

/* Reads the entry at *pos (an offset in the file) into s, advancing *pos. */
static int read_entry(struct qcow2 *q, uint64_t *pos, struct qcow2_snapshot *s)
{
	uint8_t e[ENTRY_FIXED_BYTES];
	if (!inside_file(q, *pos, sizeof(e)))
		return qcow2_corrupt(q, "snapshot table runs past the end of the file");
	int ret = qcow2_pread(q, *pos, e, sizeof(e));
	if (ret < 0)
		return ret;
	s->l1_offset = be64_at(e);
	s->l1_size = be32_at(e + 8);
	uint64_t id_size = be16_at(e + 12), name_size = be16_at(e + 14);
	uint64_t extra = be32_at(e + 36);
	if (extra > MAX_EXTRA_BYTES)
		return qcow2_corrupt(q, "snapshot table entry with oversized extra data");
	uint64_t span = (ENTRY_FIXED_BYTES + extra + id_size + name_size + 7) & ~7ull;
	if (!inside_file(q, *pos, span))
		return qcow2_corrupt(q, "snapshot table runs past the end of the file");
	size_t n = name_size < sizeof(s->name) - 1 ? name_size : sizeof(s->name) - 1;
	ret = qcow2_pread(q, *pos + ENTRY_FIXED_BYTES + extra + id_size, s->name, n);
	if (ret < 0)
		return ret;
	s->name[n] = '\0';
	*pos += span;
	if (s->l1_offset & (q->cluster_size - 1) || (uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES ||
	    !inside_file(q, s->l1_offset, (uint64_t)s->l1_size * 8))
		return qcow2_corrupt(q, "snapshot '%s' has an invalid L1 table", s->name);
	return 0;
}

int qcow2_read_snapshots(struct qcow2 *q, struct qcow2_snapshot **snapshots, uint64_t *table_bytes)
{
	uint32_t n = q->h.nb_snapshots;
	*snapshots = calloc(n ? n : 1, sizeof(**snapshots));
	if (!*snapshots)
		return -ENOMEM;
	uint64_t pos = q->h.snapshots_offset;
	int ret = 0;
	for (uint32_t i = 0; i < n && !ret; i++) {
		ret = read_entry(q, &pos, &(*snapshots)[i]);
		if (!ret && pos - q->h.snapshots_offset > MAX_TABLE_BYTES)
			ret = qcow2_corrupt(q, "snapshot table larger than 64 MiB");
	}
	*table_bytes = n ? pos - q->h.snapshots_offset : 0;
	if (ret < 0) {
		free(*snapshots);
		*snapshots = NULL;
	}
	return ret;
}
