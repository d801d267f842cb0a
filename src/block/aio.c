/* Asynchronous requests: cutting them into direct and synchronous pieces, and handing their
 * completions to the callbacks from block_poll. */
#include "block/aio.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/bounce_pool.h"
#include "lib/log.h"

/* io_uring takes 32-bit lengths; longer direct pieces are split. */
#define MAX_DIRECT_PIECE (1u << 30)
#define DIRECT_ALIGN	 4096u
/* Most buffers one readv/writev may take (Linux's UIO_MAXIOV); more go through a bounce. */
#define MAX_IOVCNT 1024u

static void signal_event(struct block_aio *aio)
{
	uint64_t one = 1;
	while (write(aio->event_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static int start_backend(struct block_aio *aio, const struct aio_backend *backend)
{
	aio->backend = backend;
	return backend->init(aio);
}

/* io_uring unless GUREUM_BLOCK_AIO=threads asks otherwise or the kernel (or a seccomp filter)
 * refuses it. */
static struct block_aio *create_engine(struct block_device *dev)
{
	struct block_aio *aio = calloc(1, sizeof(*aio));
	if (!aio)
		return NULL;
	aio->dev = dev;
	aio->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (aio->event_fd < 0) {
		free(aio);
		return NULL;
	}
	pthread_mutex_init(&aio->lock, NULL);
	const char *choice = getenv("GUREUM_BLOCK_AIO");
	bool want_threads = choice && strcmp(choice, "threads") == 0;
	int ret = want_threads ? -1 : start_backend(aio, &aio_uring_backend);
	if (ret < 0) {
		if (!want_threads)
			log_debug("block: io_uring unavailable (%s), using worker threads",
				  strerror(-ret));
		ret = start_backend(aio, &aio_threads_backend);
	}
	if (ret < 0) {
		close(aio->event_fd);
		pthread_mutex_destroy(&aio->lock);
		free(aio);
		return NULL;
	}
	return aio;
}

static struct block_aio *engine_of(struct block_device *dev)
{
	if (!dev->aio)
		dev->aio = create_engine(dev);
	return dev->aio;
}

int block_event_fd(struct block_device *dev)
{
	struct block_aio *aio = engine_of(dev);
	return aio ? aio->event_fd : -1;
}

const char *block_aio_engine(struct block_device *dev)
{
	struct block_aio *aio = engine_of(dev);
	return aio ? aio->backend->name : "none";
}

/* notify: wake the event loop (not needed when block_poll itself finishes the request). */
static void piece_done(struct block_aio *aio, struct aio_request *ar, int result, bool notify)
{
	if (result < 0 && ar->result == 0)
		ar->result = result;
	if (--ar->pieces > 0)
		return;
	ar->next = aio->finished;
	aio->finished = ar;
	if (notify)
		signal_event(aio);
}

void aio_op_finished(struct block_aio *aio, struct aio_op *op)
{
	pthread_mutex_lock(&aio->lock);
	op->next = aio->finished_ops;
	aio->finished_ops = op;
	pthread_mutex_unlock(&aio->lock);
	signal_event(aio);
}

/* ---- Scattered buffers ---- */

static uint64_t iov_total(const struct iovec *iov, unsigned n)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

static bool iov_aligned(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (DIRECT_ALIGN - 1))
			return false;
	return true;
}

/* Copies between the flat buffer and the iov's bytes from `offset` on (gather: into flat). */
static void iov_copy(const struct iovec *iov, unsigned n, uint64_t offset, void *flat, uint64_t len,
		     bool gather)
{
	char *p = flat;
	for (unsigned i = 0; i < n && len > 0; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		uint64_t part = iov[i].iov_len - offset;
		if (part > len)
			part = len;
		char *base = (char *)iov[i].iov_base + offset;
		memcpy(gather ? p : base, gather ? base : p, part);
		p += part;
		len -= part;
		offset = 0;
	}
}

static void iov_zero_from(const struct iovec *iov, unsigned n, uint64_t offset)
{
	for (unsigned i = 0; i < n; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		memset((char *)iov[i].iov_base + offset, 0, iov[i].iov_len - offset);
		offset = 0;
	}
}

/* What an op's result means for its request: a read that ends past the end of the file reads
 * zeroes there; any other short transfer is an I/O error. */
static int op_outcome(struct aio_op *op)
{
	if (op->result < 0)
		return op->result;
	if (op->opcode == BLOCK_OP_FLUSH || (uint64_t)op->result == op->length)
		return 0;
	if (op->opcode == BLOCK_OP_READ) {
		if (op->iov)
			iov_zero_from(op->iov, op->iovcnt, (uint64_t)op->result);
		else
			memset((char *)op->buffer + op->result, 0, op->length - op->result);
		return 0;
	}
	return -EIO;
}

/* A small buffered write is a copy into the page cache of a few microseconds, but neither
 * backend can run it where it is submitted: ext4 has no non-blocking buffered writes, so
 * io_uring hands every one to a worker, as the thread pool does. The hop there and back (a
 * wakeup, two context switches) cost three times the write (4 KiB at depth 1: 46k IOPS through
 * io_uring's worker, 120k with pwrite). Buffered writes to one file run one at a time anyway
 * (ext4's inode lock; io_uring hashes them to a single worker), so running them here loses no
 * parallelism between writes. What it can cost is a wait in the kernel (dirty-page throttling,
 * a journal commit) that holds up the requests behind it. A large write goes to the backend
 * when other I/O is in flight, so its copy overlaps with the next submissions; alone (depth 1)
 * there is nothing to overlap with, and it runs here too. */
#define INLINE_WRITE_MAX (64u << 10)

static bool runs_inline(const struct block_aio *aio, const struct aio_op *op)
{
	bool alone = aio->ops_in_flight == 1; /* counting op itself */
	return op->opcode == BLOCK_OP_WRITE && op->buffered &&
	       (op->length <= INLINE_WRITE_MAX || alone);
}

static void write_inline(struct block_aio *aio, struct aio_op *op)
{
	ssize_t n;
	do {
		n = op->iov ? pwritev(op->fd, op->iov, (int)op->iovcnt, (off_t)op->offset)
			    : pwrite(op->fd, op->buffer, op->length, (off_t)op->offset);
	} while (n < 0 && errno == EINTR);
	op->result = n < 0 ? -errno : (int)n;
	aio_op_finished(aio, op);
}

static void start_op(struct block_aio *aio, struct aio_request *ar, struct aio_op *op)
{
	ar->pieces++;
	aio->ops_in_flight++;
	if (runs_inline(aio, op))
		write_inline(aio, op);
	else
		aio->backend->submit(aio, op);
}

/* Data I/O on file: its O_DIRECT descriptor where the transfer is aligned, the buffered one
 * otherwise. */
static void choose_fd(struct aio_op *op, const struct block_device *file, bool aligned_io)
{
	op->buffered = file->direct_fd < 0 || !aligned_io;
	op->fd = op->buffered ? file->data_fd : file->direct_fd;
}

static int submit_op(struct block_aio *aio, struct aio_request *ar, int opcode,
		     const struct block_device *file, bool aligned_io, uint64_t offset,
		     uint64_t length, void *buffer, void *token)
{
	struct aio_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	*op = (struct aio_op){.owner = ar,
			      .opcode = opcode,
			      .offset = offset,
			      .length = length,
			      .buffer = buffer,
			      .token = token};
	choose_fd(op, file, aligned_io);
	start_op(aio, ar, op);
	return 0;
}

/* The old contents of a copy-on-write are in: the new bytes go on top and the planned write
 * starts as the request's next piece. After a failed read the write is abandoned (the driver
 * forgets it). Returns the outcome of the read's own piece. */
static int continue_copy_on_write(struct block_aio *aio, struct aio_op *read, int outcome)
{
	struct aio_op *write = read->then;
	if (outcome < 0) {
		aio->dev->driver->finish_write(aio->dev, write->token, outcome);
		free(write);
		return outcome;
	}
	memcpy((char *)write->buffer + read->new_at, read->new_data, read->new_length);
	start_op(aio, read->owner, write);
	return 0;
}

/* Hands finished ops to their requests (and planned writes to the driver); returns how many. */
static unsigned collect_finished_ops(struct block_aio *aio)
{
	aio->backend->reap(aio);
	pthread_mutex_lock(&aio->lock);
	struct aio_op *op = aio->finished_ops;
	aio->finished_ops = NULL;
	pthread_mutex_unlock(&aio->lock);
	unsigned count = 0;
	while (op) {
		struct aio_op *next = op->next;
		int outcome = op_outcome(op);
		if (op->then)
			outcome = continue_copy_on_write(aio, op, outcome);
		if (op->token) {
			struct block_device *dev = aio->dev;
			int ret = dev->driver->finish_write(dev, op->token, outcome);
			outcome = outcome ? outcome : ret;
		}
		aio->ops_in_flight--;
		piece_done(aio, op->owner, outcome, false);
		free(op);
		op = next;
		count++;
	}
	return count;
}

/* Blocks until some op (all: every op) has finished and been collected. Used on the
 * submitting thread when a request depends on I/O in flight. */
static void wait_for_ops(struct block_aio *aio, bool all)
{
	for (;;) {
		unsigned got = collect_finished_ops(aio);
		if (aio->ops_in_flight == 0 || (!all && got > 0))
			break;
		struct pollfd pfd = {.fd = aio->event_fd, .events = POLLIN};
		poll(&pfd, 1, 100);
		uint64_t count;
		while (read(aio->event_fd, &count, sizeof(count)) < 0 && errno == EINTR)
			;
	}
	/* The eventfd may have been consumed here: the caller's loop must still see finished
	 * requests. */
	if (aio->finished)
		signal_event(aio);
}

static bool aligned(uint64_t host_offset, uint64_t length, const void *buffer)
{
	return ((host_offset | length | (uintptr_t)buffer) & (DIRECT_ALIGN - 1)) == 0;
}

/* Runs [offset, offset + length) of a read or write through the synchronous driver path. */
static int run_synchronously(struct block_device *dev, const struct aio_request *ar,
			     uint64_t offset, uint64_t length)
{
	const struct block_request *req = ar->req;
	if (length == 0)
		return 0;
	char *buffer = (char *)ar->buffer + (offset - req->offset);
	if (req->op == BLOCK_OP_READ)
		return block_read(dev, offset, buffer, length);
	return block_write(dev, offset, buffer, length);
}

/* Asks the driver to plan an allocating write of the first bytes of [at, at + left); waits
 * while an earlier planned write to the same cluster is in flight. Returns like plan_write. */
static int plan_write(struct block_device *dev, struct block_aio *aio, uint64_t at, uint64_t left,
		      void *buffer, struct block_write_plan *plan)
{
	for (;;) {
		int ret = dev->driver->plan_write(dev, at, left, buffer, plan);
		if (ret != -EBUSY || aio->ops_in_flight == 0)
			return ret;
		wait_for_ops(aio, false);
	}
}

/* One piece of data I/O for the backend; a planned write that cannot be started is finished
 * (failed) at once so that the driver forgets it. */
static int submit_piece(struct block_device *dev, struct block_aio *aio, struct aio_request *ar,
			const struct block_extent *ext, void *buffer, void *token)
{
	int ret =
	    submit_op(aio, ar, ar->req->op, ext->file, aligned(ext->offset, ext->length, buffer),
		      ext->offset, ext->length, buffer, token);
	if (ret < 0 && token)
		dev->driver->finish_write(dev, token, ret);
	return ret;
}

/* A planned copy-on-write whose old contents are still to be read: the read goes to the
 * backend now, the write once the read is in (continue_copy_on_write), so the submitting thread
 * never waits for the old data. */
static int submit_copy_on_write(struct block_device *dev, struct block_aio *aio,
				struct aio_request *ar, const struct block_write_plan *plan)
{
	struct aio_op *write = calloc(1, sizeof(*write)), *read = calloc(1, sizeof(*read));
	if (!write || !read) {
		free(write);
		free(read);
		dev->driver->finish_write(dev, plan->token, -ENOMEM);
		return -ENOMEM;
	}
	void *buffer = (void *)plan->buffer;
	*write = (struct aio_op){.owner = ar,
				 .opcode = BLOCK_OP_WRITE,
				 .offset = plan->host_offset,
				 .length = plan->length,
				 .buffer = buffer,
				 .token = plan->token};
	choose_fd(write, dev, aligned(plan->host_offset, plan->length, buffer));
	*read = (struct aio_op){.owner = ar,
				.opcode = BLOCK_OP_READ,
				.offset = plan->old.offset,
				.length = plan->old.length,
				.buffer = buffer,
				.then = write,
				.new_data = plan->new_data,
				.new_at = plan->new_at,
				.new_length = plan->new_length};
	choose_fd(read, plan->old.file, aligned(plan->old.offset, plan->old.length, buffer));
	start_op(aio, ar, read);
	return 0;
}

/* The driver's map_direct, clipped to the range; a driver without one has everything
 * synchronous. */
static int map_range(struct block_device *dev, int op, uint64_t offset, uint64_t length,
		     struct block_extent *ext)
{
	if (!dev->driver->map_direct) {
		*ext = (struct block_extent){.file = dev, .length = length};
		return 0;
	}
	int direct = dev->driver->map_direct(dev, op, offset, length, ext);
	if (direct >= 0 && ext->length > length)
		ext->length = length;
	return direct;
}

/* Cuts a read or write into pieces: direct and planned ones go to the backend, runs of the
 * others to the driver. */
static int split_data_request(struct block_device *dev, struct block_aio *aio,
			      struct aio_request *ar)
{
	struct block_request *req = ar->req;
	uint64_t end = req->offset + req->length, slow_start = req->offset;
	for (uint64_t at = req->offset; at < end;) {
		uint64_t left = end - at < MAX_DIRECT_PIECE ? end - at : MAX_DIRECT_PIECE;
		struct block_extent ext;
		int direct = map_range(dev, req->op, at, left, &ext);
		if (direct < 0)
			return direct;
		uint64_t mapped = ext.length;
		void *buffer = (char *)ar->buffer + (at - req->offset);
		struct block_write_plan plan = {.token = NULL};
		if (!direct && req->op == BLOCK_OP_WRITE && dev->driver->plan_write) {
			direct = plan_write(dev, aio, at, left, buffer, &plan);
			if (direct < 0)
				return direct;
			mapped = plan.mapped;
			if (direct) {
				ext = (struct block_extent){dev, plan.host_offset, plan.length};
				buffer = (void *)plan.buffer;
			}
		}
		if (!direct) {
			at += mapped;
			continue;
		}
		int ret = run_synchronously(dev, ar, slow_start, at - slow_start);
		if (ret < 0 && plan.token)
			dev->driver->finish_write(dev, plan.token, ret);
		if (!ret && plan.old.length > 0)
			ret = submit_copy_on_write(dev, aio, ar, &plan);
		else if (!ret)
			ret = submit_piece(dev, aio, ar, &ext, buffer, plan.token);
		if (ret < 0)
			return ret;
		at += mapped;
		slow_start = at;
	}
	return run_synchronously(dev, ar, slow_start, end - slow_start);
}

/* A vectored READ/WRITE: one readv/writev when the driver maps the whole range in place (raw
 * files, allocated qcow2 clusters in a row); otherwise through a bounce buffer and the usual
 * pieces, since planned writes and synchronous pieces need one flat buffer. */
static int start_vectored(struct block_device *dev, struct block_aio *aio, struct aio_request *ar)
{
	struct block_request *req = ar->req;
	if (iov_total(req->iov, req->iovcnt) != req->length)
		return -EINVAL;
	if (req->length == 0)
		return 0;
	struct block_extent ext = {.length = 0};
	int direct = 0;
	if (req->length <= MAX_DIRECT_PIECE && req->iovcnt <= MAX_IOVCNT)
		direct = map_range(dev, req->op, req->offset, req->length, &ext);
	if (direct < 0)
		return direct;
	if (direct && ext.length >= req->length) {
		struct aio_op *op = calloc(1, sizeof(*op));
		if (!op)
			return -ENOMEM;
		*op = (struct aio_op){.owner = ar,
				      .opcode = req->op,
				      .offset = ext.offset,
				      .length = req->length,
				      .iov = req->iov,
				      .iovcnt = req->iovcnt};
		choose_fd(op, ext.file,
			  ((ext.offset | req->length) & (DIRECT_ALIGN - 1)) == 0 &&
			      iov_aligned(req->iov, req->iovcnt));
		start_op(aio, ar, op);
		return 0;
	}
	uint64_t rounded = (req->length + DIRECT_ALIGN - 1) & ~(uint64_t)(DIRECT_ALIGN - 1);
	ar->bounce = bounce_get(dev, rounded);
	ar->bounce_size = rounded;
	if (!ar->bounce)
		return -ENOMEM;
	if (req->op == BLOCK_OP_WRITE)
		iov_copy(req->iov, req->iovcnt, 0, ar->bounce, req->length, true);
	ar->buffer = ar->bounce;
	return split_data_request(dev, aio, ar);
}

static int start_request(struct block_device *dev, struct block_aio *aio, struct aio_request *ar)
{
	struct block_request *req = ar->req;
	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		if (req->op == BLOCK_OP_WRITE && dev->read_only)
			return -EROFS;
		if (req->offset > dev->size || req->length > dev->size - req->offset)
			return -EINVAL;
		if (req->iov)
			return start_vectored(dev, aio, ar);
		return split_data_request(dev, aio, ar);
	case BLOCK_OP_FLUSH:
		if (dev->read_only)
			return 0;
		/* Without cached metadata, syncing the file makes every completed write durable.
		 * A driver with caches writes them back in order, synchronously; it waits for the
		 * I/O in flight, whose completions may still change the metadata. */
		if (!dev->driver->caches_metadata)
			return submit_op(aio, ar, BLOCK_OP_FLUSH, dev, false, 0, 0, NULL, NULL);
		wait_for_ops(aio, true);
		return block_flush(dev);
	case BLOCK_OP_DISCARD:
		if (dev->driver->caches_metadata)
			wait_for_ops(aio, true);
		return block_discard(dev, req->offset, req->length);
	case BLOCK_OP_WRITE_ZEROES:
		if (dev->driver->caches_metadata)
			wait_for_ops(aio, true);
		return block_write_zeroes(dev, req->offset, req->length);
	}
	return -EINVAL;
}

void block_submit(struct block_device *dev, struct block_request *req)
{
	struct block_aio *aio = engine_of(dev);
	struct aio_request *ar = aio ? calloc(1, sizeof(*ar)) : NULL;
	if (!ar) { /* no engine and no memory for one: the only case that completes inline */
		req->complete(req, -ENOMEM);
		return;
	}
	ar->req = req;
	ar->buffer = req->buffer;
	ar->pieces = 1; /* held until every piece has been started */
	aio->in_flight++;
	int ret = start_request(dev, aio, ar);
	piece_done(aio, ar, ret, true);
}

int block_poll(struct block_device *dev)
{
	struct block_aio *aio = dev->aio;
	if (!aio)
		return 0;
	uint64_t count;
	/* Cleared before collecting, so a completion that races with us re-arms it. */
	while (read(aio->event_fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	collect_finished_ops(aio);
	int completed = 0;
	while (aio->finished) {
		struct aio_request *ar = aio->finished;
		aio->finished = ar->next;
		aio->in_flight--;
		completed++;
		struct block_request *req = ar->req;
		int result = ar->result;
		if (ar->bounce && req->op == BLOCK_OP_READ && result == 0)
			iov_copy(req->iov, req->iovcnt, 0, ar->bounce, req->length, false);
		bounce_put(dev, ar->bounce, ar->bounce_size);
		free(ar);
		req->complete(req, result);
	}
	return completed;
}

void block_drain(struct block_device *dev)
{
	struct block_aio *aio = dev->aio;
	while (aio && aio->in_flight > 0) {
		if (block_poll(dev) > 0)
			continue;
		struct pollfd pfd = {.fd = aio->event_fd, .events = POLLIN};
		poll(&pfd, 1, 100);
	}
}

void block_aio_destroy(struct block_device *dev)
{
	struct block_aio *aio = dev->aio;
	if (!aio)
		return;
	block_drain(dev);
	aio->backend->destroy(aio);
	close(aio->event_fd);
	pthread_mutex_destroy(&aio->lock);
	free(aio);
	dev->aio = NULL;
}
