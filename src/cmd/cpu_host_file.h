/* A host's CPU as a file (`gureum cpu host > FILE`), read back by `gureum cpu baseline` and
 * `gureum cpu compare` on another machine: JSON with the vendor, the accelerator that offered
 * the features, the feature words in hex by CPUID position, and their names for a reader.
 *
 *   {"vendor": "AuthenticAMD", "accel": "kvm",
 *    "words": {"1.ecx": "0xf6f83203", ...}, "features": ["sse3", ...]}
 *
 * The words are what counts; "features" is only for people. */
#ifndef GUREUM_CMD_CPU_HOST_FILE_H
#define GUREUM_CMD_CPU_HOST_FILE_H

#include "accel/cpu_features.h"

#include <stddef.h>

/* The file's text (malloc'd, with a newline at the end), or NULL when out of memory. */
char *cpu_host_file_format(const struct cpu_features *features, const char *accel);

/* Reads `path`. Returns 0, or -1 with one sentence naming the file and what is wrong. */
int cpu_host_file_read(const char *path, struct cpu_features *features, char *err, size_t err_len);
/* As cpu_host_file_read, from text in memory (the fuzz target's way in). */
int cpu_host_file_parse(const char *text, size_t len, const char *name,
			struct cpu_features *features, char *err, size_t err_len);

#endif
