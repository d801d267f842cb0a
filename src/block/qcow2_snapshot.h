/* The internal snapshot table of a qcow2 image: where each snapshot's L1 table lies. Read for
 * the checker (snapshot tables count in refcounts) and for info. */
#ifndef GUREUM_BLOCK_QCOW2_SNAPSHOT_H
#define GUREUM_BLOCK_QCOW2_SNAPSHOT_H

#include "block/qcow2_internal.h"

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char name[64]; /* truncated for messages */
};

/* Parses the snapshot table; on success *snapshots holds h.nb_snapshots entries (free it) and
 * *table_bytes the table's size in the file. Every offset and size is checked against the file
 * and the format's limits; a bad table gives -EIO with the problem logged. */
int qcow2_read_snapshots(struct qcow2 *q, struct qcow2_snapshot **snapshots, uint64_t *table_bytes);

#endif
