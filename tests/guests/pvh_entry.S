/* PVH entry for the 64-bit payload: the Xen ELF note naming the 32-bit entry point, and the
 * switch from the flat 32-bit protected mode gureum starts it in (paging off) to long mode,
 * with this payload's own GDT and page tables. Then it calls guest_main64(start_info). */
#include "guest.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define CR0_PE	  (1 << 0)
#define CR0_PG	  (1 << 31)
#define CR4_PAE	  (1 << 5)
#define MSR_EFER  0xc0000080
#define EFER_LME  (1 << 8)
#define PTE_P	  (1 << 0)
#define PTE_W	  (1 << 1)
#define PTE_PWT	  (1 << 3)
#define PTE_PCD	  (1 << 4)
#define PTE_PS	  (1 << 7) /* a 2 MiB page in a page directory */
#define PAGE_2M	  (PTE_P | PTE_W | PTE_PS)
#define MMIO_2M	  (PAGE_2M | PTE_PWT | PTE_PCD) /* device registers must not be cached */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10

	.section .note.pvh, "a"
	.balign 4
	.long	4			/* name size: "Xen\0" */
	.long	4			/* descriptor size */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.long	pvh_start

	.text
	.code32
	.globl pvh_start, _start
pvh_start:
_start:				/* the ELF entry too, though PVH loaders use the note */
	cli
	mov	%ebx, %esi		/* keep start_info for guest_main64 */
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PE | CR0_PG), %eax
	mov	%eax, %cr0
	lgdt	gdt_descriptor
	ljmp	$SEL_CODE64, $long_mode

	.code64
long_mode:
	mov	$SEL_DATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	$stack_top, %rsp
	mov	%esi, %edi		/* zero-extends: start_info is below 4 GiB */
	call	guest_main64
1:	cli
	hlt
	jmp	1b

	.section .rodata
	.balign 8
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 64-bit code, DPL 0 */
	.quad	0x00cf92000000ffff	/* flat data */
gdt_end:
gdt_descriptor:
	.word	gdt_end - gdt - 1
	.long	gdt

/* Identity mapping of just what the payload touches, with 2 MiB pages: its own image (first
 * 2 MiB), the ECAM window's first 2 MiB (bus 0), the IOAPIC and the LAPIC. Static tables, so
 * that no loop runs before long mode (every instruction is slow under emulation). */
	.section .data
	.balign 4096
pml4:
	.long	pdpt + (PTE_P | PTE_W), 0
	.fill	511, 8, 0
pdpt:
	.long	pd_low + (PTE_P | PTE_W), 0	/* 0 .. 1 GiB */
	.quad	0, 0
	.long	pd_high + (PTE_P | PTE_W), 0	/* 3 .. 4 GiB */
	.fill	508, 8, 0
pd_low:
	.long	0 + PAGE_2M, 0
	.fill	511, 8, 0
pd_high:
	.org	pd_high + ((PCI_ECAM_BASE - 0xc0000000) >> 21) * 8
	.long	PCI_ECAM_BASE + MMIO_2M, 0
	.org	pd_high + ((IOAPIC_BASE - 0xc0000000) >> 21) * 8
	.long	IOAPIC_BASE + MMIO_2M, 0
	.org	pd_high + ((LAPIC_BASE - 0xc0000000) >> 21) * 8
	.long	LAPIC_BASE + MMIO_2M, 0
	.org	pd_high + 4096

	.bss
	.balign 16
stack:
	.skip	8192
stack_top:
