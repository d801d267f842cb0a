/* libFuzzer target: the CPU model parsers a user or another host feeds: a --cpu-model
 * specification (accel/cpu_models.c) and a host description file (cmd/cpu_host_file.c). The
 * input is both: the specification up to the first NUL, the rest the file. Beyond not crashing,
 * what one accepts must round-trip: a host file written from the features read is read back the
 * same, and the baseline specification for them parses and requires exactly their named
 * features. */
#include "accel/cpu_models.h"
#include "cmd/cpu_host_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_spec(const char *spec)
{
	struct cpu_model model;
	char err[512];
	if (cpu_model_parse(spec, &model, err, sizeof(err)) < 0)
		return;
	uint32_t regs[4] = {~0u, ~0u, ~0u, ~0u};
	cpu_features_mask_leaf(model.keep, 0xd, 0, regs);
	struct cpu_features offered = {.vendor = "GenuineIntel"};
	memset(offered.words, 0xff, sizeof(offered.words));
	cpu_model_apply(&model, &offered);
	cpu_model_check(&model, spec, &offered, "fuzz", err, sizeof(err));
}

static void fuzz_host_file(const char *text, size_t len)
{
	struct cpu_features features, back;
	char err[512];
	if (cpu_host_file_parse(text, len, "fuzz", &features, err, sizeof(err)) < 0)
		return;
	char *written = cpu_host_file_format(&features, "fuzz");
	if (!written)
		return;
	if (cpu_host_file_parse(written, strlen(written), "again", &back, err, sizeof(err)) < 0 ||
	    memcmp(&features, &back, sizeof(features)) != 0)
		abort(); /* what we write, we must read back */
	free(written);
	char spec[CPU_MODEL_SPEC_MAX];
	struct cpu_model model;
	if (cpu_model_spec_for(&features, spec, sizeof(spec)) < 0)
		return;
	if (cpu_model_parse(spec, &model, err, sizeof(err)) < 0)
		abort(); /* the baseline must be a valid specification */
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		if (model.require[w] != (features.words[w] & cpu_features_governed(w)))
			abort(); /* and require exactly the named features given */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	size_t spec_len = strlen(copy);
	fuzz_spec(copy);
	if (spec_len < size)
		fuzz_host_file(copy + spec_len + 1, size - spec_len - 1);
	free(copy);
	return 0;
}
