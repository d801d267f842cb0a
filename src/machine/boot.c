/* Format detection and dispatch to the per-format loaders. */
#include "machine/boot.h"

#include "machine/boot_common.h"
#include "machine/elf_image.h"
#include "machine/file_image.h"
#include "machine/multiboot.h"
#include "machine/pvh.h"

#include <stdio.h>
#include <string.h>

static bool is_bzimage(const struct file_image *image)
{
	const uint8_t *d = image->data;
	return image->size >= 0x206 && d[0x1fe] == 0x55 && d[0x1ff] == 0xaa &&
	       memcmp(d + 0x202, "HdrS", 4) == 0;
}

/* For files that are no kernel we know: say what they look like. */
static const char *describe_unknown(const struct file_image *image)
{
	const uint8_t *d = image->data;
	if (image->size == 0)
		return "file is empty";
	if (image->size >= 2 && d[0] == 0x1f && d[1] == 0x8b)
		return "gzip-compressed data, not a kernel (decompress it, or pass the bzImage)";
	if (image->size >= 2 && d[0] == 'M' && d[1] == 'Z')
		return "PE/EFI executable without a Linux setup header";
	return "no kernel signature found (not a bzImage, ELF or multiboot kernel)";
}

static int detect_elf(const struct file_image *image, enum boot_format *format, char *err,
		      size_t err_len)
{
	struct elf_image elf;
	char elf_err[256];
	uint32_t entry;
	if (elf_image_parse(image->data, image->size, &elf, elf_err, sizeof(elf_err)) == 0) {
		int found = pvh_find_entry(&elf, image->data, image->size, &entry, err, err_len);
		if (found < 0)
			return -1;
		if (found) {
			*format = BOOT_FORMAT_PVH_ELF;
			return 0;
		}
		snprintf(elf_err, sizeof(elf_err), "ELF without PVH entry note");
	}
	size_t offset;
	struct multiboot_header header;
	int mb = multiboot_find_header(image->data, image->size, &offset, &header, err, err_len);
	if (mb < 0)
		return -1;
	if (mb > 0) {
		*format = BOOT_FORMAT_MULTIBOOT;
		return 0;
	}
	return boot_fail(err, err_len, "%s (and no multiboot header)", elf_err);
}

static int detect_in_image(const struct file_image *image, enum boot_format *format, char *err,
			   size_t err_len)
{
	if (is_bzimage(image)) {
		*format = BOOT_FORMAT_BZIMAGE;
		return 0;
	}
	if (elf_image_is_elf(image->data, image->size))
		return detect_elf(image, format, err, err_len);
	size_t offset;
	struct multiboot_header header;
	int mb = multiboot_find_header(image->data, image->size, &offset, &header, err, err_len);
	if (mb < 0)
		return -1;
	if (mb > 0) {
		*format = BOOT_FORMAT_MULTIBOOT;
		return 0;
	}
	return boot_fail(err, err_len, "%s", describe_unknown(image));
}

/* Enough for the bzImage setup header and the 8 KiB multiboot search window; only ELF files,
 * whose notes may sit anywhere, are read whole for detection. */
#define DETECT_PREFIX_BYTES (64 * 1024)

int boot_detect_format(const char *path, enum boot_format *format, char *err, size_t err_len)
{
	struct file_image image;
	if (file_image_load_prefix(path, FILE_IMAGE_KERNEL_MAX, DETECT_PREFIX_BYTES, &image, err,
				   err_len) < 0)
		return -1;
	if (elf_image_is_elf(image.data, image.size)) {
		file_image_release(&image);
		if (file_image_load(path, FILE_IMAGE_KERNEL_MAX, &image, err, err_len) < 0)
			return -1;
	}
	char why[256];
	int ret = detect_in_image(&image, format, why, sizeof(why));
	if (ret < 0)
		boot_fail(err, err_len, "%s: %s", path, why);
	file_image_release(&image);
	return ret;
}

int boot_load(const struct guest_memory *mem, const struct boot_request *req,
	      struct boot_entry *entry, char *err, size_t err_len)
{
	if (!req->kernel_path)
		return boot_fail(err, err_len, "no kernel given");
	enum boot_format format;
	if (boot_detect_format(req->kernel_path, &format, err, err_len) < 0)
		return -1;
	switch (format) {
	case BOOT_FORMAT_BZIMAGE:
		return boot_load_bzimage(mem, req, entry, err, err_len);
	case BOOT_FORMAT_PVH_ELF:
		return boot_load_pvh(mem, req, entry, err, err_len);
	case BOOT_FORMAT_MULTIBOOT:
		return boot_load_multiboot(mem, req, entry, err, err_len);
	}
	return boot_fail(err, err_len, "unknown boot format %d", (int)format);
}
