/* Reading kernels, initrds and modules from the host: regular files only, with a size limit,
 * and errors that name the file. Sizes come from fstat() but reads never trust them: a file that
 * shrinks or grows while we read is reported, not silently truncated. */
#ifndef GUREUM_MACHINE_FILE_IMAGE_H
#define GUREUM_MACHINE_FILE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define FILE_IMAGE_KERNEL_MAX (512ULL << 20)

struct file_image {
	uint8_t *data;
	size_t size;
};

/* Reads the whole of `path` (at most `max_size` bytes) into a fresh buffer. */
int file_image_load(const char *path, uint64_t max_size, struct file_image *image, char *err,
		    size_t err_len);
/* Reads only the first `prefix` bytes (or the whole file when smaller): enough to recognise a
 * bzImage or a multiboot header without reading a large kernel twice. */
int file_image_load_prefix(const char *path, uint64_t max_size, uint64_t prefix,
			   struct file_image *image, char *err, size_t err_len);
void file_image_release(struct file_image *image);

/* Opens `path` for reading after checking it is a regular file of at most `max_size` bytes;
 * returns the descriptor (and its size in `size`) or -1. */
int file_image_open(const char *path, uint64_t max_size, uint64_t *size, char *err, size_t err_len);

/* Reads exactly `size` bytes from the start of `fd` into `dst`; -1 on a short read. */
int file_image_read_exact(int fd, const char *path, void *dst, uint64_t size, char *err,
			  size_t err_len);

#endif
