/* An EDID 1.4 base block (VESA E-EDID, 128 bytes) for a virtual monitor: its preferred mode
 * first (a detailed timing descriptor), then the common modes (established and standard
 * timings), a name, and the checksum. A guest's DRM core reads it from the display adapter and
 * picks the preferred mode, so the guest comes up at the size the user asked for. */
#ifndef GUREUM_DEVICES_EDID_H
#define GUREUM_DEVICES_EDID_H

#include <stdint.h>

#define EDID_BLOCK_SIZE 128
/* A detailed timing holds 12-bit sizes. */
#define EDID_MAX_DETAILED 4095

/* Fills `edid` for a monitor whose preferred mode is `width` x `height` (clamped to
 * EDID_MAX_DETAILED; larger sizes are still offered by the adapter's registers). */
void edid_build(uint8_t edid[EDID_BLOCK_SIZE], uint32_t width, uint32_t height);

#endif
