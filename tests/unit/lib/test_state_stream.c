/* The saved-VM stream: records and guest memory come back exactly (zero pages left out, the
 * rest compressed), and a stream that is cut anywhere, has any byte changed, has another
 * format version or carries data after its end is refused before anything is loaded. */
#include "lib/state_stream.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define PAGE 4096u

/* Runs `write` on a temporary file and returns the bytes written (*len). */
static uint8_t *capture(void (*write)(struct state_out *out, void *opaque), void *opaque,
			size_t *len)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	struct state_out out;
	state_out_init(&out, fileno(f), 0);
	write(&out, opaque);
	long size = lseek(fileno(f), 0, SEEK_END);
	cr_assert_geq(size, 0);
	uint8_t *buf = malloc((size_t)size + 1);
	cr_assert_eq(pread(fileno(f), buf, (size_t)size, 0), size);
	fclose(f);
	*len = (size_t)size;
	return buf;
}

struct sample {
	uint8_t *ram;
	uint64_t size;
	bool compress;
};

/* RAM of 770 pages (two full chunks and a short one): every third page zero, the others a
 * pattern. */
static struct sample make_sample(void)
{
	struct sample s = {.size = 770ull * PAGE, .compress = true};
	s.ram = aligned_alloc(PAGE, s.size);
	for (uint64_t p = 0; p < s.size / PAGE; p++)
		for (unsigned i = 0; i < PAGE; i++)
			s.ram[p * PAGE + i] = p % 3 == 0 ? 0 : (uint8_t)(p * 31 + i * 7 + 1);
	return s;
}

