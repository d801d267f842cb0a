#include "machine/file_image.h"

#include "machine/boot_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_image_open(const char *path, uint64_t max_size, uint64_t *size, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return boot_fail(err, err_len, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		boot_fail(err, err_len, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	int bad = 0;
	if (S_ISDIR(st.st_mode))
		bad = boot_fail(err, err_len, "%s is a directory, not a file", path);
	else if (!S_ISREG(st.st_mode))
		bad = boot_fail(err, err_len, "%s is not a regular file", path);
	else if ((uint64_t)st.st_size > max_size)
		bad = boot_fail(err, err_len, "%s is too large (%llu MiB; the limit is %llu MiB)",
				path, (unsigned long long)(st.st_size >> 20),
				(unsigned long long)(max_size >> 20));
	if (bad) {
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int file_image_read_exact(int fd, const char *path, void *dst, uint64_t size, char *err,
			  size_t err_len)
{
	uint8_t *out = dst;
	uint64_t done = 0;
	while (done < size) {
		size_t chunk = size - done > (1U << 30) ? (1U << 30) : (size_t)(size - done);
		ssize_t n = pread(fd, out + done, chunk, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return boot_fail(err, err_len, "cannot read %s: %s", path, strerror(errno));
		if (n == 0)
			return boot_fail(err, err_len, "%s shrank while being read", path);
		done += (uint64_t)n;
	}
	return 0;
}

int file_image_load(const char *path, uint64_t max_size, struct file_image *image, char *err,
		    size_t err_len)
{
	*image = (struct file_image){0};
	uint64_t size;
	int fd = file_image_open(path, max_size, &size, err, err_len);
	if (fd < 0)
		return -1;
	/* +1 so that an empty file still gets a valid pointer. */
	uint8_t *data = malloc(size + 1);
	if (!data) {
		close(fd);
		return boot_fail(err, err_len, "out of memory reading %s", path);
	}
	if (file_image_read_exact(fd, path, data, size, err, err_len) < 0) {
		free(data);
		close(fd);
		return -1;
	}
	close(fd);
	image->data = data;
	image->size = (size_t)size;
	return 0;
}

int file_image_load_prefix(const char *path, uint64_t max_size, uint64_t prefix,
			   struct file_image *image, char *err, size_t err_len)
{
	*image = (struct file_image){0};
	uint64_t size;
	int fd = file_image_open(path, max_size, &size, err, err_len);
	if (fd < 0)
		return -1;
	uint64_t want = size < prefix ? size : prefix;
	uint8_t *data = malloc(want + 1);
	if (!data) {
		close(fd);
		return boot_fail(err, err_len, "out of memory reading %s", path);
	}
	if (file_image_read_exact(fd, path, data, want, err, err_len) < 0) {
		free(data);
		close(fd);
		return -1;
	}
	close(fd);
	image->data = data;
	image->size = (size_t)want;
	return 0;
}

void file_image_release(struct file_image *image)
{
	free(image->data);
	*image = (struct file_image){0};
}
