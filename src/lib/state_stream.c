/* The saved-VM stream (see state_stream.h for the format). */
#include "lib/state_stream.h"

#include "lib/little_endian.h"
#include "lib/monotonic.h"
#include "lib/zero_page.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define MAGIC	     "GUREUMVM"
#define MAGIC_BYTES  8
#define HEADER_BYTES (MAGIC_BYTES + 8)
#define SECTION_HEAD 9 /* kind, u64 length */
#define SECTION_CRC  4
#define PAGE_SIZE    4096u
#define CHUNK_PAGES  512u
#define MEMORY_HEAD  12		/* u64 gpa, u32 pages (| MEMORY_RAW) */
#define MEMORY_RAW   (1u << 31) /* the stored pages follow as they are, not in a zstd frame */
#define ZSTD_LEVEL   1		/* fast: a snapshot's time matters more than its last percent */

/* ---- writing ---- */

void state_out_init(struct state_out *out, int fd, uint64_t max_bytes_per_s)
{
	out->fd = fd;
	atomic_store(&out->bytes, 0);
	out->max_bytes_per_s = max_bytes_per_s;
	out->started_ns = monotonic_ns();
}

/* Sleeps while the bytes written are ahead of max_bytes_per_s since the start. */
static void keep_to_the_limit(const struct state_out *out)
{
	if (!out->max_bytes_per_s)
		return;
	uint64_t due_ns =
	    (uint64_t)((double)atomic_load(&out->bytes) * 1e9 / (double)out->max_bytes_per_s);
	uint64_t elapsed = monotonic_ns() - out->started_ns;
	if (due_ns <= elapsed)
		return;
	sleep_ns(due_ns - elapsed);
}

static int write_all(struct state_out *out, const void *data, size_t len, char *err, size_t err_len)
{
	const uint8_t *p = data;
	keep_to_the_limit(out);
	while (len > 0) {
		ssize_t n = write(out->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			state_set_error(err, err_len, "writing the state stream: %s",
					n < 0 ? strerror(errno) : "nothing written");
			return -1;
		}
		p += n;
		len -= (size_t)n;
		atomic_fetch_add(&out->bytes, (uint64_t)n);
	}
	return 0;
}

/* One section: head, the payload in up to two parts, CRC over all of it. */
static int write_section(struct state_out *out, enum state_stream_kind kind, const void *a,
			 size_t a_len, const void *b, size_t b_len, char *err, size_t err_len)
{
	uint8_t head[SECTION_HEAD], crc_bytes[SECTION_CRC];
	head[0] = (uint8_t)kind;
	le_put(head + 1, a_len + b_len, 8);
	/* zlib's crc32 with a NULL buffer returns the initial value, not crc: skip empty parts. */
	uLong crc = crc32(0L, head, SECTION_HEAD);
	if (a_len)
		crc = crc32_z(crc, a, a_len);
	if (b_len)
		crc = crc32_z(crc, b, b_len);
	le_put(crc_bytes, crc, SECTION_CRC);
	if (write_all(out, head, sizeof(head), err, err_len) < 0 ||
	    write_all(out, a, a_len, err, err_len) < 0 ||
	    write_all(out, b, b_len, err, err_len) < 0)
		return -1;
	return write_all(out, crc_bytes, sizeof(crc_bytes), err, err_len);
}

int state_stream_write_header(struct state_out *out, char *err, size_t err_len)
{
	uint8_t header[HEADER_BYTES] = MAGIC;
	le_put(header + MAGIC_BYTES, STATE_STREAM_VERSION, 4);
	return write_all(out, header, sizeof(header), err, err_len);
}

int state_stream_write_records(struct state_out *out, const struct state_writer *records, char *err,
			       size_t err_len)
{
	if (state_writer_failed(records)) {
		state_set_error(err, err_len,
				"the state records could not be written (out of memory?)");
		return -1;
	}
	return write_section(out, STREAM_RECORDS, records->buf, records->len, NULL, 0, err,
			     err_len);
}

/* The pages a section carries: MEMORY sections every non-zero page, PAGES sections the pages
 * `which` names (bit i of which[i / 64]), zero or not. */
static bool page_wanted(enum state_stream_kind kind, const uint8_t *page, const uint64_t *which,
			uint64_t index)
{
	if (kind == STREAM_PAGES)
		return (which[index / 64] >> (index % 64)) & 1;
	return !page_is_zero(page);
}

