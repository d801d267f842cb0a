#include "emu_user/script.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char *skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int script_parse(int fd, char interp[SCRIPT_HEADER_MAX], char arg[SCRIPT_HEADER_MAX])
{
	char buf[SCRIPT_HEADER_MAX + 1];
	ssize_t n = pread(fd, buf, SCRIPT_HEADER_MAX, 0);
	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return 0;
	buf[n] = 0;
	char *end = memchr(buf, '\n', (size_t)n);
	if (end)
		*end = 0;
	const char *p = skip_blanks(buf + 2);
	size_t len = strcspn(p, " \t");
	/* Without a newline the interpreter name must end inside the buffer. */
	if (len == 0 || (!end && p[len] == 0 && (size_t)n == SCRIPT_HEADER_MAX))
		return -ENOEXEC;
	memcpy(interp, p, len);
	interp[len] = 0;
	const char *rest = skip_blanks(p + len);
	size_t rest_len = strlen(rest);
	while (rest_len && (rest[rest_len - 1] == ' ' || rest[rest_len - 1] == '\t'))
		rest_len--;
	memcpy(arg, rest, rest_len);
	arg[rest_len] = 0;
	return 1;
}
