/* Consistency check of a qcow2 image: references counted from the metadata are compared with
 * the stored refcounts. */
#ifndef GUREUM_BLOCK_QCOW2_CHECK_H
#define GUREUM_BLOCK_QCOW2_CHECK_H

#include "block/block.h"

#include <stdbool.h>
#include <stdint.h>

struct qcow2_check_result {
	uint64_t corruptions; /* refcount below the references, bad entries, bad flags */
	uint64_t leaks;	      /* refcount above the references: space wasted, data safe */
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t allocated_clusters; /* referenced data clusters */
	uint64_t total_clusters;     /* guest clusters */
	uint64_t image_end_offset;
};

/* Checks dev (a qcow2 image; open it with BLOCK_OPEN_FOR_REPAIR to repair). With repair, stored
 * refcounts are rewritten to the counted references where a refcount block exists, and the dirty
 * bit is cleared once nothing is left to fix. Problems are described on stderr.
 * Returns 0 when the check ran (see res), or a negative errno when it could not. */
int qcow2_check(struct block_device *dev, bool repair, struct qcow2_check_result *res,
		struct block_error *err);
/* The same, with the per-cluster lines logged at the debug level only (the caller reports a
 * summary from res); the decoding errors of corrupt entries are still logged. */
int qcow2_check_quietly(struct block_device *dev, bool repair, struct qcow2_check_result *res,
			struct block_error *err);

#endif
