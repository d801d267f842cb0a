/* The block layer: one interface for every disk backend (raw files, qcow2 images, ...).
 *
 * Every operation works on byte ranges of the virtual disk. A backend implements the synchronous
 * operations in struct block_driver; callers either use the synchronous helpers (block_read, ...),
 * as the image tool does, or submit struct block_requests (block_submit) whose completion
 * callbacks run later from the caller's event loop: the loop polls block_event_fd() and calls
 * block_poll() when it is readable. Data I/O that needs no metadata change goes to io_uring (or
 * to a thread pool where io_uring is unavailable); see block/aio.h. */
#ifndef GUREUM_BLOCK_BLOCK_H
#define GUREUM_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* A human-readable reason why an operation failed, naming the file and what is wrong. */
struct block_error {
	char message[512];
};

void block_error_set(struct block_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

enum block_open_flags {
	BLOCK_OPEN_READ_ONLY = 1u << 0,
	/* Skip the ordering flushes between data and metadata. Only for images being created
	 * from scratch (convert): a crash leaves a broken image that nobody relies on yet. */
	BLOCK_OPEN_UNSAFE = 1u << 1,
	/* Allow writing to images marked dirty or corrupt: only for the checker's repair. */
	BLOCK_OPEN_FOR_REPAIR = 1u << 2,
	/* Asynchronous data I/O bypasses the host page cache (O_DIRECT, QEMU's cache=none) where
	 * offset, length and buffer are aligned; metadata and unaligned I/O stay buffered. */
	BLOCK_OPEN_DIRECT = 1u << 3,
	/* Do not open the backing file (it may be missing): for editing the header only. Reads
	 * of unallocated ranges then return zeroes. */
	BLOCK_OPEN_NO_BACKING = 1u << 4,
};

struct block_device;

/* How a range of the disk is stored in one image of a chain. */
enum block_status_kind {
	BLOCK_STATUS_UNALLOCATED, /* not in this image: the backing file shows through */
	BLOCK_STATUS_DATA,	  /* stored data */
	BLOCK_STATUS_ZERO,	  /* reads as zeroes without stored data */
};

struct block_status {
	enum block_status_kind kind;
	uint64_t length; /* bytes from the queried offset that share this status (> 0) */
	bool has_offset; /* host space at host_offset (for data: the data, uncompressed) */
	uint64_t host_offset;
};

/* Where a range of the disk lies in a file (see map_direct). */
struct block_extent {
	struct block_device *file; /* whose data_fd (or direct_fd) holds it: the device itself, or
				      for reads an image of its backing chain */
	uint64_t offset;	   /* where in that file */
	uint64_t length;	   /* how many bytes of the range, always > 0 */
};

/* One asynchronous write planned by a driver (see plan_write). */
struct block_write_plan {
	uint64_t mapped;      /* guest bytes from offset that this piece covers */
	uint64_t host_offset; /* where in data_fd to write ... */
	uint64_t length;      /* ... how many bytes ... */
	const void *buffer;   /* ... from here (the caller's buffer or the driver's) */
	void *token;	      /* handed back to finish_write */
	/* A copy-on-write whose old contents are not in the buffer yet (old.length > 0): the
	 * engine first reads `old` (length bytes) into the buffer, then copies new_length bytes
	 * from new_data to buffer + new_at, then writes. */
	struct block_extent old;
	const void *new_data;
	uint64_t new_at, new_length;
};

/* The operations a backend provides. offset/length are already checked against the disk size. */
struct block_driver {
	const char *format_name;
	int (*read)(struct block_device *dev, uint64_t offset, void *buf, size_t length);
	int (*write)(struct block_device *dev, uint64_t offset, const void *buf, size_t length);
	int (*flush)(struct block_device *dev);
	int (*discard)(struct block_device *dev, uint64_t offset, uint64_t length);
	int (*write_zeroes)(struct block_device *dev, uint64_t offset, uint64_t length);
	void (*close)(struct block_device *dev);
	/* What backs [offset, offset + length): see block_get_status. */
	int (*status)(struct block_device *dev, uint64_t offset, uint64_t length,
		      struct block_status *st);
	/* The backing image, or NULL. */
	struct block_device *(*backing)(struct block_device *dev);
	/* For asynchronous requests: says whether the first bytes of [offset, offset + length)
	 * can be read or written directly in a file without touching metadata. Returns 1 when
	 * [offset, offset + ext->length) lies contiguously in ext->file at ext->offset, 0 when
	 * the first ext->length bytes need the synchronous operation, or a negative errno.
	 * ext->length is always > 0. A read may be mapped into an image of the backing chain. */
	int (*map_direct)(struct block_device *dev, int op, uint64_t offset, uint64_t length,
			  struct block_extent *ext);
	/* For asynchronous writes that map_direct refused (allocating writes): prepares the first
	 * piece of [offset, offset + length) so that its data can be written asynchronously.
	 * Returns 1 with *plan filled, 0 when the first plan->mapped bytes need the synchronous
	 * write, -EBUSY while an earlier planned write to the same cluster is unfinished, or a
	 * negative errno. NULL: every such write is synchronous. */
	int (*plan_write)(struct block_device *dev, uint64_t offset, uint64_t length,
			  const void *buf, struct block_write_plan *plan);
	/* Called on the submitting thread once a planned write is done (result 0 or -errno),
	 * before its request completes: the driver makes the new data visible. */
	int (*finish_write)(struct block_device *dev, void *token, int result);
	/* The driver caches metadata: a FLUSH request runs the driver's flush (after the I/O in
	 * flight), and discard/write-zeroes wait for planned writes. */
	bool caches_metadata;
};

struct block_aio;

struct block_device {
	const struct block_driver *driver;
	char *filename;
	uint64_t size;
	bool read_only;
	void *state;	       /* owned by the driver */
	int data_fd;	       /* the file map_direct offsets refer to (set by the driver) */
	int direct_fd;	       /* the same file opened O_DIRECT, or -1 */
	struct block_aio *aio; /* created by the first block_submit */
	struct bounce_pool *bounce_pool; /* see bounce_pool.h; created on first use */
};

/* Longest backing chain followed before giving up; a loop is detected earlier. */
#define BLOCK_MAX_CHAIN_DEPTH 64

/* Opens an image. format is "raw", "qcow2" or NULL to probe the file's contents. Backing files
 * are opened read-only. Returns 0, or a negative errno with err filled in. */
int block_open(const char *filename, const char *format, unsigned flags, struct block_device **out,
	       struct block_error *err);
void block_close(struct block_device *dev);

/* The status of the first bytes of [offset, offset + length) in dev itself (not its backing
 * chain). Returns 0 or a negative errno. */
int block_get_status(struct block_device *dev, uint64_t offset, uint64_t length,
		     struct block_status *st);
/* dev's backing image, or NULL. */
struct block_device *block_backing(struct block_device *dev);

/* Guesses the format from the file's first bytes: "qcow2" or "raw". */
const char *block_probe_format(int fd);

/* Synchronous byte-range operations; a range beyond the disk size fails with -EINVAL, a
 * write to a read-only device with -EROFS. Return 0 or a negative errno. */
int block_read(struct block_device *dev, uint64_t offset, void *buf, size_t length);
int block_write(struct block_device *dev, uint64_t offset, const void *buf, size_t length);
int block_flush(struct block_device *dev);
int block_discard(struct block_device *dev, uint64_t offset, uint64_t length);
int block_write_zeroes(struct block_device *dev, uint64_t offset, uint64_t length);

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH,
	BLOCK_OP_DISCARD,
	BLOCK_OP_WRITE_ZEROES,
};

