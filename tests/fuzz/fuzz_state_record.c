/* libFuzzer target: the state record reader and the loaders (UART, CMOS RTC, i8042, PCI host,
 * PIC, I/O APIC, PIT, vCPU, KVM's VM-level records up to the kernel structs (the ioctls that
 * would follow need /dev/kvm), their translation between KVM and the software CPU
 * (irqchip_translate.c), and a virtio-pci function: virtio-rng, whose load takes the whole
 * input), which a snapshot file or a migration stream feeds. The input is a sequence of
 * records; every record that parses is checked against a reader spec, its fields looked up,
 * and handed to each loader. Nothing may read outside the input, and a refused load must leave
 * the device as it was. */
#include "accel/kvm/kvm_vm_state.h"
#include "accel/vcpu_state_record.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/pci_host.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/uart16550.h"
#include "lib/state_record.h"
#include "machine/guest_memory.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"
#include "vmm/irqchip_translate.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int ignore_level(void *opaque, uint32_t gsi, bool level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	return 0;
}

static const struct irq_router router = {.set_level = ignore_level};

static uint64_t fixed_clock(void *opaque)
{
	(void)opaque;
	return 123456789;
}
static const char *const keys[] = {"a", "b", NULL};

static void exercise(const struct state_record *rec)
{
	char err[256];
	struct state_reader_spec spec = {"sample", 2, 1, keys};
	state_record_check(rec, &spec, err, sizeof(err));
	uint64_t v;
	const void *data;
	uint32_t len;
	state_get_u64(rec, "a", &v);
	if (state_get_bytes(rec, "b", &data, &len) == 0 && len > 0)
		(void)((const volatile uint8_t *)data)[len - 1];

	struct uart16550 uart;
	if (uart16550_init(&uart, &router, 4, (struct uart_output){0}) != 0)
		return;
	uart.scr = 0x77;
	if (uart16550_load(&uart, rec, err, sizeof(err)) < 0 && uart.scr != 0x77)
		__builtin_trap(); /* a refused load changed the UART */
	uart16550_destroy(&uart);

	struct cmos_rtc rtc;
	if (cmos_rtc_init(&rtc, 256u << 20) == 0) {
		rtc.offset_seconds = 77;
		if (cmos_rtc_load(&rtc, rec, err, sizeof(err)) < 0 && rtc.offset_seconds != 77)
			__builtin_trap();
	}
	struct i8042 kbc;
	if (i8042_init(&kbc, &router, 1, (struct power_callbacks){0}) == 0) {
		kbc.output_port = 0x77;
		if (i8042_load(&kbc, rec, err, sizeof(err)) < 0 && kbc.output_port != 0x77)
			__builtin_trap();
	}
	struct pci_host *host = calloc(1, sizeof(*host));
	if (host && pci_host_init(host) == 0) {
		host->config_address = 0x77;
		if (pci_host_load(host, rec, err, sizeof(err)) < 0 && host->config_address != 0x77)
			__builtin_trap();
		pci_host_destroy(host);
	}
	free(host);
	struct pic pic;
	pic_init(&pic, NULL, NULL);
	pic.chip[0].imr = 0x77;
	if (pic_load(&pic, rec, err, sizeof(err)) < 0 && pic.chip[0].imr != 0x77)
		__builtin_trap();
	struct ioapic io;
	ioapic_init(&io, 0, NULL, NULL);
	io.select = 0x77;
	if (ioapic_load(&io, rec, err, sizeof(err)) < 0 && io.select != 0x77)
		__builtin_trap();
	struct pit pit;
	pit_init(&pit, fixed_clock, NULL, NULL, NULL, 0);
	pit.portb = 0x7;
	if (pit_load(&pit, rec, err, sizeof(err)) < 0 && pit.portb != 0x7)
		__builtin_trap();
	if (pit_load(&pit, rec, err, sizeof(err)) == 0) /* a loaded PIT must be readable */
		for (uint16_t port = 0x40; port <= 0x42; port++)
			(void)pit_read(&pit, port);
	struct vcpu_state *vcpu = calloc(1, sizeof(*vcpu));
	if (vcpu) {
		vcpu->rip = 0x77;
		if (vcpu_state_load(vcpu, rec, err, sizeof(err)) < 0 && vcpu->rip != 0x77)
			__builtin_trap();
		free(vcpu);
	}
}

/* KVM's four records from every record boundary: a refused load keeps the target and the
 * position, an accepted one leaves only values KVM_SET_IRQCHIP/PIT2 may be given. */
