/* One boot of a virtual machine: guest RAM, the board's devices, the accelerator's VM and
 * the vCPU threads. A guest reboot with --on-reboot restart throws this away and builds a
 * fresh one (see session.c), exactly like a power cycle. */
#ifndef GUREUM_VMM_VM_H
#define GUREUM_VMM_VM_H

#include "accel/accel.h"
#include "devices/acpi_ged.h"
#include "devices/acpi_power.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_exit.h"
#include "devices/hotplug_slots.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/pc_irqchip.h"
#include "devices/pci_host.h"
#include "devices/uart16550.h"
#include "lib/guest_clock.h"
#include "machine/guest_memory.h"
#include "vmm/config.h"
#include "vmm/console.h"

struct virtio_pci;
struct virtio_device;
struct display;
struct bochs_display;

/* PCI slots 1.. of bus 0 hold the virtio devices (slot 0 is the host bridge). */
#define VM_MAX_VIRTIO_DEVICES 31
/* Key codes (KEY_*) the display routes: a PC keyboard's all lie below. */
#define VM_INPUT_KEY_LIMIT 256

#include <pthread.h>
#include <stdint.h>

enum vm_stop_reason {
	VM_RUNNING,
	VM_STOP_POWEROFF,   /* guest powered off: exit 0 */
	VM_STOP_RESET,	    /* guest rebooted */
	VM_STOP_DEBUG_EXIT, /* guest wrote the debug-exit port */
	VM_STOP_CRASH,	    /* triple fault, internal error: exit 3 */
	VM_STOP_QUIT,	    /* user asked (Ctrl-A x) */
	VM_STOP_SIGNAL,	    /* SIGTERM/SIGINT/SIGHUP */
	VM_STOP_ERROR,	    /* the VMM failed */
};

#define VM_EXIT_ERROR 1
#define VM_EXIT_USAGE 2
#define VM_EXIT_CRASH 3
/* The guest rebooted in a VMM under --jail, which cannot open its files again: its
 * supervisor starts a new VMM (gureumd does, whatever the restart policy). */
#define VM_EXIT_REBOOT 4

/* The software CPU's guest TSC frequency unless --tsc-khz sets one: fixed, whatever the
 * host's, so that a VM keeps its time base on any host (and after migration). Under KVM the
 * guest TSC runs at KVM's rate (the host's, or --tsc-khz's with TSC scaling). */
#define VM_GUEST_TSC_HZ 2000000000ULL

struct vm;
struct postcopy_destination;

struct vm_vcpu {
	struct vm *vm;
	unsigned index;
	struct accel_vcpu *accel_vcpu;
	pthread_t thread;
	bool thread_started;
	bool first_run_done;
	/* CPU hotplug (vm_cpus.c): the guest ejected this vCPU, so its thread leaves its loop
	 * (set from the ejecting vCPU's thread, read by this one's), and then says it has
	 * (under vm->lock): an unplugged vCPU is neither running nor parked. */
	bool unplug_requested;
	bool unplugged;
	/* Exits that came back to the vCPU loop, by vcpu_exit_reason: written only by the vCPU's
	 * thread, read by others with relaxed atomic loads (the counters API). */
	uint64_t exits[VCPU_EXIT_UNKNOWN + 1];
};

