/* The virtual monitor's EDID (edid.h). Offsets and encodings: VESA E-EDID 1.4, section 3. */
#include "devices/edid.h"

#include <string.h>

#define DESCRIPTOR_0	 54 /* four 18-byte descriptors from here */
#define DESCRIPTOR_SIZE	 18
#define STANDARD_TIMINGS 38 /* eight 2-byte entries */

/* Blanking as in CVT reduced blanking: short, so the pixel clock stays low. */
#define H_BLANK		160
#define H_SYNC_START	48
#define H_SYNC_WIDTH	32
#define V_BLANK		30
#define V_SYNC_START	3
#define V_SYNC_WIDTH	5
#define MAX_CLOCK_10KHZ 65535

static void header(uint8_t *e)
{
	static const uint8_t magic[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	memcpy(e, magic, sizeof(magic));
	/* Manufacturer "GUR": three letters of 5 bits, 'A' = 1, big-endian. */
	unsigned id = ('G' - '@') << 10 | ('U' - '@') << 5 | ('R' - '@');
	e[8] = (uint8_t)(id >> 8);
	e[9] = (uint8_t)id;
	e[10] = 0x01; /* product code */
	e[16] = 1;    /* week */
	e[17] = 36;   /* year: 1990 + 36 */
	e[18] = 1;    /* EDID 1.4 */
	e[19] = 4;
	e[20] = 0xa5; /* digital input, 8 bits per colour, DisplayPort (as QEMU's edid) */
	e[23] = 0x78; /* gamma 2.2 */
	e[24] = 0x06; /* RGB 4:4:4, sRGB default; the preferred mode is native */
}

/* Chromaticity of sRGB (the colour characteristics block, bytes 25..34). */
static void colours(uint8_t *e)
{
	static const uint8_t srgb[10] = {0xee, 0x91, 0xa3, 0x54, 0x4c,
					 0x99, 0x26, 0x0f, 0x50, 0x54};
	memcpy(e + 25, srgb, sizeof(srgb));
}

/* 640x480, 800x600 and 1024x768 at 60 Hz (established timings), and a few larger ones as
 * standard timings: (width / 8 - 31), aspect ratio in the top two bits, 60 Hz. */
static void common_modes(uint8_t *e)
{
	e[35] = 0x21; /* 640x480@60, 800x600@60 */
	e[36] = 0x08; /* 1024x768@60 */
	static const uint8_t standard[8][2] = {
	    {0x81, 0x80}, /* 1280x1024 5:4 */
	    {0x81, 0xc0}, /* 1280x720 16:9 */
	    {0x81, 0x00}, /* 1280x800 16:10 */
	    {0x95, 0x00}, /* 1440x900 16:10 */
	    {0xa9, 0xc0}, /* 1600x900 16:9 */
	    {0xb3, 0x00}, /* 1680x1050 16:10 */
	    {0xd1, 0xc0}, /* 1920x1080 16:9 */
	    {0xd1, 0x00}, /* 1920x1200 16:10 */
	};
	memcpy(e + STANDARD_TIMINGS, standard, sizeof(standard));
}

static void detailed_timing(uint8_t *d, uint32_t width, uint32_t height)
{
	uint32_t htotal = width + H_BLANK, vtotal = height + V_BLANK;
	uint64_t clock = (uint64_t)htotal * vtotal * 60 / 10000; /* 60 Hz, in 10 kHz */
	if (clock > MAX_CLOCK_10KHZ)
		clock = MAX_CLOCK_10KHZ; /* a lower refresh rate: nothing scans it out */
	d[0] = (uint8_t)clock;
	d[1] = (uint8_t)(clock >> 8);
	d[2] = (uint8_t)width;
	d[3] = (uint8_t)H_BLANK;
	d[4] = (uint8_t)((width >> 8) << 4 | (H_BLANK >> 8));
	d[5] = (uint8_t)height;
	d[6] = (uint8_t)V_BLANK;
	d[7] = (uint8_t)((height >> 8) << 4 | (V_BLANK >> 8));
	d[8] = H_SYNC_START;
	d[9] = H_SYNC_WIDTH;
	d[10] = V_SYNC_START << 4 | V_SYNC_WIDTH;
	d[11] = 0;
	/* Image size: 0 mm (unknown); no border; digital separate sync, +hsync, +vsync. */
	d[17] = 0x1e;
}

static void text_descriptor(uint8_t *d, uint8_t tag, const char *text)
{
	d[3] = tag;
	memset(d + 5, ' ', 13);
	size_t n = strlen(text) < 13 ? strlen(text) : 13;
	memcpy(d + 5, text, n);
	if (n < 13)
		d[5 + n] = '\n';
}

/* Range limits: 50-75 Hz vertical, 30-160 kHz horizontal, 650 MHz, no timing formula. */
static void range_limits(uint8_t *d)
{
	d[3] = 0xfd;
	d[5] = 50;
	d[6] = 75;
	d[7] = 30;
	d[8] = 160;
	d[9] = 65;
	d[10] = 0x01; /* range limits only */
	d[11] = '\n';
	memset(d + 12, ' ', 6);
}

void edid_build(uint8_t e[EDID_BLOCK_SIZE], uint32_t width, uint32_t height)
{
	memset(e, 0, EDID_BLOCK_SIZE);
	width = width > EDID_MAX_DETAILED ? EDID_MAX_DETAILED : width;
	height = height > EDID_MAX_DETAILED ? EDID_MAX_DETAILED : height;
	header(e);
	colours(e);
	common_modes(e);
	detailed_timing(e + DESCRIPTOR_0, width, height);
	text_descriptor(e + DESCRIPTOR_0 + DESCRIPTOR_SIZE, 0xfc, "gureum");
	range_limits(e + DESCRIPTOR_0 + 2 * DESCRIPTOR_SIZE);
	text_descriptor(e + DESCRIPTOR_0 + 3 * DESCRIPTOR_SIZE, 0xff, "0");
	uint8_t sum = 0;
	for (unsigned i = 0; i < EDID_BLOCK_SIZE - 1; i++)
		sum = (uint8_t)(sum + e[i]);
	e[EDID_BLOCK_SIZE - 1] = (uint8_t)(0x100 - sum);
}
