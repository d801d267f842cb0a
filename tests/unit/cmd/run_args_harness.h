/* What the tests of `gureum run`'s argument parsing share: parsing an argv written inline and
 * temporary files for --config and for paths that must exist. */
#ifndef GUREUM_TESTS_RUN_ARGS_HARNESS_H
#define GUREUM_TESTS_RUN_ARGS_HARNESS_H

#include "cmd/run_args.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parses argv into a fresh configuration; `err` holds 512 bytes. */
static inline enum run_args_result parse(struct vm_config *c, char *err, int argc, char **argv)
{
	config_init(c);
	err[0] = '\0';
	return run_args_parse(argc, argv, c, err, 512);
}

#define ARGV(...)	   ((char *[]){"run", __VA_ARGS__, NULL})
#define ARGC(...)	   ((int)(sizeof((char *[]){"run", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...) parse(c, err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

/* A new temporary file holding `text`; the caller unlinks and frees the returned path. */
static inline char *write_temp(const char *text)
{
	char *path = strdup("/tmp/gureum-test-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

#endif
