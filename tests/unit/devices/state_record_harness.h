/* For the device tests of saved state: the record a writer holds, parsed (the test fails if it
 * does not parse). */
#ifndef GUREUM_TESTS_DEVICES_STATE_RECORD_HARNESS_H
#define GUREUM_TESTS_DEVICES_STATE_RECORD_HARNESS_H

#include "lib/state_record.h"

#include <criterion/criterion.h>

/* The first record in w's buffer. */
static inline struct state_record parse_record(const struct state_writer *w)
{
	struct state_record rec;
	char err[200];
	size_t pos = 0;
	cr_assert_eq(state_record_parse(w->buf, w->len, &pos, &rec, err, sizeof(err)), 0, "%s",
		     err);
	return rec;
}

#endif
