#include "devices/apic_bus.h"

#include <errno.h>

void apic_bus_init(struct apic_bus *bus, struct lapic **lapics, unsigned count)
{
	bus->lapics = lapics;
	bus->count = count;
	atomic_init(&bus->messages, 0);
	atomic_init(&bus->bad_msi, 0);
}

static bool is_target(struct apic_bus *bus, const struct apic_message *msg, unsigned i)
{
	switch (msg->shorthand) {
	case APIC_SH_SELF:
		return msg->source == (int)i;
	case APIC_SH_ALL:
		return true;
	case APIC_SH_OTHERS:
		return msg->source != (int)i;
	default:
		return lapic_match(bus->lapics[i], msg);
	}
}

static unsigned deliver_lowest(struct apic_bus *bus, const struct apic_message *msg)
{
	int chosen = -1, focus = -1;
	uint8_t best_ppr = 0;
	uint32_t best_id = 0;
	for (unsigned i = 0; i < bus->count; i++) {
		struct lapic *l = bus->lapics[i];
		if (!is_target(bus, msg, i) || !lapic_accepts_fixed(l))
			continue;
		if (focus < 0 && lapic_is_focus(l, msg->vector))
			focus = (int)i;
		uint8_t ppr = lapic_ppr(l);
		uint32_t id = lapic_id(l);
		if (chosen < 0 || ppr < best_ppr || (ppr == best_ppr && id < best_id)) {
			chosen = (int)i;
			best_ppr = ppr;
			best_id = id;
		}
	}
	if (focus >= 0)
		chosen = focus;
	return chosen >= 0 && lapic_accept(bus->lapics[chosen], msg) ? 1 : 0;
}

unsigned apic_bus_deliver(struct apic_bus *bus, const struct apic_message *msg)
{
	atomic_fetch_add_explicit(&bus->messages, 1, memory_order_relaxed);
	if (msg->mode == APIC_DM_INIT && !msg->assert)
		return 0; /* INIT level de-assert: no processor since the Pentium 4 acts on it */
	bool lowest = (msg->mode == APIC_DM_LOWEST || msg->redirect_hint) &&
		      (msg->mode == APIC_DM_FIXED || msg->mode == APIC_DM_LOWEST);
	if (lowest)
		return deliver_lowest(bus, msg);
	unsigned taken = 0;
	for (unsigned i = 0; i < bus->count; i++)
		if (is_target(bus, msg, i) && lapic_accept(bus->lapics[i], msg))
			taken++;
	return taken;
}

bool apic_msi_decode(uint64_t address, uint32_t data, struct apic_message *msg)
{
	if (address < APIC_MSI_BASE || address >= APIC_MSI_BASE + APIC_MSI_SIZE ||
	    (address & APIC_MSI_REMAP))
		return false;
	unsigned mode = (data >> 8) & 7;
	if (mode == APIC_DM_REMRD || mode == APIC_DM_STARTUP)
		return false;
	bool level = data & APIC_MSI_LEVEL;
	*msg = (struct apic_message){
	    .dest = (uint32_t)((address >> 12) & 0xff) | (uint32_t)((address >> 5) & 0x7f) << 8,
	    .x2apic_format = false,
	    .logical = address & APIC_MSI_LOGICAL,
	    .vector = (uint8_t)data,
	    .mode = (uint8_t)mode,
	    .level_triggered = level,
	    .assert = !level || (data & APIC_MSI_ASSERT),
	    .shorthand = APIC_SH_NONE,
	    .redirect_hint = address & APIC_MSI_RH,
	    .source = -1,
	};
	return true;
}

int apic_bus_msi(struct apic_bus *bus, uint64_t address, uint32_t data)
{
	struct apic_message msg;
	if (!apic_msi_decode(address, data, &msg)) {
		atomic_fetch_add_explicit(&bus->bad_msi, 1, memory_order_relaxed);
		return -EINVAL;
	}
	if (!msg.assert)
		return 0; /* a level MSI's de-assert: nothing to deliver */
	return (int)apic_bus_deliver(bus, &msg);
}
