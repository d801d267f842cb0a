/* A vCPU's portable state (vcpu_state.h) as a versioned state record "vcpu" (lib/state_record.h),
 * for snapshots and migration: every field written out explicitly (never the C struct), and
 * checked on the way back in. */
#ifndef GUREUM_ACCEL_VCPU_STATE_RECORD_H
#define GUREUM_ACCEL_VCPU_STATE_RECORD_H

#include "accel/vcpu_state.h"

#include <stddef.h>

struct state_writer;
struct state_record;

void vcpu_state_save(const struct vcpu_state *s, struct state_writer *w);
/* Fills *s from the record. Returns 0, or -1 with one sentence in err and *s unchanged. */
int vcpu_state_load(struct vcpu_state *s, const struct state_record *rec, char *err,
		    size_t err_len);

#endif
