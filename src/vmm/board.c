/* The "microvm-pc" board: which devices sit where, the firmware tables, and the boot payload
 * (a kernel through one of the loaders, or a firmware image at the reset vector). */
#include "vmm/vm.h"

#include "display/display.h"
#include "lib/log.h"
#include "machine/acpi.h"
#include "machine/boot.h"
#include "machine/layout.h"
#include "machine/reset_stub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIOS_MAX_SIZE		(16ULL << 20)
#define BIOS_LEGACY_WINDOW	(128ULL << 10) /* the part also visible below 1 MiB */
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_ENABLE_WRITEBACK	0x806ULL /* MTRRs on, default type write-back */
#define APIC_LVT0		0x350
#define APIC_LVT1		0x360
#define APIC_MODE_EXTINT	0x700
#define APIC_MODE_NMI		0x400

static void on_uart_output(void *opaque, const uint8_t *buf, size_t len)
{
	console_write(opaque, buf, len);
}

static void on_power_reset(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_RESET, 0);
}

static void on_power_off(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_POWEROFF, 0);
}

static void on_debug_exit(void *opaque, int status)
{
	vm_request_stop(opaque, VM_STOP_DEBUG_EXIT, status);
}

static void on_cpu_ejected(void *opaque, unsigned cpu)
{
	vm_vcpu_ejected(opaque, cpu);
}

/* --cpus N,max=M: the status bytes of the M possible vCPUs, N of them (or a snapshot's count)
 * present. */
static int attach_cpu_hotplug(struct vm *vm)
{
	if (!vm->config->cpu_hotplug)
		return 0;
	struct hotplug_slots_ops ops = {.ejected = on_cpu_ejected, .opaque = vm};
	struct hotplug_slots_kind kind = {"cpu-hotplug", LAYOUT_PORT_CPU_HOTPLUG,
					  LAYOUT_GED_EVENT_CPU_HOTPLUG};
	if (hotplug_slots_init(&vm->cpu_hotplug, kind, vm->max_vcpus, vm->nr_vcpus, &vm->acpi_ged,
			       ops) < 0)
		return -1;
	vm->has_cpu_hotplug = true;
	return hotplug_slots_attach(&vm->cpu_hotplug, &vm->pio);
}

static void on_pci_slot_ejected(void *opaque, unsigned slot)
{
	struct vm *vm = opaque;
	atomic_fetch_or(&vm->pci_ejected, 1u << slot);
	uint64_t one = 1;
	if (vm->hotplug_fd >= 0 && write(vm->hotplug_fd, &one, sizeof(one)) < 0)
		log_warn("PCI slot %u: the guest ejected it, and the VMM cannot be told", slot);
}

/* The status bytes of the PCI slots, with the firmware tables the VMM builds (a --bios brings
 * its own). The slots taken at boot are marked present once the devices are in. */
static int attach_pci_hotplug(struct vm *vm)
{
	if (vm->config->bios)
		return 0;
	struct hotplug_slots_ops ops = {.ejected = on_pci_slot_ejected, .opaque = vm};
	struct hotplug_slots_kind kind = {"pci-hotplug", LAYOUT_PORT_PCI_HOTPLUG,
					  LAYOUT_GED_EVENT_PCI_HOTPLUG};
	if (hotplug_slots_init(&vm->pci_hotplug, kind, PCI_HOST_SLOTS, 0, &vm->acpi_ged, ops) < 0)
		return -1;
	vm->has_pci_hotplug = true;
	return hotplug_slots_attach(&vm->pci_hotplug, &vm->pio);
}

static void mark_pci_slots_present(struct vm *vm)
{
	for (unsigned slot = 1; vm->has_pci_hotplug && slot < PCI_HOST_SLOTS; slot++)
		if (pci_host_slot_used(&vm->pci, slot))
			hotplug_slots_set_present(&vm->pci_hotplug, slot, true);
}

