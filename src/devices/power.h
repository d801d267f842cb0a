/* How a device asks the VMM to reset or power off the machine. The devices that can do it (the
 * i8042's reset line, the ACPI sleep and reset registers) only call these; what a reset or a
 * poweroff means (stop vCPUs, rebuild the board, exit) is the VMM's business. */
#ifndef GUREUM_DEVICES_POWER_H
#define GUREUM_DEVICES_POWER_H

struct power_callbacks {
	void (*reset)(void *opaque);
	void (*poweroff)(void *opaque);
	void *opaque;
};

static inline void power_request_reset(const struct power_callbacks *cb)
{
	if (cb->reset)
		cb->reset(cb->opaque);
}

static inline void power_request_poweroff(const struct power_callbacks *cb)
{
	if (cb->poweroff)
		cb->poweroff(cb->opaque);
}

#endif
