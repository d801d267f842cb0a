/* gureum img crashtest: the writer and the verifier of the crash-consistency test
 * (tests/block/crash.sh).
 *   crashtest fill FILE            every sector of FILE gets its generation-0 pattern (a base)
 *   crashtest write SEED FILE [--async]
 *                                  writes generations of random writes and write-zeroes from a
 *                                  fixed seed, forever; after each flush prints its generation.
 *                                  --async: each generation's writes go through block_submit,
 *                                  all in flight together (overlapping ones wait), then a FLUSH
 *                                  request
 *   crashtest verify SEED GEN [--base] RAW
 *                                  checks a raw copy of the disk: every sector must hold what
 *                                  generations 1..GEN left there (or, with --base, the fill
 *                                  pattern), or a value generation GEN+1 was writing
 * Each sector is self-describing (generation and sector number), so a torn multi-cluster write
 * is detected sector by sector. */
#include "block/block.h"
#include "cmd/img.h"
#include "lib/size.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR	       512
#define MAX_SECTORS    256 /* per write: up to 128 KiB, spanning clusters */
#define WRITES_PER_GEN 8
#define MAGIC	       0x6775726575636b21ull

struct rng {
	uint64_t state;
};

static uint64_t next(struct rng *r)
{
	r->state ^= r->state << 13;
	r->state ^= r->state >> 7;
	r->state ^= r->state << 17;
	return r->state;
}

static void fill_sector(uint8_t *p, uint64_t gen, uint64_t sector)
{
	uint64_t words[4] = {MAGIC, gen, sector, gen * 0x9e3779b97f4a7c15ull ^ sector};
	memcpy(p, words, sizeof(words));
	for (size_t i = sizeof(words); i < SECTOR; i++)
		p[i] = (uint8_t)(gen * 31 + sector + i);
}

/* One write of a generation: sectors [first, first + count), data or zeroes. */
struct op {
	uint64_t first, count;
	bool zero;
};

static struct op next_op(struct rng *r, uint64_t disk_sectors)
{
	struct op op;
	op.count = 1 + next(r) % MAX_SECTORS;
	op.first = next(r) % (disk_sectors - op.count);
	op.zero = next(r) % 8 == 0;
	return op;
}

static int do_op(struct block_device *dev, const struct op *op, uint64_t gen, uint8_t *buf)
{
	if (op->zero)
		return block_write_zeroes(dev, op->first * SECTOR, op->count * SECTOR);
	for (uint64_t i = 0; i < op->count; i++)
		fill_sector(buf + i * SECTOR, gen, op->first + i);
	return block_write(dev, op->first * SECTOR, buf, op->count * SECTOR);
}

/* The asynchronous writer's requests of one generation. */
struct async_gen {
	struct block_request reqs[WRITES_PER_GEN];
	struct op ops[WRITES_PER_GEN];
	int error;
};

static void async_done(struct block_request *req, int result)
{
	struct async_gen *g = req->opaque;
	if (result < 0 && g->error == 0)
		g->error = result;
}

static bool overlaps(const struct op *a, const struct op *b)
{
	return a->first < b->first + b->count && b->first < a->first + a->count;
}

/* Submits one generation's writes together; a write overlapping an earlier one of the same
 * generation waits for it, so the last write of a sector is the one replay expects. Then the
 * generation is flushed with a FLUSH request (which covers the completed writes). */
static int async_generation(struct block_device *dev, struct rng *r, uint64_t sectors, uint64_t gen,
			    uint8_t *bufs)
{
	struct async_gen g = {.error = 0};
	for (int i = 0; i < WRITES_PER_GEN; i++) {
		struct op *op = &g.ops[i];
		*op = next_op(r, sectors);
		for (int j = 0; j < i; j++)
			if (overlaps(op, &g.ops[j]))
				block_drain(dev);
		uint8_t *buf = bufs + (size_t)i * MAX_SECTORS * SECTOR;
		for (uint64_t s = 0; s < op->count && !op->zero; s++)
			fill_sector(buf + s * SECTOR, gen, op->first + s);
		g.reqs[i] = (struct block_request){
		    .op = op->zero ? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_WRITE,
		    .offset = op->first * SECTOR,
		    .length = op->count * SECTOR,
		    .buffer = buf,
		    .complete = async_done,
		    .opaque = &g,
		};
		block_submit(dev, &g.reqs[i]);
	}
	block_drain(dev);
	struct block_request flush = {.op = BLOCK_OP_FLUSH, .complete = async_done, .opaque = &g};
	if (g.error == 0) {
		block_submit(dev, &flush);
		block_drain(dev);
	}
	return g.error;
}

