/* gureum img io: a small qemu-io for tests and debugging. Runs commands against one image:
 *   write [-P pattern | -z] OFFSET LENGTH   write bytes of value pattern (default 0xcd), or zeroes
 *   read [-P pattern] OFFSET LENGTH         read; with -P, fail unless every byte equals pattern
 *   discard OFFSET LENGTH                   discard (the range may then read as anything)
 *   flush
 * Offsets and lengths accept K/M/G suffixes. */
#include "block/block.h"
#include "cmd/img.h"
#include "lib/size.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 8

struct io_command {
	const char *verb;
	int pattern; /* -1: none */
	bool zero;
	uint64_t offset;
	uint64_t length;
};

static int split(char *line, char **words)
{
	int n = 0;
	for (char *save = NULL, *w = strtok_r(line, " \t", &save); w && n < MAX_WORDS;
	     w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	return n;
}

static bool parse_command(const char *text, struct io_command *cmd)
{
	char line[256], *words[MAX_WORDS];
	snprintf(line, sizeof(line), "%s", text);
	int n = split(line, words), i = 1;
	if (n == 0)
		return false;
	*cmd = (struct io_command){.verb = NULL, .pattern = -1};
	static const char *const verbs[] = {"write", "read", "discard", "flush"};
	for (size_t v = 0; v < 4; v++)
		if (strcmp(words[0], verbs[v]) == 0)
			cmd->verb = verbs[v];
	if (!cmd->verb)
		return false;
	for (; i < n && words[i][0] == '-'; i++) {
		uint64_t p;
		if (strcmp(words[i], "-z") == 0)
			cmd->zero = true;
		else if (strcmp(words[i], "-P") == 0 && i + 1 < n &&
			 parse_uint(words[++i], 0, 255, &p))
			cmd->pattern = (int)p;
		else
			return false;
	}
	if (strcmp(cmd->verb, "flush") == 0)
		return i == n;
	return n - i == 2 && parse_size(words[i], false, &cmd->offset) &&
	       parse_size(words[i + 1], false, &cmd->length);
}

static int check_pattern(const uint8_t *buf, const struct io_command *cmd, uint64_t base)
{
	for (uint64_t i = 0; i < cmd->length; i++) {
		if (buf[i] != cmd->pattern) {
			fprintf(stderr, "gureum img io: byte at %llu is 0x%02x, expected 0x%02x\n",
				(unsigned long long)(base + i), buf[i], cmd->pattern);
			return -1;
		}
	}
	return 0;
}

static int run_command(struct block_device *dev, const struct io_command *cmd)
{
	if (strcmp(cmd->verb, "flush") == 0)
		return block_flush(dev);
	if (strcmp(cmd->verb, "discard") == 0)
		return block_discard(dev, cmd->offset, cmd->length);
	if (strcmp(cmd->verb, "write") == 0 && cmd->zero)
		return block_write_zeroes(dev, cmd->offset, cmd->length);
	if (cmd->length > (64u << 20))
		return -E2BIG;
	uint8_t *buf = malloc(cmd->length ? cmd->length : 1);
	if (!buf)
		return -ENOMEM;
	int ret;
	if (strcmp(cmd->verb, "write") == 0) {
		memset(buf, cmd->pattern < 0 ? 0xcd : cmd->pattern, cmd->length);
		ret = block_write(dev, cmd->offset, buf, cmd->length);
	} else {
		ret = block_read(dev, cmd->offset, buf, cmd->length);
		if (!ret && cmd->pattern >= 0 && check_pattern(buf, cmd, cmd->offset) < 0)
			ret = -EILSEQ;
	}
	free(buf);
	return ret;
}

int img_io(int argc, char **argv)
{
	const char *format = NULL, *commands[64];
	int ncommands = 0;
	unsigned flags = 0;
	int c;
	optind = 0;
	while ((c = getopt(argc, argv, "f:c:r")) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'r')
			flags |= BLOCK_OPEN_READ_ONLY;
		else if (c == 'c' && ncommands < 64)
			commands[ncommands++] = optarg;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: gureum img io [-f fmt] [-r] FILE -c CMD...\n");
		return 2;
	}
	struct block_device *dev;
	struct block_error err;
	if (block_open(argv[optind], format, flags, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	int status = 0;
	for (int i = 0; i < ncommands && status == 0; i++) {
		struct io_command cmd;
		if (!parse_command(commands[i], &cmd)) {
			fprintf(stderr, "gureum img io: cannot parse '%s'\n", commands[i]);
			status = 2;
			break;
		}
		int ret = run_command(dev, &cmd);
		if (ret < 0) {
			fprintf(stderr, "gureum img io: '%s' failed: %s\n", commands[i],
				strerror(-ret));
			status = 1;
		}
	}
	if (status == 0 && !(flags & BLOCK_OPEN_READ_ONLY) && block_flush(dev) < 0)
		status = 1;
	block_close(dev);
	return status;
}
