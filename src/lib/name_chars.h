/* The characters of the names that go unescaped into URL paths, file and socket names (a VM's
 * --name, a disk's serial as the control API's {disk}): letters, digits, '.', '_' and '-'. */
#ifndef GUREUM_LIB_NAME_CHARS_H
#define GUREUM_LIB_NAME_CHARS_H

#include <ctype.h>
#include <stdbool.h>

static inline bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

#endif