struct vm {
	const struct vm_config *config;
	/* Where this VM's RAM and state come from (a snapshot, a migration); NULL for a boot. */
	const struct vm_origin *origin;
	const struct accel_ops *accel;
	struct accel_vm *accel_vm;
	struct guest_memory mem;
	void *bios_image; /* read-only firmware mapping below 4 GiB, when --bios */
	uint64_t bios_size;
	struct irq_router irq;
	struct io_bus pio, mmio;
	/* The guest's TSC time base (userspace timers and the software CPU's RDTSC). */
	struct guest_clock clock;
	/* The userspace LAPICs, I/O APIC, PICs and PIT, when the accelerator has no in-kernel
	 * irqchip (userspace_irqchip.c), and the host timer thread of the PIT. */
	struct pc_irqchip *irqchip;
	pthread_t pit_thread;
	pthread_mutex_t pit_lock;
	pthread_cond_t pit_cond;
	bool pit_sync_ready, pit_thread_started, pit_stop, pit_rearm;
	struct console *console;
	/* --display: the session's screen, whose framebuffer this VM maps (vm_display.c); NULL
	 * without one. */
	struct display *display;
	bool display_attached;
	/* --display adapter=bochs: the PCI adapter, and where its VRAM is mapped now (a BAR the
	 * guest may move). */
	struct bochs_display *bochs;
	_Atomic uint64_t display_gpa;
	bool display_move_refused;
	bool display_logged; /* the accelerator logs writes to it */

	struct uart16550 uart;
	struct i8042 kbc;
	struct cmos_rtc rtc;
	struct debug_exit debug_exit;
	struct pci_host pci;
	struct acpi_power acpi_power;
	struct acpi_ged acpi_ged; /* the power button, CPU hotplug events */
	/* --cpus N,max=M with M > N: the vCPUs' status bytes (vm_cpus.c); has_cpu_hotplug
	 * says whether the board has them. */
	struct hotplug_slots cpu_hotplug;
	bool has_cpu_hotplug;
	/* PCI hotplug (vm_hotplug.c): a status byte per slot of bus 0, and the slots the guest
	 * ejected (a bit each) that the session has yet to take away; it hears of them through
	 * hotplug_fd (an eventfd, or -1), since the ejecting vCPU must not wait for a pause. */
	struct hotplug_slots pci_hotplug;
	bool has_pci_hotplug;
	_Atomic uint32_t pci_ejected;
	int hotplug_fd;
	/* A disk or card given at start left the bus, so the devices after it would move on a
	 * restored or migrated VM: those refuse until the next boot lays the bus out again. */
	bool pci_layout_changed;
	bool devices_attached; /* the devices above need their destroy functions */

	/* virtio-pci devices in slot order (board_virtio.c). */
	struct virtio_pci *virtio[VM_MAX_VIRTIO_DEVICES];
	unsigned nr_virtio;
	/* The configuration's disks (config->disks[i]) and cards (config->nics[i]) among them. */
	struct virtio_pci *disks[CONFIG_MAX_DISKS];
	struct virtio_pci *nics[CONFIG_MAX_NICS];
	struct virtio_device *virtio_console; /* hvc0, when --console-device virtio */
	struct virtio_device *virtio_balloon; /* when --balloon */
	struct virtio_device *virtio_mem;     /* when --memory-hotplug */
	/* --display vnc=...,input=virtio: the clients' pointer and keys (vm_input.c). */
	struct virtio_device *virtio_tablet, *virtio_keyboard;
	/* Keys pressed on the PS/2 keyboard and not yet released: their release goes there too,
	 * even once the virtio keyboard has taken over (the display serialises key events). */
	uint8_t keys_on_ps2[VM_INPUT_KEY_LIMIT / 8];

	/* vcpus[] has room for max_vcpus (--cpus N,max=M: M; else N). Those below nr_vcpus have
	 * been created; nr_vcpus grows when a vCPU is added beyond it, and shrinks when the last
	 * ones are ejected (vm_cpus.c), under `lock`. */
	unsigned nr_vcpus, max_vcpus;
	struct vm_vcpu *vcpus;
	pthread_mutex_t resize_lock; /* one vm_set_vcpus at a time */

