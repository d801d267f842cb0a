/* The AML builder's encodings, checked against byte sequences from the ACPI specification's
 * grammar (and what iasl emits for the same ASL). */
#include "machine/aml.h"

#include <criterion/criterion.h>
#include <string.h>

static struct aml_builder b;

static void setup(void)
{
	aml_init(&b);
}

static void teardown(void)
{
	aml_free(&b);
}

TestSuite(aml, .init = setup, .fini = teardown);

static void assert_bytes(const uint8_t *expected, size_t len)
{
	cr_assert_null(aml_error(&b), "builder failed: %s", aml_error(&b));
	cr_assert_eq(b.len, len, "emitted %zu bytes, expected %zu", b.len, len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(b.data[i], expected[i], "byte %zu: 0x%02x, expected 0x%02x", i,
			     b.data[i], expected[i]);
}

Test(aml, eisa_ids_compress_like_the_spec_examples)
{
	uint32_t v;
	cr_assert(aml_eisaid_value("PNP0A08", &v));
	cr_assert_eq(v, 0x080ad041);
	cr_assert(aml_eisaid_value("PNP0501", &v));
	cr_assert_eq(v, 0x0105d041);
	cr_assert_not(aml_eisaid_value("PNP0A0", &v));
	cr_assert_not(aml_eisaid_value("pnp0a08", &v));
	cr_assert_not(aml_eisaid_value("PNP0A0G", &v));
	cr_assert_not(aml_eisaid_value("LNRO0005", &v));
}

Test(aml, integers_use_the_shortest_encoding)
{
	const uint64_t values[] = {0, 1, 5, 0x100, 0x10000, 0x100000000ULL};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		aml_integer(&b, values[i]);
	const uint8_t expected[] = {0x00, 0x01, 0x0a, 0x05, 0x0b, 0x00, 0x01,
				    0x0c, 0x00, 0x00, 0x01, 0x00, 0x0e, 0x00,
				    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, name_paths_use_root_parent_dual_and_multi_prefixes)
{
	aml_name_ref(&b, "\\_SB.PCI0");
	aml_name_ref(&b, "^RTC");
	aml_name_ref(&b, "A.B.C");
	aml_name_ref(&b, "\\");
	const uint8_t expected[] = {'\\', 0x2e, '_', 'S', 'B',	'_', 'P', 'C',	'I', '0', '^',
				    'R',  'T',	'C', '_', 0x2f, 3,   'A', '_',	'_', '_', 'B',
				    '_',  '_',	'_', 'C', '_',	'_', '_', '\\', 0x00};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, invalid_names_fail_the_builder)
{
	aml_name_decl(&b, "TOOLONG");
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_name_decl(&b, "1ABC");
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_name_decl(&b, "A..B");
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_name_decl(&b, "");
	cr_assert_not_null(aml_error(&b));
}

Test(aml, s5_package_matches_iasl)
{
	/* Name (\_S5_, Package () { 5, 0 }) */
	aml_name_decl(&b, "\\_S5_");
	aml_package_begin(&b);
	aml_integer(&b, 5);
	aml_integer(&b, 0);
	aml_package_end(&b);
	const uint8_t expected[] = {0x08, '\\', '_',  'S',  '5',  '_',
				    0x12, 0x05, 0x02, 0x0a, 0x05, 0x00};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, device_with_hid_uid_and_resources_matches_iasl)
{
	/* Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, One)
	 *   Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4}
	 * })} */
	aml_device_begin(&b, "COM1");
	aml_name_eisaid(&b, "_HID", "PNP0501");
	aml_name_integer(&b, "_UID", 1);
	aml_name_decl(&b, "_CRS");
	aml_resources_begin(&b);
	aml_res_io(&b, 0x3f8, 8);
	aml_res_irq_noflags(&b, 4);
	aml_resources_end(&b);
	aml_device_end(&b);
	const uint8_t expected[] = {0x5b, 0x82, 0x2b, 'C',  'O',  'M',	'1',  0x08, '_',
				    'H',  'I',	'D',  0x0c, 0x41, 0xd0, 0x05, 0x01, 0x08,
				    '_',  'U',	'I',  'D',  0x01, 0x08, '_',  'C',  'R',
				    'S',  0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03,
				    0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, pkg_length_grows_to_two_bytes_past_63)
{
	/* A scope whose body is 62 bytes fits a one-byte PkgLength (62 + 1 = 63); 63 does not. */
	uint8_t filler[58];
	memset(filler, 0, sizeof(filler));
	aml_scope_begin(&b, "AAAA"); /* 4 bytes of name */
	aml_buffer(&b, filler, 53);  /* 0x11, pkglen, 0x0a 53, 53 bytes = 57; total body 61 */
	aml_integer(&b, 0);	     /* 62 */
	aml_scope_end(&b);
	cr_assert_null(aml_error(&b));
	cr_assert_eq(b.data[1], 63);
	cr_assert_eq(b.len, 64);

	aml_free(&b);
	aml_init(&b);
	aml_scope_begin(&b, "AAAA");
	aml_buffer(&b, filler, 53);
	aml_integer(&b, 0);
	aml_integer(&b, 0); /* 63 */
	aml_scope_end(&b);
	cr_assert_null(aml_error(&b));
	/* Two bytes: bits 6-7 of the lead byte say one more follows; 63 + 2 = 65 = 0x41. */
	cr_assert_eq(b.data[1], 0x41);
	cr_assert_eq(b.data[2], 0x04);
	cr_assert_eq(b.len, 66);
}

Test(aml, large_packages_become_var_packages)
{
	aml_package_begin(&b);
	for (int i = 0; i < 300; i++)
		aml_integer(&b, 0);
	aml_package_end(&b);
	cr_assert_null(aml_error(&b));
	cr_assert_eq(b.data[0], 0x13, "VarPackageOp expected");
	/* PkgLength(2 bytes), then NumElements as a WordConst 300. */
	cr_assert_eq(b.data[3], 0x0b);
	cr_assert_eq(b.data[4] | b.data[5] << 8, 300);
	cr_assert_eq(b.len, 1 + 2 + 3 + 300);
}

Test(aml, nested_packages_count_elements_per_level)
{
	aml_package_begin(&b);
	aml_package_begin(&b);
	aml_integer(&b, 1);
	aml_integer(&b, 2);
	aml_integer(&b, 3);
	aml_package_end(&b);
	aml_string(&b, "x");
	aml_package_end(&b);
	const uint8_t expected[] = {0x12, 0x0d, 0x02, 0x12, 0x07, 0x03, 0x01,
				    0x0a, 0x02, 0x0a, 0x03, 0x0d, 'x',	0x00};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, method_with_return)
{
	/* Method (_STA, 0, NotSerialized) { Return (0x0F) } */
	aml_method_begin(&b, "_STA", 0, false);
	aml_return(&b);
	aml_integer(&b, 0x0f);
	aml_method_end(&b);
	const uint8_t expected[] = {0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, address_space_descriptors_have_spec_lengths)
{
	aml_resources_begin(&b);
	aml_res_word_bus_number(&b, 0, 0xff);
	aml_res_dword_memory(&b, 0xc0000000, 0xdfffffff);
	aml_res_qword_memory(&b, 0x100000000ULL, 0x1ffffffffULL);
	aml_res_memory32_fixed(&b, 0xe0000000, 0x10000000);
	aml_res_interrupt_level_high(&b, 16);
	aml_resources_end(&b);
	cr_assert_null(aml_error(&b));
	/* Buffer op, 2-byte PkgLength, ByteConst size, then the descriptors. */
	size_t size = b.data[4];
	cr_assert_eq(b.data[3], 0x0a);
	cr_assert_eq(size, 16 + 26 + 46 + 12 + 9 + 2);
	const uint8_t *d = b.data + 5;
	cr_assert_eq(d[0], 0x88);
	cr_assert_eq(d[14] | d[15] << 8, 0x100, "bus number window length");
	d += 16;
	cr_assert_eq(d[0], 0x87);
	uint32_t len32;
	memcpy(&len32, d + 22, 4);
	cr_assert_eq(len32, 0x20000000);
	d += 26;
	cr_assert_eq(d[0], 0x8a);
	uint64_t min64;
	memcpy(&min64, d + 14, 8);
	cr_assert_eq(min64, 0x100000000ULL);
	d += 46;
	cr_assert_eq(d[0], 0x86);
	d += 12;
	cr_assert_eq(d[0], 0x89);
	cr_assert_eq(d[5], 16);
	d += 9;
	cr_assert_eq(d[0], 0x79);
}

Test(aml, descriptors_that_do_not_fit_fail)
{
	aml_resources_begin(&b);
	aml_res_word_io(&b, 0, 0xffff); /* length 0x10000 does not fit 16 bits */
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_resources_begin(&b);
	aml_res_io(&b, 0xfffe, 8);
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_resources_begin(&b);
	aml_res_irq_noflags(&b, 16);
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_resources_begin(&b);
	aml_res_memory32_fixed(&b, 0xfffff000, 0x2000);
	cr_assert_not_null(aml_error(&b));
}

/* The Generic Event Device's register and event method, as iasl encodes:
 *   OperationRegion (GDST, SystemIO, 0x0603, One)
 *   Field (GDST, ByteAcc, NoLock, Preserve) { GDAT, 8 }
 *   Method (_EVT, 1, Serialized) { Local0 = GDAT
 *     If ((Local0 & One)) { Notify (\_SB.PWRB, 0x80) } } */
Test(aml, region_field_and_method_code_match_iasl)
{
	aml_operation_region(&b, "GDST", AML_REGION_SYSTEM_IO, 0x603, 1);
	aml_field_begin(&b, "GDST");
	aml_field_unit(&b, "GDAT", 8);
	aml_field_end(&b);
	aml_method_begin(&b, "_EVT", 1, true);
	aml_store(&b);
	aml_name_ref(&b, "GDAT");
	aml_local(&b, 0);
	aml_if_begin(&b);
	aml_and(&b);
	aml_local(&b, 0);
	aml_integer(&b, 1);
	aml_null_target(&b);
	aml_notify(&b);
	aml_name_ref(&b, "\\_SB.PWRB");
	aml_integer(&b, 0x80);
	aml_if_end(&b);
	aml_method_end(&b);
	const uint8_t expected[] = {
	    0x5b, 0x80, 'G',  'D',  'S',  'T',	0x01, 0x0b, 0x03, 0x06, 0x01, /* region */
	    0x5b, 0x81, 0x0b, 'G',  'D',  'S',	'T',  0x01, 'G',  'D',	'A',  'T',  0x08,
	    0x14, 0x1f, '_',  'E',  'V',  'T',	0x09, /* method, 1 arg, serialized */
	    0x70, 'G',	'D',  'A',  'T',  0x60,	      /* Store (GDAT, Local0) */
	    0xa0, 0x12, 0x7b, 0x60, 0x01, 0x00,	      /* If (And (Local0, 1, )) */
	    0x86, 0x5c, 0x2e, '_',  'S',  'B',	'_',  'P',  'W',  'R',	'B',  0x0a, 0x80};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, wide_field_units_take_a_two_byte_width)
{
	aml_field_begin(&b, "REGS");
	aml_field_unit(&b, "WIDE", 64);
	aml_field_end(&b);
	const uint8_t expected[] = {0x5b, 0x81, 0x0c, 'R', 'E', 'G',  'S',
				    0x01, 'W',	'I',  'D', 'E', 0x40, 0x04};
	assert_bytes(expected, sizeof(expected));
}

Test(aml, code_and_field_units_out_of_place_fail)
{
	aml_store(&b); /* not in a method */
	cr_assert_not_null(aml_error(&b));
	cr_assert_eq(b.len, 0);
	aml_free(&b);
	aml_init(&b);
	aml_device_begin(&b, "DEV");
	aml_if_begin(&b); /* a device is not a method either */
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_field_unit(&b, "GDAT", 8); /* not in a Field */
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_field_begin(&b, "REGS");
	aml_field_unit(&b, "GDAT", 0);
	cr_assert_not_null(aml_error(&b), "a unit of 0 bits");
	aml_free(&b);
	aml_init(&b);
	aml_field_begin(&b, "REGS");
	aml_field_unit(&b, "A.B", 8);
	cr_assert_not_null(aml_error(&b), "a unit's name is one segment");
	aml_free(&b);
	aml_init(&b);
	aml_method_begin(&b, "M", 0, false);
	aml_local(&b, 8);
	cr_assert_not_null(aml_error(&b), "Local8");
}

Test(aml, misuse_is_reported_not_emitted)
{
	aml_res_io(&b, 0x60, 1); /* outside a template */
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_device_begin(&b, "DEV");
	aml_scope_end(&b); /* wrong end */
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_device_begin(&b, "DEV");
	cr_assert_not_null(aml_error(&b), "an open container must be reported");
	aml_free(&b);
	aml_init(&b);
	aml_resources_begin(&b);
	aml_integer(&b, 1); /* not a descriptor */
	cr_assert_not_null(aml_error(&b));
	aml_free(&b);
	aml_init(&b);
	aml_eisaid(&b, "PNP05");
	cr_assert_not_null(aml_error(&b));
	cr_assert_eq(b.len, 0);
}

Test(aml, first_error_is_kept)
{
	aml_name_decl(&b, "1BAD");
	aml_res_io(&b, 0x60, 1);
	cr_assert_not_null(strstr(aml_error(&b), "1BAD"), "got: %s", aml_error(&b));
}

Test(aml, deep_nesting_is_refused)
{
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_package_begin(&b);
	cr_assert_not_null(strstr(aml_error(&b), "nested"), "got: %s", aml_error(&b));
}
