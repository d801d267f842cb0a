/* Constants of the virtio 1.x specification (OASIS virtio v1.2) that every transport and device
 * of gureum shares: device status bits, transport feature bits, device IDs and the split
 * virtqueue's memory layout. Names follow Linux's uapi headers (virtio_config.h, virtio_ring.h)
 * so that they can be checked against the spec and the guest driver side by side. */
#ifndef GUREUM_VIRTIO_VIRTIO_H
#define GUREUM_VIRTIO_VIRTIO_H

#include <stdint.h>

/* Device status (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 0x01
#define VIRTIO_STATUS_DRIVER		 0x02
#define VIRTIO_STATUS_DRIVER_OK		 0x04
#define VIRTIO_STATUS_FEATURES_OK	 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED		 0x80

/* Transport and ring feature bits (spec 6). */
#define VIRTIO_F_NOTIFY_ON_EMPTY    24
#define VIRTIO_F_ANY_LAYOUT	    27
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32
#define VIRTIO_F_ACCESS_PLATFORM    33
#define VIRTIO_F_RING_PACKED	    34
#define VIRTIO_F_IN_ORDER	    35
#define VIRTIO_F_ORDER_PLATFORM	    36
#define VIRTIO_F_SR_IOV		    37
#define VIRTIO_F_NOTIFICATION_DATA  38
#define VIRTIO_F_RING_RESET	    40
#define VIRTIO_FEATURE(bit)	    (1ULL << (bit))

/* Device IDs (spec 5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_MEM	  24

/* PCI IDs (spec 4.1.2): vendor 0x1af4, modern device ID 0x1040 + device ID. */
#define VIRTIO_PCI_VENDOR_ID	    0x1af4
#define VIRTIO_PCI_MODERN_DEVICE_ID 0x1040

/* Split virtqueue layout (spec 2.7). All fields little-endian (x86 guests only here). */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* Largest queue a split ring may have (spec 2.7: Queue Size up to 32768). */
#define VIRTQ_MAX_SIZE 32768

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* queue size entries, then used_event (with EVENT_IDX) */
} __attribute__((packed));

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* queue size entries, then avail_event (with EVENT_IDX) */
} __attribute__((packed));

/* Alignment the spec requires of each part of a split ring. */
#define VIRTQ_DESC_ALIGN  16
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_USED_ALIGN  4

#endif