	pthread_mutex_t lock;
	pthread_cond_t stopped_cond;
	/* Pause (vm_pause.c): vCPUs park at the top of their loop while pause_requested; paused
	 * once all of them have and the devices are quiet. Under `lock`. */
	pthread_cond_t pause_cond;
	bool pause_requested, paused;
	unsigned vcpus_parked;
	enum vm_stop_reason stop_reason;
	int exit_status;
	uint64_t first_run_ns; /* CLOCK_MONOTONIC of the first KVM_RUN, 0 before */
	/* Auto-converge (vm_throttle.c): the share of time each vCPU sleeps, 0-99, and the thread
	 * that kicks the vCPUs out of the guest every slice so that they do. */
	_Atomic unsigned throttle_pct;
	pthread_t throttle_thread;
	bool throttle_running; /* under `lock` */
	/* A post-copy migration still bringing guest RAM in (postcopy.h); ended by vm_destroy
	 * once nothing can wait on a page any more. */
	struct postcopy_destination *postcopy;
	/* The accelerator the loaded state was saved on, when it is not this VM's (a VM moved
	 * between KVM and the software CPU); empty otherwise. */
	char saved_on_accel[16];
};

/* A VM that does not boot but goes on from saved state: the snapshot or the migration stream
 * its configuration came from. */
struct vm_origin {
	const char *what, *source; /* for the log: "restored from" DIR, "received from" URI */
	/* Optional: guest RAM (laid out, not yet mapped by the accelerator) from the origin. */
	int (*map_memory)(struct vm *vm, void *opaque, char *err, size_t err_len);
	/* The rest, into the built VM before its vCPUs start. */
	int (*load)(struct vm *vm, void *opaque, char *err, size_t err_len);
	/* Optional: told why the VM could not be built before `load` ran (a migration's source
	 * is waiting for an answer). */
	void (*refuse)(void *opaque, const char *why);
	void *opaque;
};

/* Builds the machine for `config`, ready to boot, or (origin not NULL) in the state the origin
 * holds, whose configuration `config` must be. Returns NULL with `err` set. */
struct vm *vm_create(const struct vm_config *config, const struct accel_ops *accel,
		     struct console *console, struct display *display,
		     const struct vm_origin *origin, char *err, size_t err_len);
/* Creates vCPU `index` in the accelerator (vcpus[index], no thread yet). 0, or -1 with err. */
int vm_create_vcpu(struct vm *vm, unsigned index, char *err, size_t err_len);
/* Starts the vCPU threads. */
int vm_start(struct vm *vm, char *err, size_t err_len);
/* Every vCPU's TSC at `hz` where the accelerator keeps the guest TSC itself (KVM, with TSC
 * scaling); before the vCPUs run. 0, -ENOTSUP (no such accelerator) or the accelerator's
 * -errno. */
int vm_set_vcpus_tsc_hz(struct vm *vm, uint64_t hz);
/* Blocks until something stops the VM; returns the reason (exit status in vm->exit_status). */
enum vm_stop_reason vm_wait(struct vm *vm);
/* First caller wins; kicks every vCPU out of the guest. Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status);
/* Joins the vCPU threads and frees everything. */
void vm_destroy(struct vm *vm);

/* Pause and resume (vm_pause.c), from any thread but the vCPUs'. vm_pause returns once every
 * vCPU is out of the guest and every device has finished its requests in flight; vm_resume
 * lets them go on. Each returns 0, or -1 with one sentence in `err` (already paused, not
 * paused, stopping). A stop request ends a pause. */
int vm_pause(struct vm *vm, char *err, size_t err_len);
int vm_resume(struct vm *vm, char *err, size_t err_len);
/* CPU hotplug (vm_cpus.c). vm_set_vcpus makes the guest's vCPUs `count`: vCPUs it lacks are
 * created (or their threads started again) and announced to the guest, which adds them
 * offline (Linux: echo 1 > /sys/devices/system/cpu/cpuN/online); those beyond `count` are
 * asked to go, and leave once the guest has offlined and ejected them. Returns 0, or -1 with
 * one sentence in `err` (no max=, out of range, paused, stopping). */
int vm_set_vcpus(struct vm *vm, unsigned count, char *err, size_t err_len);
/* The guest ejected vCPU `cpu` (devices/hotplug_slots.h's ops.ejected): its thread is told to
 * leave. Safe from any thread. */
