/* The thread-pool backend, for kernels or sandboxes without io_uring: worker threads run
 * pread/pwrite (preadv/pwritev)/fdatasync and report to the engine, which wakes the event loop. */
#include "block/aio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define WORKERS 4

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct aio_op *head, *tail;
	bool stopping;
	int nworkers;
	pthread_t workers[WORKERS];
	struct block_aio *aio;
};

static int transfer(struct aio_op *op)
{
	char *p = op->buffer;
	uint64_t done = 0;
	while (done < op->length) {
		ssize_t n = op->opcode == BLOCK_OP_READ
				? pread(op->fd, p + done, op->length - done, op->offset + done)
				: pwrite(op->fd, p + done, op->length - done, op->offset + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* end of file: the engine decides what a short read means */
		done += n;
	}
	return (int)done;
}

/* A vectored op: preadv/pwritev until done, resuming a short transfer on a copy of the
 * caller's array (the engine caps it at 1024 buffers). */
static int transfer_vectored(struct aio_op *op)
{
	struct iovec iov[1024];
	unsigned n = op->iovcnt, first = 0;
	memcpy(iov, op->iov, n * sizeof(iov[0]));
	uint64_t done = 0;
	while (done < op->length && first < n) {
		ssize_t got =
		    op->opcode == BLOCK_OP_READ
			? preadv(op->fd, iov + first, (int)(n - first), op->offset + done)
			: pwritev(op->fd, iov + first, (int)(n - first), op->offset + done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break; /* end of file */
		done += got;
		for (size_t left = (size_t)got; left > 0 && first < n;) {
			size_t part = left < iov[first].iov_len ? left : iov[first].iov_len;
			iov[first].iov_base = (char *)iov[first].iov_base + part;
			iov[first].iov_len -= part;
			left -= part;
			if (iov[first].iov_len == 0)
				first++;
		}
	}
	return (int)done;
}

static int execute(struct aio_op *op)
{
	if (op->opcode == BLOCK_OP_FLUSH)
		return fdatasync(op->fd) < 0 ? -errno : 0;
	return op->iov ? transfer_vectored(op) : transfer(op);
}

static struct aio_op *next_op(struct pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	while (!pool->head && !pool->stopping)
		pthread_cond_wait(&pool->work, &pool->lock);
	struct aio_op *op = pool->head;
	if (op) {
		pool->head = op->next;
		if (!pool->head)
			pool->tail = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	return op;
}

static void *worker(void *arg)
{
	struct pool *pool = arg;
	struct aio_op *op;
	while ((op = next_op(pool))) {
		op->result = execute(op);
		aio_op_finished(pool->aio, op);
	}
	return NULL;
}

static void stop_workers(struct pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->nworkers; i++)
		pthread_join(pool->workers[i], NULL);
}

static void threads_destroy(struct block_aio *aio)
{
	struct pool *pool = aio->backend_state;
	stop_workers(pool);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	free(pool);
}

static int threads_init(struct block_aio *aio)
{
	struct pool *pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->aio = aio;
	aio->backend_state = pool;
	for (; pool->nworkers < WORKERS; pool->nworkers++) {
		if (pthread_create(&pool->workers[pool->nworkers], NULL, worker, pool) != 0)
			break;
	}
	if (pool->nworkers == 0) {
		threads_destroy(aio);
		return -EAGAIN;
	}
	return 0;
}

static void threads_submit(struct block_aio *aio, struct aio_op *op)
{
	struct pool *pool = aio->backend_state;
	op->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->tail)
		pool->tail->next = op;
	else
		pool->head = op;
	pool->tail = op;
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

static void threads_reap(struct block_aio *aio)
{
	(void)aio; /* workers report as they finish */
}

const struct aio_backend aio_threads_backend = {
    .name = "threads",
    .init = threads_init,
    .submit = threads_submit,
    .reap = threads_reap,
    .destroy = threads_destroy,
};
