/* x87 floating point (D8-DF). Not implemented yet: every x87 opcode raises #UD. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

HANDLER(op_x87)
{
	(void)i;
	return emu_raise_ud(cpu);
}
