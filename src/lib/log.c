#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level current_level = LOG_INFO;
static bool terminal_raw;
static char program[16] = "gureum";
static char prefix[80] = "gureum";

const char *log_prefix(void)
{
	return prefix;
}

void log_set_program(const char *name)
{
	snprintf(program, sizeof(program), "%s", name);
	snprintf(prefix, sizeof(prefix), "%s", program);
}

void log_set_name(const char *name)
{
	if (name && *name)
		snprintf(prefix, sizeof(prefix), "%s[%s]", program, name);
	else
		snprintf(prefix, sizeof(prefix), "%s", program);
}

void log_set_raw_terminal(bool raw)
{
	terminal_raw = raw;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= current_level;
}

static const char *level_prefix(enum log_level level)
{
	switch (level) {
	case LOG_ERROR:
		return "error: ";
	case LOG_WARN:
		return "warning: ";
	case LOG_INFO:
		return "";
	case LOG_DEBUG:
		return "debug: ";
	}
	return "";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	/* Build the line first so concurrent vCPU threads never interleave halves of lines. In
	 * raw mode the terminal does not turn "\n" into CR LF, so we do. */
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s%s: %s%s%s\n", terminal_raw ? "\r" : "", prefix, level_prefix(level),
		line, terminal_raw ? "\r" : "");
}