/* An asynchronous request. The caller owns it (and its buffer) until complete() is called with 0
 * or -errno. Requests in flight together may complete in any order; a FLUSH covers the writes
 * that completed before it was submitted. */
struct block_request {
	enum block_op op;
	uint64_t offset;
	uint64_t length;
	void *buffer; /* READ: destination; WRITE: source */
	void (*complete)(struct block_request *req, int result);
	void *opaque;
	/* READ/WRITE scattered over several buffers instead of `buffer` (when iov is not NULL):
	 * iovcnt buffers whose lengths add up to `length`; the array, like the buffers, stays the
	 * caller's until complete(). A request the driver maps in place in one piece is one
	 * readv/writev; any other goes through a bounce buffer. */
	const struct iovec *iov;
	unsigned iovcnt;
};

/* Starts req. Its callback never runs inside block_submit, only inside block_poll/block_drain,
 * so a callback may submit new requests. */
void block_submit(struct block_device *dev, struct block_request *req);
/* A file descriptor that becomes readable when finished requests wait for block_poll, for the
 * caller's epoll loop; -1 (with errno set) if no asynchronous engine could be started. */
int block_event_fd(struct block_device *dev);
/* Runs the callbacks of the requests that have finished; returns how many. Never blocks. */
int block_poll(struct block_device *dev);
/* Waits until every submitted request has completed, running their callbacks. */
void block_drain(struct block_device *dev);
/* "io_uring" or "threads": which engine carries asynchronous requests (starting it if needed). */
const char *block_aio_engine(struct block_device *dev);

#endif
