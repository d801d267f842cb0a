/* The virtio block device's wire format (virtio 1.2, section 5.2): feature bits, the
 * configuration space, request header, request types and status codes. Names follow Linux's
 * uapi virtio_blk.h so they can be compared with the guest driver. The device model is
 * virtio_blk.c; its constructor is in virtio_devices.h. */
#ifndef GUREUM_VIRTIO_VIRTIO_BLK_H
#define GUREUM_VIRTIO_VIRTIO_BLK_H

#include <stdint.h>

/* Feature bits (spec 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (spec 5.2.6). */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte values. */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

/* Sectors are always 512 bytes in the protocol, whatever blk_size says. */
#define VIRTIO_BLK_SECTOR_SHIFT 9
#define VIRTIO_BLK_SECTOR_SIZE	(1u << VIRTIO_BLK_SECTOR_SHIFT)

/* GET_ID answers with a serial of at most this many bytes, zero padded. */
#define VIRTIO_BLK_ID_BYTES 20

/* The flag of a discard / write-zeroes segment; every other bit is reserved. */
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

/* The device-readable header every request starts with. */
struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
} __attribute__((packed));

/* One range of a DISCARD or WRITE_ZEROES request (the request's data is an array of them). */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
} __attribute__((packed));

/* The device configuration space, up to the write-zeroes fields (spec 5.2.4). */
struct virtio_blk_config {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} __attribute__((packed)) geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp; /* log2(physical blocks per logical block) */
		uint8_t alignment_offset;
		uint16_t min_io_size; /* in logical blocks */
		uint32_t opt_io_size; /* in logical blocks */
	} __attribute__((packed)) topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

#endif
