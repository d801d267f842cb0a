/* External overlays (block/overlay.h): named beside their image with the first free number,
 * reading through to the image, taking the writes while the image stays as it was, on raw and
 * qcow2 images alike, and readable by qemu-img (the peer a user would check them with). */
#include "block/block.h"
#include "block/overlay.h"
#include "block/qcow2_create.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISK_SIZE (4u << 20)

static char dir[] = "/tmp/gureum-overlay-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(block_overlay, .init = setup, .fini = teardown);

static struct block_device *open_rw(const char *path, const char *format)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, format, 0, &dev, &err), 0, "%s", err.message);
	return dev;
}

/* An image of the format with "base" written at 1 MiB. */
static void make_image(const char *path, const char *format)
{
	if (strcmp(format, "qcow2") == 0) {
		struct qcow2_create_options opt = qcow2_default_options(DISK_SIZE);
		struct block_error err;
		cr_assert_eq(qcow2_create(path, &opt, &err), 0, "%s", err.message);
	} else {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		cr_assert_eq(ftruncate(fileno(f), DISK_SIZE), 0);
		fclose(f);
	}
	struct block_device *dev = open_rw(path, format);
	cr_assert_eq(block_write(dev, 1 << 20, "base", 4), 0);
	block_close(dev);
}

static void expect_at(const char *path, uint64_t offset, const char *want)
{
	struct block_device *dev;
	struct block_error err;
	cr_assert_eq(block_open(path, NULL, BLOCK_OPEN_READ_ONLY, &dev, &err), 0, "%s",
		     err.message);
	char got[16] = "";
	cr_assert_eq(block_read(dev, offset, got, strlen(want)), 0);
	cr_assert_arr_eq(got, want, strlen(want), "%s at %llu: '%.*s', want '%s'", path,
			 (unsigned long long)offset, (int)strlen(want), got, want);
	block_close(dev);
}

/* qemu-img's view of the overlay: a clean image whose backing file is `base`. */
static void expect_qemu_img_agrees(const char *overlay, const char *base_name)
{
	char cmd[PATH_MAX + 64], out[4096] = "";
	snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", overlay);
	cr_assert_eq(system(cmd), 0, "qemu-img check of %s failed (is qemu-utils installed?)",
		     overlay);
	snprintf(cmd, sizeof(cmd), "qemu-img info --output=json '%s'", overlay);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "qemu-img info failed");
	char want[PATH_MAX + 32];
	snprintf(want, sizeof(want), "\"backing-filename\": \"%s\"", base_name);
	cr_assert(strstr(out, want), "qemu-img info does not show %s:\n%s", want, out);
	cr_assert(strstr(out, "\"virtual-size\": 4194304"), "%s", out);
}

static void overlay_keeps_the_image(const char *name, const char *format, const char *stem)
{
	char image[PATH_MAX], overlay[PATH_MAX], want[PATH_MAX];
	snprintf(image, sizeof(image), "%s/%s", dir, name);
	make_image(image, format);
	struct block_error err;
	cr_assert_eq(block_overlay_create(image, format, overlay, sizeof(overlay), &err), 0, "%s",
		     err.message);
	snprintf(want, sizeof(want), "%s/%s.ovl1.qcow2", dir, stem);
	cr_assert_str_eq(overlay, want);

	struct block_device *dev = open_rw(overlay, NULL);
	cr_assert_str_eq(dev->driver->format_name, "qcow2");
	cr_assert_eq(dev->size, DISK_SIZE);
	cr_assert_eq(block_write(dev, 1 << 20, "over", 4), 0);
	cr_assert_eq(block_write(dev, 2 << 20, "more", 4), 0);
	block_close(dev);

	expect_at(image, 1 << 20, "base");
	expect_at(image, 2 << 20, "\0\0\0\0");
	expect_at(overlay, 1 << 20, "over");
	expect_at(overlay, 2 << 20, "more");
	expect_at(overlay, 0, "\0\0\0\0"); /* read through to the image */
	expect_qemu_img_agrees(overlay, name);
}

Test(block_overlay, on_a_raw_image)
{
	overlay_keeps_the_image("disk.img", "raw", "disk");
}

Test(block_overlay, on_a_qcow2_image_probed)
{
	overlay_keeps_the_image("disk.qcow2", "qcow2", "disk");
	/* An overlay of an overlay: a chain of three, each reading through. */
	char first[PATH_MAX], second[PATH_MAX];
	snprintf(first, sizeof(first), "%s/disk.ovl1.qcow2", dir);
	struct block_error err;
	cr_assert_eq(block_overlay_create(first, NULL, second, sizeof(second), &err), 0, "%s",
		     err.message);
	cr_assert(strstr(second, "/disk.ovl1.ovl1.qcow2"), "%s", second);
	expect_at(second, 1 << 20, "over");
	expect_at(second, 2 << 20, "more");
}

Test(block_overlay, takes_the_next_free_number)
{
	char image[PATH_MAX], overlay[PATH_MAX];
	snprintf(image, sizeof(image), "%s/golden", dir);
	make_image(image, "raw");
	struct block_error err;
	for (int i = 1; i <= 3; i++) {
		cr_assert_eq(block_overlay_create(image, "raw", overlay, sizeof(overlay), &err), 0,
			     "%s", err.message);
		char want[PATH_MAX];
		snprintf(want, sizeof(want), "%s/golden.ovl%d.qcow2", dir, i);
		cr_assert_str_eq(overlay, want);
	}
	/* Relative image paths give absolute overlay paths. */
	char cwd[PATH_MAX];
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	int rc = block_overlay_create("golden", "raw", overlay, sizeof(overlay), &err);
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(rc, 0, "%s", err.message);
	cr_assert(overlay[0] == '/' && strstr(overlay, "/golden.ovl4.qcow2"), "%s", overlay);
}

Test(block_overlay, refusals_name_the_file_and_leave_nothing)
{
	char image[PATH_MAX], overlay[PATH_MAX] = "";
	snprintf(image, sizeof(image), "%s/missing.img", dir);
	struct block_error err;
	cr_assert_lt(block_overlay_create(image, "raw", overlay, sizeof(overlay), &err), 0);
	cr_assert(strstr(err.message, "missing.img"), "%s", err.message);

	/* Not an image of the format asked for: refused before any file is made. */
	snprintf(image, sizeof(image), "%s/text.qcow2", dir);
	FILE *f = fopen(image, "w");
	fputs("not a qcow2 image\n", f);
	fclose(f);
	cr_assert_lt(block_overlay_create(image, "qcow2", overlay, sizeof(overlay), &err), 0);
	char leftover[PATH_MAX];
	snprintf(leftover, sizeof(leftover), "%s/text.ovl1.qcow2", dir);
	cr_assert_neq(access(leftover, F_OK), 0, "a refused overlay left %s", leftover);

	/* A size qcow2 cannot express is refused the same way. */
	snprintf(image, sizeof(image), "%s/odd.img", dir);
	f = fopen(image, "w");
	fputs("odd", f);
	fclose(f);
	cr_assert_lt(block_overlay_create(image, "raw", overlay, sizeof(overlay), &err), 0);
	cr_assert(strstr(err.message, "512-byte"), "%s", err.message);
}
