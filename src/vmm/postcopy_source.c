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
#include <unistd.h>

#define PAGE_SIZE	 4096u
#define CHUNK_PAGES	 512u /* a background section: 2 MiB */
#define REQUEST_PAGES	 16u  /* a request brings its pending neighbours: 64 KiB */
#define MAX_REQUESTS	 1024u
#define LINE_MAX_BYTES	 128
#define DONE_TIMEOUT_S	 120
#define READER_TIMEOUT_S 1  /* how often the reader looks whether it should stop */
#define RESUME_TIMEOUT_S 10 /* for the destination's list of pages it still lacks */

/* What the reader thread hands the sender. */
struct requests {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	uint64_t gpa[MAX_REQUESTS];
	unsigned head, count;
	bool done, broken, stop;
	bool link_lost; /* the connection itself failed (not the destination's refusal) */
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

static void end_reading(struct requests *q, bool done, bool link_lost, const char *why)
{
	pthread_mutex_lock(&q->lock);
	q->done = done;
	q->broken = !done;
	q->link_lost = link_lost;
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
			end_reading(q, false, rc != 1,
				    rc == 1 ? "stopped" : "the destination closed the connection");
			return NULL;
		}
		unsigned long long gpa;
		if (sscanf(line, "page %llx", &gpa) == 1) {
			push_request(q, gpa);
		} else if (strcmp(line, "done") == 0) {
			end_reading(q, true, false, NULL);
			return NULL;
		} else {
			end_reading(q, false, false,
				    strncmp(line, "error: ", 7) == 0 ? line + 7 : line);
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

/* One connection's share: the pending pages, the end, the destination's "done". 0 when it came,
 * 1 when the connection failed on the way (why says how), -1 for any other failure. */
static int run_link(struct sender *s, char *why, size_t why_len)
{
	struct requests q = {.fd = s->out->fd};
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.changed, NULL);
	/* The reader wakes every second to see whether it should stop. */
	struct timeval tv = {.tv_sec = READER_TIMEOUT_S};
	setsockopt(q.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_t reader;
	int rc = pthread_create(&reader, NULL, read_requests, &q) == 0 ? 0 : -1;
	bool write_failed = false;
	if (rc < 0)
		snprintf(why, why_len, "cannot start the thread that reads its requests");
	if (rc == 0) {
		s->err = why, s->err_len = why_len;
		rc = send_pending(s, &q);
		rc = rc ?: state_stream_write_end(s->out, why, why_len);
		pthread_mutex_lock(&q.lock);
		write_failed = rc < 0 && !q.broken;
		pthread_mutex_unlock(&q.lock);
		rc = rc ?: await_done(&q, why, why_len);
		stop_reader(&q, reader);
	}
	bool link_lost = rc < 0 && (write_failed || q.link_lost);
	pthread_cond_destroy(&q.changed);
	pthread_mutex_destroy(&q.lock);
	return rc == 0 ? 0 : link_lost ? 1 : -1;
}

/* On a new connection: "resume", and the destination's answer, the pages it still lacks as
 * PENDING sections up to an end section: they become the pages to send. */
static int resume(struct sender *s, char *why, size_t why_len)
{
	int fd = s->out->fd;
	if (socket_send_line(fd, "resume\n") < 0) {
		snprintf(why, why_len, "sending the resume request failed: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = {.tv_sec = RESUME_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	page_set_clear(s->pending, &s->vm->mem);
	for (;;) {
		struct state_section section;
		void *storage;
		if (state_stream_read_section(fd, &section, &storage, why, why_len) < 0)
			return -1;
		int rc = 0;
		if (section.kind == STREAM_PENDING)
			rc = page_set_add_pending(s->pending, &s->vm->mem, &section, why, why_len);
		else if (section.kind != STREAM_END)
			rc = -1, snprintf(why, why_len, "its answer has a section of kind %u",
					  (unsigned)section.kind);
		bool end = section.kind == STREAM_END;
		free(storage);
		if (rc < 0)
			return -1;
		if (end)
			break;
	}
	s->left = page_set_count(s->pending, &s->vm->mem);
	if (s->stats->left)
		atomic_store(s->stats->left, s->left * PAGE_SIZE);
	return 0;
}

/* A new connection to the destination, which lists the pages it still lacks: tried every
 * second for POSTCOPY_RECOVERY_WINDOW_S. */
static int reconnect(struct sender *s, const struct postcopy_relink *relink, char *why,
		     size_t why_len)
{
	uint64_t give_up = monotonic_ms() + POSTCOPY_RECOVERY_WINDOW_S * 1000ULL;
	if (relink->reconnecting)
		atomic_store(relink->reconnecting, true);
	int rc = -1;
	for (;;) {
		char last[256];
		if (relink->reconnect(relink->opaque, s->out, last, sizeof(last)) == 0 &&
		    resume(s, last, sizeof(last)) == 0) {
			rc = 0;
			break;
		}
		if (monotonic_ms() >= give_up) {
			log_warn("post-copy: the last try to connect again: %s", last);
			snprintf(why, why_len, "the destination did not come back within %d s",
				 POSTCOPY_RECOVERY_WINDOW_S);
			break;
		}
		sleep(1);
	}
	if (relink->reconnecting)
		atomic_store(relink->reconnecting, false);
	return rc;
}

int postcopy_send(struct vm *vm, struct state_out *out, struct page_set *pending, bool compress,
		  const struct postcopy_relink *relink, struct postcopy_stats *stats, char *err,
		  size_t err_len)
{
	uint64_t start = monotonic_ms();
	struct sender s = {vm,	out,	pending, compress, stats, page_set_count(pending, &vm->mem),
			   err, err_len};
	char why[256] = "";
	int rc;
	while ((rc = run_link(&s, why, sizeof(why))) == 1 && relink && relink->reconnect) {
		log_warn("post-copy: the link to the destination broke (%s) with %llu MiB still "
			 "to send; reconnecting for up to %d s",
			 why, (unsigned long long)(s.left * PAGE_SIZE >> 20),
			 POSTCOPY_RECOVERY_WINDOW_S);
		if (reconnect(&s, relink, why, sizeof(why)) < 0) {
			rc = -1;
			break;
		}
		stats->recoveries++;
		log_info("post-copy: the destination is back; %llu MiB still to send",
			 (unsigned long long)(s.left * PAGE_SIZE >> 20));
	}
	stats->ms = monotonic_ms() - start;
	if (rc != 0)
		snprintf(
		    err, err_len,
		    "migration: post-copy failed with %llu MiB not sent (%s): the VM ran on the "
		    "destination and cannot resume here",
		    (unsigned long long)(s.left * PAGE_SIZE >> 20), why);
	return rc == 0 ? 0 : -1;
}
