/* Versioned state records (see state_record.h for the format and the compatibility rule). */
#include "lib/state_record.h"

#include "lib/little_endian.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 255

/* ---- writing ---- */

void state_writer_init(struct state_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void state_writer_free(struct state_writer *w)
{
	free(w->buf);
	state_writer_init(w);
}

bool state_writer_failed(const struct state_writer *w)
{
	return w->failed || w->body_at != 0;
}

static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static void put(struct state_writer *w, const void *data, size_t n)
{
	if (w->failed)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *buf = realloc(w->buf, cap);
		if (!buf) {
			w->failed = true;
			return;
		}
		w->buf = buf;
		w->cap = cap;
	}
	if (n) /* an empty field may come with no buffer at all */
		memcpy(w->buf + w->len, data, n);
	w->len += n;
}

static void put_u32(struct state_writer *w, uint32_t v)
{
	uint8_t b[4];
	le_put(b, v, sizeof(b));
	put(w, b, sizeof(b));
}

static void put_name(struct state_writer *w, const char *name)
{
	size_t len = strlen(name);
	if (!name_ok(name, len)) {
		w->failed = true;
		return;
	}
	uint8_t n = (uint8_t)len;
	put(w, &n, 1);
	put(w, name, len);
}

void state_record_begin(struct state_writer *w, const char *name, uint32_t version,
			uint32_t lowest_reader)
{
	if (w->body_at != 0)
		w->failed = true; /* the previous record was never ended */
	put_name(w, name);
	put_u32(w, version);
	put_u32(w, lowest_reader);
	if (!w->failed)
		w->body_at = w->len;
	put_u32(w, 0); /* body_len, filled in by state_record_end */
}

static void put_field(struct state_writer *w, const char *key, unsigned kind, const void *value,
		      uint32_t len)
{
	if (w->body_at == 0)
		w->failed = true;
	put_name(w, key);
	uint8_t k = (uint8_t)kind;
	put(w, &k, 1);
	put_u32(w, len);
	put(w, value, len);
}

void state_put_u64(struct state_writer *w, const char *key, uint64_t value, unsigned flags)
{
	uint8_t b[8];
	le_put(b, value, sizeof(b));
	put_field(w, key, STATE_U64 | (flags & STATE_ESSENTIAL), b, sizeof(b));
}

void state_put_bytes(struct state_writer *w, const char *key, const void *data, uint32_t len,
		     unsigned flags)
{
	put_field(w, key, STATE_BYTES | (flags & STATE_ESSENTIAL), data, len);
}

void state_record_end(struct state_writer *w)
{
	if (w->body_at == 0) {
		w->failed = true;
		return;
	}
	size_t body_len = w->len - w->body_at - 4;
	if (!w->failed && body_len <= UINT32_MAX)
		le_put(w->buf + w->body_at, body_len, 4);
	else
		w->failed = true;
	w->body_at = 0;
}

/* ---- reading ---- */

