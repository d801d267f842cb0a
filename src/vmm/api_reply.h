/* The replies of the control protocol's commands (api_protocol.h), shared by the files that
 * answer them: {"ok":true}, or {"ok":false,"error":"one sentence"} with "refused" when the VM
 * turned a valid request down in its present state (the HTTP layer answers 409, not 400). */
#ifndef GUREUM_VMM_API_REPLY_H
#define GUREUM_VMM_API_REPLY_H

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

#define API_ERR_LEN 256

static inline json_t *error_reply(const char *message)
{
	return json_pack("{s:b,s:s}", "ok", 0, "error", message);
}

static inline json_t *error_replyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline json_t *error_replyf(const char *fmt, ...)
{
	char message[API_ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return error_reply(message);
}

static inline json_t *refused_reply(const char *message)
{
	return json_pack("{s:b,s:s,s:b}", "ok", 0, "error", message, "refused", 1);
}

static inline json_t *ok_reply(void)
{
	return json_pack("{s:b}", "ok", 1);
}

#endif
