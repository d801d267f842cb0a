/* gureum img bench: the same work as `qemu-img bench`, through the asynchronous block
 * interface: COUNT requests of SIZE bytes, DEPTH of them in flight, the first at OFFSET and
 * each next one STEP bytes further (wrapping at the end of the image), reads or (-w) writes of
 * a pattern byte, optionally flushing every N writes; -t none opens the data path O_DIRECT.
 * Prints the same lines as qemu-img bench, so scripts can read both. */
#include "block/block.h"
#include "cmd/img.h"
#include "lib/huge_pages.h"
#include "lib/size.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct bench {
	struct block_device *dev;
	uint64_t count, submitted, completed, size, step, next_offset;
	uint64_t flush_interval, writes_since_flush;
	bool write, failed;
	uint8_t *buffers;
	struct block_request *requests;
};

static void on_complete(struct block_request *req, int result);

/* Starts the next request in slot req; the offset advances by step, wrapping like QEMU's. */
static void submit_next(struct bench *b, struct block_request *req)
{
	if (b->next_offset + b->size > b->dev->size)
		b->next_offset = 0;
	req->op = b->write ? BLOCK_OP_WRITE : BLOCK_OP_READ;
	req->offset = b->next_offset;
	req->length = b->size;
	b->next_offset = (b->next_offset + b->step) % b->dev->size;
	b->submitted++;
	block_submit(b->dev, req);
}

static void on_complete(struct block_request *req, int result)
{
	struct bench *b = req->opaque;
	b->completed++;
	if (result < 0 && !b->failed) {
		fprintf(stderr, "gureum img bench: request at %" PRIu64 " failed: %s\n",
			req->offset, strerror(-result));
		b->failed = true;
	}
	if (b->write && b->flush_interval && ++b->writes_since_flush == b->flush_interval) {
		b->writes_since_flush = 0;
		if (block_flush(b->dev) < 0)
			b->failed = true;
	}
	if (b->submitted < b->count && !b->failed)
		submit_next(b, req);
}

static int run(struct bench *b, uint64_t depth)
{
	for (uint64_t i = 0; i < depth && b->submitted < b->count; i++) {
		struct block_request *req = &b->requests[i];
		req->buffer = b->buffers + i * b->size;
		req->complete = on_complete;
		req->opaque = b;
		submit_next(b, req);
	}
	block_drain(b->dev);
	return b->failed ? -1 : 0;
}

struct bench_options {
	const char *format;
	uint64_t count, depth, size, step, offset, flush_interval, pattern;
	bool write, direct, step_given;
};

static bool parse_options(int argc, char **argv, struct bench_options *o)
{
	static const struct option longopts[] = {{"pattern", required_argument, NULL, 'P'},
						 {"flush-interval", required_argument, NULL, 'F'},
						 {0}};
	*o = (struct bench_options){.count = 75000, .depth = 64, .size = 4096};
	int c;
	bool ok = true;
	optind = 0;
	while (ok && (c = getopt_long(argc, argv, "+c:d:f:o:s:S:t:wqn", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ok = parse_uint(optarg, 1, UINT32_MAX, &o->count);
			break;
		case 'd':
			ok = parse_uint(optarg, 1, 4096, &o->depth);
			break;
		case 'f':
			o->format = optarg;
			break;
		case 'o':
			ok = parse_size(optarg, false, &o->offset);
			break;
		case 's':
			ok = parse_size(optarg, false, &o->size) && o->size &&
			     o->size <= (64u << 20);
			break;
		case 'S':
			ok = parse_size(optarg, false, &o->step);
			o->step_given = true;
			break;
		case 't':
			o->direct =
			    strcmp(optarg, "none") == 0 || strcmp(optarg, "directsync") == 0;
			break;
		case 'w':
			o->write = true;
			break;
		case 'P':
			ok = parse_uint(optarg, 0, 255, &o->pattern);
			break;
		case 'F':
			ok = parse_uint(optarg, 0, UINT32_MAX, &o->flush_interval);
			break;
		case 'q':
		case 'n':
			break; /* quiet, native AIO: accepted for compatibility */
		default:
			ok = false;
		}
	}
	if (!o->step_given)
		o->step = o->size;
	return ok && optind == argc - 1;
}

int img_bench(int argc, char **argv)
{
	struct bench_options o;
	if (!parse_options(argc, argv, &o)) {
		fprintf(stderr,
			"usage: gureum img bench [-c count] [-d depth] [-f fmt] [-o offset] "
			"[-s size] [-S step] [-t none] [-w] [--pattern=N] "
			"[--flush-interval=N] FILE\n");
		return 2;
	}
	struct bench b = {.count = o.count,
			  .size = o.size,
			  .step = o.step,
			  .next_offset = o.offset,
			  .write = o.write,
			  .flush_interval = o.flush_interval};
	struct block_error err;
	unsigned flags = (o.write ? 0 : BLOCK_OPEN_READ_ONLY) | (o.direct ? BLOCK_OPEN_DIRECT : 0);
	if (block_open(argv[optind], o.format, flags, &b.dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	if (b.size > b.dev->size) {
		fprintf(stderr, "gureum img bench: request size larger than the image\n");
		block_close(b.dev);
		return 1;
	}
	/* On huge pages, as guest RAM is: the buffers a VM's requests use. */
	uint64_t buffers_size = ((o.depth * o.size) + 4095) & ~4095ull;
	b.buffers = huge_pages_map(buffers_size);
	b.requests = calloc(o.depth, sizeof(*b.requests));
	if (b.buffers == MAP_FAILED || !b.requests) {
		block_close(b.dev);
		return 1;
	}
	memset(b.buffers, (int)o.pattern, o.depth * o.size);
	printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64
	       " in parallel (starting at offset %" PRIu64 ", step size %" PRIu64 ")\n",
	       o.count, o.write ? "write" : "read", o.size, o.depth, o.offset, o.step);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = run(&b, o.depth);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (ret == 0)
		printf("Run completed in %3.3f seconds.\n", seconds);
	munmap(b.buffers, buffers_size);
	free(b.requests);
	block_close(b.dev);
	return ret < 0;
}
