/* A display adapter's mode changes as VNC clients see them (Debian's libvncclient): a client
 * that takes size changes gets the new size and then the picture at it; panning (page
 * flipping) shows the other part of the memory; the screendump follows; changes drawn after
 * a mode change still reach the client through the write log at the view's offset. */
#include "display/display.h"
#include "vnc_test_client.h"

#include <criterion/criterion.h>
#include <png.h>
#include <rfb/rfbclient.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/gureum-mode-XXXXXX";
static char sock_path[96];
static struct display *display;
static struct framebuffer *mem; /* the adapter's whole memory */
static pthread_mutex_t written_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *written; /* the fake VM's write log, pages of mem */

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

static int fetch_written(void *opaque, uint64_t *bitmap)
{
	(void)opaque;
	pthread_mutex_lock(&written_lock);
	for (uint64_t i = 0; i < framebuffer_bitmap_words(mem); i++) {
		bitmap[i] |= written[i];
		written[i] = 0;
	}
	pthread_mutex_unlock(&written_lock);
	return 0;
}

/* Writes one pixel at byte `off` of the memory, as the guest would. */
static void poke(uint64_t off, uint32_t xrgb)
{
	pthread_mutex_lock(&written_lock);
	memcpy(mem->pixels + off, &xrgb, 4);
	written[off / 4096 / 64] |= 1ULL << (off / 4096 % 64);
	pthread_mutex_unlock(&written_lock);
}

/* Fills the view's w x h pixels at `offset` with a pattern of `seed`. */
static void draw(uint64_t offset, uint32_t w, uint32_t h, uint32_t stride, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			poke(offset + (uint64_t)y * stride + x * 4,
			     ((x / 16 + y / 16 + seed) * 0x102030) & 0xffffff);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	rfbClientLog = rfbClientErr = quiet;
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/vnc.sock", dir);
	char spec[256], err[256];
	snprintf(spec, sizeof(spec), "vnc=unix:%s,adapter=bochs,width=640,height=480", sock_path);
	struct display_options o;
	display_options_init(&o);
	cr_assert_eq(display_options_parse(&o, spec, err, sizeof(err)), 0, "%s", err);
	display = display_open(&o, err, sizeof(err));
	cr_assert_not_null(display, "%s", err);
	mem = display_framebuffer(display);
	cr_assert_eq(mem->size, 16 << 20, "16 MiB of VRAM");
	written = calloc(framebuffer_bitmap_words(mem), sizeof(*written));
	display_attach(display, fetch_written, NULL);
}

static void teardown(void)
{
	display_close(display);
	free(written);
	unlink(sock_path);
	rmdir(dir);
	strcpy(dir, "/tmp/gureum-mode-XXXXXX");
}