/* One memory or pages section of `pages` pages at gpa (page `first` of the bitmap `which`);
 * scratch holds the gathered pages. Writes nothing for a pages section without pages. */
static int write_chunk(struct state_out *out, enum state_stream_kind kind, bool compress,
		       uint64_t gpa, const uint8_t *host, unsigned pages, const uint64_t *which,
		       uint64_t first, uint8_t *scratch, void *compressed, size_t compressed_cap,
		       char *err, size_t err_len)
{
	uint8_t head[MEMORY_HEAD + CHUNK_PAGES / 8] = {0};
	le_put(head, gpa, 8);
	le_put(head + 8, pages | (compress ? 0 : MEMORY_RAW), 4);
	size_t stored = 0;
	for (unsigned i = 0; i < pages; i++)
		if (page_wanted(kind, host + (size_t)i * PAGE_SIZE, which, first + i)) {
			head[MEMORY_HEAD + i / 8] |= (uint8_t)(1u << (i % 8));
			memcpy(scratch + stored * PAGE_SIZE, host + (size_t)i * PAGE_SIZE,
			       PAGE_SIZE);
			stored++;
		}
	if (kind == STREAM_PAGES && stored == 0)
		return 0;
	size_t head_len = MEMORY_HEAD + (pages + 7) / 8;
	if (!compress)
		return write_section(out, kind, head, head_len, scratch, stored * PAGE_SIZE, err,
				     err_len);
	size_t n =
	    ZSTD_compress(compressed, compressed_cap, scratch, stored * PAGE_SIZE, ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		state_set_error(err, err_len, "compressing guest memory: %s", ZSTD_getErrorName(n));
		return -1;
	}
	return write_section(out, kind, head, head_len, compressed, n, err, err_len);
}

static int write_ram(struct state_out *out, enum state_stream_kind kind, bool compress,
		     uint64_t gpa, const uint8_t *host, uint64_t size, const uint64_t *which,
		     char *err, size_t err_len)
{
	if (size % PAGE_SIZE || gpa % PAGE_SIZE) {
		state_set_error(err, err_len, "guest memory to save is not page aligned");
		return -1;
	}
	size_t cap = ZSTD_compressBound(CHUNK_PAGES * PAGE_SIZE);
	uint8_t *scratch = malloc(CHUNK_PAGES * PAGE_SIZE);
	void *compressed = malloc(cap);
	int rc = scratch && compressed ? 0 : -1;
	if (rc < 0)
		state_set_error(err, err_len, "saving guest memory: out of memory");
	for (uint64_t at = 0; rc == 0 && at < size; at += CHUNK_PAGES * PAGE_SIZE) {
		uint64_t left = (size - at) / PAGE_SIZE;
		unsigned pages = left < CHUNK_PAGES ? (unsigned)left : CHUNK_PAGES;
		rc = write_chunk(out, kind, compress, gpa + at, host + at, pages, which,
				 at / PAGE_SIZE, scratch, compressed, cap, err, err_len);
	}
	free(scratch);
	free(compressed);
	return rc;
}

int state_stream_write_memory(struct state_out *out, uint64_t gpa, const uint8_t *host,
			      uint64_t size, bool compress, char *err, size_t err_len)
{
	return write_ram(out, STREAM_MEMORY, compress, gpa, host, size, NULL, err, err_len);
}

int state_stream_write_pages(struct state_out *out, uint64_t gpa, const uint8_t *host,
			     uint64_t size, const uint64_t *which, bool compress, char *err,
			     size_t err_len)
{
	return write_ram(out, STREAM_PAGES, compress, gpa, host, size, which, err, err_len);
}

int state_stream_write_pending(struct state_out *out, uint64_t gpa, uint64_t size,
			       const uint64_t *which, char *err, size_t err_len)
{
	if (size % PAGE_SIZE || gpa % PAGE_SIZE) {
		state_set_error(err, err_len, "guest memory to send is not page aligned");
		return -1;
	}
	for (uint64_t first = 0; first < size / PAGE_SIZE; first += CHUNK_PAGES) {
		uint64_t left = size / PAGE_SIZE - first;
		unsigned pages = left < CHUNK_PAGES ? (unsigned)left : CHUNK_PAGES, set = 0;
		uint8_t head[MEMORY_HEAD + CHUNK_PAGES / 8] = {0};
		le_put(head, gpa + first * PAGE_SIZE, 8);
		le_put(head + 8, pages, 4);
		for (unsigned i = 0; i < pages; i++)
			if ((which[(first + i) / 64] >> ((first + i) % 64)) & 1) {
				head[MEMORY_HEAD + i / 8] |= (uint8_t)(1u << (i % 8));
				set++;
			}
		if (set && write_section(out, STREAM_PENDING, head, MEMORY_HEAD + (pages + 7) / 8,
					 NULL, 0, err, err_len) < 0)
			return -1;
	}
	return 0;
}

