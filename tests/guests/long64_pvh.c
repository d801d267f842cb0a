/* long64-pvh: entered through PVH, switched to long mode by pvh_entry.S. It reads the PCI host
 * bridge's ID both through ECAM (MMIO) and configuration mechanism #1 (port I/O), then halts
 * with interrupts enabled twice: once for a periodic LAPIC timer's interrupt, once for a UART
 * transmitter interrupt that travels through gureum's irq layer and the IOAPIC. It ends through
 * debug-exit with GUEST_EXIT_SUCCESS only when every check passed. It also prints the CPUID feature
 * words it sees, for the tests of --cpu-model. */
#include "console.h"
#include "guest.h"
#include "guest_exit.h"
#include "idt64.h"
#include "portio.h"

#include <stdint.h>

#define PVH_START_MAGIC 0x336ec578

#define VECTOR_TIMER	0x40
#define VECTOR_UART	0x41
#define VECTOR_SPURIOUS 0x4f
#define IDT_ENTRIES	0x50
#define EXCEPTIONS	32

#define LAPIC_ID	    0x20
#define LAPIC_EOI	    0xb0
#define LAPIC_SVR	    0xf0
#define LAPIC_SVR_ENABLE    (1u << 8)
#define LAPIC_LVT_TIMER	    0x320
#define LAPIC_LVT_LINT0	    0x350
#define LAPIC_LVT_MASKED    (1u << 16)
#define LAPIC_LVT_PERIODIC  (1u << 17)
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_DIVIDE  0x3e0
#define LAPIC_DIVIDE_BY_16  0x3
#define TIMER_COUNT	    0x10000 /* about a millisecond per period at divide-by-16 */

#define IOAPIC_REGSEL	  0x00
#define IOAPIC_WINDOW	  0x10
#define IOAPIC_REDIR(pin) (0x10 + 2 * (pin))
#define IOAPIC_MASKED	  (1u << 16)
#define UART_IOAPIC_PIN	  4 /* the UART's GSI on this board */

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

/* Wake-ups (mostly the timer's ticks) a wait may take before its interrupt is declared lost:
 * a few seconds of ticks, so a lost interrupt is a FAILED line rather than a hang. */
#define HALT_TRIES 4000

struct interrupt_frame;

static struct idt_gate idt[IDT_ENTRIES] __attribute__((aligned(16)));
static volatile uint32_t timer_interrupts;
static volatile uint32_t uart_interrupts;
static volatile uint8_t uart_iir;
static int failures;

void guest_main64(const uint32_t *start_info);

static void lapic_write(uint32_t reg, uint32_t value)
{
	mmio_write32(LAPIC_BASE + reg, value);
}

static void ioapic_write(uint32_t reg, uint32_t value)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WINDOW, value);
}

static void check(int ok, const char *what)
{
	con_puts(what);
	con_puts(ok ? " ok\n" : " FAILED\n");
	if (!ok)
		failures++;
}

__attribute__((interrupt)) static void on_exception(struct interrupt_frame *frame)
{
	(void)frame;
	con_puts("unexpected exception\n");
	debug_exit(GUEST_EXIT_FAILURE);
}

__attribute__((interrupt)) static void on_timer(struct interrupt_frame *frame)
{
	(void)frame;
	timer_interrupts++;
	lapic_write(LAPIC_EOI, 0);
}

__attribute__((interrupt)) static void on_uart(struct interrupt_frame *frame)
{
	(void)frame;
	/* Reading IIR acknowledges the THRE interrupt, which lowers the UART's line. */
	uart_iir = inb(PORT_UART0 + UART_IIR);
	uart_interrupts++;
	lapic_write(LAPIC_EOI, 0);
}

__attribute__((interrupt)) static void on_spurious(struct interrupt_frame *frame)
{
	(void)frame; /* a spurious interrupt takes no EOI */
}

static void set_gate(unsigned vector, void (*handler)(struct interrupt_frame *))
{
	idt[vector] = idt64_gate((uint64_t)(uintptr_t)handler, 0x08, IDT64_INTERRUPT_GATE, 0);
}

static void setup_idt(void)
{
	for (unsigned v = 0; v < EXCEPTIONS; v++)
		set_gate(v, on_exception);
	set_gate(VECTOR_TIMER, on_timer);
	set_gate(VECTOR_UART, on_uart);
	set_gate(VECTOR_SPURIOUS, on_spurious);
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

/* Only the IOAPIC and LAPIC deliver here: the 8259s and LINT0 (which KVM wires to the PIC
 * on the boot CPU) are masked, so the UART's line cannot also arrive as a bogus vector. */
static void setup_interrupt_controllers(void)
{
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VECTOR_SPURIOUS);
}