void state_set_error(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* A name (u8 length + bytes) at p[*at] within p[0..len); false when malformed or cut. */
static bool take_name(const uint8_t *p, size_t len, size_t *at, const uint8_t **name,
		      size_t *name_len)
{
	if (*at >= len)
		return false;
	size_t n = p[*at];
	if (n > len - *at - 1 || !name_ok((const char *)p + *at + 1, n))
		return false;
	*name = p + *at + 1;
	*name_len = n;
	*at += 1 + n;
	return true;
}

struct field {
	const uint8_t *key;
	size_t key_len;
	unsigned kind;
	const uint8_t *value;
	uint32_t len;
};

/* The field at body[*at]; false when malformed. */
static bool take_field(const uint8_t *body, size_t len, size_t *at, struct field *f)
{
	if (!take_name(body, len, at, &f->key, &f->key_len) || len - *at < 5)
		return false;
	f->kind = body[*at];
	f->len = (uint32_t)le_get(body + *at + 1, 4);
	*at += 5;
	unsigned type = f->kind & ~(unsigned)STATE_ESSENTIAL;
	if (f->len > len - *at || (type != STATE_U64 && type != STATE_BYTES) ||
	    (type == STATE_U64 && f->len != 8))
		return false;
	f->value = body + *at;
	*at += f->len;
	return true;
}

int state_record_parse(const uint8_t *buf, size_t len, size_t *pos, struct state_record *rec,
		       char *err, size_t err_len)
{
	size_t at = *pos;
	const uint8_t *name;
	size_t name_len;
	if (at > len || !take_name(buf, len, &at, &name, &name_len)) {
		state_set_error(err, err_len,
				"a state record at byte %zu has no valid name (truncated?)", *pos);
		return -1;
	}
	memcpy(rec->name, name, name_len);
	rec->name[name_len] = '\0';
	if (len - at < 12) {
		state_set_error(err, err_len, "state record \"%s\" is truncated", rec->name);
		return -1;
	}
	rec->version = (uint32_t)le_get(buf + at, 4);
	rec->lowest_reader = (uint32_t)le_get(buf + at + 4, 4);
	rec->body_len = (uint32_t)le_get(buf + at + 8, 4);
	at += 12;
	if (rec->body_len > len - at) {
		state_set_error(err, err_len,
				"state record \"%s\" is truncated (%u bytes announced, %zu left)",
				rec->name, rec->body_len, len - at);
		return -1;
	}
	rec->body = buf + at;
	struct field f;
	for (size_t i = 0; i < rec->body_len;)
		if (!take_field(rec->body, rec->body_len, &i, &f)) {
			state_set_error(err, err_len,
					"state record \"%s\" has a malformed field at byte %zu",
					rec->name, i);
			return -1;
		}
	*pos = at + rec->body_len;
	return 0;
}

static bool key_known(const struct state_reader_spec *spec, const struct field *f)
{
	for (const char *const *k = spec->keys; k && *k; k++)
		if (strlen(*k) == f->key_len && memcmp(*k, f->key, f->key_len) == 0)
			return true;
	return false;
}

int state_record_check(const struct state_record *rec, const struct state_reader_spec *spec,
		       char *err, size_t err_len)
{
	if (strcmp(rec->name, spec->name) != 0) {
		state_set_error(err, err_len, "expected state record \"%s\", found \"%s\"",
				spec->name, rec->name);
		return -1;
	}
	if (rec->lowest_reader > spec->version) {
		state_set_error(
		    err, err_len,
		    "state record \"%s\" version %u needs a reader of version %u or later; this "
		    "gureum reads version %u (restore with a newer gureum)",
		    rec->name, rec->version, rec->lowest_reader, spec->version);
		return -1;
	}
	if (rec->version < spec->oldest_writer) {
		state_set_error(
		    err, err_len,
		    "state record \"%s\" version %u is older than this gureum loads (%u or "
		    "later)",
		    rec->name, rec->version, spec->oldest_writer);
		return -1;
	}
	struct field f;
	for (size_t i = 0; i < rec->body_len && take_field(rec->body, rec->body_len, &i, &f);)
		if ((f.kind & STATE_ESSENTIAL) && !key_known(spec, &f)) {
			state_set_error(
			    err, err_len,
			    "state record \"%s\" holds state this gureum cannot restore (field "
			    "\"%.*s\"); restore with a newer gureum",
			    rec->name, (int)f.key_len, (const char *)f.key);
			return -1;
		}
	return 0;
}

static bool find_field(const struct state_record *rec, const char *key, struct field *out)
{
	size_t key_len = strlen(key);
	struct field f;
	for (size_t i = 0; i < rec->body_len && take_field(rec->body, rec->body_len, &i, &f);)
		if (f.key_len == key_len && memcmp(f.key, key, key_len) == 0) {
			*out = f;
			return true;
		}
	return false;
}

int state_get_u64(const struct state_record *rec, const char *key, uint64_t *value)
{
	struct field f;
	if (!find_field(rec, key, &f))
		return -1;
	if ((f.kind & ~(unsigned)STATE_ESSENTIAL) != STATE_U64)
		return -2;
	*value = le_get(f.value, 8);
	return 0;
}

int state_get_bytes(const struct state_record *rec, const char *key, const void **data,
		    uint32_t *len)
{
	struct field f;
	if (!find_field(rec, key, &f))
		return -1;
	if ((f.kind & ~(unsigned)STATE_ESSENTIAL) != STATE_BYTES)
		return -2;
	*data = f.value;
	*len = f.len;
	return 0;
}

int state_record_next(const uint8_t *buf, size_t len, size_t *pos, const char *name,
		      struct state_record *rec, char *err, size_t err_len)
{
	size_t at = *pos;
	if (at >= len) {
		state_set_error(err, err_len,
				"the saved state ends where a \"%s\" record should be", name);
		return -1;
	}
	if (state_record_parse(buf, len, &at, rec, err, err_len) < 0)
		return -1;
	if (strcmp(rec->name, name) != 0) {
		state_set_error(err, err_len,
				"the saved state has a \"%s\" record where this VM expects \"%s\" "
				"(was it saved from another configuration?)",
				rec->name, name);
		return -1;
	}
	*pos = at;
	return 0;
}
