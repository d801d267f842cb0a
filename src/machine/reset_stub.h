/* A stand-in for the firmware's reset vector when gureum boots a kernel directly. Linux, when
 * its ACPI reset attempt is skipped (hardware-reduced ACPI without EFI makes it try "EFI", then
 * "BIOS" reboot), switches to real mode and jumps to f000:fff0, where a PC's BIOS starts over.
 * There is no BIOS here, so without this the vCPU would execute zeroed memory forever. The stub
 * asks for a platform reset through the ACPI reset register, which is what a BIOS would do. */
#ifndef GUREUM_MACHINE_RESET_STUB_H
#define GUREUM_MACHINE_RESET_STUB_H

#include "machine/guest_memory.h"

/* Writes the stub at LAYOUT_BIOS_RESET_VECTOR; -1 if guest RAM does not reach it. */
int reset_stub_install(const struct guest_memory *mem);

#endif
