/* The smallest machine for user-mode tests of the software CPU through its public API: a code
 * page at CODE (readable, executable) and a data page at DATA (readable, writable); every
 * other address faults. */
#ifndef TESTS_UNIT_EMU_TWO_PAGES_H
#define TESTS_UNIT_EMU_TWO_PAGES_H

#include "accel/emu/emu.h"

#include <stddef.h>
#include <stdint.h>

#define CODE 0x400000ULL
#define DATA 0x600000ULL /* one page; the pages around it are unmapped */

extern uint8_t code[4096];
extern uint8_t data[4096];
extern struct emu_cpu *cpu;
extern struct vcpu_state *st;

/* Fills the code page with INT3 and the data page with zeros, copies `program` (`len` bytes)
 * to CODE and creates `cpu` (destroying the previous one) of CPU model `model` at RIP = CODE. */
void two_pages_start(const char *model, const void *program, size_t len);
/* Destroys `cpu`, if any. */
void two_pages_stop(void);

#endif