int state_stream_write_config(struct state_out *out, const char *json, char *err, size_t err_len)
{
	return write_section(out, STREAM_CONFIG, json, strlen(json), NULL, 0, err, err_len);
}

int state_stream_write_cpu(struct state_out *out, const uint8_t features[STATE_STREAM_CPU_BYTES],
			   char *err, size_t err_len)
{
	return write_section(out, STREAM_CPU, features, STATE_STREAM_CPU_BYTES, NULL, 0, err,
			     err_len);
}

int state_stream_write_end(struct state_out *out, char *err, size_t err_len)
{
	return write_section(out, STREAM_END, NULL, 0, NULL, 0, err, err_len);
}

/* ---- reading ---- */

static unsigned popcount_bitmap(const uint8_t *bitmap, unsigned pages)
{
	unsigned n = 0;
	for (unsigned i = 0; i < pages; i++)
		n += (bitmap[i / 8] >> (i % 8)) & 1;
	return n;
}

static uint32_t section_pages(const uint8_t *p)
{
	return (uint32_t)le_get(p + 8, 4) & ~MEMORY_RAW;
}

static bool section_raw(const uint8_t *p)
{
	return (uint32_t)le_get(p + 8, 4) & MEMORY_RAW;
}

/* A memory section's head and data agree: 1-512 pages, bits only for existing pages, and the
 * stored pages as they are or a zstd frame that says it holds exactly them. */
static bool memory_section_ok(const uint8_t *p, uint64_t len)
{
	if (len < MEMORY_HEAD)
		return false;
	uint64_t gpa = le_get(p, 8);
	uint32_t pages = section_pages(p);
	uint64_t bitmap_len = (pages + 7) / 8;
	if (pages == 0 || pages > CHUNK_PAGES || gpa % PAGE_SIZE || len - MEMORY_HEAD < bitmap_len)
		return false;
	const uint8_t *bitmap = p + MEMORY_HEAD;
	if (pages % 8 && (bitmap[pages / 8] >> (pages % 8)))
		return false;
	const uint8_t *frame = bitmap + bitmap_len;
	size_t frame_len = len - MEMORY_HEAD - bitmap_len;
	unsigned long long stored = (unsigned long long)popcount_bitmap(bitmap, pages) * PAGE_SIZE;
	if (section_raw(p))
		return frame_len == stored;
	return ZSTD_getFrameContentSize(frame, frame_len) == stored &&
	       ZSTD_findFrameCompressedSize(frame, frame_len) == frame_len;
}

/* A pending section: 1-512 pages, a bitmap with bits only for them, nothing else. */
static bool pending_section_ok(const uint8_t *p, uint64_t len)
{
	if (len < MEMORY_HEAD || section_raw(p))
		return false;
	uint32_t pages = section_pages(p);
	uint64_t bitmap_len = (pages + 7) / 8;
	if (pages == 0 || pages > CHUNK_PAGES || le_get(p, 8) % PAGE_SIZE ||
	    len != MEMORY_HEAD + bitmap_len)
		return false;
	const uint8_t *bitmap = p + MEMORY_HEAD;
	return !(pages % 8) || !(bitmap[pages / 8] >> (pages % 8));
}

static bool records_section_ok(const uint8_t *p, uint64_t len, char *err, size_t err_len)
{
	struct state_record rec;
	for (size_t pos = 0; pos < len;)
		if (state_record_parse(p, len, &pos, &rec, err, err_len) < 0)
			return false;
	return true;
}