static void exercise_kvm_vm_state(const uint8_t *data, size_t size, size_t pos)
{
	struct kvm_vm_state s;
	memset(&s, 0, sizeof(s));
	s.clock_ns = 77;
	size_t at = pos;
	char err[256];
	if (kvm_vm_state_load(&s, data, size, &at, err, sizeof(err)) < 0) {
		if (s.clock_ns != 77 || at != pos)
			__builtin_trap();
		return;
	}
	for (int i = 0; i < 2; i++)
		if ((s.pic[i].irq_base & 7) || s.pic[i].init_state > 3)
			__builtin_trap();
	for (int i = 0; i < 3; i++)
		if (s.pit.channels[i].mode > 5 && s.pit.channels[i].mode != 0xff)
			__builtin_trap();
	if (at <= pos || at > size)
		__builtin_trap();
	/* The clock a load sets: never below the saved one, whatever the realtime. */
	uint64_t nows[] = {0, s.realtime_ns - 1, s.realtime_ns, s.realtime_ns + 1, UINT64_MAX};
	for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
		if (kvm_vm_state_clock_at(&s, nows[i]) < s.clock_ns)
			__builtin_trap();
}

/* A virtio-rng function on virtio-pci, created once and again after each successful load (a
 * load needs a device the guest has not used). */
static struct {
	struct io_bus mmio;
	struct pci_host host;
	struct guest_memory mem;
	struct virtio_pci *vp;
	bool ready;
} virtio;

static struct virtio_pci *virtio_function(void)
{
	if (!virtio.ready) {
		io_bus_init(&virtio.mmio, "mmio");
		if (pci_host_init(&virtio.host) < 0 ||
		    guest_memory_create(&virtio.mem, 1 << 20) < 0)
			abort();
		virtio.ready = true;
	}
	if (!virtio.vp) {
		char err[256];
		struct virtio_device *d = virtio_rng_create(err, sizeof(err));
		struct virtio_pci_env env = {
		    .pci = &virtio.host, .mmio = &virtio.mmio, .mem = &virtio.mem, .irq = router};
		virtio.vp =
		    d ? virtio_pci_create(d, &env, 3, 0xe0000000, 18, err, sizeof(err)) : NULL;
		if (!virtio.vp)
			abort();
	}
	return virtio.vp;
}

static void exercise_virtio(const uint8_t *data, size_t size)
{
	struct virtio_pci *vp = virtio_function();
	struct virtio_device *d = virtio_pci_device(vp);
	static uint8_t before[PCI_EXPRESS_CONFIG_SPACE_SIZE];
	const struct pci_function *f = virtio.host.functions[3][0];
	memcpy(before, f->config, sizeof(before));
	size_t pos = 0;
	char err[256];
	if (virtio_pci_load(vp, data, size, &pos, err, sizeof(err)) == 0) {
		virtio_pci_destroy(vp); /* the next input needs a fresh function */
		virtio.vp = NULL;
		return;
	}
	if (pos != 0 || d->status != 0 || d->started || memcmp(before, f->config, sizeof(before)))
		__builtin_trap(); /* a refused load changed the function */
}

/* Moving a VM between KVM and the software CPU (vmm/irqchip_translate.c): whatever one side's
 * records translate to, the other side's loader takes; a refusal reads nothing past `pos`. */
static void exercise_translation(const uint8_t *data, size_t size, size_t pos)
{
	char err[256];
	struct state_writer w, back;
	state_writer_init(&w);
	state_writer_init(&back);
	size_t at = pos, back_at = 0;
	if (irqchip_records_from_kvm(data, size, &at, &w, err, sizeof(err)) == 0) {
		if (state_writer_failed(&w) ||
		    irqchip_records_to_kvm(w.buf, w.len, &back_at, 1, 2, &back, err, sizeof(err)) <
			0 ||
		    back_at != w.len)
			__builtin_trap(); /* KVM's records became ones the userspace side refuses */
	} else if (at != pos) {
		__builtin_trap();
	}
	state_writer_free(&w);
	state_writer_free(&back);
	state_writer_init(&w);
	state_writer_init(&back);
	at = pos, back_at = 0;
	if (irqchip_records_to_kvm(data, size, &at, 1, 2, &w, err, sizeof(err)) == 0) {
		if (state_writer_failed(&w) ||
		    irqchip_records_from_kvm(w.buf, w.len, &back_at, &back, err, sizeof(err)) < 0 ||
		    back_at != w.len)
			__builtin_trap(); /* the userspace records became ones KVM's side refuses */
	} else if (at != pos) {
		__builtin_trap();
	}
	state_writer_free(&w);
	state_writer_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	exercise_virtio(data, size);
	size_t pos = 0;
	char err[256];
	exercise_kvm_vm_state(data, size, 0);
	exercise_translation(data, size, 0);
	struct state_record rec;
	while (pos < size && state_record_parse(data, size, &pos, &rec, err, sizeof(err)) == 0) {
		exercise(&rec);
		exercise_kvm_vm_state(data, size, pos);
		exercise_translation(data, size, pos);
	}
	return 0;
}
