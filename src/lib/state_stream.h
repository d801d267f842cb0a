/* The saved-VM stream (issue #11; docs/snapshot-format.md): a header, sections of state
 * records and of guest memory, each with its own CRC-32, and an end section, so that a cut,
 * corrupted or future-version stream is recognised before anything is loaded from it.
 *
 *   stream:  "GUREUMVM", u32 format version, u32 flags (0)
 *            section*: u8 kind, u64 length, payload, u32 crc32 (of kind, length and payload)
 *            the last section is STREAM_END (empty payload); nothing may follow it
 *   STREAM_PAGES:   as STREAM_MEMORY, but the pages not stored are left as they are (a
 *                   migration's later rounds: the pages written since the last round)
 *   STREAM_CONFIG:  the VM's options as a JSON object (`--config`), first in a migration
 *   STREAM_CPU:     the CPU features the guest saw (STATE_STREAM_CPU_BYTES: the vendor and
 *                   the feature words, accel/cpu_features.h), second in a migration: the
 *                   destination answers whether it can run them before any memory is sent
 *   STREAM_RECORDS: state records (lib/state_record.h), one after another
 *   STREAM_PENDING: u64 guest-physical address, u32 pages (1-512), a bitmap: the pages a
 *                   post-copy migration sends after the destination runs the VM (it drops
 *                   what it holds of them and fetches them when the guest touches them)
 *   STREAM_MEMORY:  up to 2 MiB of guest RAM: u64 guest-physical address, u32 pages (1-512;
 *                   bit 31 set: raw), a bitmap of the pages stored (zero pages are not), then
 *                   the stored pages: one zstd frame, or raw, as they are (the rest of the
 *                   payload). One section per 2 MiB
 *                   keeps sections small enough to build in memory and send as they come.
 * All integers little endian. Writing goes to a file descriptor (a file or a socket);
 * reading checks a whole stream held in memory (a mapped file) before handing anything out. */
#ifndef GUREUM_LIB_STATE_STREAM_H
#define GUREUM_LIB_STATE_STREAM_H

#include "lib/state_record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_STREAM_VERSION 1

enum state_stream_kind {
	STREAM_END = 0,
	STREAM_RECORDS = 1,
	STREAM_MEMORY = 2,
	STREAM_CONFIG = 3,  /* the VM's options as JSON (a migration stream starts with it) */
	STREAM_PAGES = 4,   /* as MEMORY, but pages not stored are left as they are */
	STREAM_CPU = 5,	    /* the CPU features the guest saw (a migration's second section) */
	STREAM_PENDING = 6, /* pages that come after the switch (post-copy) */
};

#define STATE_STREAM_CPU_BYTES 48

/* Where a stream goes: a file or a socket, how many bytes went so far (another thread may read
 * it: a migration's progress), and at most how fast (0: no limit; a migration's
 * --max-bandwidth, so it leaves the link to the guests). Before each write the writer sleeps
 * while the bytes so far are ahead of the limit, so sections (at most 2 MiB of RAM each) are
 * the granularity. */
struct state_out {
	int fd;
	_Atomic uint64_t bytes;
	uint64_t max_bytes_per_s;
	uint64_t started_ns;
};

void state_out_init(struct state_out *out, int fd, uint64_t max_bytes_per_s);

/* Each returns 0, or -1 with one sentence (naming what failed and errno's text) in err. */
int state_stream_write_header(struct state_out *out, char *err, size_t err_len);
int state_stream_write_records(struct state_out *out, const struct state_writer *records, char *err,
			       size_t err_len);
/* The guest RAM [gpa, gpa + size) at `host`: zero pages left out, the rest zstd-compressed
 * with `compress` (a slow link), or as they are (a fast one, where compressing would be the
 * bottleneck). */
int state_stream_write_memory(struct state_out *out, uint64_t gpa, const uint8_t *host,
			      uint64_t size, bool compress, char *err, size_t err_len);
/* Only the pages of [gpa, gpa + size) whose bit is set in `which` (bit i of which[i / 64] for
 * page i), zero or not, in PAGES sections (none where no bit is set): a migration's later
 * rounds, sending what the guest wrote since the last. */
int state_stream_write_pages(struct state_out *out, uint64_t gpa, const uint8_t *host,
			     uint64_t size, const uint64_t *which, bool compress, char *err,
			     size_t err_len);
/* The pages of [gpa, gpa + size) whose bit is set in `which`, as PENDING sections (bitmaps
 * only; none for a 2 MiB chunk without a bit set). */
int state_stream_write_pending(struct state_out *out, uint64_t gpa, uint64_t size,
			       const uint64_t *which, char *err, size_t err_len);
int state_stream_write_config(struct state_out *out, const char *json, char *err, size_t err_len);
int state_stream_write_cpu(struct state_out *out, const uint8_t features[STATE_STREAM_CPU_BYTES],
			   char *err, size_t err_len);
int state_stream_write_end(struct state_out *out, char *err, size_t err_len);

struct state_section {
	enum state_stream_kind kind;
	const uint8_t *payload;
	uint64_t length;
};

/* A checked stream: state_stream_check succeeded on it. */
struct state_stream {
	const uint8_t *buf;
	size_t len;
	size_t next; /* offset of the next section for state_stream_next */
};

/* Checks the whole stream: header and version, every section's bounds, CRC and contents
 * (records parse, memory chunks are consistent and decompress to the sizes they claim), and
 * the end section. Returns 0, or -1 with one sentence in err. Nothing is loaded. */
int state_stream_check(const uint8_t *buf, size_t len, struct state_stream *s, char *err,
		       size_t err_len);
/* The next section of a checked stream; false after the last one (the end section). */
bool state_stream_next(struct state_stream *s, struct state_section *section);
/* A memory, pages or pending section's placement. */
void state_stream_memory_range(const struct state_section *section, uint64_t *gpa, uint64_t *size);
/* Fills `host` (size bytes, the section's range) from a checked memory section: stored pages
 * decompressed, the others zeroed (a pages section: left alone). Returns 0, or -1 with err. */
int state_stream_load_memory(const struct state_section *section, uint8_t *host, uint64_t size,
			     char *err, size_t err_len);

/* Whether page i of a checked pending section's range is pending. */
bool state_stream_pending_page(const struct state_section *section, uint32_t i);
/* Calls place(opaque, gpa, page) for every page of a checked memory or pages section: its 4 KiB,
 * or NULL for a page a memory section stores as zero (a pages section skips the pages it does
 * not store). Returns 0, the first negative place() result, or -1 with err when the pages do
 * not decompress. */
int state_stream_each_page(const struct state_section *section,
			   int (*place)(void *opaque, uint64_t gpa, const uint8_t *page),
			   void *opaque, char *err, size_t err_len);

/* Reading a stream as it arrives (a migration socket), one checked section at a time. Each
 * returns 0, or -1 with one sentence in err. */
int state_stream_read_header(int fd, char *err, size_t err_len);
/* The next section, its CRC and contents checked as state_stream_check does; its payload lives
 * in *storage, which the caller frees. */
int state_stream_read_section(int fd, struct state_section *section, void **storage, char *err,
			      size_t err_len);

#endif
