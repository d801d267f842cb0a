/* A small builder for ACPI Machine Language (AML) byte code, enough to write a DSDT: scopes,
 * devices, methods, names, packages, integers, strings, buffers, EISA IDs and resource templates.
 *
 * Usage: aml_init(), then emit terms in source order; "begin" calls open a container (scope,
 * device, method, package, resource template) that the matching "end" call closes. The builder
 * measures each container when it closes and inserts its PkgLength (and, for packages and
 * buffers, the element or byte count) so callers never compute lengths by hand.
 *
 * Errors are sticky: an invalid name, a value that does not fit its encoding, unbalanced
 * begin/end or an allocation failure marks the builder failed; later calls do nothing and
 * aml_error() says what went wrong first. Check it once when done. */
#ifndef GUREUM_MACHINE_AML_H
#define GUREUM_MACHINE_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

enum aml_frame_kind {
	AML_FRAME_SCOPE,
	AML_FRAME_DEVICE,
	AML_FRAME_METHOD,
	AML_FRAME_PACKAGE,
	AML_FRAME_RESOURCES,
	AML_FRAME_IF,
	AML_FRAME_FIELD,
};

struct aml_frame {
	enum aml_frame_kind kind;
	size_t body_start;    /* offset where the PkgLength (and counts) will be inserted */
	unsigned nr_elements; /* direct data objects emitted inside (package element count) */
};

struct aml_builder {
	uint8_t *data;
	size_t len;
	size_t cap;
	struct aml_frame frames[AML_MAX_DEPTH];
	unsigned depth;
	char error[128]; /* empty while the builder is healthy */
};

void aml_init(struct aml_builder *b);
void aml_free(struct aml_builder *b);

