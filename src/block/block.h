/* The block layer: one interface for every disk backend (raw files, qcow2 images, ...).
 *
 * Every operation works on byte ranges of the virtual disk. A backend implements the synchronous
 * operations in struct block_driver; callers either use the synchronous helpers (block_read, ...)
 * or submit a struct block_request whose completion callback runs when the request is done. Today
 * requests complete before block_submit returns; an io_uring backend will complete them later from
 * the event loop without changing the callers. */
#ifndef GUREUM_BLOCK_BLOCK_H
#define GUREUM_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

struct block_device;

/* The operations a backend provides. offset/length are already checked against the disk size. */
struct block_driver {
	const char *format_name;
	int (*read)(struct block_device *dev, uint64_t offset, void *buf, size_t length);
	int (*write)(struct block_device *dev, uint64_t offset, const void *buf, size_t length);
	int (*flush)(struct block_device *dev);
	int (*discard)(struct block_device *dev, uint64_t offset, uint64_t length);
	int (*write_zeroes)(struct block_device *dev, uint64_t offset, uint64_t length);
	void (*close)(struct block_device *dev);
};

struct block_device {
	const struct block_driver *driver;
	char *filename;
	uint64_t size;
	bool read_only;
	void *state; /* owned by the driver */
};

/* Longest backing chain followed before giving up; a loop is detected earlier. */
#define BLOCK_MAX_CHAIN_DEPTH 64

/* Opens an image. format is "raw", "qcow2" or NULL to probe the file's contents. Backing files
 * are opened read-only. Returns 0, or a negative errno with err filled in. */
int block_open(const char *filename, const char *format, unsigned flags, struct block_device **out,
	       struct block_error *err);
void block_close(struct block_device *dev);

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

/* An asynchronous request. The caller owns it until complete() is called with 0 or -errno. */
struct block_request {
	enum block_op op;
	uint64_t offset;
	uint64_t length;
	void *buffer; /* READ: destination; WRITE: source */
	void (*complete)(struct block_request *req, int result);
	void *opaque;
};

void block_submit(struct block_device *dev, struct block_request *req);

#endif
