/* `gureum cpu host`'s file: what it writes reads back the same, and a damaged or foreign file is
 * refused with a sentence naming the file and the fault. */
#include "cmd/cpu_host_file.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct cpu_features sample(void)
{
	struct cpu_features f = {.words = {0x80202001, 0x078bfbff, 0x209c01a9, 0, 0xac000400, 0,
					   0xf, 0x121, 0x2c100800}};
	memcpy(f.vendor, "AuthenticAMD", 12);
	return f;
}

Test(cpu_host_file, what_is_written_reads_back)
{
	struct cpu_features f = sample(), back;
	char *text = cpu_host_file_format(&f, "kvm");
	cr_assert(text);
	cr_assert(strstr(text, "\"sse3\"") && strstr(text, "\"7.0.ebx\": \"0x209c01a9\""), "%s",
		  text);
	char err[256];
	cr_assert_eq(cpu_host_file_parse(text, strlen(text), "f", &back, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(memcmp(&f, &back, sizeof(f)), 0);
	free(text);
}

Test(cpu_host_file, damaged_files_are_refused_by_name)
{
	struct cpu_features f = sample();
	char *good = cpu_host_file_format(&f, "kvm");
	cr_assert(good);
	char *bad_hex = strdup(good), *short_vendor = strdup(good), *missing = strdup(good);
	memcpy(strstr(bad_hex, "0x209c01a9"), "0xzz9c01a9", 10);
	memcpy(strstr(short_vendor, "AuthenticAMD\""), "AuthenticAM\" ", 13);
	memcpy(strstr(missing, "\"7.0.ebx\""), "\"7.0.xyz\"", 9);
	static const char *const says[] = {"not JSON",	 "not a JSON object", "\"7.0.ebx\"",
					   "\"vendor\"", "\"7.0.ebx\"",	      "not JSON"};
	const char *const texts[] = {"{",	   "[1]",   bad_hex,
				     short_vendor, missing, "{\"vendor\":\"a\",\"vendor\":\"b\"}"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct cpu_features out;
		char err[256] = "";
		cr_expect_eq(cpu_host_file_parse(texts[i], strlen(texts[i]), "hostA.json", &out,
						 err, sizeof(err)),
			     -1, "case %zu", i);
		cr_expect(strstr(err, "hostA.json") && strstr(err, says[i]), "case %zu: %s", i,
			  err);
	}
	free(good), free(bad_hex), free(short_vendor), free(missing);
}