TestSuite(display_mode, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static rfbClient *connect_client(void)
{
	rfbClient *c = vnc_test_client_new(sock_path, 0);
	c->appData.encodingsString = "zrle raw";
	cr_assert(rfbInitClient(c, NULL, NULL));
	return c;
}

static void pump(rfbClient *c, unsigned ms)
{
	uint64_t until = now_ms() + ms;
	while (now_ms() < until) {
		int n = WaitForMessage(c, 20000);
		cr_assert_geq(n, 0, "the connection failed");
		if (n > 0)
			cr_assert(HandleRFBServerMessage(c), "the server sent something wrong");
	}
}

/* Whether the client shows the view: its size and every pixel (RGBX bytes). */
static bool shows_view(const rfbClient *c)
{
	struct framebuffer v;
	display_view(display, &v);
	if ((uint32_t)c->width != v.width || (uint32_t)c->height != v.height)
		return false;
	for (uint32_t y = 0; y < v.height; y++)
		for (uint32_t x = 0; x < v.width; x++) {
			const uint8_t *ours = v.pixels + (uint64_t)y * v.stride + x * 4;
			const uint8_t *theirs = c->frameBuffer + ((uint64_t)y * v.width + x) * 4;
			if (ours[2] != theirs[0] || ours[1] != theirs[1] || ours[0] != theirs[2])
				return false;
		}
	return true;
}

static void expect_view(rfbClient *c, const char *what)
{
	uint64_t until = now_ms() + 5000;
	while (!shows_view(c) && now_ms() < until)
		pump(c, 50);
	cr_assert(shows_view(c), "%s: the client shows %dx%d, not the view", what, c->width,
		  c->height);
}

static int set_mode(uint32_t w, uint32_t h, uint32_t stride, uint64_t offset)
{
	char err[256];
	return display_set_mode(display, w, h, stride, offset, err, sizeof(err));
}

Test(display_mode, a_client_gets_the_new_size_and_picture)
{
	draw(0, 640, 480, 640 * 4, 1);
	rfbClient *c = connect_client();
	cr_assert_eq(c->width, 640);
	expect_view(c, "at first");
	cr_assert_eq(set_mode(800, 600, 800 * 4, 0), 0);
	draw(0, 800, 600, 800 * 4, 2);
	expect_view(c, "800x600");
	cr_assert_eq(c->width, 800);
	cr_assert_eq(c->height, 600);
	/* Smaller again, with a wider line than the picture (VIRT_WIDTH). */
	cr_assert_eq(set_mode(320, 200, 1024 * 4, 0), 0);
	draw(0, 320, 200, 1024 * 4, 3);
	expect_view(c, "320x200 in 1024-pixel lines");
	/* A change after the mode change comes through the log. */
	poke(4096 * 3 + 8, 0x00ff00ff);
	expect_view(c, "a pixel drawn afterwards");
	vnc_test_client_free(c);
}

Test(display_mode, panning_shows_the_other_buffer)
{
	uint32_t stride = 1024 * 4;
	cr_assert_eq(set_mode(1024, 768, stride, 0), 0);
	draw(0, 1024, 768, stride, 4);
	draw((uint64_t)768 * stride, 1024, 768, stride, 5);
	rfbClient *c = connect_client();
	expect_view(c, "the first buffer");
	cr_assert_eq(set_mode(1024, 768, stride, (uint64_t)768 * stride), 0);
	expect_view(c, "the second buffer");
	/* Drawn into the shown (second) buffer: found at the view's offset in the log. */
	poke((uint64_t)768 * stride + 100 * stride + 40, 0x00123456);
	expect_view(c, "a change in the second buffer");
	vnc_test_client_free(c);
}

Test(display_mode, modes_beyond_the_memory_are_refused)
{
	char err[256];
	cr_assert_eq(display_set_mode(display, 4096, 4096, 4096 * 4, 0, err, sizeof(err)), -1);
	cr_assert(strstr(err, "does not fit"), "%s", err);
	cr_assert_eq(set_mode(640, 480, 640 * 4, mem->size - 640 * 4), -1, "panned past the end");
	cr_assert_eq(set_mode(640, 480, 100, 0), -1, "a line shorter than the width");
	cr_assert_eq(set_mode(0, 480, 640 * 4, 0), -1);
	cr_assert_eq(set_mode(640, 480, 640 * 4, 2), -1, "not on a pixel");
	struct framebuffer v;
	display_view(display, &v);
	cr_assert_eq(v.width, 640);
	cr_assert_eq(v.height, 480);
}

Test(display_mode, the_screendump_follows)
{
	cr_assert_eq(set_mode(800, 600, 800 * 4, 0), 0);
	draw(0, 800, 600, 800 * 4, 6);
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/screen.png", dir);
	cr_assert_eq(display_screendump(display, path, err, sizeof(err)), 0, "%s", err);
	png_image image;
	memset(&image, 0, sizeof(image));
	image.version = PNG_IMAGE_VERSION;
	cr_assert(png_image_begin_read_from_file(&image, path));
	cr_assert_eq(image.width, 800);
	cr_assert_eq(image.height, 600);
	png_image_free(&image);
	unlink(path);
}

Test(display_mode, a_new_machine_shows_the_options_size_again)
{
	cr_assert_eq(set_mode(800, 600, 800 * 4, 0), 0);
	display_reset_view(display);
	struct framebuffer v;
	display_view(display, &v);
	cr_assert_eq(v.width, 640);
	cr_assert_eq(v.height, 480);
	rfbClient *c = connect_client();
	expect_view(c, "after the reset");
	vnc_test_client_free(c);
}