/* The section at buf[*at]: bounds and CRC, then its contents. Returns its kind, or -1. */
static int check_section(const uint8_t *buf, size_t len, size_t *at, char *err, size_t err_len)
{
	size_t start = *at;
	if (len - start < SECTION_HEAD + SECTION_CRC) {
		state_set_error(err, err_len, "the state stream is cut short at byte %zu", start);
		return -1;
	}
	unsigned kind = buf[start];
	uint64_t payload_len = le_get(buf + start + 1, 8);
	if (payload_len > len - start - SECTION_HEAD - SECTION_CRC) {
		state_set_error(err, err_len,
				"the state stream is cut short in a section at byte %zu", start);
		return -1;
	}
	size_t crc_at = start + SECTION_HEAD + payload_len;
	/* A fuzzer cannot guess checksums: its build checks everything but them. */
	bool crc_ok = crc32_z(0L, buf + start, crc_at - start) == le_get(buf + crc_at, SECTION_CRC);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	crc_ok = true;
#endif
	if (!crc_ok) {
		state_set_error(err, err_len,
				"the state stream is corrupt (checksum of the section at byte "
				"%zu)",
				start);
		return -1;
	}
	const uint8_t *payload = buf + start + SECTION_HEAD;
	bool ok = kind == STREAM_END	   ? payload_len == 0
		  : kind == STREAM_CONFIG  ? payload_len > 0
		  : kind == STREAM_CPU	   ? payload_len == STATE_STREAM_CPU_BYTES
		  : kind == STREAM_MEMORY  ? memory_section_ok(payload, payload_len)
		  : kind == STREAM_PAGES   ? memory_section_ok(payload, payload_len)
		  : kind == STREAM_PENDING ? pending_section_ok(payload, payload_len)
		  : kind == STREAM_RECORDS ? records_section_ok(payload, payload_len, err, err_len)
					   : false;
	if (!ok && kind != STREAM_RECORDS)
		state_set_error(err, err_len,
				"the state stream has a bad section (kind %u) at byte %zu", kind,
				start);
	*at = crc_at + SECTION_CRC;
	return ok ? (int)kind : -1;
}

static int check_header(const uint8_t *buf, size_t len, char *err, size_t err_len)
{
	if (len < HEADER_BYTES || memcmp(buf, MAGIC, MAGIC_BYTES) != 0) {
		state_set_error(err, err_len, "not a gureum state stream (no GUREUMVM header)");
		return -1;
	}
	uint32_t version = (uint32_t)le_get(buf + MAGIC_BYTES, 4);
	if (version != STATE_STREAM_VERSION || le_get(buf + MAGIC_BYTES + 4, 4) != 0) {
		state_set_error(
		    err, err_len,
		    "state stream format %u is not one this gureum reads (%u); use the gureum "
		    "that wrote it or a newer one",
		    version, STATE_STREAM_VERSION);
		return -1;
	}
	return 0;
}

int state_stream_check(const uint8_t *buf, size_t len, struct state_stream *s, char *err,
		       size_t err_len)
{
	if (check_header(buf, len, err, err_len) < 0)
		return -1;
	for (size_t at = HEADER_BYTES;;) {
		int kind = check_section(buf, len, &at, err, err_len);
		if (kind < 0)
			return -1;
		if (kind == STREAM_END) {
			if (at != len) {
				state_set_error(err, err_len,
						"the state stream has data after its end");
				return -1;
			}
			break;
		}
	}
	*s = (struct state_stream){.buf = buf, .len = len, .next = HEADER_BYTES};
	return 0;
}

bool state_stream_next(struct state_stream *s, struct state_section *section)
{
	const uint8_t *p = s->buf + s->next;
	section->kind = (enum state_stream_kind)p[0];
	section->length = le_get(p + 1, 8);
	section->payload = p + SECTION_HEAD;
	if (section->kind == STREAM_END)
		return false;
	s->next += SECTION_HEAD + section->length + SECTION_CRC;
	return true;
}

void state_stream_memory_range(const struct state_section *section, uint64_t *gpa, uint64_t *size)
{
	*gpa = le_get(section->payload, 8);
	*size = section_pages(section->payload) * (uint64_t)PAGE_SIZE;
}

/* The stored pages of a checked section: in place for raw sections, else decompressed into
 * *scratch (the caller frees it). NULL when they do not decompress. */
static const uint8_t *stored_pages(const struct state_section *section, size_t stored,
				   uint8_t **scratch)
{
	uint32_t pages = section_pages(section->payload);
	size_t head_len = MEMORY_HEAD + (pages + 7) / 8;
	const uint8_t *data = section->payload + head_len;
	*scratch = NULL;
	if (section_raw(section->payload))
		return data;
	*scratch = malloc(stored ? stored : 1);
	size_t n =
	    *scratch ? ZSTD_decompress(*scratch, stored, data, section->length - head_len) : 0;
	return *scratch && !ZSTD_isError(n) && n == stored ? *scratch : NULL;
}

