/* PCI configuration-space layout (PCI Local Bus 3.0, type 0 header) and the bits of it that
 * the host bridge and the PCI functions of gureum use. Names follow Linux's pci_regs.h. */
#ifndef GUREUM_DEVICES_PCI_H
#define GUREUM_DEVICES_PCI_H

#define PCI_CONFIG_SPACE_SIZE	      256
#define PCI_EXPRESS_CONFIG_SPACE_SIZE 4096
#define PCI_NUM_BARS		      6

#define PCI_VENDOR_ID		0x00 /* 16 bits */
#define PCI_DEVICE_ID		0x02 /* 16 bits */
#define PCI_COMMAND		0x04 /* 16 bits */
#define PCI_STATUS		0x06 /* 16 bits */
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09 /* class code: prog-if, then subclass, then class */
#define PCI_CACHE_LINE_SIZE	0x0c
#define PCI_LATENCY_TIMER	0x0d
#define PCI_HEADER_TYPE		0x0e
#define PCI_BASE_ADDRESS_0	0x10 /* 6 dwords */
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_ROM_ADDRESS		0x30
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CAPABILITIES_START	0x40 /* first byte after the standard header */

#define PCI_COMMAND_IO		 0x0001
#define PCI_COMMAND_MEMORY	 0x0002
#define PCI_COMMAND_MASTER	 0x0004
#define PCI_COMMAND_PARITY	 0x0040
#define PCI_COMMAND_SERR	 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_COMMAND_WRITABLE                                                                       \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |           \
	 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_HEADER_TYPE_NORMAL	0x00
#define PCI_HEADER_TYPE_MULTIFN 0x80

#define PCI_BASE_ADDRESS_SPACE_IO     0x01
#define PCI_BASE_ADDRESS_MEM_TYPE_64  0x04
#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_BASE_ADDRESS_IO_MASK      (~0x03U)
#define PCI_BASE_ADDRESS_MEM_MASK     (~0x0fU)

#define PCI_CAP_ID_VNDR 0x09 /* vendor-specific: virtio-pci's capabilities */
#define PCI_CAP_ID_EXP	0x10
#define PCI_CAP_ID_MSIX 0x11

#define PCI_CLASS_BRIDGE_HOST 0x060000

#endif
