#include "lib/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

static int suffix_shift(const char *suffix)
{
	static const struct {
		const char *text;
		int shift;
	} units[] = {
	    {"", -1},	 {"b", 0},  {"k", 10},	{"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
	    {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},	  {"tb", 40}, {"tib", 40},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(suffix, units[i].text) == 0)
			return units[i].shift;
	return -2;
}

bool parse_size(const char *text, bool default_unit_mib, uint64_t *bytes)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	char *end;
	unsigned long long number = strtoull(text, &end, 10);
	if (errno)
		return false;
	int shift = suffix_shift(end);
	if (shift == -2)
		return false;
	if (shift == -1)
		shift = default_unit_mib ? 20 : 0;
	if (shift && number > (UINT64_MAX >> shift))
		return false;
	*bytes = (uint64_t)number << shift;
	return true;
}

bool parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	char *end;
	unsigned long long number = strtoull(text, &end, 0);
	if (errno || *end != '\0' || number < min || number > max)
		return false;
	*value = number;
	return true;
}