/* Marks the builder failed (if it is not already) with a caller's own message. */
void aml_fail(struct aml_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* NULL while healthy; otherwise the first error. Also fails if a container is still open. */
const char *aml_error(const struct aml_builder *b);

/* Named containers. `path` is an ASL name path: "\\_SB", "PCI0", "^FOO", "\\_SB.PCI0". */
void aml_scope_begin(struct aml_builder *b, const char *path);
void aml_scope_end(struct aml_builder *b);
void aml_device_begin(struct aml_builder *b, const char *name);
void aml_device_end(struct aml_builder *b);
void aml_method_begin(struct aml_builder *b, const char *name, unsigned nr_args, bool serialized);
void aml_method_end(struct aml_builder *b);

/* Name(name, <next data object>): emit the value right after this call. */
void aml_name_decl(struct aml_builder *b, const char *name);
/* Return(<next data object>), inside a method. */
void aml_return(struct aml_builder *b);

/* Data objects. Each counts as one element of an enclosing package. */
void aml_integer(struct aml_builder *b, uint64_t value);
void aml_string(struct aml_builder *b, const char *s);
void aml_buffer(struct aml_builder *b, const void *bytes, size_t len);
/* A compressed EISA ID such as "PNP0A08" (three letters, four hex digits), as an integer. */
void aml_eisaid(struct aml_builder *b, const char *id);
/* A reference to a named object, e.g. a link device in a _PRT entry. */
void aml_name_ref(struct aml_builder *b, const char *path);
void aml_package_begin(struct aml_builder *b);
void aml_package_end(struct aml_builder *b);

/* Code inside methods. AML is prefix notation: an operator call emits its opcode, and the
 * caller then emits its operands in order (each a data object, a name reference, a local or
 * an argument, or another operator with its own operands). */
void aml_local(struct aml_builder *b, unsigned n); /* Local0..Local7 */
void aml_arg(struct aml_builder *b, unsigned n);   /* Arg0..Arg6 */
/* The "no target" operand of operators that can store their result (And(a, b, Zero)). */
void aml_null_target(struct aml_builder *b);
void aml_store(struct aml_builder *b);	/* Store(source, destination) */
void aml_and(struct aml_builder *b);	/* And(operand, operand, target) */
void aml_notify(struct aml_builder *b); /* Notify(object, value) */
/* If (predicate) { ... }: emit the predicate, then the body, then aml_if_end. */
void aml_if_begin(struct aml_builder *b);
void aml_if_end(struct aml_builder *b);

/* Shorthands for If ((Local<local> & bits)) { and If ((name & bits)) {: the body follows,
 * then aml_if_end. */
void aml_if_local_has(struct aml_builder *b, unsigned local, uint64_t bits);
void aml_if_name_has(struct aml_builder *b, const char *name, uint64_t bits);
/* Store (value, name): an integer into a named field. */
void aml_store_integer(struct aml_builder *b, uint64_t value, const char *name);
/* A hotplug event taken: If ((LocalN & bit)) { Store (bit, field) Notify (target, code) }. */
void aml_take_event(struct aml_builder *b, unsigned local, uint64_t bit, const char *field,
		    const char *target, uint64_t code);

enum aml_region_space { AML_REGION_SYSTEM_MEMORY = 0, AML_REGION_SYSTEM_IO = 1 };

/* OperationRegion(name, space, offset, len). */
void aml_operation_region(struct aml_builder *b, const char *name, enum aml_region_space space,
			  uint64_t offset, uint64_t len);
/* Field(region, ByteAcc, NoLock, Preserve) { name, bits; ... }: aml_field_unit once per
 * named unit, in order from the region's start. */
void aml_field_begin(struct aml_builder *b, const char *region);
void aml_field_unit(struct aml_builder *b, const char *name, unsigned bits);
void aml_field_end(struct aml_builder *b);

/* Shorthands for Name(name, value). */
void aml_name_integer(struct aml_builder *b, const char *name, uint64_t value);
void aml_name_string(struct aml_builder *b, const char *name, const char *s);
void aml_name_eisaid(struct aml_builder *b, const char *name, const char *id);

/* The encoded value of an EISA ID, or false if `id` is not of the form "ABC1234". */
bool aml_eisaid_value(const char *id, uint32_t *value);

/* ResourceTemplate() { ... }: a buffer of resource descriptors closed by an end tag. */
void aml_resources_begin(struct aml_builder *b);
void aml_resources_end(struct aml_builder *b);

/* IO(Decode16, base, base, 1, len): a fixed port range. */
void aml_res_io(struct aml_builder *b, uint16_t base, uint8_t len);
/* IRQNoFlags() {irq}: an ISA IRQ (0..15), edge triggered, active high. */
void aml_res_irq_noflags(struct aml_builder *b, unsigned irq);
/* Memory32Fixed(ReadWrite, base, len). */
void aml_res_memory32_fixed(struct aml_builder *b, uint32_t base, uint32_t len);
/* Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) {gsi}: any GSI, not just ISA. */
void aml_res_interrupt_level_high(struct aml_builder *b, uint32_t gsi);

enum aml_space_type { AML_SPACE_MEMORY = 0, AML_SPACE_IO = 1, AML_SPACE_BUS_NUMBER = 2 };

/* General flags of an address space descriptor (ACPI 6.5, 6.4.3.5.1). */
#define AML_ADDR_CONSUMER  0x01 /* clear: the device produces (bridges) the range */
#define AML_ADDR_MIN_FIXED 0x04
#define AML_ADDR_MAX_FIXED 0x08

/* Type-specific flags. */
#define AML_IO_ENTIRE_RANGE  0x03
#define AML_MEM_READ_WRITE   0x01
#define AML_MEM_CACHEABLE    0x02
#define AML_MEM_PREFETCHABLE 0x06

/* A fixed window [min, max]: length is max - min + 1, granularity and translation 0. */
struct aml_address_range {
	enum aml_space_type type;
	uint8_t general_flags;
	uint8_t type_flags;
	uint64_t min;
	uint64_t max;
};

/* Word/DWord/QWord Address Space descriptors; the bounds must fit the width (16/32/64 bits). */
void aml_res_word_space(struct aml_builder *b, const struct aml_address_range *r);
void aml_res_dword_space(struct aml_builder *b, const struct aml_address_range *r);
void aml_res_qword_space(struct aml_builder *b, const struct aml_address_range *r);

/* Common bridge windows: producer, min and max fixed. */
void aml_res_word_bus_number(struct aml_builder *b, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml_builder *b, uint16_t min, uint16_t max);
void aml_res_dword_memory(struct aml_builder *b, uint32_t min, uint32_t max);
void aml_res_qword_memory(struct aml_builder *b, uint64_t min, uint64_t max);

#endif
