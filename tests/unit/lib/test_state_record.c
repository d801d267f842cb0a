/* Versioned state records: a round trip, the compatibility rule between writer and reader
 * versions, optional and essential fields a reader does not know, and every way a record can
 * be malformed or cut short (refused with a sentence, never read past its end). */
#include "lib/state_record.h"

#include <criterion/criterion.h>
#include <string.h>

static const char *const v1_keys[] = {"count", "blob", NULL};

static struct state_writer write_sample(uint32_t version, uint32_t lowest_reader)
{
	struct state_writer w;
	state_writer_init(&w);
	state_record_begin(&w, "sample", version, lowest_reader);
	state_put_u64(&w, "count", 0x0102030405060708ull, STATE_ESSENTIAL);
	state_put_bytes(&w, "blob", "hello", 5, 0);
	state_record_end(&w);
	cr_assert_not(state_writer_failed(&w));
	return w;
}

static int parse(const struct state_writer *w, struct state_record *rec, char *err)
{
	size_t pos = 0;
	return state_record_parse(w->buf, w->len, &pos, rec, err, 200);
}

Test(state_record, round_trip_and_lookups)
{
	struct state_writer w = write_sample(1, 1);
	state_record_begin(&w, "second", 7, 3);
	state_record_end(&w);
	struct state_record rec, second;
	char err[200];
	size_t pos = 0;
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &second, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(pos, w.len);
	cr_assert_str_eq(rec.name, "sample");
	cr_assert_str_eq(second.name, "second");
	cr_assert_eq(second.version, 7);
	cr_assert_eq(second.lowest_reader, 3);
	uint64_t v;
	cr_assert_eq(state_get_u64(&rec, "count", &v), 0);
	cr_assert_eq(v, 0x0102030405060708ull);
	const void *data;
	uint32_t len;
	cr_assert_eq(state_get_bytes(&rec, "blob", &data, &len), 0);
	cr_assert_eq(len, 5);
	cr_assert_eq(memcmp(data, "hello", 5), 0);
	cr_assert_eq(state_get_u64(&rec, "missing", &v), -1);
	cr_assert_eq(state_get_u64(&rec, "blob", &v), -2, "a bytes field is not a number");
	cr_assert_eq(state_get_bytes(&rec, "count", &data, &len), -2);
	state_writer_free(&w);
}

Test(state_record, versions_follow_the_compatibility_rule)
{
	char err[200];
	struct state_record rec;
	struct state_reader_spec reader = {"sample", 3, 2, v1_keys};
	struct {
		uint32_t version, lowest_reader;
		bool ok;
		const char *why;
	} cases[] = {
	    {3, 1, true, NULL},
	    {5, 3, true, NULL},		   /* newer writer, readable by version 3 */
	    {5, 4, false, "newer gureum"}, /* needs reader 4 */
	    {1, 1, false, "older than"},   /* too old for this reader */
	    {2, 2, true, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct state_writer w = write_sample(cases[i].version, cases[i].lowest_reader);
		cr_assert_eq(parse(&w, &rec, err), 0);
		int rc = state_record_check(&rec, &reader, err, sizeof(err));
		cr_assert_eq(rc == 0, cases[i].ok, "case %zu: %s", i, err);
		if (!cases[i].ok)
			cr_assert_not_null(strstr(err, cases[i].why), "case %zu: %s", i, err);
		state_writer_free(&w);
	}
	reader.name = "other";
	struct state_writer w = write_sample(3, 1);
	cr_assert_eq(parse(&w, &rec, err), 0);
	cr_assert_eq(state_record_check(&rec, &reader, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "expected state record \"other\""), "%s", err);
	state_writer_free(&w);
}

Test(state_record, unknown_optional_fields_are_skipped_unknown_essential_ones_refused)
{
	char err[200];
	struct state_record rec;
	struct state_reader_spec reader = {"sample", 1, 1, v1_keys};
	struct state_writer w = write_sample(2, 1);
	w.len = 0;
	state_record_begin(&w, "sample", 2, 1);
	state_put_u64(&w, "count", 5, STATE_ESSENTIAL);
	state_put_u64(&w, "hint", 9, 0);
	state_record_end(&w);
	cr_assert_eq(parse(&w, &rec, err), 0);
	cr_assert_eq(state_record_check(&rec, &reader, err, sizeof(err)), 0, "%s", err);
	w.len = 0;
	state_record_begin(&w, "sample", 2, 1);
	state_put_u64(&w, "count", 5, STATE_ESSENTIAL);
	state_put_bytes(&w, "new_queue", "x", 1, STATE_ESSENTIAL);
	state_record_end(&w);
	cr_assert_eq(parse(&w, &rec, err), 0);
	cr_assert_eq(state_record_check(&rec, &reader, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "\"new_queue\""), "%s", err);
	state_writer_free(&w);
}

Test(state_record, every_truncation_is_refused)
{
	struct state_writer w = write_sample(1, 1);
	char err[200];
	for (size_t cut = 0; cut < w.len; cut++) {
		struct state_record rec;
		size_t pos = 0;
		cr_assert_eq(state_record_parse(w.buf, cut, &pos, &rec, err, sizeof(err)), -1,
			     "a record cut at %zu of %zu bytes was accepted", cut, w.len);
		cr_assert_eq(pos, 0);
		cr_assert_gt(strlen(err), 0);
	}
	state_writer_free(&w);
}

Test(state_record, malformed_fields_and_names_are_refused)
{
	char err[200];
	struct state_record rec;
	struct state_writer w = write_sample(1, 1);
	/* The u64 field's length says 7: the body no longer parses. Offsets: name (1 + 6), three
	 * u32, then the field "count": 1 + 5 bytes of key, then kind, then its length. */
	size_t len_at = 1 + 6 + 12 + 1 + 5 + 1;
	w.buf[len_at] = 7;
	cr_assert_eq(parse(&w, &rec, err), -1);
	w.buf[len_at] = 8;
	w.buf[len_at - 1] = 9; /* an unknown kind */
	cr_assert_eq(parse(&w, &rec, err), -1);
	w.buf[len_at - 1] = STATE_U64 | STATE_ESSENTIAL;
	w.buf[1] = 'S'; /* names are lower case */
	cr_assert_eq(parse(&w, &rec, err), -1);
	w.buf[1] = 's';
	cr_assert_eq(parse(&w, &rec, err), 0, "%s", err);
	state_writer_free(&w);
}

Test(state_record, writer_misuse_fails_the_writer)
{
	struct state_writer w;
	state_writer_init(&w);
	state_put_u64(&w, "orphan", 1, 0); /* outside a record */
	cr_assert(state_writer_failed(&w));
	state_writer_free(&w);
	state_record_begin(&w, "Bad Name", 1, 1);
	cr_assert(state_writer_failed(&w));
	state_writer_free(&w);
	state_record_begin(&w, "open", 1, 1); /* never ended */
	cr_assert(state_writer_failed(&w));
	state_writer_free(&w);
}