static void write_sample(struct state_out *out, void *opaque)
{
	struct sample *s = opaque;
	char err[200];
	struct state_writer w;
	state_writer_init(&w);
	state_record_begin(&w, "sample", 1, 1);
	state_put_u64(&w, "answer", 42, STATE_ESSENTIAL);
	state_record_end(&w);
	cr_assert_eq(state_stream_write_header(out, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_stream_write_records(out, &w, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_stream_write_memory(out, 0x100000, s->ram, s->size, s->compress, err,
					       sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(state_stream_write_end(out, err, sizeof(err)), 0, "%s", err);
	state_writer_free(&w);
}

Test(state_stream, records_and_memory_come_back)
{
	struct sample s = make_sample();
	size_t len;
	uint8_t *buf = capture(write_sample, &s, &len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	uint8_t *ram = malloc(s.size);
	memset(ram, 0xaa, s.size); /* zero pages must be written as zeroes, not skipped */
	struct state_section section;
	unsigned records = 0, chunks = 0;
	while (state_stream_next(&stream, &section)) {
		if (section.kind == STREAM_RECORDS) {
			struct state_record rec;
			size_t pos = 0;
			cr_assert_eq(state_record_parse(section.payload, section.length, &pos, &rec,
							err, sizeof(err)),
				     0);
			uint64_t v;
			cr_assert_eq(state_get_u64(&rec, "answer", &v), 0);
			cr_assert_eq(v, 42);
			records++;
			continue;
		}
		uint64_t gpa, size;
		state_stream_memory_range(&section, &gpa, &size);
		cr_assert_geq(gpa, 0x100000);
		cr_assert_leq(gpa - 0x100000 + size, s.size);
		cr_assert_eq(state_stream_load_memory(&section, ram + (gpa - 0x100000), size, err,
						      sizeof(err)),
			     0, "%s", err);
		chunks++;
	}
	cr_assert_eq(records, 1);
	cr_assert_eq(chunks, 2, "770 pages: 512 + 258");
	cr_assert_eq(memcmp(ram, s.ram, s.size), 0, "guest memory differs after a round trip");
	free(ram);
	free(buf);
	free(s.ram);
}

static void write_zero_ram(struct state_out *out, void *opaque)
{
	(void)opaque;
	char err[200];
	uint8_t *ram = calloc(1, 4u << 20);
	cr_assert_eq(state_stream_write_header(out, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_write_memory(out, 0, ram, 4u << 20, true, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_write_end(out, err, sizeof(err)), 0);
	free(ram);
}

/* Uncompressed (a fast migration link): the same pages come back. */
Test(state_stream, raw_memory_comes_back)
{
	struct sample s = make_sample();
	s.compress = false;
	size_t len;
	uint8_t *buf = capture(write_sample, &s, &len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(len, 500ull * PAGE, "the non-zero pages travel uncompressed");
	uint8_t *ram = malloc(s.size);
	memset(ram, 0xaa, s.size);
	struct state_section section;
	while (state_stream_next(&stream, &section)) {
		if (section.kind != STREAM_MEMORY)
			continue;
		uint64_t gpa, size;
		state_stream_memory_range(&section, &gpa, &size);
		cr_assert_eq(state_stream_load_memory(&section, ram + (gpa - 0x100000), size, err,
						      sizeof(err)),
			     0, "%s", err);
	}
	cr_assert_eq(memcmp(ram, s.ram, s.size), 0, "guest memory differs after a raw round trip");
	free(ram);
	free(buf);
	free(s.ram);
}

Test(state_stream, zero_pages_are_left_out)
{
	size_t len;
	uint8_t *buf = capture(write_zero_ram, NULL, &len);
	cr_assert_lt(len, 4096, "4 MiB of zeroes took %zu bytes", len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	free(buf);
}

static void write_small(struct state_out *out, void *opaque)
{
	(void)opaque;
	char err[200];
	uint8_t ram[2 * PAGE];
	memset(ram, 0, PAGE);
	memset(ram + PAGE, 0x5c, PAGE);
	struct state_writer w;
	state_writer_init(&w);
	state_record_begin(&w, "x", 1, 1);
	state_record_end(&w);
	cr_assert_eq(state_stream_write_header(out, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_write_records(out, &w, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_write_memory(out, 0, ram, sizeof(ram), true, err, sizeof(err)),
		     0);
	cr_assert_eq(state_stream_write_end(out, err, sizeof(err)), 0);
	state_writer_free(&w);
}

Test(state_stream, every_cut_and_every_changed_byte_is_refused)
{
	size_t len;
	uint8_t *buf = capture(write_small, NULL, &len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(state_stream_check(buf, cut, &stream, err, sizeof(err)), -1,
			     "a stream cut at %zu of %zu bytes was accepted", cut, len);
	for (size_t at = 0; at < len; at++) {
		buf[at] ^= 0x20;
		cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), -1,
			     "byte %zu changed and the stream was accepted", at);
		buf[at] ^= 0x20;
	}
	free(buf);
}

Test(state_stream, other_versions_and_trailing_data_are_refused_with_a_reason)
{
	size_t len;
	uint8_t *buf = capture(write_small, NULL, &len);
	struct state_stream stream;
	char err[200];
	buf[8] = 2; /* format version 2 */
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "format 2"), "%s", err);
	buf[8] = 1;
	memcpy(buf, "QFI\xfb", 4);
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "not a gureum state stream"), "%s", err);
	memcpy(buf, "GURE", 4);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	cr_assert_eq(state_stream_check(longer, len + 1, &stream, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "after its end"), "%s", err);
	free(longer);
	free(buf);
}

/* A reader that sees the stream as it arrives (a migration socket) gets the same sections,
 * each checked, from a file read front to back. */
static int reread_file(const uint8_t *buf, size_t len)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	int fd = dup(fileno(f));
	fclose(f);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

Test(state_stream, read_as_it_arrives_section_by_section)
{
	struct sample s = make_sample();
	size_t len;
	uint8_t *buf = capture(write_sample, &s, &len);
	int fd = reread_file(buf, len);
	char err[200];
	cr_assert_eq(state_stream_read_header(fd, err, sizeof(err)), 0, "%s", err);
	enum state_stream_kind kinds[8];
	unsigned n = 0;
	for (;;) {
		struct state_section section;
		void *storage;
		cr_assert_eq(state_stream_read_section(fd, &section, &storage, err, sizeof(err)), 0,
			     "%s", err);
		kinds[n++] = section.kind;
		free(storage);
		if (section.kind == STREAM_END || n == 8)
			break;
	}
	close(fd);
	cr_assert_eq(n, 4, "records, two memory sections, end");
	cr_assert_eq(kinds[0], STREAM_RECORDS);
	cr_assert_eq(kinds[1], STREAM_MEMORY);
	cr_assert_eq(kinds[3], STREAM_END);

	/* A byte changed in the records, and a section claiming a gigabyte, are refused. */
	buf[16 + 12] ^= 1;
	fd = reread_file(buf, len);
	struct state_section section;
	void *storage;
	cr_assert_eq(state_stream_read_header(fd, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_read_section(fd, &section, &storage, err, sizeof(err)), -1);
	cr_assert(strstr(err, "corrupt"), "%s", err);
	cr_assert_null(storage);
	close(fd);
	buf[16 + 12] ^= 1;
	buf[16 + 1 + 3] = 0x40; /* length bit 30 */
	fd = reread_file(buf, len);
	cr_assert_eq(state_stream_read_header(fd, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_read_section(fd, &section, &storage, err, sizeof(err)), -1);
	cr_assert(strstr(err, "announces"), "%s", err);
	close(fd);
	/* Cut short: the reader says the sender closed it. */
	fd = reread_file(buf, 40);
	cr_assert_eq(state_stream_read_header(fd, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_read_section(fd, &section, &storage, err, sizeof(err)), -1);
	close(fd);
	free(buf);
	free(s.ram);
}

struct pages_sample {
	uint8_t *ram;
	uint64_t *which;
	bool compress;
};

static void write_some_pages(struct state_out *out, void *opaque)
{
	struct pages_sample *p = opaque;
	char err[200];
	cr_assert_eq(state_stream_write_header(out, err, sizeof(err)), 0);
	cr_assert_eq(state_stream_write_pages(out, 0, p->ram, 1024ull * PAGE, p->which, p->compress,
					      err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(state_stream_write_end(out, err, sizeof(err)), 0);
}

/* A migration's later round: only the named pages travel (a zero page too, as it may have
 * been written to zero), and loading leaves every other page as it was. */
Test(state_stream, pages_sections_carry_only_the_named_pages)
{
	struct pages_sample p = {
	    .ram = calloc(1024, PAGE), .which = calloc(16, 8), .compress = true};
	for (unsigned i = 0; i < 1024; i++)
		memset(p.ram + (size_t)i * PAGE, i % 5 ? (int)(i & 0xff) | 1 : 0, PAGE);
	unsigned named[] = {3, 5, 600, 1023}; /* 5 is a zero page */
	for (unsigned i = 0; i < 4; i++)
		p.which[named[i] / 64] |= 1ULL << (named[i] % 64);
	size_t len;
	uint8_t *buf = capture(write_some_pages, &p, &len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	uint8_t *dst = malloc(1024ull * PAGE);
	memset(dst, 0xee, 1024ull * PAGE);
	struct state_section section;
	unsigned sections = 0;
	while (state_stream_next(&stream, &section)) {
		cr_assert_eq(section.kind, STREAM_PAGES);
		uint64_t gpa, size;
		state_stream_memory_range(&section, &gpa, &size);
		cr_assert_eq(state_stream_load_memory(&section, dst + gpa, size, err, sizeof(err)),
			     0, "%s", err);
		sections++;
	}
	cr_assert_eq(sections, 2, "one section per 2 MiB with pages in it");
	for (unsigned i = 0; i < 1024; i++) {
		bool is_named = i == 3 || i == 5 || i == 600 || i == 1023;
		const uint8_t *want = is_named ? p.ram + (size_t)i * PAGE : NULL;
		for (unsigned b = 0; b < PAGE; b += 511)
			cr_assert_eq(dst[(size_t)i * PAGE + b], want ? want[b] : 0xee,
				     "page %u byte %u", i, b);
	}
	free(dst);
	free(buf);
	free(p.ram);
	free(p.which);
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Writes 3 MiB of RAM that is not zero (two sections) raw to /dev/null through `out`. */
static double write_three_mib(struct state_out *out)
{
	uint8_t *ram = malloc(3u << 20);
	cr_assert_not_null(ram);
	memset(ram, 0x5a, 3u << 20);
	char err[200];
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	cr_assert_eq(state_stream_write_memory(out, 0, ram, 3u << 20, false, err, sizeof(err)), 0,
		     "%s", err);
	double took = seconds_since(&start);
	free(ram);
	return took;
}

/* --max-bandwidth: the writer counts what it wrote and keeps to the limit (the second section
 * waits until the first one's bytes are due), and without a limit it does not wait. */
Test(state_stream, a_limited_writer_keeps_to_its_rate_and_counts_its_bytes)
{
	int fd = open("/dev/null", O_WRONLY);
	cr_assert_geq(fd, 0);
	struct state_out limited, unlimited;
	state_out_init(&limited, fd, 8u << 20); /* 8 MiB/s: the second 2 MiB section after 0.25 s */
	double took = write_three_mib(&limited);
	uint64_t bytes = atomic_load(&limited.bytes);
	cr_assert_geq(bytes, 3u << 20, "counted %llu bytes", (unsigned long long)bytes);
	cr_assert_lt(bytes, (3u << 20) + 4096, "counted %llu bytes", (unsigned long long)bytes);
	cr_assert_geq(took, 0.24, "3 MiB at 8 MiB/s took only %.3f s", took);
	state_out_init(&unlimited, fd, 0);
	cr_assert_lt(write_three_mib(&unlimited), 0.24, "an unlimited writer waited");
	cr_assert_eq(atomic_load(&unlimited.bytes), bytes);
	close(fd);
}

struct pending_sample {
	uint64_t *which;
	uint64_t gpa;
};

static void write_pending(struct state_out *out, void *opaque)
{
	struct pending_sample *p = opaque;
	char err[200];
	cr_assert_eq(state_stream_write_header(out, err, sizeof(err)), 0);
	cr_assert_eq(
	    state_stream_write_pending(out, p->gpa, 1100ull * PAGE, p->which, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(state_stream_write_end(out, err, sizeof(err)), 0);
}

/* Post-copy's list of the pages still to come: a bitmap per 2 MiB with pages in it, read back
 * page by page, and nothing past the range. */
Test(state_stream, pending_sections_name_exactly_the_pages_to_come)
{
	struct pending_sample p = {.which = calloc(18, 8), .gpa = 0x200000};
	unsigned named[] = {0, 511, 1030, 1099}; /* none in the second 2 MiB */
	for (unsigned i = 0; i < 4; i++)
		p.which[named[i] / 64] |= 1ULL << (named[i] % 64);
	size_t len;
	uint8_t *buf = capture(write_pending, &p, &len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	struct state_section section;
	unsigned sections = 0, found = 0;
	while (state_stream_next(&stream, &section)) {
		cr_assert_eq(section.kind, STREAM_PENDING);
		uint64_t gpa, size;
		state_stream_memory_range(&section, &gpa, &size);
		cr_assert(gpa == 0x200000 || gpa == 0x200000 + 1024ull * PAGE, "at %#llx",
			  (unsigned long long)gpa);
		for (uint32_t i = 0; i < size / PAGE + 8; i++) {
			uint64_t page = (gpa - 0x200000) / PAGE + i;
			bool want = i < size / PAGE &&
				    (page == 0 || page == 511 || page == 1030 || page == 1099);
			cr_assert_eq(state_stream_pending_page(&section, i), want, "page %llu",
				     (unsigned long long)page);
			found += want;
		}
		sections++;
	}
	cr_assert_eq(sections, 2, "the chunk without pending pages has no section");
	cr_assert_eq(found, 4);
	free(buf);
	free(p.which);
}

/* Bytes of a pending section with the given head values and bitmap length, in a stream. */
static uint8_t *pending_stream(uint32_t pages_field, size_t bitmap_len, uint8_t last_byte,
			       size_t *len)
{
	uint8_t payload[12 + 80] = {0};
	memcpy(payload + 8, &pages_field, 4);
	if (bitmap_len)
		payload[12 + bitmap_len - 1] = last_byte;
	size_t payload_len = 12 + bitmap_len;
	*len = 16 + 9 + payload_len + 4 + 9 + 4;
	uint8_t *buf = calloc(1, *len);
	memcpy(buf, "GUREUMVM", 8);
	buf[8] = STATE_STREAM_VERSION;
	buf[16] = STREAM_PENDING;
	memcpy(buf + 17, &(uint64_t){payload_len}, 8);
	memcpy(buf + 25, payload, payload_len); /* an end section follows; CRCs by the caller */
	return buf;
}

/* A pending section that names pages past its count, claims raw data, carries data, or has
 * no pages is refused. */
Test(state_stream, malformed_pending_sections_are_refused)
{
	struct {
		uint32_t pages;
		size_t bitmap_len;
		uint8_t last;
		const char *what;
	} bad[] = {
	    {3, 1, 0x08, "a bit past its 3 pages"}, {8 | (1u << 31), 1, 0x01, "the raw flag"},
	    {8, 2, 0x00, "a byte past its bitmap"}, {0, 0, 0, "no pages"},
	    {513, 65, 0x01, "more than 512 pages"},
	};
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		size_t len;
		uint8_t *buf = pending_stream(bad[k].pages, bad[k].bitmap_len, bad[k].last, &len);
		size_t payload_len = 12 + bad[k].bitmap_len;
		size_t crc_at = 16 + 9 + payload_len;
		uint32_t crc = (uint32_t)crc32(0L, buf + 16, (uInt)(crc_at - 16));
		memcpy(buf + crc_at, &crc, 4);
		uint8_t *end = buf + crc_at + 4; /* kind 0, length 0 */
		uint32_t end_crc = (uint32_t)crc32(0L, end, 9);
		memcpy(end + 9, &end_crc, 4);
		struct state_stream stream;
		char err[200] = "";
		cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), -1, "%s",
			     bad[k].what);
		cr_assert(strstr(err, "bad section (kind 6)"), "%s: %s", bad[k].what, err);
		free(buf);
	}
}

struct visit_log {
	unsigned stored, zero;
	uint64_t last_gpa;
	const uint8_t *ram;
};

static int note_page(void *opaque, uint64_t gpa, const uint8_t *page)
{
	struct visit_log *v = opaque;
	cr_assert(gpa > v->last_gpa || (v->stored + v->zero) == 0, "pages in order");
	v->last_gpa = gpa;
	if (!page) {
		v->zero++;
		return 0;
	}
	cr_assert_eq(memcmp(page, v->ram + (gpa - 0x100000), PAGE), 0, "page at %#llx",
		     (unsigned long long)gpa);
	v->stored++;
	return 0;
}

static int refuse_page(void *opaque, uint64_t gpa, const uint8_t *page)
{
	(void)gpa, (void)page;
	return ++*(unsigned *)opaque == 2 ? -42 : 0;
}

/* Post-copy places pages one by one: a memory section hands out every page, the zero ones as
 * NULL, and the first refusal ends the walk with its code. */
Test(state_stream, each_page_visits_every_page_of_a_memory_section)
{
	struct sample s = make_sample();
	size_t len;
	uint8_t *buf = capture(write_sample, &s, &len);
	struct state_stream stream;
	char err[200];
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0, "%s", err);
	struct visit_log v = {.ram = s.ram};
	struct state_section section;
	while (state_stream_next(&stream, &section))
		if (section.kind == STREAM_MEMORY)
			cr_assert_eq(
			    state_stream_each_page(&section, note_page, &v, err, sizeof(err)), 0,
			    "%s", err);
	cr_assert_eq(v.stored + v.zero, 770);
	cr_assert_eq(v.zero, 257, "every third page of 770 is zero");
	cr_assert_eq(state_stream_check(buf, len, &stream, err, sizeof(err)), 0);
	while (state_stream_next(&stream, &section) && section.kind != STREAM_MEMORY)
		;
	unsigned calls = 0;
	cr_assert_eq(state_stream_each_page(&section, refuse_page, &calls, err, sizeof(err)), -42);
	cr_assert_eq(calls, 2);
	free(buf);
	free(s.ram);
}
