/* gureum img create: new raw or qcow2 images, optionally on top of a backing file. */
#include "block/qcow2.h"
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

/* Writes zeroes over [0, size) of fd: full preallocation. */
static int write_zeroes_to(int fd, uint64_t size)
{
	static const char zeroes[1 << 16];
	for (uint64_t at = 0; at < size;) {
		size_t n = size - at < sizeof(zeroes) ? size - at : sizeof(zeroes);
		ssize_t done = pwrite(fd, zeroes, n, (off_t)at);
		if (done <= 0)
			return -1;
		at += done;
	}
	return 0;
}

static int create_raw(const char *filename, uint64_t size, enum qcow2_prealloc prealloc)
{
	int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool failed = fd < 0 || ftruncate(fd, (off_t)size) < 0;
	if (!failed && prealloc == QCOW2_PREALLOC_FALLOC)
		failed = size && fallocate(fd, 0, 0, (off_t)size) < 0;
	if (!failed && prealloc == QCOW2_PREALLOC_FULL)
		failed = write_zeroes_to(fd, size) < 0;
	if (failed) {
		fprintf(stderr, "gureum img: %s: %s\n", filename, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

/* What -o may ask for. */
struct create_request {
	struct qcow2_create_options opt;
	enum qcow2_prealloc prealloc;
	bool qcow2_only; /* an option raw images do not have */
};

static bool parse_prealloc(const char *value, enum qcow2_prealloc *mode)
{
	static const char *const names[] = {"off", "metadata", "falloc", "full"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			*mode = (enum qcow2_prealloc)i;
			return true;
		}
	}
	return false;
}

/* Applies one "key=value" of -o to the request. */
static bool apply_option(struct create_request *req, const char *key, const char *value)
{
	struct qcow2_create_options *opt = &req->opt;
	uint64_t n;
	if (strcmp(key, "preallocation") == 0)
		return parse_prealloc(value, &req->prealloc);
	req->qcow2_only = true;
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
	if (strcmp(key, "lazy_refcounts") == 0) {
		if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
			return false;
		opt->lazy_refcounts = strcmp(value, "on") == 0;
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

static bool apply_options(struct create_request *req, const char *options)
{
	if (!options)
		return true;
	char *copy = strdup(options), *save = NULL;
	bool ok = copy != NULL;
	for (char *item = strtok_r(copy, ",", &save); ok && item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq || !apply_option(req, (*eq = '\0', item), eq + 1)) {
			fprintf(stderr, "gureum img: bad option '%s%s%s'\n", item, eq ? "=" : "",
				eq ? eq + 1 : "");
			ok = false;
		}
	}
	free(copy);
	return ok;
}

static int preallocate(const char *filename, enum qcow2_prealloc mode, struct block_error *err)
{
	if (mode == QCOW2_PREALLOC_OFF)
		return 0;
	struct block_device *dev;
	int ret = block_open(filename, "qcow2", BLOCK_OPEN_UNSAFE, &dev, err);
	if (ret < 0)
		return ret;
	ret = qcow2_preallocate(dev, mode, err);
	block_close(dev);
	return ret;
}

int img_create_image(const char *filename, const char *format, unsigned long long size,
		     const char *backing, const char *backing_format, const char *options)
{
	struct create_request req = {.opt = qcow2_default_options(size)};
	if (!apply_options(&req, options))
		return 1;
	if (strcmp(format, "raw") == 0) {
		if (backing || req.qcow2_only || req.prealloc == QCOW2_PREALLOC_METADATA) {
			fprintf(stderr,
				"gureum img: raw images take no backing file and no options "
				"but preallocation=off|falloc|full\n");
			return 1;
		}
		return create_raw(filename, size, req.prealloc);
	}
	if (strcmp(format, "qcow2") != 0) {
		fprintf(stderr, "gureum img: unknown format '%s' (raw, qcow2)\n", format);
		return 1;
	}
	if (backing && req.prealloc != QCOW2_PREALLOC_OFF) {
		fprintf(stderr, "gureum img: preallocation hides the backing file; not allowed "
				"with -b\n");
		return 1;
	}
	req.opt.backing_file = backing;
	req.opt.backing_format = backing_format;
	struct block_error err;
	if (qcow2_create(filename, &req.opt, &err) < 0 ||
	    preallocate(filename, req.prealloc, &err) < 0) {
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
			printf(
			    "usage: gureum img create [-f raw|qcow2] [-b backing [-F fmt]] "
			    "[-o "
			    "cluster_size=N,compat=0.10|1.1,refcount_bits=N,lazy_refcounts=on|off,"
			    "preallocation=off|metadata|falloc|full] FILE [SIZE]\n");
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