/* Where state_stream_load_memory puts a section's pages. */
struct load_target {
	uint8_t *host;
	uint64_t gpa;
};

static int copy_page(void *opaque, uint64_t gpa, const uint8_t *page)
{
	const struct load_target *t = opaque;
	uint8_t *to = t->host + (gpa - t->gpa);
	if (page)
		memcpy(to, page, PAGE_SIZE);
	else
		memset(to, 0, PAGE_SIZE);
	return 0;
}

int state_stream_load_memory(const struct state_section *section, uint8_t *host, uint64_t size,
			     char *err, size_t err_len)
{
	if (size != (uint64_t)section_pages(section->payload) * PAGE_SIZE) {
		state_set_error(err, err_len,
				"a memory section does not fit the place given for it");
		return -1;
	}
	struct load_target t = {host, le_get(section->payload, 8)};
	return state_stream_each_page(section, copy_page, &t, err, err_len);
}

bool state_stream_pending_page(const struct state_section *section, uint32_t i)
{
	if (i >= section_pages(section->payload))
		return false;
	return (section->payload[MEMORY_HEAD + i / 8] >> (i % 8)) & 1;
}

int state_stream_each_page(const struct state_section *section,
			   int (*place)(void *opaque, uint64_t gpa, const uint8_t *page),
			   void *opaque, char *err, size_t err_len)
{
	uint64_t gpa = le_get(section->payload, 8);
	uint32_t pages = section_pages(section->payload);
	const uint8_t *bitmap = section->payload + MEMORY_HEAD;
	size_t stored = popcount_bitmap(bitmap, pages) * (size_t)PAGE_SIZE;
	uint8_t *scratch;
	const uint8_t *data = stored_pages(section, stored, &scratch);
	if (!data) {
		state_set_error(err, err_len,
				"guest memory in the state stream does not decompress");
		free(scratch);
		return -1;
	}
	int rc = 0;
	for (uint32_t i = 0, k = 0; i < pages && rc == 0; i++) {
		uint64_t at = gpa + (uint64_t)i * PAGE_SIZE;
		if ((bitmap[i / 8] >> (i % 8)) & 1)
			rc = place(opaque, at, data + (size_t)k++ * PAGE_SIZE);
		else if (section->kind == STREAM_MEMORY)
			rc = place(opaque, at, NULL);
	}
	free(scratch);
	return rc;
}

/* ---- reading as it arrives ---- */

/* The largest section a reader takes from a socket: a memory section is at most 2 MiB of pages
 * and its zstd overhead, records a few hundred KiB; anything bigger is not a gureum stream. */
#define MAX_SECTION (64u << 20)

static int read_all(int fd, void *data, size_t len, char *err, size_t err_len)
{
	uint8_t *p = data;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			state_set_error(err, err_len, "reading the state stream: %s",
					n < 0 ? strerror(errno) : "the sender closed it early");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int state_stream_read_header(int fd, char *err, size_t err_len)
{
	uint8_t header[HEADER_BYTES];
	if (read_all(fd, header, sizeof(header), err, err_len) < 0)
		return -1;
	return check_header(header, sizeof(header), err, err_len);
}

int state_stream_read_section(int fd, struct state_section *section, void **storage, char *err,
			      size_t err_len)
{
	uint8_t head[SECTION_HEAD];
	*storage = NULL;
	if (read_all(fd, head, sizeof(head), err, err_len) < 0)
		return -1;
	uint64_t length = le_get(head + 1, 8);
	if (length > MAX_SECTION) {
		state_set_error(err, err_len, "the state stream announces a %llu-byte section",
				(unsigned long long)length);
		return -1;
	}
	size_t total = SECTION_HEAD + length + SECTION_CRC;
	uint8_t *buf = malloc(total);
	if (!buf) {
		state_set_error(err, err_len, "reading the state stream: out of memory");
		return -1;
	}
	memcpy(buf, head, SECTION_HEAD);
	size_t at = 0;
	if (read_all(fd, buf + SECTION_HEAD, total - SECTION_HEAD, err, err_len) < 0 ||
	    check_section(buf, total, &at, err, err_len) < 0) {
		free(buf);
		return -1;
	}
	*section = (struct state_section){.kind = (enum state_stream_kind)head[0],
					  .payload = buf + SECTION_HEAD,
					  .length = length};
	*storage = buf;
	return 0;
}
