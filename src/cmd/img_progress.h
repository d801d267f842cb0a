/* A progress bar for long image operations: shown on a terminal (or when forced with -p),
 * redrawn in place on stdout only when the shown percentage changes. */
#ifndef GUREUM_CMD_IMG_PROGRESS_H
#define GUREUM_CMD_IMG_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct img_progress {
	bool enabled;
	int shown; /* tenths of a percent last drawn, -1: nothing yet */
};

void img_progress_start(struct img_progress *p, bool force);
void img_progress_update(struct img_progress *p, uint64_t done, uint64_t total);
void img_progress_end(struct img_progress *p);

#endif
