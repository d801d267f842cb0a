#include "machine/boot_common.h"

#include "machine/file_image.h"
#include "machine/layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int boot_fail(char *err, size_t err_len, const char *fmt, ...)
{
	if (err && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

uint64_t boot_low_ram_end(const struct guest_memory *mem)
{
	const struct guest_region *low = &mem->regions[0];
	uint64_t end = low->gpa + low->size;
	return end < LAYOUT_LOW_RAM_END ? end : LAYOUT_LOW_RAM_END;
}

static uint64_t align_down(uint64_t value, uint64_t align)
{
	return value & ~(align - 1);
}

static bool fits_below(uint64_t floor, uint64_t ceiling, uint64_t size, uint64_t *gpa)
{
	if (ceiling < floor || size > ceiling - floor)
		return false;
	uint64_t start = align_down(ceiling - size, BOOT_PAGE_SIZE);
	if (start < floor)
		return false;
	*gpa = start;
	return true;
}

bool boot_place_high(uint64_t floor, uint64_t ceiling, uint64_t size, uint64_t avoid_start,
		     uint64_t avoid_end, uint64_t *gpa)
{
	/* First above the obstacle (or everywhere when it is out of the way), then below it. */
	uint64_t above_floor = floor > avoid_end ? floor : avoid_end;
	if (avoid_end <= floor || avoid_start >= ceiling)
		return fits_below(floor, ceiling, size, gpa);
	if (fits_below(above_floor, ceiling, size, gpa))
		return true;
	return fits_below(floor, avoid_start < ceiling ? avoid_start : ceiling, size, gpa);
}

static int read_into_guest(const struct guest_memory *mem, int fd, const char *path, uint64_t gpa,
			   uint64_t size, char *err, size_t err_len)
{
	if (size == 0)
		return 0; /* an empty initrd or module is legal; there is nothing to copy */
	void *dst = guest_memory_ptr(mem, gpa, size);
	if (!dst)
		return boot_fail(err, err_len, "%s does not fit in guest RAM at 0x%llx", path,
				 (unsigned long long)gpa);
	return file_image_read_exact(fd, path, dst, size, err, err_len);
}

int boot_load_file_high(const struct guest_memory *mem, const char *path, uint64_t floor,
			uint64_t ceiling, uint64_t avoid_start, uint64_t avoid_end, uint64_t *gpa,
			uint64_t *size, char *err, size_t err_len)
{
	int fd = file_image_open(path, mem->ram_size, size, err, err_len);
	if (fd < 0)
		return -1;
	int ret = 0;
	if (!boot_place_high(floor, ceiling, *size, avoid_start, avoid_end, gpa))
		ret = boot_fail(err, err_len,
				"%s (%llu KiB) does not fit in guest RAM between 0x%llx and 0x%llx "
				"next to the kernel",
				path, (unsigned long long)(*size >> 10), (unsigned long long)floor,
				(unsigned long long)ceiling);
	else
		ret = read_into_guest(mem, fd, path, *gpa, *size, err, err_len);
	close(fd);
	return ret;
}

int boot_load_file_at(const struct guest_memory *mem, const char *path, uint64_t gpa,
		      uint64_t ceiling, uint64_t *size, char *err, size_t err_len)
{
	int fd = file_image_open(path, mem->ram_size, size, err, err_len);
	if (fd < 0)
		return -1;
	int ret;
	if (gpa > ceiling || *size > ceiling - gpa)
		ret = boot_fail(err, err_len,
				"%s (%llu KiB) does not fit in guest RAM at 0x%llx (RAM ends at "
				"0x%llx)",
				path, (unsigned long long)(*size >> 10), (unsigned long long)gpa,
				(unsigned long long)ceiling);
	else
		ret = read_into_guest(mem, fd, path, gpa, *size, err, err_len);
	close(fd);
	return ret;
}

void boot_scratch_init(struct boot_scratch *scratch)
{
	scratch->next = LAYOUT_BOOT_SCRATCH;
	scratch->end = LAYOUT_CMDLINE;
}

bool boot_scratch_put(const struct guest_memory *mem, struct boot_scratch *scratch,
		      const void *data, size_t len, uint64_t align, uint64_t *gpa)
{
	uint64_t start = (scratch->next + align - 1) & ~(align - 1);
	if (start > scratch->end || len > scratch->end - start)
		return false;
	if (!guest_memory_write(mem, start, data, len))
		return false;
	scratch->next = start + len;
	*gpa = start;
	return true;
}

int boot_write_cmdline(const struct guest_memory *mem, const char *cmdline, uint64_t max_len,
		       char *err, size_t err_len)
{
	const char *text = cmdline ? cmdline : "";
	size_t len = strlen(text);
	uint64_t limit = max_len < LAYOUT_CMDLINE_MAX - 1 ? max_len : LAYOUT_CMDLINE_MAX - 1;
	if (len > limit)
		return boot_fail(err, err_len,
				 "kernel command line is %zu bytes long; at most %llu are allowed",
				 len, (unsigned long long)limit);
	if (!guest_memory_write(mem, LAYOUT_CMDLINE, text, len + 1))
		return boot_fail(err, err_len, "guest RAM too small for the command line");
	return 0;
}

int boot_load_kernel_file(const struct guest_memory *mem, const struct boot_request *req,
			  boot_image_loader loader, struct boot_entry *entry, char *err,
			  size_t err_len)
{
	struct file_image image;
	if (file_image_load(req->kernel_path, FILE_IMAGE_KERNEL_MAX, &image, err, err_len) < 0)
		return -1;
	int ret = loader(mem, req, &image, entry, err, err_len);
	file_image_release(&image);
	return ret;
}
