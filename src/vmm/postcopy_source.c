/* Post-copy, the source's side (postcopy.h): the pending pages go out in guest-physical order,
 * 2 MiB at a time, and between two chunks the pages the destination asked for jump the queue. A
 * thread reads the destination's lines (its requests, then "done") while this one writes. */
#include "vmm/postcopy.h"

#include "lib/log.h"
#include "lib/monotonic.h"
#include "lib/socket_line.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PAGE_SIZE	 4096u
#define CHUNK_PAGES	 512u /* a background section: 2 MiB */
#define REQUEST_PAGES	 16u  /* a request brings its pending neighbours: 64 KiB */
#define MAX_REQUESTS	 1024u
#define LINE_MAX_BYTES	 128
#define DONE_TIMEOUT_S	 120
#define READER_TIMEOUT_S 1 /* how often the reader looks whether it should stop */

/* What the reader thread hands the sender. */
struct requests {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	uint64_t gpa[MAX_REQUESTS];
	unsigned head, count;
	bool done, broken, stop;
	char why[160];
	int fd;
};

static void push_request(struct requests *q, uint64_t gpa)
{
	pthread_mutex_lock(&q->lock);
	/* A full queue drops the request: the page still comes with the background pass. */
	if (q->count < MAX_REQUESTS)
		q->gpa[(q->head + q->count++) % MAX_REQUESTS] = gpa;
	pthread_mutex_unlock(&q->lock);
}

static bool pop_request(struct requests *q, uint64_t *gpa)
{
	pthread_mutex_lock(&q->lock);
	bool any = q->count > 0;
	if (any) {
		*gpa = q->gpa[q->head];
		q->head = (q->head + 1) % MAX_REQUESTS;
		q->count--;
	}
	pthread_mutex_unlock(&q->lock);
	return any;
}

static void end_reading(struct requests *q, bool done, const char *why)
{
	pthread_mutex_lock(&q->lock);
	q->done = done;
	q->broken = !done;
	if (why)
		snprintf(q->why, sizeof(q->why), "%s", why);
	pthread_cond_broadcast(&q->changed);
	pthread_mutex_unlock(&q->lock);
}

static bool stop_asked(struct requests *q)
{
	pthread_mutex_lock(&q->lock);
	bool stop = q->stop;
	pthread_mutex_unlock(&q->lock);
	return stop;
}

static void *read_requests(void *opaque)
{
	struct requests *q = opaque;
	char line[LINE_MAX_BYTES];
	for (;;) {
		int rc = socket_read_line(q->fd, line, sizeof(line));
		if (rc == 1 && !stop_asked(q))
			continue;
		if (rc != 0) {
			end_reading(q, false,
				    rc == 1 ? "stopped" : "the destination closed the connection");
			return NULL;
		}
		unsigned long long gpa;
		if (sscanf(line, "page %llx", &gpa) == 1) {
			push_request(q, gpa);
		} else if (strcmp(line, "done") == 0) {
			end_reading(q, true, NULL);
			return NULL;
		} else {
			end_reading(q, false, strncmp(line, "error: ", 7) == 0 ? line + 7 : line);
			return NULL;
		}
	}
}

/* ---- sending ---- */

struct sender {
	struct vm *vm;
	struct state_out *out;
	struct page_set *pending;
	bool compress;
	struct postcopy_stats *stats;
	uint64_t left; /* pending pages */
	char *err;
	size_t err_len;
};

static void note_sent(struct sender *s, unsigned region, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		page_set_remove(s->pending, region, first + i);
	s->left -= n;
	s->stats->pages += n;
	if (s->stats->left)
		atomic_store(s->stats->left, s->left * PAGE_SIZE);
}

/* The requested page and the pending pages right after it (up to REQUEST_PAGES, within its
 * chunk), when it is still pending. */
static int serve_request(struct sender *s, uint64_t gpa)
{
	const struct guest_memory *mem = &s->vm->mem;
	for (unsigned r = 0; r < mem->nr_regions; r++) {
		const struct guest_region *reg = &mem->regions[r];
		if (gpa < reg->gpa || gpa - reg->gpa >= reg->size)
			continue;
		uint64_t page = (gpa - reg->gpa) / PAGE_SIZE, pages = reg->size / PAGE_SIZE;
		if (!page_set_has(s->pending, r, page))
			return 0; /* on its way already */
		unsigned n = 1;
		while (n < REQUEST_PAGES && page + n < pages && (page + n) % CHUNK_PAGES &&
		       page_set_has(s->pending, r, page + n))
			n++;
		uint64_t all[REQUEST_PAGES / 64 + 1] = {(1ULL << n) - 1};
		if (state_stream_write_pages(s->out, reg->gpa + page * PAGE_SIZE,
					     reg->host + page * PAGE_SIZE, n * PAGE_SIZE, all,
					     s->compress, s->err, s->err_len) < 0)
			return -1;
		s->stats->requested++;
		note_sent(s, r, page, n);
		return 0;
	}
	return 0; /* not RAM: the destination will not wait on it */
}

