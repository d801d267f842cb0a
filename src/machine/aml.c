#include "machine/aml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes (ACPI 6.5, 20.3 and 20.2). */
#define AML_ZERO_OP	   0x00
#define AML_ONE_OP	   0x01
#define AML_NAME_OP	   0x08
#define AML_BYTE_PREFIX	   0x0a
#define AML_WORD_PREFIX	   0x0b
#define AML_DWORD_PREFIX   0x0c
#define AML_STRING_PREFIX  0x0d
#define AML_QWORD_PREFIX   0x0e
#define AML_SCOPE_OP	   0x10
#define AML_BUFFER_OP	   0x11
#define AML_PACKAGE_OP	   0x12
#define AML_VAR_PACKAGE_OP 0x13
#define AML_METHOD_OP	   0x14
#define AML_DUAL_NAME	   0x2e
#define AML_MULTI_NAME	   0x2f
#define AML_EXT_OP_PREFIX  0x5b
#define AML_OP_REGION_OP   0x80 /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP	   0x81 /* after AML_EXT_OP_PREFIX */
#define AML_DEVICE_OP	   0x82 /* after AML_EXT_OP_PREFIX */
#define AML_LOCAL0_OP	   0x60
#define AML_ARG0_OP	   0x68
#define AML_STORE_OP	   0x70
#define AML_AND_OP	   0x7b
#define AML_NOTIFY_OP	   0x86
#define AML_IF_OP	   0xa0
#define AML_ROOT_CHAR	   0x5c
#define AML_PARENT_CHAR	   0x5e
#define AML_RETURN_OP	   0xa4

/* Resource descriptor tags (ACPI 6.5, 6.4). */
#define AML_RES_IRQ_NOFLAGS  0x22
#define AML_RES_IO	     0x47
#define AML_RES_END_TAG	     0x79
#define AML_RES_MEMORY32_FIX 0x86
#define AML_RES_DWORD_SPACE  0x87
#define AML_RES_WORD_SPACE   0x88
#define AML_RES_QWORD_SPACE  0x8a
#define AML_RES_EXT_IRQ	     0x89

#define AML_PKG_LENGTH_MAX 0x0fffffff /* 28 bits */
#define AML_FIELD_BYTE_ACC 0x01	      /* FieldFlags: ByteAcc, NoLock, Preserve */
#define AML_MAX_NAME_SEGS  255

static bool failed(const struct aml_builder *b)
{
	return b->error[0] != '\0';
}

static void vfail(struct aml_builder *b, const char *fmt, va_list ap)
{
	if (failed(b))
		return; /* keep the first error: later ones are usually its consequences */
	vsnprintf(b->error, sizeof(b->error), fmt, ap);
	if (!failed(b))
		snprintf(b->error, sizeof(b->error), "AML error");
}

void aml_fail(struct aml_builder *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(b, fmt, ap);
	va_end(ap);
}

void aml_init(struct aml_builder *b)
{
	memset(b, 0, sizeof(*b));
}

