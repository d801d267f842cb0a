/* Post-copy, the destination's side (postcopy.h). Two threads while pages are missing: one
 * places the pages as they arrive (UFFDIO_COPY wakes whoever waits on them), the other reads the
 * faults on pending pages and asks the source for each once. */
#include "vmm/postcopy.h"

#include "lib/log.h"
#include "lib/monotonic.h"
#include "lib/socket_line.h"
#include "lib/userfault.h"
#include "vmm/migration.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAGE_SIZE	 4096u
#define FAULT_POLL_MS	 100 /* how often the fault thread looks whether it should stop */
#define ACCEPT_POLL_MS	 500 /* how often a broken link's listener looks whether to stop */
#define RESUME_TIMEOUT_S 10  /* for a reconnected source's "resume" */

struct postcopy_destination {
	struct vm *vm;
	struct userfault uf;
	struct page_set pending;   /* not arrived yet (the receiver's view) */
	struct page_set requested; /* asked for already (the fault thread's) */
	uint64_t left;		   /* pending pages not placed yet */
	int fd;			   /* the link to the source; -1 while it is broken */
	char uri[256];		   /* where the source connects again after a broken link */
	pthread_mutex_t send_lock; /* both threads write lines to fd; fd changes under it */
	pthread_mutex_t lock;	   /* pending and requested: both threads look at them */
	pthread_t receiver, faults;
	bool started;
	_Atomic bool finished; /* the last page is in: the threads end */
	_Atomic bool stopping; /* the VM is going away */
};

/* ---- before "ready" ---- */

/* Drops this process's copy of each run of pending pages of region r: stale or never sent. */
static int drop_pending(struct postcopy_destination *p, unsigned r)
{
	const struct guest_region *reg = &p->vm->mem.regions[r];
	uint64_t pages = reg->size / PAGE_SIZE;
	for (uint64_t i = 0; i < pages;) {
		if (!page_set_has(&p->pending, r, i)) {
			i++;
			continue;
		}
		uint64_t run = i;
		while (run < pages && page_set_has(&p->pending, r, run))
			run++;
		if (madvise(reg->host + i * PAGE_SIZE, (run - i) * PAGE_SIZE, MADV_DONTNEED) < 0)
			return -errno;
		i = run;
	}
	return 0;
}