static int crash_write(uint64_t seed, const char *file, bool async)
{
	struct block_device *dev;
	struct block_error err;
	if (block_open(file, NULL, 0, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	uint8_t *buf = malloc((size_t)WRITES_PER_GEN * MAX_SECTORS * SECTOR);
	struct rng r = {seed | 1};
	uint64_t sectors = dev->size / SECTOR;
	int ret = buf && sectors > MAX_SECTORS ? 0 : -EINVAL;
	for (uint64_t gen = 1; !ret; gen++) {
		if (async)
			ret = async_generation(dev, &r, sectors, gen, buf);
		for (int i = 0; i < WRITES_PER_GEN && !ret && !async; i++) {
			struct op op = next_op(&r, sectors);
			ret = do_op(dev, &op, gen, buf);
		}
		if (!ret && !async)
			ret = block_flush(dev);
		if (!ret) {
			printf("%" PRIu64 "\n", gen);
			fflush(stdout);
		}
	}
	fprintf(stderr, "gureum img crashtest: %s: %s\n", file, strerror(-ret));
	free(buf);
	block_close(dev);
	return 1;
}

/* What each sector may hold: its state after the last flushed generation, and what the
 * generation in flight may have put there. */
#define ZEROED	       UINT64_MAX
#define IN_FLIGHT_DATA 1u
#define IN_FLIGHT_ZERO 2u

struct expectation {
	uint64_t *settled;   /* generation whose pattern the sector holds; ZEROED: zeroes */
	uint64_t *in_flight; /* IN_FLIGHT_* bits: what generation GEN+1 wrote there */
};

static void replay(uint64_t seed, uint64_t last_gen, uint64_t sectors, struct expectation *e)
{
	struct rng r = {seed | 1};
	for (uint64_t gen = 1; gen <= last_gen + 1; gen++) {
		for (int i = 0; i < WRITES_PER_GEN; i++) {
			struct op op = next_op(&r, sectors);
			for (uint64_t s = op.first; s < op.first + op.count; s++) {
				if (gen <= last_gen)
					e->settled[s] = op.zero ? ZEROED : gen;
				else
					e->in_flight[s] |=
					    op.zero ? IN_FLIGHT_ZERO : IN_FLIGHT_DATA;
			}
		}
	}
}

static bool sector_is(const uint8_t *p, uint64_t value, uint64_t sector)
{
	static const uint8_t zeroes[SECTOR];
	uint8_t want[SECTOR];
	if (value == ZEROED)
		return memcmp(p, zeroes, SECTOR) == 0;
	fill_sector(want, value, sector);
	return memcmp(p, want, SECTOR) == 0;
}

/* A sector written in generation GEN+1 may hold any write of that generation: all carry the
 * same pattern, or zeroes. */
static bool acceptable(const uint8_t *p, const struct expectation *e, uint64_t s, uint64_t gen)
{
	if (sector_is(p, e->settled[s], s))
		return true;
	if ((e->in_flight[s] & IN_FLIGHT_DATA) && sector_is(p, gen + 1, s))
		return true;
	return (e->in_flight[s] & IN_FLIGHT_ZERO) && sector_is(p, ZEROED, s);
}

static int crash_verify(uint64_t seed, uint64_t gen, bool base, const char *file)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "gureum img crashtest: %s: %s\n", file, strerror(errno));
		return 1;
	}
	fseek(f, 0, SEEK_END);
	uint64_t sectors = (uint64_t)ftell(f) / SECTOR;
	rewind(f);
	struct expectation e = {calloc(sectors, 8), calloc(sectors, 8)};
	if (!e.settled || !e.in_flight || sectors <= MAX_SECTORS) {
		fclose(f);
		return 1;
	}
	for (uint64_t s = 0; s < sectors; s++)
		e.settled[s] = base ? 0 : ZEROED;
	replay(seed, gen, sectors, &e);
	uint8_t p[SECTOR];
	uint64_t bad = 0;
	for (uint64_t s = 0; s < sectors && fread(p, SECTOR, 1, f) == 1; s++) {
		if (acceptable(p, &e, s, gen))
			continue;
		if (bad++ < 5)
			fprintf(stderr,
				"sector %" PRIu64 ": not what generation %" PRIu64
				" flushed (expected generation %" PRIu64 ")\n",
				s, gen, e.settled[s]);
	}
	fclose(f);
	free(e.settled);
	free(e.in_flight);
	if (bad)
		fprintf(stderr, "%" PRIu64 " bad sectors\n", bad);
	return bad != 0;
}

static int crash_fill(const char *file)
{
	struct block_device *dev;
	struct block_error err;
	if (block_open(file, NULL, 0, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	uint8_t *buf = malloc(MAX_SECTORS * SECTOR);
	int ret = buf ? 0 : -ENOMEM;
	for (uint64_t s = 0; s < dev->size / SECTOR && !ret; s += MAX_SECTORS) {
		uint64_t n =
		    dev->size / SECTOR - s < MAX_SECTORS ? dev->size / SECTOR - s : MAX_SECTORS;
		for (uint64_t i = 0; i < n; i++)
			fill_sector(buf + i * SECTOR, 0, s + i);
		ret = block_write(dev, s * SECTOR, buf, n * SECTOR);
	}
	if (!ret)
		ret = block_flush(dev);
	free(buf);
	block_close(dev);
	return ret < 0;
}

int img_crashtest(int argc, char **argv)
{
	uint64_t seed, gen;
	if (argc == 3 && strcmp(argv[1], "fill") == 0)
		return crash_fill(argv[2]);
	bool async = argc == 5 && strcmp(argv[4], "--async") == 0;
	if ((argc == 4 || async) && strcmp(argv[1], "write") == 0 &&
	    parse_uint(argv[2], 0, UINT64_MAX, &seed))
		return crash_write(seed, argv[3], async);
	bool base = argc == 6 && strcmp(argv[4], "--base") == 0;
	if ((argc == 5 || base) && strcmp(argv[1], "verify") == 0 &&
	    parse_uint(argv[2], 0, UINT64_MAX, &seed) && parse_uint(argv[3], 0, UINT64_MAX, &gen))
		return crash_verify(seed, gen, base, argv[argc - 1]);
	fprintf(stderr, "usage: gureum img crashtest fill FILE | write SEED FILE [--async] | "
			"verify SEED GEN [--base] RAW\n");
	return 2;
}
