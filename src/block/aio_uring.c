/* The io_uring backend: each op is one read, write (or readv, writev) or fdatasync on the ring; the
 * ring signals the engine's eventfd when completions arrive. */
#include "block/aio.h"

#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdlib.h>

#define RING_ENTRIES 256

static struct io_uring *ring_of(struct block_aio *aio)
{
	return aio->backend_state;
}

static int uring_init(struct block_aio *aio)
{
	struct io_uring *ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	int ret = io_uring_queue_init(RING_ENTRIES, ring, 0);
	if (ret < 0) {
		free(ring);
		return ret;
	}
	ret = io_uring_register_eventfd(ring, aio->event_fd);
	if (ret < 0) {
		io_uring_queue_exit(ring);
		free(ring);
		return ret;
	}
	aio->backend_state = ring;
	return 0;
}

static void uring_reap(struct block_aio *aio)
{
	struct io_uring *ring = ring_of(aio);
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(ring, &cqe) == 0) {
		struct aio_op *op = io_uring_cqe_get_data(cqe);
		op->result = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		aio_op_finished(aio, op);
	}
}

/* A full submission queue: push it to the kernel, and if that is not enough, wait for a
 * completion to make room (it is collected for block_poll, not handed out here). */
static struct io_uring_sqe *get_sqe(struct block_aio *aio)
{
	struct io_uring *ring = ring_of(aio);
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(ring))) {
		io_uring_submit(ring);
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(ring, &cqe) == 0)
			uring_reap(aio);
	}
	return sqe;
}

/* A buffered read that the page cache can satisfy runs inline in io_uring_enter: the copy of a
 * large request happens on the submitting thread, so requests in flight together are copied one
 * after another on one core (1 MiB reads at depth 32 ran at half the rate of a thread pool).
 * IOSQE_ASYNC hands such a read to io_uring's workers, which copy on every core; with nothing
 * else in flight the hop to a worker only adds latency. Writes are left as io_uring runs them:
 * buffered writes to one file serialize on its inode lock (on ext4 io_uring already runs them
 * one at a time on one worker), and IOSQE_ASYNC on them measured slower. */
#define ASYNC_READ_MIN_LENGTH (128u << 10)

static bool worth_a_worker(const struct block_aio *aio, const struct aio_op *op)
{
	return op->opcode == BLOCK_OP_READ && op->buffered && op->length >= ASYNC_READ_MIN_LENGTH &&
	       aio->ops_in_flight > 1;
}

static void uring_submit(struct block_aio *aio, struct aio_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(aio);
	switch (op->opcode) {
	case BLOCK_OP_READ:
		if (op->iov)
			io_uring_prep_readv(sqe, op->fd, op->iov, op->iovcnt, op->offset);
		else
			io_uring_prep_read(sqe, op->fd, op->buffer, op->length, op->offset);
		break;
	case BLOCK_OP_WRITE:
		if (op->iov)
			io_uring_prep_writev(sqe, op->fd, op->iov, op->iovcnt, op->offset);
		else
			io_uring_prep_write(sqe, op->fd, op->buffer, op->length, op->offset);
		break;
	default:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
	if (worth_a_worker(aio, op))
		sqe->flags |= IOSQE_ASYNC;
	/* An SQE the kernel did not take stays queued; make room and push it again. */
	int ret;
	while ((ret = io_uring_submit(ring_of(aio))) == -EINTR || ret == -EAGAIN || ret == -EBUSY) {
		struct io_uring_cqe *cqe;
		if (ret == -EBUSY && io_uring_wait_cqe(ring_of(aio), &cqe) == 0)
			uring_reap(aio);
	}
}

static void uring_destroy(struct block_aio *aio)
{
	io_uring_queue_exit(ring_of(aio));
	free(aio->backend_state);
}

const struct aio_backend aio_uring_backend = {
    .name = "io_uring",
    .init = uring_init,
    .submit = uring_submit,
    .reap = uring_reap,
    .destroy = uring_destroy,
};