/* Halts with interrupts enabled until *counter moves. `sti; hlt` relies on STI's interrupt
 * shadow: an interrupt that is pending by then wakes the HLT rather than arriving before it.
 * In the nested lab (L1's KVM runs this on QEMU's TCG emulating SVM) that shadow is lost when
 * a host interrupt exits to L1 between the two instructions: L1's trace showed the timer's
 * vector injected at the HLT's own address, the handler returning to the HLT, and the vCPU
 * halted for good. The LAPIC timer therefore ticks through every wait, so a wake-up lost that
 * way costs one tick instead of the test. */
static void halt_until(volatile uint32_t *counter)
{
	for (int i = 0; i < HALT_TRIES && *counter == 0; i++)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void check_start_info(const uint32_t *start_info)
{
	con_puts("start_info magic 0x");
	con_put_hex(start_info[0], 8);
	con_putc('\n');
	check(start_info[0] == PVH_START_MAGIC, "pvh start_info");
}

static void print_id(const char *label, uint32_t id)
{
	con_puts(label);
	con_put_hex(id & 0xffff, 4);
	con_putc(':');
	con_put_hex(id >> 16, 4);
	con_putc('\n');
}

static void check_pci_host_bridge(void)
{
	uint32_t ecam_id = mmio_read32(PCI_ECAM_BASE); /* bus 0, device 0, function 0, reg 0 */
	outl(PORT_PCI_ADDR, 0x80000000u); /* enable, bus 0, device 0, function 0, reg 0 */
	uint32_t conf1_id = inl(PORT_PCI_DATA);
	print_id("pci 00:00.0 ecam id ", ecam_id);
	print_id("pci 00:00.0 conf1 id ", conf1_id);
	check(ecam_id == conf1_id && (ecam_id & 0xffff) != 0xffff && ecam_id != 0, "pci ids match");
}

/* Starts the periodic tick that the UART check's wait also relies on (see halt_until). */
static void check_lapic_timer(void)
{
	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_BY_16);
	lapic_write(LAPIC_LVT_TIMER, VECTOR_TIMER | LAPIC_LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_INITIAL, TIMER_COUNT);
	halt_until(&timer_interrupts);
	check(timer_interrupts >= 1, "interrupt");
}

static void stop_lapic_timer(void)
{
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VECTOR_TIMER);
	lapic_write(LAPIC_TIMER_INITIAL, 0);
}

static void check_uart_interrupt(void)
{
	uint32_t apic_id = mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;
	ioapic_write(IOAPIC_REDIR(UART_IOAPIC_PIN) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDIR(UART_IOAPIC_PIN), VECTOR_UART); /* fixed, edge, active high */
	/* The transmitter is empty, so enabling its interrupt raises the line at once. */
	outb(PORT_UART0 + UART_IER, UART_IER_THRI);
	halt_until(&uart_interrupts);
	outb(PORT_UART0 + UART_IER, 0);
	ioapic_write(IOAPIC_REDIR(UART_IOAPIC_PIN), IOAPIC_MASKED);
	con_puts("uart iir 0x");
	con_put_hex(uart_iir, 2);
	con_putc('\n');
	check(uart_interrupts >= 1 && (uart_iir & 0x0f) == 0x02, "uart interrupt");
}

static void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3])
			 : "a"(leaf), "c"(subleaf));
}

static void print_cpuid_word(const char *label, uint32_t leaf, uint32_t subleaf, int reg)
{
	uint32_t out[4];
	cpuid(leaf, subleaf, out);
	con_puts(label);
	con_putc('=');
	con_put_hex(out[reg], 8);
	con_putc(' ');
}

static void print_cpu_features(void)
{
	con_puts("cpuid ");
	print_cpuid_word("1.ecx", 1, 0, 2);
	print_cpuid_word("1.edx", 1, 0, 3);
	print_cpuid_word("7.0.ebx", 7, 0, 1);
	print_cpuid_word("0xd.0.eax", 0xd, 0, 0);
	print_cpuid_word("0x80000001.ecx", 0x80000001, 0, 2);
	con_putc('\n');
}

void guest_main64(const uint32_t *start_info)
{
	con_puts("long mode ok\n");
	print_cpu_features();
	check_start_info(start_info);
	setup_idt();
	setup_interrupt_controllers();
	check_pci_host_bridge();
	check_lapic_timer();
	check_uart_interrupt();
	stop_lapic_timer();
	debug_exit(failures ? GUEST_EXIT_FAILURE : GUEST_EXIT_SUCCESS);
}
