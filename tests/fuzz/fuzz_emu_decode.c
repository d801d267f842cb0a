/* libFuzzer target: the x86 decoder on arbitrary bytes. Guest code is guest-controlled input;
 * whatever the bytes, decoding must end in an instruction, #UD, #GP (too long) or "need more
 * bytes", never a crash, and never claim more bytes than it was given or than 15. */
#include "accel/emu/cpu_model.h"
#include "accel/emu/insn.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum emu_mode mode = (enum emu_mode)(data[0] % 3);
	size_t nr_models;
	const struct emu_cpu_model *const *models = emu_cpu_models(&nr_models);
	const struct emu_cpu_model *model = models[(data[0] / 3) % nr_models];
	const uint8_t *code = data + 1;
	size_t left = size - 1;
	uint64_t rip = 0x401000;
	while (left > 0) {
		struct emu_insn insn;
		enum emu_decode_result r =
		    emu_decode(code, (unsigned)left, mode, model, rip, &insn);
		if (r != EMU_DECODE_OK)
			break;
		if (insn.len == 0 || insn.len > 15 || insn.len > left)
			__builtin_trap();
		code += insn.len;
		left -= insn.len;
		rip += insn.len;
	}
	return 0;
}
