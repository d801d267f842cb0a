/* Constants the guest payloads share, usable from both assembly (.S) and C. They mirror
 * src/machine/layout.h, which cannot be included here: its ULL suffixes are not valid in
 * assembly, and the payloads must describe the machine as a guest sees it, independently. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#define PORT_UART0    0x3f8
#define UART_THR      0 /* transmit holding register (write) */
#define UART_IER      1 /* interrupt enable */
#define UART_IIR      2 /* interrupt identification (read) */
#define UART_LSR      5 /* line status */
#define UART_RBR      0 /* receive buffer (read) */
#define UART_LSR_DR   0x01
#define UART_IER_RDI  0x01
#define UART_LSR_THRE 0x20
#define UART_IER_THRI 0x02

#define PORT_DEBUG_EXIT	   0xf4 /* passed to gureum as --debug-exit 0xf4 */
#define PORT_I8042_CMD	   0x64
#define I8042_CMD_RESET	   0xfe
#define PORT_SLEEP_CTL	   0x600
#define SLEEP_CTL_S5_ENTER 0x34 /* SLP_TYP 5 << 2 | SLP_EN */
#define PORT_RESET	   0x602
#define RESET_VALUE	   1
#define PORT_PCI_ADDR	   0xcf8
#define PORT_PCI_DATA	   0xcfc

#define PCI_ECAM_BASE 0xe0000000
#define IOAPIC_BASE   0xfec00000
#define LAPIC_BASE    0xfee00000

/* Where the smp payload copies its AP start-up code: below 1 MiB and page-aligned, as a SIPI
 * requires (vector = address >> 12), and free on this board (the loaders' boot page tables
 * start at 0x9000, the multiboot info page is at 0x7000). */
#define AP_TRAMPOLINE_ADDR 0x8000
#define AP_SIPI_VECTOR	   (AP_TRAMPOLINE_ADDR >> 12)

#define MULTIBOOT_HEADER_MAGIC	   0x1badb002
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002

/* Exit codes written to the debug-exit port; gureum exits with (v << 1) | 1. */
#define GUEST_EXIT_SUCCESS 0x10 /* status 33 */
#define GUEST_EXIT_FAILURE 0x1f /* status 63 */

#endif