void aml_free(struct aml_builder *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

const char *aml_error(const struct aml_builder *b)
{
	if (failed(b))
		return b->error;
	if (b->depth)
		return "AML container left open (missing end call)";
	return NULL;
}

static bool reserve(struct aml_builder *b, size_t extra)
{
	if (failed(b))
		return false;
	if (extra > SIZE_MAX / 2 - b->len) {
		aml_fail(b, "AML too large");
		return false;
	}
	if (b->len + extra <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	uint8_t *data = realloc(b->data, cap);
	if (!data) {
		aml_fail(b, "out of memory building AML");
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

static void put_bytes(struct aml_builder *b, const void *bytes, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->data + b->len, bytes, len);
	b->len += len;
}

static void put_byte(struct aml_builder *b, uint8_t byte)
{
	put_bytes(b, &byte, 1);
}

/* Little-endian, `size` bytes. */
static void put_le(struct aml_builder *b, uint64_t value, unsigned size)
{
	uint8_t bytes[8];
	for (unsigned i = 0; i < size; i++)
		bytes[i] = (uint8_t)(value >> (8 * i));
	put_bytes(b, bytes, size);
}

/* Inserts `len` bytes at offset `at`, shifting what follows: how lengths measured after the
 * fact get in front of the content they measure. */
static void insert_bytes(struct aml_builder *b, size_t at, const uint8_t *bytes, size_t len)
{
	if (!reserve(b, len))
		return;
	memmove(b->data + at + len, b->data + at, b->len - at);
	memcpy(b->data + at, bytes, len);
	b->len += len;
}

/* PkgLength counts itself, so its size depends on its value; returns its size (1..4) or 0. */
static size_t encode_pkg_length(size_t body_len, uint8_t out[4])
{
	static const size_t limits[4] = {0x3f, 0xfff, 0xfffff, AML_PKG_LENGTH_MAX};
	for (size_t n = 1; n <= 4; n++) {
		if (body_len > limits[n - 1] - n)
			continue;
		size_t total = body_len + n;
		if (n == 1) {
			out[0] = (uint8_t)total;
			return 1;
		}
		out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (size_t i = 1; i < n; i++)
			out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

/* The shortest integer encoding; returns its size (1..9). */
static size_t encode_integer(uint64_t value, uint8_t out[9])
{
	if (value <= 1) {
		out[0] = value ? AML_ONE_OP : AML_ZERO_OP;
		return 1;
	}
	uint8_t prefix;
	size_t size;
	if (value <= UINT8_MAX) {
		prefix = AML_BYTE_PREFIX;
		size = 1;
	} else if (value <= UINT16_MAX) {
		prefix = AML_WORD_PREFIX;
		size = 2;
	} else if (value <= UINT32_MAX) {
		prefix = AML_DWORD_PREFIX;
		size = 4;
	} else {
		prefix = AML_QWORD_PREFIX;
		size = 8;
	}
	out[0] = prefix;
	for (size_t i = 0; i < size; i++)
		out[1 + i] = (uint8_t)(value >> (8 * i));
	return 1 + size;
}

static struct aml_frame *innermost(struct aml_builder *b)
{
	return b->depth ? &b->frames[b->depth - 1] : NULL;
}

/* AML terms other than resource descriptors cannot go inside a resource template. */
static bool term_allowed(struct aml_builder *b, const char *what)
{
	if (failed(b))
		return false;
	struct aml_frame *f = innermost(b);
	if (f && f->kind == AML_FRAME_RESOURCES) {
		aml_fail(b, "%s inside a resource template", what);
		return false;
	}
	return true;
}

static bool descriptor_allowed(struct aml_builder *b, const char *what)
{
	if (failed(b))
		return false;
	struct aml_frame *f = innermost(b);
	if (!f || f->kind != AML_FRAME_RESOURCES) {
		aml_fail(b, "%s outside a resource template", what);
		return false;
	}
	return true;
}

static void count_element(struct aml_builder *b)
{
	struct aml_frame *f = innermost(b);
	if (f)
		f->nr_elements++;
}

static bool is_lead_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_lead_name_char(c) || (c >= '0' && c <= '9');
}

/* Checks the segments of `p` ("ABCD.EF.G"); returns how many there are, or -1. */
static int count_name_segs(const char *p)
{
	if (*p == '\0')
		return 0;
	int segs = 0;
	for (;;) {
		size_t n = 0;
		while (p[n] != '\0' && p[n] != '.') {
			if (n >= 4 || !(n == 0 ? is_lead_name_char(p[n]) : is_name_char(p[n])))
				return -1;
			n++;
		}
		if (n == 0 || ++segs > AML_MAX_NAME_SEGS)
			return -1;
		if (p[n] == '\0')
			return segs;
		p += n + 1;
	}
}

static void put_name_segs(struct aml_builder *b, const char *p)
{
	while (*p) {
		char seg[4] = {'_', '_', '_', '_'}; /* short segments are padded with '_' */
		for (size_t n = 0; *p && *p != '.'; n++)
			seg[n] = *p++;
		put_bytes(b, seg, 4);
		if (*p == '.')
			p++;
	}
}

static void put_name_string(struct aml_builder *b, const char *path)
{
	if (failed(b))
		return;
	const char *p = path;
	bool prefixed = false;
	if (*p == '\\') {
		prefixed = true;
		p++;
	} else {
		while (*p == '^') {
			prefixed = true;
			p++;
		}
	}
	int segs = count_name_segs(p);
	if (segs < 0 || (segs == 0 && !prefixed)) {
		aml_fail(b, "invalid AML name \"%s\"", path);
		return;
	}
	put_bytes(b, path, (size_t)(p - path));
	if (segs == 0) {
		put_byte(b, AML_ZERO_OP); /* NullName: "\" alone names the root */
	} else if (segs == 2) {
		put_byte(b, AML_DUAL_NAME);
	} else if (segs > 2) {
		put_byte(b, AML_MULTI_NAME);
		put_byte(b, (uint8_t)segs);
	}
	put_name_segs(b, p);
}

static void open_frame(struct aml_builder *b, enum aml_frame_kind kind)
{
	if (failed(b))
		return;
	if (b->depth >= AML_MAX_DEPTH) {
		aml_fail(b, "AML nested deeper than %d", AML_MAX_DEPTH);
		return;
	}
	b->frames[b->depth++] = (struct aml_frame){.kind = kind, .body_start = b->len};
}

/* Pops the innermost frame if it is of `kind`; false (and failed) otherwise. */
static bool close_frame(struct aml_builder *b, enum aml_frame_kind kind, struct aml_frame *out)
{
	if (failed(b))
		return false;
	struct aml_frame *f = innermost(b);
	if (!f || f->kind != kind) {
		aml_fail(b, "AML end call does not match the open container");
		return false;
	}
	*out = *f;
	b->depth--;
	return true;
}

/* Inserts PkgLength + `head` at the frame start, measuring `head` and the body after it. */
static void insert_pkg_header(struct aml_builder *b, size_t at, const uint8_t *head,
			      size_t head_len)
{
	uint8_t prefix[4 + 9];
	size_t n = encode_pkg_length(b->len - at + head_len, prefix);
	if (n == 0) {
		aml_fail(b, "AML object larger than a PkgLength can describe");
		return;
	}
	if (head_len)
		memcpy(prefix + n, head, head_len);
	insert_bytes(b, at, prefix, n + head_len);
}

static void end_plain(struct aml_builder *b, enum aml_frame_kind kind)
{
	struct aml_frame f;
	if (close_frame(b, kind, &f))
		insert_pkg_header(b, f.body_start, NULL, 0);
}

void aml_scope_begin(struct aml_builder *b, const char *path)
{
	if (!term_allowed(b, "Scope"))
		return;
	put_byte(b, AML_SCOPE_OP);
	open_frame(b, AML_FRAME_SCOPE);
	put_name_string(b, path);
}

void aml_scope_end(struct aml_builder *b)
{
	end_plain(b, AML_FRAME_SCOPE);
}

void aml_device_begin(struct aml_builder *b, const char *name)
{
	if (!term_allowed(b, "Device"))
		return;
	put_byte(b, AML_EXT_OP_PREFIX);
	put_byte(b, AML_DEVICE_OP);
	open_frame(b, AML_FRAME_DEVICE);
	put_name_string(b, name);
}

void aml_device_end(struct aml_builder *b)
{
	end_plain(b, AML_FRAME_DEVICE);
}

void aml_method_begin(struct aml_builder *b, const char *name, unsigned nr_args, bool serialized)
{
	if (!term_allowed(b, "Method"))
		return;
	if (nr_args > 7) {
		aml_fail(b, "method %s: at most 7 arguments", name);
		return;
	}
	put_byte(b, AML_METHOD_OP);
	open_frame(b, AML_FRAME_METHOD);
	put_name_string(b, name);
	put_byte(b, (uint8_t)(nr_args | (serialized ? 0x08 : 0)));
}

void aml_method_end(struct aml_builder *b)
{
	end_plain(b, AML_FRAME_METHOD);
}

/* ---- code inside methods ---- */

/* Operators and their operands only make sense in a method's body (or in an If inside one). */
static bool code_allowed(struct aml_builder *b, const char *what)
{
	if (failed(b))
		return false;
	for (unsigned i = b->depth; i-- > 0;) {
		if (b->frames[i].kind == AML_FRAME_METHOD)
			return true;
		if (b->frames[i].kind != AML_FRAME_IF)
			break;
	}
	aml_fail(b, "%s outside a method", what);
	return false;
}

static void put_code_byte(struct aml_builder *b, uint8_t op, const char *what)
{
	if (code_allowed(b, what))
		put_byte(b, op);
}

void aml_local(struct aml_builder *b, unsigned n)
{
	if (n > 7)
		aml_fail(b, "Local%u: there are Local0..Local7", n);
	else
		put_code_byte(b, (uint8_t)(AML_LOCAL0_OP + n), "LocalN");
}

void aml_arg(struct aml_builder *b, unsigned n)
{
	if (n > 6)
		aml_fail(b, "Arg%u: there are Arg0..Arg6", n);
	else
		put_code_byte(b, (uint8_t)(AML_ARG0_OP + n), "ArgN");
}

void aml_null_target(struct aml_builder *b)
{
	put_code_byte(b, AML_ZERO_OP, "a target");
}

void aml_store(struct aml_builder *b)
{
	put_code_byte(b, AML_STORE_OP, "Store");
}

void aml_and(struct aml_builder *b)
{
	put_code_byte(b, AML_AND_OP, "And");
}

void aml_notify(struct aml_builder *b)
{
	put_code_byte(b, AML_NOTIFY_OP, "Notify");
}

void aml_if_begin(struct aml_builder *b)
{
	if (!code_allowed(b, "If"))
		return;
	put_byte(b, AML_IF_OP);
	open_frame(b, AML_FRAME_IF);
}

void aml_if_end(struct aml_builder *b)
{
	end_plain(b, AML_FRAME_IF);
}

void aml_if_local_has(struct aml_builder *b, unsigned local, uint64_t bits)
{
	aml_if_begin(b);
	aml_and(b);
	aml_local(b, local);
	aml_integer(b, bits);
	aml_null_target(b);
}

void aml_if_name_has(struct aml_builder *b, const char *name, uint64_t bits)
{
	aml_if_begin(b);
	aml_and(b);
	aml_name_ref(b, name);
	aml_integer(b, bits);
	aml_null_target(b);
}

void aml_store_integer(struct aml_builder *b, uint64_t value, const char *name)
{
	aml_store(b);
	aml_integer(b, value);
	aml_name_ref(b, name);
}

void aml_take_event(struct aml_builder *b, unsigned local, uint64_t bit, const char *field,
		    const char *target, uint64_t code)
{
	aml_if_local_has(b, local, bit);
	aml_store_integer(b, bit, field);
	aml_notify(b);
	aml_name_ref(b, target);
	aml_integer(b, code);
	aml_if_end(b);
}

/* ---- operation regions and fields ---- */

void aml_operation_region(struct aml_builder *b, const char *name, enum aml_region_space space,
			  uint64_t offset, uint64_t len)
{
	if (!term_allowed(b, "OperationRegion"))
		return;
	put_byte(b, AML_EXT_OP_PREFIX);
	put_byte(b, AML_OP_REGION_OP);
	put_name_string(b, name);
	put_byte(b, (uint8_t)space);
	uint8_t bytes[9];
	put_bytes(b, bytes, encode_integer(offset, bytes));
	put_bytes(b, bytes, encode_integer(len, bytes));
}

void aml_field_begin(struct aml_builder *b, const char *region)
{
	if (!term_allowed(b, "Field"))
		return;
	put_byte(b, AML_EXT_OP_PREFIX);
	put_byte(b, AML_FIELD_OP);
	open_frame(b, AML_FRAME_FIELD);
	put_name_string(b, region);
	put_byte(b, AML_FIELD_BYTE_ACC);
}

/* NamedField: a 4-character NameSeg, then the unit's width in bits as a PkgLength. */
void aml_field_unit(struct aml_builder *b, const char *name, unsigned bits)
{
	if (failed(b))
		return;
	struct aml_frame *f = innermost(b);
	if (!f || f->kind != AML_FRAME_FIELD) {
		aml_fail(b, "field unit %s outside a Field", name);
		return;
	}
	if (count_name_segs(name) != 1) {
		aml_fail(b, "field unit %s: a single name segment", name);
		return;
	}
	/* The width has PkgLength's encoding but does not count its own bytes. */
	if (bits == 0 || bits > 0xfff) {
		aml_fail(b, "field unit %s: %u bits (1..4095)", name, bits);
		return;
	}
	put_name_segs(b, name);
	if (bits <= 0x3f) {
		put_byte(b, (uint8_t)bits);
	} else {
		put_byte(b, (uint8_t)(0x40 | (bits & 0x0f)));
		put_byte(b, (uint8_t)(bits >> 4));
	}
}

void aml_field_end(struct aml_builder *b)
{
	end_plain(b, AML_FRAME_FIELD);
}

void aml_name_decl(struct aml_builder *b, const char *name)
{
	if (!term_allowed(b, "Name"))
		return;
	put_byte(b, AML_NAME_OP);
	put_name_string(b, name);
}

void aml_return(struct aml_builder *b)
{
	if (term_allowed(b, "Return"))
		put_byte(b, AML_RETURN_OP);
}

void aml_integer(struct aml_builder *b, uint64_t value)
{
	if (!term_allowed(b, "Integer"))
		return;
	uint8_t bytes[9];
	put_bytes(b, bytes, encode_integer(value, bytes));
	count_element(b);
}

void aml_string(struct aml_builder *b, const char *s)
{
	if (!term_allowed(b, "String"))
		return;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			aml_fail(b, "AML strings are ASCII only");
			return;
		}
	}
	put_byte(b, AML_STRING_PREFIX);
	put_bytes(b, s, strlen(s) + 1);
	count_element(b);
}

void aml_buffer(struct aml_builder *b, const void *bytes, size_t len)
{
	if (!term_allowed(b, "Buffer"))
		return;
	put_byte(b, AML_BUFFER_OP);
	size_t at = b->len;
	if (len)
		put_bytes(b, bytes, len);
	uint8_t size[9];
	insert_pkg_header(b, at, size, encode_integer(len, size));
	count_element(b);
}

bool aml_eisaid_value(const char *id, uint32_t *value)
{
	if (strlen(id) != 7)
		return false;
	uint32_t v = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		uint32_t digit;
		if (c >= '0' && c <= '9')
			digit = (uint32_t)(c - '0');
		else if (c >= 'A' && c <= 'F')
			digit = (uint32_t)(c - 'A' + 10);
		else
			return false;
		v |= digit << (4 * (6 - i));
	}
	/* The spec stores the compressed ID most significant byte first. */
	*value = __builtin_bswap32(v);
	return true;
}

void aml_eisaid(struct aml_builder *b, const char *id)
{
	uint32_t value;
	if (!term_allowed(b, "EISAID"))
		return;
	if (!aml_eisaid_value(id, &value)) {
		aml_fail(b, "invalid EISA ID \"%s\"", id);
		return;
	}
	/* Always a DWord, even when a shorter encoding would do: that is what the OS expects
	 * for _HID/_CID, and what disassemblers recognize as EisaId(). */
	put_byte(b, AML_DWORD_PREFIX);
	put_le(b, value, 4);
	count_element(b);
}

void aml_name_ref(struct aml_builder *b, const char *path)
{
	if (!term_allowed(b, "name reference"))
		return;
	put_name_string(b, path);
	count_element(b);
}

void aml_package_begin(struct aml_builder *b)
{
	if (!term_allowed(b, "Package"))
		return;
	count_element(b); /* of the enclosing package, if any */
	put_byte(b, AML_PACKAGE_OP);
	open_frame(b, AML_FRAME_PACKAGE);
}

void aml_package_end(struct aml_builder *b)
{
	struct aml_frame f;
	if (!close_frame(b, AML_FRAME_PACKAGE, &f))
		return;
	uint8_t count[9];
	size_t count_len;
	if (f.nr_elements <= UINT8_MAX) {
		count[0] = (uint8_t)f.nr_elements;
		count_len = 1;
	} else {
		/* More than 255 elements need VarPackage, whose count is an integer term. */
		b->data[f.body_start - 1] = AML_VAR_PACKAGE_OP;
		count_len = encode_integer(f.nr_elements, count);
	}
	insert_pkg_header(b, f.body_start, count, count_len);
}

void aml_name_integer(struct aml_builder *b, const char *name, uint64_t value)
{
	aml_name_decl(b, name);
	aml_integer(b, value);
}

void aml_name_string(struct aml_builder *b, const char *name, const char *s)
{
	aml_name_decl(b, name);
	aml_string(b, s);
}

void aml_name_eisaid(struct aml_builder *b, const char *name, const char *id)
{
	aml_name_decl(b, name);
	aml_eisaid(b, id);
}

void aml_resources_begin(struct aml_builder *b)
{
	if (!term_allowed(b, "ResourceTemplate"))
		return;
	count_element(b);
	put_byte(b, AML_BUFFER_OP);
	open_frame(b, AML_FRAME_RESOURCES);
}

void aml_resources_end(struct aml_builder *b)
{
	if (!descriptor_allowed(b, "EndTag"))
		return;
	/* Checksum 0: "the resource data is treated as if the checksum is correct". */
	const uint8_t end_tag[2] = {AML_RES_END_TAG, 0};
	put_bytes(b, end_tag, sizeof(end_tag));
	struct aml_frame f;
	if (!close_frame(b, AML_FRAME_RESOURCES, &f))
		return;
	uint8_t size[9];
	insert_pkg_header(b, f.body_start, size, encode_integer(b->len - f.body_start, size));
}

void aml_res_io(struct aml_builder *b, uint16_t base, uint8_t len)
{
	if (!descriptor_allowed(b, "IO"))
		return;
	if (len == 0 || base + len - 1 > UINT16_MAX) {
		aml_fail(b, "IO range 0x%x+%u does not fit the 16-bit port space", base, len);
		return;
	}
	put_byte(b, AML_RES_IO);
	put_byte(b, 1); /* decodes all 16 address bits */
	put_le(b, base, 2);
	put_le(b, base, 2);
	put_byte(b, 1); /* alignment */
	put_byte(b, len);
}

void aml_res_irq_noflags(struct aml_builder *b, unsigned irq)
{
	if (!descriptor_allowed(b, "IRQNoFlags"))
		return;
	if (irq > 15) {
		aml_fail(b, "IRQNoFlags: ISA IRQ %u out of range 0..15", irq);
		return;
	}
	put_byte(b, AML_RES_IRQ_NOFLAGS);
	put_le(b, 1u << irq, 2);
}

void aml_res_memory32_fixed(struct aml_builder *b, uint32_t base, uint32_t len)
{
	if (!descriptor_allowed(b, "Memory32Fixed"))
		return;
	if (len == 0 || (uint64_t)base + len - 1 > UINT32_MAX) {
		aml_fail(b, "Memory32Fixed 0x%x+0x%x does not fit 32 bits", base, len);
		return;
	}
	put_byte(b, AML_RES_MEMORY32_FIX);
	put_le(b, 9, 2); /* length of the rest of the descriptor */
	put_byte(b, 1);	 /* read-write */
	put_le(b, base, 4);
	put_le(b, len, 4);
}

void aml_res_interrupt_level_high(struct aml_builder *b, uint32_t gsi)
{
	if (!descriptor_allowed(b, "Interrupt"))
		return;
	put_byte(b, AML_RES_EXT_IRQ);
	put_le(b, 6, 2);   /* flags, count, one 32-bit interrupt number */
	put_byte(b, 0x01); /* consumer; level (bit 1 clear), active high (bit 2 clear), exclusive */
	put_byte(b, 1);
	put_le(b, gsi, 4);
}

/* Word, DWord and QWord descriptors differ only in tag and field width. */
static void put_address_space(struct aml_builder *b, uint8_t tag, unsigned width,
			      const struct aml_address_range *r)
{
	if (!descriptor_allowed(b, "address space descriptor"))
		return;
	uint64_t limit = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;
	uint64_t len = r->max - r->min + 1;
	if (r->min > r->max || r->max > limit || len == 0 || len > limit) {
		aml_fail(b, "address window 0x%llx..0x%llx does not fit a %u-bit descriptor",
			 (unsigned long long)r->min, (unsigned long long)r->max, 8 * width);
		return;
	}
	put_byte(b, tag);
	put_le(b, 3 + 5 * width, 2); /* type, flags, and five fields of `width` bytes */
	put_byte(b, (uint8_t)r->type);
	put_byte(b, r->general_flags);
	put_byte(b, r->type_flags);
	put_le(b, 0, width); /* granularity: 0 for a fixed window */
	put_le(b, r->min, width);
	put_le(b, r->max, width);
	put_le(b, 0, width); /* translation offset */
	put_le(b, len, width);
}

void aml_res_word_space(struct aml_builder *b, const struct aml_address_range *r)
{
	put_address_space(b, AML_RES_WORD_SPACE, 2, r);
}

void aml_res_dword_space(struct aml_builder *b, const struct aml_address_range *r)
{
	put_address_space(b, AML_RES_DWORD_SPACE, 4, r);
}

void aml_res_qword_space(struct aml_builder *b, const struct aml_address_range *r)
{
	put_address_space(b, AML_RES_QWORD_SPACE, 8, r);
}

#define AML_BRIDGE_WINDOW (AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED)

void aml_res_word_bus_number(struct aml_builder *b, uint16_t min, uint16_t max)
{
	const struct aml_address_range r = {.type = AML_SPACE_BUS_NUMBER,
					    .general_flags = AML_BRIDGE_WINDOW,
					    .min = min,
					    .max = max};
	aml_res_word_space(b, &r);
}

void aml_res_word_io(struct aml_builder *b, uint16_t min, uint16_t max)
{
	const struct aml_address_range r = {.type = AML_SPACE_IO,
					    .general_flags = AML_BRIDGE_WINDOW,
					    .type_flags = AML_IO_ENTIRE_RANGE,
					    .min = min,
					    .max = max};
	aml_res_word_space(b, &r);
}

void aml_res_dword_memory(struct aml_builder *b, uint32_t min, uint32_t max)
{
	const struct aml_address_range r = {.type = AML_SPACE_MEMORY,
					    .general_flags = AML_BRIDGE_WINDOW,
					    .type_flags = AML_MEM_READ_WRITE,
					    .min = min,
					    .max = max};
	aml_res_dword_space(b, &r);
}

void aml_res_qword_memory(struct aml_builder *b, uint64_t min, uint64_t max)
{
	const struct aml_address_range r = {.type = AML_SPACE_MEMORY,
					    .general_flags = AML_BRIDGE_WINDOW,
					    .type_flags = AML_MEM_READ_WRITE,
					    .min = min,
					    .max = max};
	aml_res_qword_space(b, &r);
}
