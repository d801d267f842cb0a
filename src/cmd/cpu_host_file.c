/* A host's CPU as a file (cpu_host_file.h). */
#include "cmd/cpu_host_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_FILE_MAX_BYTES (64 * 1024) /* a real one is about 1 KiB */

static json_t *feature_names(const struct cpu_features *f)
{
	json_t *names = json_array();
	for (unsigned w = 0; names && w < CPU_FEATURE_WORDS; w++)
		for (unsigned bit = 0; bit < 32; bit++) {
			const char *name = cpu_feature_name(w, bit);
			if (name && (f->words[w] & (1u << bit)))
				json_array_append_new(names, json_string(name));
		}
	return names;
}

char *cpu_host_file_format(const struct cpu_features *features, const char *accel)
{
	json_t *words = json_object();
	for (unsigned w = 0; words && w < CPU_FEATURE_WORDS; w++) {
		char hex[16];
		snprintf(hex, sizeof(hex), "0x%08x", features->words[w]);
		json_object_set_new(words, cpu_feature_word_label(w), json_string(hex));
	}
	json_t *root =
	    json_pack("{s:s%, s:s, s:o*, s:o*}", "vendor", features->vendor, (size_t)12, "accel",
		      accel, "words", words, "features", feature_names(features));
	char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	char *with_newline = NULL;
	if (text && asprintf(&with_newline, "%s\n", text) < 0)
		with_newline = NULL;
	free(text);
	return with_newline;
}

/* "0x1234abcd" -> value; -1 when it is not a 32-bit hex number. */
static int parse_word(const char *text, uint32_t *value)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 16);
	if (strncmp(text, "0x", 2) != 0 || !text[2] || *end || errno || v > UINT32_MAX)
		return -1;
	*value = (uint32_t)v;
	return 0;
}

static int read_words(json_t *words, const char *name, struct cpu_features *f, char *err,
		      size_t err_len)
{
	if (!json_is_object(words)) {
		snprintf(err, err_len, "%s: \"words\" is missing or not an object", name);
		return -1;
	}
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++) {
		const char *label = cpu_feature_word_label(w);
		json_t *value = json_object_get(words, label);
		if (!json_is_string(value) || parse_word(json_string_value(value), &f->words[w])) {
			snprintf(err, err_len,
				 "%s: word \"%s\" is missing or not a 32-bit hex number "
				 "(\"0x...\")",
				 name, label);
			return -1;
		}
	}
	return 0;
}

int cpu_host_file_parse(const char *text, size_t len, const char *name,
			struct cpu_features *features, char *err, size_t err_len)
{
	json_error_t error;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	if (!root) {
		snprintf(err, err_len, "%s: not JSON (line %d: %s); write it with gureum cpu host",
			 name, error.line, error.text);
		return -1;
	}
	int rc = -1;
	json_t *vendor = json_object_get(root, "vendor");
	if (!json_is_object(root))
		snprintf(err, err_len, "%s: not a JSON object; write it with gureum cpu host",
			 name);
	else if (!json_is_string(vendor) || json_string_length(vendor) != 12)
		snprintf(err, err_len, "%s: \"vendor\" is missing or not a 12-character CPU vendor",
			 name);
	else if (read_words(json_object_get(root, "words"), name, features, err, err_len) == 0) {
		memcpy(features->vendor, json_string_value(vendor), 12);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

int cpu_host_file_read(const char *path, struct cpu_features *features, char *err, size_t err_len)
{
	FILE *file = fopen(path, "r");
	if (!file) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *text = malloc(HOST_FILE_MAX_BYTES);
	size_t len = text ? fread(text, 1, HOST_FILE_MAX_BYTES, file) : 0;
	bool too_big = text && len == HOST_FILE_MAX_BYTES;
	fclose(file);
	int rc = -1;
	if (!text)
		snprintf(err, err_len, "%s: out of memory", path);
	else if (too_big)
		snprintf(err, err_len, "%s: larger than %d KiB, not a CPU description", path,
			 HOST_FILE_MAX_BYTES / 1024);
	else
		rc = cpu_host_file_parse(text, len, path, features, err, err_len);
	free(text);
	return rc;
}
