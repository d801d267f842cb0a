/* JSON configuration files: an object whose keys are the long option names of `gureum run`.
 * Strings, integers and booleans are accepted and go through the same setters as the command
 * line, so both accept exactly the same values. */
#include "vmm/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int value_as_text(const char *key, json_t *value, char *buf, size_t buf_len, char *err,
			 size_t err_len)
{
	if (json_is_string(value)) {
		snprintf(buf, buf_len, "%s", json_string_value(value));
	} else if (json_is_integer(value) && json_integer_value(value) >= 0) {
		snprintf(buf, buf_len, "%lld", (long long)json_integer_value(value));
	} else if (json_is_boolean(value)) {
		snprintf(buf, buf_len, "%s", json_is_true(value) ? "true" : "false");
	} else {
		snprintf(err, err_len,
			 "\"%s\" must be a string, a non-negative integer or a boolean", key);
		return -1;
	}
	return 0;
}

static int apply_one(struct vm_config *config, const char *key, json_t *value, char *err,
		     size_t err_len)
{
	char text[4096];
	if (value_as_text(key, value, text, sizeof(text), err, err_len) < 0)
		return -1;
	return config_set(config, key, text, err, err_len);
}

/* Options that repeat on the command line (--disk, --net) take an array: "disk": ["a", "b"]. */
static int apply_value(struct vm_config *config, const char *key, json_t *value, char *err,
		       size_t err_len)
{
	if (!json_is_array(value))
		return apply_one(config, key, value, err, err_len);
	if (!config_key_repeats(key)) {
		snprintf(err, err_len, "\"%s\" takes one value, not an array", key);
		return -1;
	}
	size_t i;
	json_t *item;
	json_array_foreach(value, i, item)
	{
		if (apply_one(config, key, item, err, err_len) < 0)
			return -1;
	}
	return 0;
}

/* Applies a parsed JSON object; `source` names it in errors. */
static int apply_object(struct vm_config *config, json_t *root, const char *source, char *err,
			size_t err_len)
{
	if (!json_is_object(root)) {
		snprintf(err, err_len, "config %s: the top level must be a JSON object", source);
		return -1;
	}
	const char *key;
	json_t *value;
	json_object_foreach(root, key, value)
	{
		if (!config_key_known(key)) {
			snprintf(err, err_len, "config %s: unknown key \"%s\"", source, key);
			return -1;
		}
		char inner[512] = "";
		if (apply_value(config, key, value, inner, sizeof(inner)) < 0) {
			snprintf(err, err_len, "config %s: %s", source, inner);
			return -1;
		}
	}
	return 0;
}

int config_load_json(struct vm_config *config, const char *path, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, err_len, "config '%s' line %d: %s", path, jerr.line, jerr.text);
		return -1;
	}
	char source[4200];
	snprintf(source, sizeof(source), "'%s'", path);
	int rc = apply_object(config, root, source, err, err_len);
	json_decref(root);
	return rc;
}

int config_load_json_text(struct vm_config *config, const char *text, size_t len,
			  const char *source, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, err_len, "config %s: %s", source, jerr.text);
		return -1;
	}
	int rc = apply_object(config, root, source, err, err_len);
	json_decref(root);
	return rc;
}

/* Adds one setting to the object: a string, or for repeated options an array of them. */
static int add_setting(json_t *root, const char *key, const char *value)
{
	if (!config_key_repeats(key))
		return json_object_set_new(root, key, json_string(value));
	json_t *list = json_object_get(root, key);
	if (!list) {
		list = json_array();
		if (json_object_set_new(root, key, list) < 0)
			return -1;
	}
	return json_array_append_new(list, json_string(value));
}

/* The settings as a JSON object, `overrides` replacing or adding keys; NULL without memory. */
static json_t *settings_object(const struct vm_config *config, const char *const *overrides)
{
	json_t *root = json_object();
	int rc = root ? 0 : -1;
	for (unsigned i = 0; rc == 0 && i < config->nr_settings; i++)
		rc = add_setting(root, config->settings[i].key, config->settings[i].value);
	for (unsigned i = 0; rc == 0 && overrides && overrides[i]; i += 2)
		rc = json_object_set_new(root, overrides[i], json_string(overrides[i + 1]));
	if (rc < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int config_save_json(const struct vm_config *config, const char *path, const char *const *overrides,
		     char *err, size_t err_len)
{
	json_t *root = settings_object(config, overrides);
	int rc = root ? 0 : -1;
	if (rc < 0)
		snprintf(err, err_len, "config '%s': out of memory", path);
	else if (json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		snprintf(err, err_len, "config '%s': cannot write it (%s)", path, strerror(errno));
		rc = -1;
	}
	json_decref(root);
	return rc;
}

char *config_to_json_text(const struct vm_config *config, const char *const *overrides)
{
	json_t *root = settings_object(config, overrides);
	char *text = root ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(root);
	return text;
}
