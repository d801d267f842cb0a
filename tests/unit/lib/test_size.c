#include "lib/size.h"

#include <criterion/criterion.h>

Test(size, suffixes_are_binary_multiples)
{
	uint64_t v;
	cr_assert(parse_size("512M", false, &v));
	cr_assert_eq(v, 512ULL << 20);
	cr_assert(parse_size("2G", false, &v));
	cr_assert_eq(v, 2ULL << 30);
	cr_assert(parse_size("64k", false, &v));
	cr_assert_eq(v, 64ULL << 10);
	cr_assert(parse_size("1GiB", false, &v));
	cr_assert_eq(v, 1ULL << 30);
}

Test(size, plain_number_uses_default_unit)
{
	uint64_t v;
	cr_assert(parse_size("256", true, &v));
	cr_assert_eq(v, 256ULL << 20);
	cr_assert(parse_size("4096", false, &v));
	cr_assert_eq(v, 4096);
}

Test(size, garbage_and_overflow_are_rejected)
{
	uint64_t v;
	cr_assert_not(parse_size("", false, &v));
	cr_assert_not(parse_size("-1G", false, &v));
	cr_assert_not(parse_size("12X", false, &v));
	cr_assert_not(parse_size("G", false, &v));
	cr_assert_not(parse_size("99999999999999999999", false, &v));
	cr_assert_not(parse_size("17179869184G", false, &v));
}

Test(size, parse_uint_ranges_and_hex)
{
	uint64_t v;
	cr_assert(parse_uint("0xf4", 0, 0xffff, &v));
	cr_assert_eq(v, 0xf4);
	cr_assert_not(parse_uint("0x10000", 0, 0xffff, &v));
	cr_assert_not(parse_uint("12abc", 0, 100, &v));
}
