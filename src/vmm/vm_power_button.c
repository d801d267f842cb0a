/* The operator's power button: a press through the ACPI Generic Event Device, which the
 * guest's button driver reports as the power key (Linux: KEY_POWER on the "Power Button"
 * input device; systemd-logind shuts down on it). */
#include "vmm/vm.h"

#include <stdio.h>

int vm_press_power_button(struct vm *vm, char *err, size_t err_len)
{
	/* A paused guest could not see the press. */
	const char *refusal = vm_not_running_reason(vm);
	if (refusal) {
		snprintf(err, err_len, "%s", refusal);
		return -1;
	}
	/* Outside the lock: the interrupt path takes the irqchip's own locks. */
	acpi_ged_raise(&vm->acpi_ged, ACPI_GED_POWER_BUTTON);
	return 0;
}
