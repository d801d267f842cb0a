/* The ways a payload ends its run, each one a VMM feature under test. */
#ifndef GUEST_GUEST_EXIT_H
#define GUEST_GUEST_EXIT_H

#include "guest.h"
#include "portio.h"

/* Stops this vCPU for good: the fallback when the VMM ignored an exit request, so that a
 * broken exit shows up as a test timeout rather than as the payload running into garbage. */
static inline __attribute__((noreturn)) void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ACPI S5 through the reduced-hardware sleep control register: gureum exits with status 0. */
static inline __attribute__((noreturn)) void power_off(void)
{
	outb(PORT_SLEEP_CTL, SLEEP_CTL_S5_ENTER);
	halt_forever();
}

/* gureum exits with status (value << 1) | 1. */
static inline __attribute__((noreturn)) void debug_exit(uint8_t value)
{
	outb(PORT_DEBUG_EXIT, value);
	halt_forever();
}

#endif