void vm_vcpu_ejected(struct vm *vm, unsigned cpu);
/* On the vCPU's own thread, as it leaves its loop after an eject. */
void vm_vcpu_leave(struct vm_vcpu *vcpu);
struct vm_vcpus_info {
	unsigned present;   /* the vCPUs the guest has (running threads) */
	unsigned max;	    /* --cpus ...,max= */
	unsigned inserting; /* announced, not yet taken by the guest */
	unsigned removing;  /* asked to go, not yet ejected */
};
void vm_vcpus_info(struct vm *vm, struct vm_vcpus_info *info);
/* Whether the vCPUs are as a snapshot or migration can record them: 0 .. nr_vcpus - 1 all
 * present, no removal under way. False with the reason in `err`. */
bool vm_vcpus_settled(struct vm *vm, char *err, size_t err_len);
/* The --cpus setting for the vCPUs as they are now ("3,max=8"), for a snapshot's or a
 * migration's configuration. */
void vm_cpus_setting(struct vm *vm, char *out, size_t out_len);

/* Disk and network card hotplug (vm_hotplug.c), with the session's lock held. vm_add_device
 * plugs the configuration's disk or card `index`, whose slot is set (board_free_pci_slot),
 * into that slot while the vCPUs wait, and tells the guest (Linux: acpiphp adds vdX, ethN).
 * vm_request_removal asks the guest to let it go; once it ejected the slot, vm_remove_ejected
 * takes the device away and says which it was. Each returns 0 (the index for
 * vm_remove_ejected), or -1 with one sentence in `err`. */
enum vm_hotplug_kind { VM_HOTPLUG_DISK, VM_HOTPLUG_NIC };
int vm_add_device(struct vm *vm, enum vm_hotplug_kind kind, unsigned index, char *err,
		  size_t err_len);
int vm_request_removal(struct vm *vm, enum vm_hotplug_kind kind, unsigned index, char *err,
		       size_t err_len);
/* The slots the guest ejected since the last call, a bit each. */
uint32_t vm_take_ejected_slots(struct vm *vm);
int vm_remove_ejected(struct vm *vm, unsigned slot, enum vm_hotplug_kind *kind, char *err,
		      size_t err_len);
/* Disk or card `index` as the guest stands with it: "attached", "inserting" (not yet taken by
 * the guest) or "removing" (asked to go, not yet ejected). */
const char *vm_device_state(struct vm *vm, enum vm_hotplug_kind kind, unsigned index);
/* Whether the PCI bus is as a snapshot or migration can record it: no insert or removal
 * under way, no device given at start gone from before others. False with the reason. */
bool vm_pci_settled(struct vm *vm, char *err, size_t err_len);

/* Presses the ACPI power button (devices/acpi_ged.h). Returns 0, or -1 with one sentence in
 * `err` while the VM is paused (a paused guest cannot see the press; resume it first). */
int vm_press_power_button(struct vm *vm, char *err, size_t err_len);
/* Why the VM cannot take a change to a running guest now ("the VM is stopping", "the VM is
 * paused: resume it first"), or NULL when it runs. */
const char *vm_not_running_reason(struct vm *vm);
/* Whether the VM is paused (vm_pause returned and no vm_resume since). */
bool vm_is_paused(struct vm *vm);
/* Only the virtio devices' half of the above: quiet from return on (they touch no guest
 * memory), and back. A post-copy destination loads its devices quiet, before guest RAM is
 * ready for them. */
void vm_pause_devices(struct vm *vm);
void vm_resume_devices(struct vm *vm);
/* Called by a vCPU thread at the top of its loop: waits there while the VM is paused. */
void vm_park_vcpu_if_paused(struct vm *vm);
#define VM_THROTTLE_MAX_PCT 99 /* the vCPUs run at least 1% of their time */
/* Throttles the vCPUs to (100 - pct)% of their time (pct 1-99): a migration's auto-converge,
 * for a guest that dirties memory faster than the link sends it. 0 or vm_throttle_stop ends
 * it. Returns 0, or -1 when the kicking thread cannot start. */
