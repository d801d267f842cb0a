/* SSE/SSE2/SSE3/SSSE3/SSE4 and MMX rows of the opcode maps, as designated initializers spliced
 * into the map arrays (so that one map stays one array). */
#ifndef GUREUM_ACCEL_EMU_OPTABLE_SSE_H
#define GUREUM_ACCEL_EMU_OPTABLE_SSE_H

#define SSE_ROWS_0F
#define SSE_ROWS_0F38
#define SSE_ROWS_0F3A

#endif