static int attach_devices(struct vm *vm, char *err, size_t err_len)
{
	struct power_callbacks power = {
	    .reset = on_power_reset, .poweroff = on_power_off, .opaque = vm};
	struct uart_output out = {.write = on_uart_output, .opaque = vm->console};
	vm->devices_attached = true; /* destroy functions accept zeroed structs */
	int rc = uart16550_init(&vm->uart, &vm->irq, LAYOUT_GSI_UART0, out);
	rc = rc ?: uart16550_attach(&vm->uart, &vm->pio);
	rc = rc ?: i8042_init(&vm->kbc, &vm->irq, I8042_KBD_GSI, power);
	rc = rc ?: i8042_attach(&vm->kbc, &vm->pio);
	rc = rc ?: cmos_rtc_init(&vm->rtc, vm->config->memory);
	rc = rc ?: cmos_rtc_attach(&vm->rtc, &vm->pio);
	rc = rc ?: acpi_power_init(&vm->acpi_power, power);
	rc = rc ?: acpi_power_attach(&vm->acpi_power, &vm->pio);
	rc = rc ?: acpi_ged_init(&vm->acpi_ged, &vm->irq, LAYOUT_GSI_GED);
	rc = rc ?: acpi_ged_attach(&vm->acpi_ged, &vm->pio);
	rc = rc ?: attach_cpu_hotplug(vm);
	rc = rc ?: attach_pci_hotplug(vm);
	rc = rc ?: pci_host_init(&vm->pci);
	rc = rc ?: pci_host_attach(&vm->pci, &vm->pio, &vm->mmio);
	if (rc == 0 && vm->config->has_debug_exit) {
		rc = debug_exit_init(&vm->debug_exit, vm->config->debug_exit_port, on_debug_exit,
				     vm);
		rc = rc ?: debug_exit_set_iosize(&vm->debug_exit, vm->config->debug_exit_iosize);
		rc = rc ?: debug_exit_attach(&vm->debug_exit, &vm->pio);
		if (rc)
			snprintf(
			    err, err_len,
			    "--debug-exit 0x%x (%u port%s) collides with a device of the machine",
			    vm->config->debug_exit_port, vm->config->debug_exit_iosize,
			    vm->config->debug_exit_iosize > 1 ? "s" : "");
	}
	if (rc && !err[0])
		snprintf(err, err_len, "cannot set up the machine's devices");
	return rc ? -1 : 0;
}

static void copy_boot_registers(struct vcpu_state *dst, const struct vcpu_state *boot)
{
	memcpy(dst->gpr, boot->gpr, sizeof(dst->gpr));
	dst->rip = boot->rip;
	dst->rflags = boot->rflags;
	memcpy(dst->seg, boot->seg, sizeof(dst->seg));
	dst->tr = boot->tr;
	dst->ldt = boot->ldt;
	dst->gdt = boot->gdt;
	dst->idt = boot->idt;
	dst->cr0 = boot->cr0;
	dst->cr3 = boot->cr3;
	dst->cr4 = boot->cr4;
	dst->efer = boot->efer;
}

static void set_lapic_register(struct vcpu_state *s, unsigned offset, uint32_t value)
{
	memcpy(&s->lapic[offset], &value, sizeof(value));
}

/* Every vCPU as firmware would leave it: LINT0 takes the PIC (ExtINT), LINT1 is NMI, MTRRs say
 * RAM is write-back (Linux complains when CPUs disagree, so all get it); the boot vCPU also
 * gets the registers the loader asked for (none for firmware: it starts at the reset vector). */
static int setup_vcpu(struct vm *vm, struct vm_vcpu *vcpu, const struct vcpu_state *boot);

int board_setup_ap(struct vm *vm, struct vm_vcpu *vcpu)
{
	return setup_vcpu(vm, vcpu, NULL);
}

static int setup_vcpu(struct vm *vm, struct vm_vcpu *vcpu, const struct vcpu_state *boot)
{
	struct vcpu_state *s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	int rc = vm->accel->vcpu_get_state(vcpu->accel_vcpu, s);
	if (rc == 0) {
		if (boot)
			copy_boot_registers(s, boot);
		set_lapic_register(s, APIC_LVT0, APIC_MODE_EXTINT);
		set_lapic_register(s, APIC_LVT1, APIC_MODE_NMI);
		vcpu_state_set_msr(s, MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING);
		vcpu_state_set_msr(s, MSR_MTRR_DEF_TYPE, MTRR_ENABLE_WRITEBACK);
		rc = vm->accel->vcpu_set_state(vcpu->accel_vcpu, s);
	}
	free(s);
	return rc;
}

