/* Versioned state records: how a device (or the VM) writes down its guest-visible state for a
 * snapshot or a migration and reads it back, never as a raw C struct (issue #11; the record
 * layer of the snapshot stream, docs/snapshot-format.md).
 *
 * A record has a name ("uart16550"), the version its writer speaks, the lowest reader version
 * that can load it, and named, typed fields. Readers look fields up by name, so a later writer
 * may add fields: a field the reader does not know is skipped when the writer marked it
 * optional, and refuses the whole record when it is essential (state an older reader could
 * not represent, as QEMU's vmstate subsections). A reader of version R that loads writers
 * back to version O accepts a record (version V, lowest reader M) when R >= M and V >= O.
 *
 * Encoding, little endian:
 *   record: u8 name_len, name, u32 version, u32 lowest_reader, u32 body_len, body
 *   body:   fields, each u8 key_len, key, u8 kind, u32 value_len, value
 *   kind:   STATE_U64 (value_len 8) or STATE_BYTES, ORed with STATE_ESSENTIAL
 * Names and keys are 1-255 bytes of [a-z0-9_.-]. */
#ifndef GUREUM_LIB_STATE_RECORD_H
#define GUREUM_LIB_STATE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum state_kind {
	STATE_U64 = 1,
	STATE_BYTES = 2,
	STATE_ESSENTIAL = 0x80,
};

/* A growing buffer of records. Errors (out of memory, a bad name, a value too long) are
 * sticky: every call after one does nothing, and state_writer_failed says so at the end. */
struct state_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t body_at; /* offset of the open record's body_len, 0 when none is open */
	bool failed;
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
void state_record_begin(struct state_writer *w, const char *name, uint32_t version,
			uint32_t lowest_reader);
/* flags: 0 or STATE_ESSENTIAL. */
void state_put_u64(struct state_writer *w, const char *key, uint64_t value, unsigned flags);
void state_put_bytes(struct state_writer *w, const char *key, const void *data, uint32_t len,
		     unsigned flags);
void state_record_end(struct state_writer *w);
bool state_writer_failed(const struct state_writer *w);

/* One parsed record; points into the caller's buffer. */
struct state_record {
	char name[256];
	uint32_t version, lowest_reader;
	const uint8_t *body;
	uint32_t body_len;
};

/* Parses the record at buf[*pos] and advances *pos past it, checking that it and every field
 * in it are well formed. Returns 0, or -1 with one sentence in err (nothing advanced). */
int state_record_parse(const uint8_t *buf, size_t len, size_t *pos, struct state_record *rec,
		       char *err, size_t err_len);

/* state_record_parse of the record at buf[*pos], which must be named `name` (records of a saved
 * VM come in a fixed order): another name is refused with a sentence naming both. */
int state_record_next(const uint8_t *buf, size_t len, size_t *pos, const char *name,
		      struct state_record *rec, char *err, size_t err_len);

/* What a reader can load: its name for the record, its own version, the oldest writer version
 * it loads, and every key it knows (NULL-terminated). */
struct state_reader_spec {
	const char *name;
	uint32_t version, oldest_writer;
	const char *const *keys;
};

/* Whether `spec` can load `rec`: the name, both version bounds, and no essential field outside
 * spec->keys. Returns 0, or -1 with one sentence in err. */
int state_record_check(const struct state_record *rec, const struct state_reader_spec *spec,
		       char *err, size_t err_len);

/* Writes one sentence (printf-style) into err: how every function of the saved-state code
 * reports what is wrong. */
void state_set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A field's value. Return 0, -1 when the record has no such key, -2 when it has another kind
 * (or, for u64, another size). */
int state_get_u64(const struct state_record *rec, const char *key, uint64_t *value);
int state_get_bytes(const struct state_record *rec, const char *key, const void **data,
		    uint32_t *len);

#endif
