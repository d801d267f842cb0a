/* The boot protocol's screen_info for a linear framebuffer, as an EFI firmware's GOP leaves one:
 * Linux's sysfb (drivers/firmware/sysfb.c) turns VIDEO_TYPE_EFI into an "efi-framebuffer"
 * platform device, which efifb (built into Debian's cloud kernel, which has no DRM) drives, and
 * fbcon puts the consoles on it. Why EFI and not VESA (VIDEO_TYPE_VLFB): the cloud kernel has
 * FB_EFI but not FB_VESA, and efifb needs nothing but these fields (no EFI runtime, no memory
 * map: without one it maps the framebuffer write-combining). */
#include "machine/boot.h"
#include "machine/bootparam.h"

#include <string.h>

void boot_fill_screen_info(struct bootparam_screen_info *si, const struct boot_framebuffer *fb)
{
	memset(si, 0, sizeof(*si));
	if (!fb)
		return;
	si->orig_video_isVGA = BOOTPARAM_VIDEO_TYPE_EFI;
	si->lfb_width = (uint16_t)fb->width;
	si->lfb_height = (uint16_t)fb->height;
	si->lfb_depth = 32;
	si->lfb_linelength = (uint16_t)fb->stride;
	si->lfb_base = (uint32_t)fb->base;
	si->ext_lfb_base = (uint32_t)(fb->base >> 32);
	/* For VIDEO_TYPE_EFI lfb_size counts bytes (VESA's counts 64 KiB units), the visible
	 * lines, as the EFI stub computes it. */
	si->lfb_size = fb->stride * fb->height;
	/* XRGB8888: what efifb assumes when the sizes are zero, spelled out. */
	si->red_size = si->green_size = si->blue_size = si->rsvd_size = 8;
	si->red_pos = 16;
	si->green_pos = 8;
	si->blue_pos = 0;
	si->rsvd_pos = 24;
	si->pages = 1;
	/* The values are this machine's own: the DMI table of laptops whose firmware lied about
	 * the framebuffer must not adjust them. */
	si->capabilities = BOOTPARAM_VIDEO_CAP_SKIP_QUIRKS;
	if (fb->base >> 32)
		si->capabilities |= BOOTPARAM_VIDEO_CAP_64BIT_BASE;
}
