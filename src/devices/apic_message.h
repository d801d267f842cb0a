/* An interrupt message between APICs: what an I/O APIC redirection entry, an MSI, or a local
 * APIC's interrupt command register sends, and what a local APIC accepts (Intel SDM vol. 3,
 * "Advanced Programmable Interrupt Controller": delivery modes, destination modes and
 * shorthands share one encoding in the ICR, the I/O APIC's redirection entries and MSI data).
 * The routing from sender to local APICs is apic_bus.h's job. */
#ifndef GUREUM_DEVICES_APIC_MESSAGE_H
#define GUREUM_DEVICES_APIC_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>

/* Delivery modes (bits 10:8 of the ICR, of a redirection entry, of MSI data, of an LVT). */
#define APIC_DM_FIXED	0
#define APIC_DM_LOWEST	1
#define APIC_DM_SMI	2
#define APIC_DM_REMRD	3 /* remote read: reserved on xAPIC and later */
#define APIC_DM_NMI	4
#define APIC_DM_INIT	5
#define APIC_DM_STARTUP 6
#define APIC_DM_EXTINT	7

/* Destination shorthands (ICR bits 19:18). */
#define APIC_SH_NONE   0
#define APIC_SH_SELF   1
#define APIC_SH_ALL    2 /* all including self */
#define APIC_SH_OTHERS 3 /* all excluding self */

#define APIC_BROADCAST_XAPIC  0xffu	  /* an 8-bit destination of all ones */
#define APIC_BROADCAST_X2APIC 0xffffffffu /* a 32-bit one */

struct apic_message {
	/* Destination: an APIC ID (physical) or a logical destination (MDA). As an xAPIC-format
	 * value (I/O APIC, MSI, xAPIC ICR: 8 bits, up to 15 with the virtualisation-defined
	 * extended destination ID) 0xff is the broadcast; in x2APIC format (x2APIC ICR: 32
	 * bits) 0xffffffff is. */
	uint32_t dest;
	bool x2apic_format;
	bool logical;	      /* destination mode */
	uint8_t vector;	      /* fixed, lowest priority: the vector; start-up: the page */
	uint8_t mode;	      /* APIC_DM_* */
	bool level_triggered; /* trigger mode */
	bool assert;	      /* level: false only for the obsolete INIT level de-assert */
	uint8_t shorthand;    /* APIC_SH_*, IPIs only */
	bool redirect_hint;   /* MSI RH: deliver to one of the destinations, by priority */
	int source;	      /* sending local APIC's index (shorthands), -1 for I/O APIC and MSI */
};

#endif
