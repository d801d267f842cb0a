/* The asynchronous engine behind block_submit (internal to src/block).
 *
 * A request is cut into pieces with the driver's map_direct: pieces that read or write data in
 * place (raw files; allocated qcow2 clusters) go to an I/O backend, io_uring or a thread pool.
 * Allocating writes are planned by the driver (plan_write: new clusters, copy-on-write buffer)
 * and their data goes to the backend too; the driver's finish_write then updates its metadata.
 * Reads of data a backing image holds go to the backend too, on that image's file.
 * The rest (compressed clusters, zeroes, discards) runs
 * synchronously through the driver on the submitting thread. Driver metadata is only ever
 * touched by the submitting thread. Completions are collected and handed to the request callbacks
 * in block_poll; an eventfd tells the caller's event loop when to call it. */
#ifndef GUREUM_BLOCK_AIO_H
#define GUREUM_BLOCK_AIO_H

#include "block/block.h"

#include <pthread.h>
#include <stdbool.h>

/* One system-level I/O on the data file, part of one request. */
struct aio_op {
	struct aio_request *owner;
	int opcode; /* BLOCK_OP_READ, BLOCK_OP_WRITE or BLOCK_OP_FLUSH */
	int fd;
	bool buffered; /* fd goes through the page cache (not an O_DIRECT descriptor) */
	uint64_t offset;
	uint64_t length;
	void *buffer;
	const struct iovec *iov; /* a vectored READ/WRITE (buffer unused), or NULL */
	unsigned iovcnt;
	int result;  /* bytes transferred or -errno, set by the backend */
	void *token; /* a write planned by the driver: handed to finish_write, or NULL */
	/* A read of copy-on-write data: once it is in, the new bytes go on top and `then` (the
	 * planned write) starts. */
	struct aio_op *then;
	const void *new_data;
	uint64_t new_at, new_length;
	struct aio_op *next;
};

/* Bookkeeping of one block_request while its pieces are in flight. */
struct aio_request {
	struct block_request *req;
	void *buffer; /* READ/WRITE data: req->buffer, or the bounce buffer of a vectored request */
	/* Owned: given back (after a READ's data was scattered to req->iov) at completion. */
	void *bounce;
	size_t bounce_size;
	int pieces; /* pieces not yet finished */
	int result; /* first error */
	struct aio_request *next;
};

struct aio_backend;

struct block_aio {
	struct block_device *dev;
	const struct aio_backend *backend;
	void *backend_state;
	int event_fd;
	unsigned in_flight;	/* requests submitted and not yet completed */
	unsigned ops_in_flight; /* ops given to the backend and not yet collected */
	/* Ops finished by a backend (any thread), and requests finished whose callbacks have not
	 * run yet (submitting thread only). */
	pthread_mutex_t lock;
	struct aio_op *finished_ops;
	struct aio_request *finished;
};

struct aio_backend {
	const char *name;
	int (*init)(struct block_aio *aio);
	/* Starts op; its completion is reported through aio_op_finished. */
	void (*submit)(struct block_aio *aio, struct aio_op *op);
	/* Collects completed ops (calls aio_op_finished); never blocks. */
	void (*reap)(struct block_aio *aio);
	void (*destroy)(struct block_aio *aio);
};

extern const struct aio_backend aio_uring_backend;
extern const struct aio_backend aio_threads_backend;

/* Called by a backend, from any thread, when op is done. */
void aio_op_finished(struct block_aio *aio, struct aio_op *op);

/* Tears down dev's engine after draining it (block_close calls this). */
void block_aio_destroy(struct block_device *dev);

#endif