static void release(struct postcopy_destination *p)
{
	if (p->uf.fd >= 0)
		for (unsigned r = 0; r < p->vm->mem.nr_regions; r++)
			userfault_unregister(&p->uf, p->vm->mem.regions[r].host,
					     p->vm->mem.regions[r].size);
	userfault_close(&p->uf);
	page_set_free(&p->pending);
	page_set_free(&p->requested);
	pthread_mutex_destroy(&p->send_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct postcopy_destination *postcopy_destination_prepare(struct vm *vm, struct page_set *pending,
							  char *err, size_t err_len)
{
	struct postcopy_destination *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, err_len, "post-copy: out of memory");
		page_set_free(pending);
		return NULL;
	}
	p->vm = vm;
	p->fd = -1;
	p->uf.fd = -1;
	p->pending = *pending;
	*pending = (struct page_set){0};
	p->left = page_set_count(&p->pending, &vm->mem);
	pthread_mutex_init(&p->send_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	if (page_set_alloc(&p->requested, &vm->mem) < 0) {
		snprintf(err, err_len, "post-copy: out of memory");
		release(p);
		return NULL;
	}
	char why[256];
	if (userfault_open(&p->uf, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "post-copy: %s", why);
		release(p);
		return NULL;
	}
	for (unsigned r = 0; r < vm->mem.nr_regions; r++) {
		const struct guest_region *reg = &vm->mem.regions[r];
		int rc = drop_pending(p, r);
		rc = rc ?: userfault_register(&p->uf, reg->host, reg->size);
		if (rc < 0) {
			snprintf(err, err_len, "post-copy: cannot take the faults of guest RAM: %s",
				 strerror(-rc));
			release(p);
			return NULL;
		}
	}
	return p;
}

/* ---- after "go" ---- */

static int send_line(struct postcopy_destination *p, const char *line)
{
	pthread_mutex_lock(&p->send_lock);
	int rc = socket_send_line(p->fd, line);
	pthread_mutex_unlock(&p->send_lock);
	return rc;
}

/* The region and page of a host address in guest RAM; false when it is not. */
static bool locate(const struct postcopy_destination *p, uint64_t addr, unsigned *region,
		   uint64_t *page)
{
	for (unsigned r = 0; r < p->vm->mem.nr_regions; r++) {
		const struct guest_region *reg = &p->vm->mem.regions[r];
		uintptr_t base = (uintptr_t)reg->host;
		if (addr >= base && addr - base < reg->size) {
			*region = r;
			*page = (addr - base) / PAGE_SIZE;
			return true;
		}
	}
	return false;
}

/* A fault on page `page` of region r: a request to the source the first time for a pending
 * page; a zero page for one that is not pending (the guest's balloon gave it back since). */
static int answer_fault(struct postcopy_destination *p, unsigned r, uint64_t page)
{
	pthread_mutex_lock(&p->lock);
	bool pending = page_set_has(&p->pending, r, page);
	bool asked = page_set_has(&p->requested, r, page);
	if (pending)
		page_set_add(&p->requested, r, page);
	pthread_mutex_unlock(&p->lock);
	const struct guest_region *reg = &p->vm->mem.regions[r];
	if (!pending)
		return userfault_zero(&p->uf, reg->host + page * PAGE_SIZE, PAGE_SIZE);
	if (asked)
		return 0;
	char line[64];
	snprintf(line, sizeof(line), "page %llx\n",
		 (unsigned long long)(reg->gpa + page * PAGE_SIZE));
	/* A request that does not get through (a broken link) is asked again when the source is
	 * back (ask_again). */
	send_line(p, line);
	return 0;
}

static void *ask_for_faults(void *opaque)
{
	struct postcopy_destination *p = opaque;
	while (!atomic_load(&p->finished) && !atomic_load(&p->stopping)) {
		uint64_t addr, page;
		unsigned r;
		int rc = userfault_next(&p->uf, FAULT_POLL_MS, &addr);
		if (rc < 0) {
			log_error("post-copy: reading guest RAM faults failed: %s", strerror(-rc));
			break;
		}
		if (rc == 1 && locate(p, addr, &r, &page) && answer_fault(p, r, page) < 0) {
			log_error("post-copy: placing a zero page failed");
			break;
		}
	}
	return NULL;
}

/* One arriving page (NULL: a zero page) into guest RAM, unless something is there already. */
static int place_page(void *opaque, uint64_t gpa, const uint8_t *page)
{
	struct postcopy_destination *p = opaque;
	uint8_t *host = guest_memory_ptr(&p->vm->mem, gpa, PAGE_SIZE);
	unsigned r;
	uint64_t index;
	if (!host || !locate(p, (uintptr_t)host, &r, &index))
		return -ERANGE;
	pthread_mutex_lock(&p->lock);
	bool pending = page_set_has(&p->pending, r, index);
	pthread_mutex_unlock(&p->lock);
	if (!pending)
		return 0; /* an earlier copy of it came already */
	int rc = page ? userfault_copy(&p->uf, host, page, PAGE_SIZE)
		      : userfault_zero(&p->uf, host, PAGE_SIZE);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	page_set_remove(&p->pending, r, index);
	pthread_mutex_unlock(&p->lock);
	p->left--;
	return 0;
}

/* The source is gone with pages still there: the guest cannot go on. Its vCPUs wait in the
 * kernel for pages that will not come, and closing the userfaultfd would hand them zeros
 * instead, so the process ends here, at once. */
static _Noreturn void lost(struct postcopy_destination *p, const char *why)
{
	log_error("migration: post-copy broke off with %llu MiB of guest RAM still on the source "
		  "(%s); the VM cannot go on without it and stops here",
		  (unsigned long long)(p->left * PAGE_SIZE >> 20), why);
	_exit(VM_EXIT_ERROR);
}

/* ---- a broken link ---- */

/* The requests still open (asked for, not arrived), asked again on a new link. */
static void ask_again(struct postcopy_destination *p)
{
	const struct guest_memory *mem = &p->vm->mem;
	for (unsigned r = 0; r < mem->nr_regions; r++)
		for (uint64_t w = 0; w < guest_region_bitmap_words(&mem->regions[r]); w++) {
			pthread_mutex_lock(&p->lock);
			uint64_t open = p->requested.bits[r][w] & p->pending.bits[r][w];
			pthread_mutex_unlock(&p->lock);
			for (; open; open &= open - 1) {
				uint64_t page = w * 64 + (uint64_t)__builtin_ctzll(open);
				char line[64];
				snprintf(
				    line, sizeof(line), "page %llx\n",
				    (unsigned long long)(mem->regions[r].gpa + page * PAGE_SIZE));
				send_line(p, line);
			}
		}
}

/* A reconnected source: its "resume", then the pages still missing as PENDING sections up to
 * an end section; the new connection becomes the link. 0, or -1 (not a source that resumes). */
static int take_resume(struct postcopy_destination *p, int fd)
{
	char line[64], why[256];
	struct timeval tv = {.tv_sec = RESUME_TIMEOUT_S}, none = {0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (socket_read_line(fd, line, sizeof(line)) != 0 || strcmp(line, "resume") != 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	struct state_out out;
	state_out_init(&out, fd, 0);
	pthread_mutex_lock(&p->lock);
	int rc = page_set_write_pending(&p->pending, &p->vm->mem, &out, why, sizeof(why));
	pthread_mutex_unlock(&p->lock);
	if (rc < 0 || state_stream_write_end(&out, why, sizeof(why)) < 0)
		return -1;
	pthread_mutex_lock(&p->send_lock);
	p->fd = fd;
	pthread_mutex_unlock(&p->send_lock);
	ask_again(p);
	return 0;
}

/* The link to the source broke with pages missing: the --incoming URI listens again for up to
 * POSTCOPY_RECOVERY_WINDOW_S, while whatever touches a missing page waits. True once a source
 * resumed on a new link. */
static bool wait_for_the_source(struct postcopy_destination *p, const char *why)
{
	log_warn("post-copy: the link to the source broke (%s) with %llu MiB of guest RAM still "
		 "there; waiting up to %d s for it to connect again to %s",
		 why, (unsigned long long)(p->left * PAGE_SIZE >> 20), POSTCOPY_RECOVERY_WINDOW_S,
		 p->uri);
	pthread_mutex_lock(&p->send_lock);
	close(p->fd);
	p->fd = -1;
	pthread_mutex_unlock(&p->send_lock);
	char err[256];
	int listener = migration_listen(p->uri, err, sizeof(err));
	if (listener < 0) {
		log_error("post-copy: %s", err);
		return false;
	}
	uint64_t give_up = monotonic_ms() + POSTCOPY_RECOVERY_WINDOW_S * 1000ULL;
	bool back = false;
	while (!back && !atomic_load(&p->stopping) && monotonic_ms() < give_up) {
		struct pollfd pfd = {.fd = listener, .events = POLLIN};
		if (poll(&pfd, 1, ACCEPT_POLL_MS) <= 0)
			continue;
		int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		migration_watch_link(fd);
		back = take_resume(p, fd) == 0;
		if (!back)
			close(fd);
	}
	close(listener);
	if (strncmp(p->uri, "unix:", 5) == 0)
		unlink(p->uri + 5);
	if (back)
		log_info("post-copy: the source is back; %llu MiB of guest RAM to come",
			 (unsigned long long)(p->left * PAGE_SIZE >> 20));
	return back;
}

static void *receive_pages(void *opaque)
{
	struct postcopy_destination *p = opaque;
	char why[256];
	for (;;) {
		struct state_section section;
		void *storage;
		if (state_stream_read_section(p->fd, &section, &storage, why, sizeof(why)) < 0) {
			if (atomic_load(&p->stopping))
				return NULL;
			if (wait_for_the_source(p, why))
				continue;
			if (atomic_load(&p->stopping))
				return NULL;
			lost(p, "it did not come back");
		}
		int rc = 0;
		if (section.kind == STREAM_MEMORY || section.kind == STREAM_PAGES) {
			rc = state_stream_each_page(&section, place_page, p, why, sizeof(why));
			if (rc < -1)
				snprintf(why, sizeof(why), "placing a page failed: %s",
					 strerror(-rc));
		} else if (section.kind != STREAM_END) {
			snprintf(why, sizeof(why), "a section of kind %u came during post-copy",
				 (unsigned)section.kind);
			rc = -1;
		}
		bool end = section.kind == STREAM_END;
		free(storage);
		if (rc < 0)
			lost(p, why);
		if (end && p->left)
			lost(p, "the stream ended before every page came");
		if (end)
			break;
	}
	/* Every page is in: faults are the kernel's again (a page the balloon gives back reads as
	 * zero), and the fault thread ends. */
	for (unsigned r = 0; r < p->vm->mem.nr_regions; r++)
		userfault_unregister(&p->uf, p->vm->mem.regions[r].host,
				     p->vm->mem.regions[r].size);
	atomic_store(&p->finished, true);
	send_line(p, "done\n");
	log_info("post-copy: every page of guest RAM is here");
	return NULL;
}

int postcopy_destination_start(struct postcopy_destination *p, int fd, const char *uri, char *err,
			       size_t err_len)
{
	p->fd = fd;
	snprintf(p->uri, sizeof(p->uri), "%s", uri);
	/* The handshake's receive timeout must not cut a long post-copy short. */
	struct timeval none = {0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	if (pthread_create(&p->faults, NULL, ask_for_faults, p) != 0) {
		snprintf(err, err_len, "post-copy: cannot start its fault thread");
		return -1;
	}
	if (pthread_create(&p->receiver, NULL, receive_pages, p) != 0) {
		atomic_store(&p->stopping, true);
		pthread_join(p->faults, NULL);
		snprintf(err, err_len, "post-copy: cannot start its receiving thread");
		return -1;
	}
	p->started = true;
	return 0;
}

void postcopy_destination_finish(struct postcopy_destination *p)
{
	if (!p)
		return;
	if (p->started) {
		if (!atomic_load(&p->finished)) {
			atomic_store(&p->stopping, true);
			pthread_mutex_lock(&p->send_lock);
			if (p->fd >= 0)
				shutdown(p->fd, SHUT_RDWR); /* the receiver's read ends */
			pthread_mutex_unlock(&p->send_lock);
		}
		pthread_join(p->receiver, NULL);
		pthread_join(p->faults, NULL);
	}
	if (p->fd >= 0)
		close(p->fd);
	release(p);
}
