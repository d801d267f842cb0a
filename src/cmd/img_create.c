/* gureum img create: new raw or qcow2 images, optionally on top of a backing file. */
#include "block/qcow2_create.h"
#include "cmd/img.h"
#include "lib/size.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int create_raw(const char *filename, uint64_t size)
{
	int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		fprintf(stderr, "gureum img: %s: %s\n", filename, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

/* Applies one "key=value" of -o to opt. */
static bool apply_option(struct qcow2_create_options *opt, const char *key, const char *value)
{
	uint64_t n;
	if (strcmp(key, "cluster_size") == 0) {
		if (!parse_size(value, false, &n) || n == 0 || (n & (n - 1)))
			return false;
		opt->cluster_bits = __builtin_ctzll(n);
		return true;
	}
	if (strcmp(key, "compat") == 0) {
		if (strcmp(value, "0.10") == 0 || strcmp(value, "v2") == 0)
			opt->version = 2;
		else if (strcmp(value, "1.1") == 0 || strcmp(value, "v3") == 0)
			opt->version = 3;
		else
			return false;
		return true;
	}
	if (strcmp(key, "refcount_bits") == 0) {
		if (!parse_uint(value, 1, 64, &n) || (n & (n - 1)))
			return false;
		opt->refcount_order = __builtin_ctzll(n);
		return true;
	}
	return false;
}

static bool apply_options(struct qcow2_create_options *opt, const char *options)
{
	if (!options)
		return true;
	char *copy = strdup(options), *save = NULL;
	bool ok = copy != NULL;
	for (char *item = strtok_r(copy, ",", &save); ok && item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq || !apply_option(opt, (*eq = '\0', item), eq + 1)) {
			fprintf(stderr, "gureum img: bad option '%s%s%s'\n", item, eq ? "=" : "",
				eq ? eq + 1 : "");
			ok = false;
		}
	}
	free(copy);
	return ok;
}

int img_create_image(const char *filename, const char *format, unsigned long long size,
		     const char *backing, const char *backing_format, const char *options)
{
	if (strcmp(format, "raw") == 0) {
		if (backing || options) {
			fprintf(stderr, "gureum img: raw images take no backing file or options\n");
			return 1;
		}
		return create_raw(filename, size);
	}
	if (strcmp(format, "qcow2") != 0) {
		fprintf(stderr, "gureum img: unknown format '%s' (raw, qcow2)\n", format);
		return 1;
	}
	struct qcow2_create_options opt = qcow2_default_options(size);
	opt.backing_file = backing;
	opt.backing_format = backing_format;
	if (!apply_options(&opt, options))
		return 1;
	struct block_error err;
	if (qcow2_create(filename, &opt, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	return 0;
}

/* The size of the backing file, for overlays created without an explicit size. */
static int backing_size(const char *image, const char *backing, const char *format, uint64_t *size)
{
	char path[8192];
	if (backing[0] == '/') {
		snprintf(path, sizeof(path), "%s", backing);
	} else {
		const char *slash = strrchr(image, '/');
		snprintf(path, sizeof(path), "%.*s%s", slash ? (int)(slash - image + 1) : 0, image,
			 backing);
	}
	struct block_device *dev;
	struct block_error err;
	if (block_open(path, format, BLOCK_OPEN_READ_ONLY, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: cannot open backing file: %s\n", err.message);
		return -1;
	}
	*size = dev->size;
	block_close(dev);
	return 0;
}

int img_create(int argc, char **argv)
{
	const char *format = "raw", *backing = NULL, *backing_format = NULL, *options = NULL;
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+f:b:F:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'b':
			backing = optarg;
			break;
		case 'F':
			backing_format = optarg;
			break;
		case 'o':
			options = optarg;
			break;
		case 'h':
			printf("usage: gureum img create [-f raw|qcow2] [-b backing [-F fmt]] "
			       "[-o cluster_size=N,compat=0.10|1.1,refcount_bits=N] FILE [SIZE]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc || argc - optind > 2 || (argc - optind == 1 && !backing)) {
		fprintf(stderr, "gureum img create: need FILE and SIZE (or -b backing)\n");
		return 2;
	}
	const char *filename = argv[optind];
	uint64_t size;
	if (argc - optind == 2) {
		if (!parse_size(argv[optind + 1], false, &size)) {
			fprintf(stderr, "gureum img create: bad size '%s'\n", argv[optind + 1]);
			return 2;
		}
	} else if (backing_size(filename, backing, backing_format, &size) < 0) {
		return 1;
	}
	if (strcmp(format, "qcow2") == 0)
		size = (size + 511) & ~511ull; /* qcow2 sizes are whole sectors */
	return img_create_image(filename, format, size, backing, backing_format, options);
}