static int setup_vcpus(struct vm *vm, const struct vcpu_state *boot, char *err, size_t err_len)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int rc = setup_vcpu(vm, &vm->vcpus[i], i == 0 ? boot : NULL);
		if (rc < 0) {
			snprintf(err, err_len, "cannot set the registers of vCPU %u: %s", i,
				 strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* The framebuffer as the boot protocol describes it to the kernel, or NULL. */
static const struct boot_framebuffer *describe_framebuffer(struct vm *vm,
							   struct boot_framebuffer *out)
{
	/* bochs-display is found on the PCI bus, by a DRM driver: the boot framebuffer stays
	 * empty, so that no efifb binds the same memory first and is then thrown out. */
	if (!vm->display || vm->config->display.adapter != DISPLAY_ADAPTER_EFIFB)
		return NULL;
	const struct framebuffer *fb = display_framebuffer(vm->display);
	*out = (struct boot_framebuffer){.base = LAYOUT_FRAMEBUFFER,
					 .width = fb->width,
					 .height = fb->height,
					 .stride = fb->stride};
	return out;
}

static int load_kernel(struct vm *vm, char *err, size_t err_len)
{
	struct acpi_config acpi = {
	    .nr_cpus = vm->nr_vcpus,
	    .cpu_hotplug = vm->config->cpu_hotplug,
	    .max_cpus = vm->max_vcpus,
	    .has_uart0 = true,
	    .has_rtc = true,
	    .has_i8042 = true,
	    .has_power_button = true,
	    .pci_hotplug = vm->has_pci_hotplug,
	};
	if (acpi_build(&vm->mem, &acpi, err, err_len) < 0)
		return -1;
	if (reset_stub_install(&vm->mem) < 0) {
		snprintf(err, err_len, "guest RAM does not reach the reset vector");
		return -1;
	}
	struct boot_framebuffer fb;
	struct boot_request req = {
	    .kernel_path = vm->config->kernel,
	    .initrd_path = vm->config->initrd,
	    .cmdline = vm->config->cmdline ? vm->config->cmdline : "console=ttyS0",
	    .framebuffer = describe_framebuffer(vm, &fb),
	};
	struct boot_entry entry;
	if (boot_load(&vm->mem, &req, &entry, err, err_len) < 0)
		return -1;
	if (req.framebuffer && entry.format != BOOT_FORMAT_BZIMAGE)
		log_warn("--display: only a bzImage kernel is told of the framebuffer (in its "
			 "boot_params); this kernel will not use it");
	struct vcpu_state *boot = malloc(sizeof(*boot));
	if (!boot) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	int rc = boot_setup_vcpu(&vm->mem, &entry, boot);
	if (rc < 0)
		snprintf(err, err_len, "cannot prepare the boot vCPU for this kernel");
	else
		rc = setup_vcpus(vm, boot, err, err_len);
	free(boot);
	return rc;
}

static int read_bios_file(const char *path, void **image, uint64_t *size, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, err_len, "bios '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > BIOS_MAX_SIZE) {
		snprintf(err, err_len,
			 "bios '%s' is %lld bytes; a firmware image must be 1 byte to 16 MiB", path,
			 (long long)st.st_size);
		close(fd);
		return -1;
	}
	/* The image is mapped so that its last byte is the last byte below 4 GiB. */
	*size = ((uint64_t)st.st_size + 4095) & ~4095ULL;
	*image = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*image == MAP_FAILED) {
		*image = NULL;
		close(fd);
		snprintf(err, err_len, "out of memory for the bios image");
		return -1;
	}
	uint8_t *dst = (uint8_t *)*image + (*size - (uint64_t)st.st_size);
	ssize_t n = pread(fd, dst, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		snprintf(err, err_len, "bios '%s': short read", path);
		return -1;
	}
	return 0;
}

/* Firmware boot: the image sits read-only at the top of 4 GiB, its last 128 KiB are also
 * copied below 1 MiB (the legacy BIOS window), and the boot vCPU starts at the reset vector. */
static int load_bios(struct vm *vm, char *err, size_t err_len)
{
	if (read_bios_file(vm->config->bios, &vm->bios_image, &vm->bios_size, err, err_len) < 0)
		return -1;
	int rc = vm->accel->map_memory(vm->accel_vm, (1ULL << 32) - vm->bios_size, vm->bios_size,
				       vm->bios_image, true);
	if (rc < 0) {
		snprintf(err, err_len, "the accelerator refused the bios mapping: %s",
			 strerror(-rc));
		return -1;
	}
	if (vm->origin)
		return 0; /* RAM and registers come from the origin */
	uint64_t legacy = vm->bios_size < BIOS_LEGACY_WINDOW ? vm->bios_size : BIOS_LEGACY_WINDOW;
	const uint8_t *tail = (const uint8_t *)vm->bios_image + vm->bios_size - legacy;
	if (!guest_memory_write(&vm->mem, LAYOUT_HIGH_MEMORY - legacy, tail, legacy)) {
		snprintf(err, err_len, "guest RAM is too small for the bios window");
		return -1;
	}
	return setup_vcpus(vm, NULL, err, err_len);
}

int board_build(struct vm *vm, char *err, size_t err_len)
{
	err[0] = '\0';
	if (attach_devices(vm, err, err_len) < 0 ||
	    board_add_virtio_devices(vm, err, err_len) < 0 ||
	    vm_display_plug_adapter(vm, err, err_len) < 0)
		return -1;
	mark_pci_slots_present(vm);
	if (vm->origin && !vm->config->bios)
		return 0; /* RAM and registers come from the origin */
	return vm->config->bios ? load_bios(vm, err, err_len) : load_kernel(vm, err, err_len);
}