/* The chunk of region r at page `first`: a memory section (zero pages elided) when all of it
 * is pending, else a pages section of the pending ones. */
static int send_chunk(struct sender *s, unsigned r, uint64_t first)
{
	const struct guest_region *reg = &s->vm->mem.regions[r];
	uint64_t pages = reg->size / PAGE_SIZE;
	unsigned n = pages - first < CHUNK_PAGES ? (unsigned)(pages - first) : CHUNK_PAGES, set = 0;
	for (unsigned i = 0; i < n; i++)
		set += page_set_has(s->pending, r, first + i);
	if (!set)
		return 0;
	uint64_t gpa = reg->gpa + first * PAGE_SIZE;
	const uint8_t *host = reg->host + first * PAGE_SIZE;
	int rc = set == n ? state_stream_write_memory(s->out, gpa, host, (uint64_t)n * PAGE_SIZE,
						      s->compress, s->err, s->err_len)
			  : state_stream_write_pages(s->out, gpa, host, (uint64_t)n * PAGE_SIZE,
						     &s->pending->bits[r][first / 64], s->compress,
						     s->err, s->err_len);
	if (rc < 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (page_set_has(s->pending, r, first + i))
			note_sent(s, r, first + i, 1);
	return 0;
}

static int serve_requests(struct sender *s, struct requests *q)
{
	uint64_t gpa;
	while (pop_request(q, &gpa))
		if (serve_request(s, gpa) < 0)
			return -1;
	return 0;
}

/* Every pending page: chunk after chunk, requests first. */
static int send_pending(struct sender *s, struct requests *q)
{
	const struct guest_memory *mem = &s->vm->mem;
	for (unsigned r = 0; r < mem->nr_regions && s->left; r++)
		for (uint64_t first = 0; first < mem->regions[r].size / PAGE_SIZE && s->left;
		     first += CHUNK_PAGES) {
			if (serve_requests(s, q) < 0 || send_chunk(s, r, first) < 0)
				return -1;
			pthread_mutex_lock(&q->lock);
			bool broken = q->broken;
			pthread_mutex_unlock(&q->lock);
			if (broken) {
				snprintf(s->err, s->err_len, "%s", q->why);
				return -1;
			}
		}
	return 0;
}

static int await_done(struct requests *q, char *err, size_t err_len)
{
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += DONE_TIMEOUT_S;
	pthread_mutex_lock(&q->lock);
	while (!q->done && !q->broken)
		if (pthread_cond_timedwait(&q->changed, &q->lock, &limit) == ETIMEDOUT)
			break;
	bool done = q->done;
	if (!done)
		snprintf(err, err_len, "%s",
			 q->broken ? q->why : "it did not confirm the last page");
	pthread_mutex_unlock(&q->lock);
	return done ? 0 : -1;
}

static void stop_reader(struct requests *q, pthread_t reader)
{
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_mutex_unlock(&q->lock);
	pthread_join(reader, NULL);
}

int postcopy_send(struct vm *vm, struct state_out *out, struct page_set *pending, bool compress,
		  struct postcopy_stats *stats, char *err, size_t err_len)
{
	uint64_t start = monotonic_ms();
	struct requests q = {.fd = out->fd};
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.changed, NULL);
	/* The reader wakes every second to see whether it should stop. */
	struct timeval tv = {.tv_sec = READER_TIMEOUT_S};
	setsockopt(out->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sender s = {vm,	out,	pending, compress, stats, page_set_count(pending, &vm->mem),
			   err, err_len};
	char why[256] = "";
	pthread_t reader;
	int rc = pthread_create(&reader, NULL, read_requests, &q) == 0 ? 0 : -1;
	if (rc < 0)
		snprintf(why, sizeof(why), "cannot start the thread that reads its requests");
	if (rc == 0) {
		s.err = why, s.err_len = sizeof(why);
		rc = send_pending(&s, &q);
		rc = rc ?: state_stream_write_end(out, why, sizeof(why));
		rc = rc ?: await_done(&q, why, sizeof(why));
		stop_reader(&q, reader);
	}
	stats->ms = monotonic_ms() - start;
	if (rc < 0)
		snprintf(
		    err, err_len,
		    "migration: post-copy failed with %llu MiB not sent (%s): the VM ran on the "
		    "destination and cannot resume here",
		    (unsigned long long)(s.left * PAGE_SIZE >> 20), why);
	pthread_cond_destroy(&q.changed);
	pthread_mutex_destroy(&q.lock);
	return rc;
}