int vm_throttle_set(struct vm *vm, unsigned pct);
void vm_throttle_stop(struct vm *vm);
/* A vCPU thread, before it enters the guest: sleeps its share of the slice. */
void vm_throttle_vcpu(struct vm *vm);

/* The userspace irqchip (userspace_irqchip.c): creates it on the VM's buses, sets vm->irq to
 * its router and starts the PIT's timer. stop_timer ends the timer thread (before the vCPUs go
 * away: it kicks them); destroy frees the rest (after the devices that raise its lines). Both
 * do nothing when there is none. */
int vm_userspace_irqchip_create(struct vm *vm, char *err, size_t err_len);
void vm_userspace_irqchip_stop_timer(struct vm *vm);
void vm_userspace_irqchip_destroy(struct vm *vm);
/* The accel_vcpu_hooks of `vcpu` on the userspace irqchip and the VM's buses. */
void vm_userspace_irqchip_hooks(struct vm_vcpu *vcpu, struct accel_vcpu_hooks *hooks);

/* The framebuffer of vm->display (if any) mapped into the guest, its writes logged for the
 * display; and undone, before the accelerator's VM goes (vm_display.c). */
int vm_display_attach(struct vm *vm, char *err, size_t err_len);
void vm_display_detach(struct vm *vm);
/* With --display adapter=bochs, the adapter on PCI bus 0 (after the virtio devices), and gone
 * again once the vCPUs stopped. */
int vm_display_plug_adapter(struct vm *vm, char *err, size_t err_len);
void vm_display_unplug_adapter(struct vm *vm);
/* Once the board is built: the display's clients type and point on the VM's devices, the
 * virtio keyboard once the guest drives it and the PS/2 keyboard until then (vm_input.c). */
void vm_input_attach(struct vm *vm);

/* The accelerator for --accel NAME|auto (NULL: auto), probed; NULL with the reason logged
 * (accel_choice.c). auto says in one line which it took and why. */
const struct accel_ops *vm_choose_accel(const char *requested);

/* Board assembly (board.c): devices, buses, ACPI, the boot payload. */
int board_build(struct vm *vm, char *err, size_t err_len);
/* A vCPU as firmware leaves an application processor (its LINTs, MTRRs, MISC_ENABLE): for the
 * boot-time APs and for vCPUs added later. 0 or -errno. */
int board_setup_ap(struct vm *vm, struct vm_vcpu *vcpu);
/* The virtio devices of the configuration on PCI bus 0 (board_virtio.c). */
int board_add_virtio_devices(struct vm *vm, char *err, size_t err_len);
/* Resets and frees them; before the accelerator's VM and guest RAM go away. */
void board_remove_virtio_devices(struct vm *vm);
/* The lowest PCI slot of bus 0 a device may take now (none there, no disk pinned to it), or 0
 * when there is none. */
unsigned board_free_pci_slot(struct vm *vm);
/* Plugs `dev` (owned from here; NULL: its constructor failed and set err) in at `slot`, or the
 * lowest free one for 0, and keeps vm->virtio in slot order. NULL with err set. */
struct virtio_pci *board_plug_virtio(struct vm *vm, struct virtio_device *dev, unsigned slot,
				     char *err, size_t err_len);
/* Network card `index` of the configuration, in its slot or the lowest free one
 * (vm->nics[index]). NULL with err set. */
struct virtio_pci *board_plug_nic(struct vm *vm, unsigned index, char *err, size_t err_len);
/* The vCPU thread body (vcpu_loop.c). */
void *vcpu_thread_main(void *arg);
/* Prints a vCPU's registers to stderr, for crash reports. */
void vm_report_vcpu_state(struct vm_vcpu *vcpu);

#endif
