/* A long-mode IDT entry (SDM Vol. 3A 6.14.1), for the 64-bit payloads. */
#ifndef GUEST_IDT64_H
#define GUEST_IDT64_H

#include <stdint.h>

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};

#define IDT64_INTERRUPT_GATE 0x8e /* present, DPL 0, 64-bit interrupt gate */

/* The gate to `handler` in code segment `selector`, of type and DPL `type_attr`, on IST `ist`
 * (0: none). */
static inline struct idt_gate idt64_gate(uint64_t handler, uint16_t selector, uint8_t type_attr,
					 uint8_t ist)
{
	return (struct idt_gate){
	    .offset_low = (uint16_t)handler,
	    .selector = selector,
	    .ist = ist,
	    .type_attr = type_attr,
	    .offset_mid = (uint16_t)(handler >> 16),
	    .offset_high = (uint32_t)(handler >> 32),
	};
}

#endif
