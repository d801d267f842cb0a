/* Which accelerator runs the VM: --accel kvm|emu|auto, else the environment's GUREUM_ACCEL
 * (so a test suite or a user's shell can pick one for every gureum it starts), else auto.
 * auto takes KVM where
 * /dev/kvm is backed by the CPU's virtualization extensions and gureum's software CPU
 * otherwise, and says in one line which and why: a user on a cloud VM without nested
 * virtualization must learn why the guest is slower than on bare metal. */
#include "vmm/vm.h"

#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

#define HARDWARE_ACCEL "kvm"
#define SOFTWARE_ACCEL "emu"

static bool usable(const struct accel_ops *accel, char *why, size_t why_len, char *note,
		   size_t note_len)
{
	why[0] = note[0] = '\0';
	return accel && accel->probe(why, why_len, note, note_len);
}

static const struct accel_ops *choose_automatically(void)
{
	const struct accel_ops *hw = accel_find(HARDWARE_ACCEL);
	const struct accel_ops *sw = accel_find(SOFTWARE_ACCEL);
	char why[512], note[512];
	bool hw_ok = usable(hw, why, sizeof(why), note, sizeof(note));
	if (hw_ok && hw->hardware_assisted && hw->hardware_assisted()) {
		log_info("accelerator: kvm (hardware virtualization behind /dev/kvm)");
		return hw;
	}
	char sw_why[512], sw_note[512];
	if (!usable(sw, sw_why, sizeof(sw_why), sw_note, sizeof(sw_note))) {
		/* No software CPU to fall back on: KVM as it is, or the reason it cannot run. */
		if (hw_ok) {
			if (note[0])
				log_warn("%s", note);
			return hw;
		}
		log_error("%s", why);
		return NULL;
	}
	if (hw_ok)
		log_info(
		    "accelerator: emu, gureum's software CPU: /dev/kvm here is PVM, not "
		    "VT-x/AMD-V, and would emulate the unmodified guest in the host kernel far "
		    "more slowly (--accel kvm to use it anyway)");
	else
		log_info("accelerator: emu, gureum's software CPU, since KVM cannot run here: %s",
			 why);
	return sw;
}

const struct accel_ops *vm_choose_accel(const char *requested)
{
	const char *from_env = getenv("GUREUM_ACCEL");
	if (!requested && from_env && *from_env) {
		requested = from_env;
		log_info("accelerator: %s, from GUREUM_ACCEL", requested);
	}
	if (!requested || strcmp(requested, "auto") == 0)
		return choose_automatically();
	const struct accel_ops *accel = accel_find(requested);
	if (!accel) {
		log_error("unknown accelerator '%s'%s (available: %s, auto)", requested,
			  requested == from_env ? " in GUREUM_ACCEL" : "", accel_names());
		return NULL;
	}
	char why[512], note[512];
	if (!usable(accel, why, sizeof(why), note, sizeof(note))) {
		log_error("%s", why);
		return NULL;
	}
	if (note[0])
		log_warn("%s", note);
	return accel;
}
