/* Diagnostics: one clear line per problem, on stderr, prefixed with the program name and, once
 * log_set_name gave one, the VM's ("gureum[web1]: ..."), so the logs of many VMs gathered in
 * one place (a host daemon's journal) say whose they are. */
#ifndef GUREUM_LIB_LOG_H
#define GUREUM_LIB_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* "gureum" or "gureum[NAME]": for a message written without log_msg (a signal handler's). */
const char *log_prefix(void);
/* The program's name for the prefix ("gureum" unless set; "gureumd"). */
void log_set_program(const char *name);
/* The VM's name for the prefix (NULL or "": none); set before other threads log. */
void log_set_name(const char *name);
bool log_enabled(enum log_level level);
/* Set while the console has the terminal in raw mode: lines then end in CR LF. */
void log_set_raw_terminal(bool raw);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
