/* --display's text form, both ways (display_options.h). */
#include "display/display_options.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                      \
	"give vnc=ADDR:PORT or vnc=unix:PATH, optionally with "                                    \
	",password=P,websocket=[ADDR:]PORT,width=W,height=H,adapter=efifb|bochs,input=virtio|ps2 " \
	"(or none)"

void display_options_init(struct display_options *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = DISPLAY_NONE;
	o->width = DISPLAY_DEFAULT_WIDTH;
	o->height = DISPLAY_DEFAULT_HEIGHT;
}

static bool host_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

static int parse_port(const char *text, uint16_t *port)
{
	char *end;
	if (!isdigit((unsigned char)text[0]) || strlen(text) > 5)
		return -1;
	unsigned long n = strtoul(text, &end, 10);
	if (*end || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

static int parse_unix(struct display_options *o, const char *path, char *err, size_t len)
{
	if (!*path || strlen(path) > DISPLAY_UNIX_PATH_MAX) {
		snprintf(err, len, "--display: vnc=unix:PATH needs a path of 1 to %d bytes",
			 DISPLAY_UNIX_PATH_MAX);
		return -1;
	}
	o->unix_socket = true;
	memset(o->path, 0, sizeof(o->path));
	memcpy(o->path, path, strlen(path));
	return 0;
}

/* "[IPv6]:PORT", "HOST:PORT", ":PORT": host and port, or -1. */
static int split_host_port(const char *v, char *host, size_t host_len, const char **port)
{
	const char *colon;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close[1] != ':' || (size_t)(close - v - 1) >= host_len)
			return -1;
		memcpy(host, v + 1, (size_t)(close - v - 1));
		host[close - v - 1] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -1;
		colon = close + 1;
	} else {
		colon = strchr(v, ':');
		if (!colon || strchr(colon + 1, ':') || (size_t)(colon - v) >= host_len)
			return -1;
		for (const char *c = v; c < colon; c++)
			if (!host_name_char(*c))
				return -1;
		memcpy(host, v, (size_t)(colon - v));
		host[colon - v] = '\0';
	}
	*port = colon + 1;
	return 0;
}

/* A later vnc= replaces an earlier one whole: no bytes of its address stay behind. */
static int parse_target(struct display_options *o, const char *v, char *err, size_t len)
{
	memset(o->host, 0, sizeof(o->host));
	memset(o->path, 0, sizeof(o->path));
	o->port = 0;
	if (strncmp(v, "unix:", 5) == 0)
		return parse_unix(o, v + 5, err, len);
	const char *port;
	if (split_host_port(v, o->host, sizeof(o->host), &port) < 0 ||
	    parse_port(port, &o->port) < 0) {
		snprintf(err, len,
			 "--display: vnc=%s is not ADDR:PORT (e.g. 127.0.0.1:5900, [::1]:5900, "
			 ":5900 for every interface, port 0 for any free one) or unix:PATH",
			 v);
		return -1;
	}
	o->unix_socket = false;
	return 0;
}

/* "PORT" or "ADDR:PORT" (ADDR as in vnc=); a later websocket= replaces an earlier one whole. */
static int parse_websocket(struct display_options *o, const char *v, char *err, size_t len)
{
	memset(o->websocket_host, 0, sizeof(o->websocket_host));
	o->websocket_has_host = strchr(v, ':') != NULL;
	const char *port = v;
	bool ok = !o->websocket_has_host ||
		  split_host_port(v, o->websocket_host, sizeof(o->websocket_host), &port) == 0;
	if (!ok || parse_port(port, &o->websocket_port) < 0) {
		snprintf(err, len,
			 "--display: websocket=%s is not PORT or ADDR:PORT (e.g. 5700, "
			 "127.0.0.1:5700, :5700 for every interface, port 0 for any free one)",
			 v);
		return -1;
	}
	o->websocket = true;
	return 0;
}

static int parse_password(struct display_options *o, const char *v, char *err, size_t len)
{
	size_t n = strlen(v);
	bool printable = n > 0;
	for (size_t i = 0; i < n; i++)
		printable = printable && v[i] > ' ' && v[i] < 0x7f;
	if (!printable || n > DISPLAY_PASSWORD_MAX) {
		snprintf(err, len,
			 "--display: the password must be 1 to %d printable characters without "
			 "spaces or commas (VNC authentication uses no more)",
			 DISPLAY_PASSWORD_MAX);
		return -1;
	}
	memset(o->password, 0, sizeof(o->password));
	memcpy(o->password, v, n);
	return 0;
}

static int parse_size(const char *key, const char *v, uint32_t min, uint32_t max, uint32_t *out,
		      char *err, size_t len)
{
	char *end = NULL;
	unsigned long n = 0;
	if (isdigit((unsigned char)v[0]) && strlen(v) <= 5)
		n = strtoul(v, &end, 10);
	if (!end || *end || n < min || n > max) {
		snprintf(err, len, "--display: %s=%s is not a number of pixels from %u to %u", key,
			 v, min, max);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

static int parse_adapter(struct display_options *o, const char *v, char *err, size_t len)
{
	if (strcmp(v, "efifb") == 0)
		o->adapter = DISPLAY_ADAPTER_EFIFB;
	else if (strcmp(v, "bochs") == 0)
		o->adapter = DISPLAY_ADAPTER_BOCHS;
	else {
		snprintf(err, len,
			 "--display: adapter=%s is not efifb (a boot framebuffer, the default) or "
			 "bochs (a PCI display adapter, for kernels with DRM)",
			 v);
		return -1;
	}
	return 0;
}

static int parse_input(struct display_options *o, const char *v, char *err, size_t len)
{
	if (strcmp(v, "virtio") == 0)
		o->input = DISPLAY_INPUT_VIRTIO;
	else if (strcmp(v, "ps2") == 0)
		o->input = DISPLAY_INPUT_PS2;
	else {
		snprintf(err, len,
			 "--display: input=%s is not a choice: give input=virtio (a virtio-input "
			 "tablet and keyboard, the default) or input=ps2 (the PS/2 keyboard alone)",
			 v);
		return -1;
	}
	return 0;
}

static int parse_item(struct display_options *o, const char *key, const char *v, char *err,
		      size_t len)
{
	if (strcmp(key, "vnc") == 0) {
		o->kind = DISPLAY_VNC;
		return parse_target(o, v, err, len);
	}
	if (strcmp(key, "password") == 0)
		return parse_password(o, v, err, len);
	if (strcmp(key, "websocket") == 0)
		return parse_websocket(o, v, err, len);
	if (strcmp(key, "width") == 0)
		return parse_size(key, v, DISPLAY_MIN_WIDTH, DISPLAY_MAX_WIDTH, &o->width, err,
				  len);
	if (strcmp(key, "height") == 0)
		return parse_size(key, v, DISPLAY_MIN_HEIGHT, DISPLAY_MAX_HEIGHT, &o->height, err,
				  len);
	if (strcmp(key, "adapter") == 0)
		return parse_adapter(o, v, err, len);
	if (strcmp(key, "input") == 0)
		return parse_input(o, v, err, len);
	snprintf(err, len,
		 "--display: unknown property '%s' (known: vnc, password, websocket, width, "
		 "height, adapter, input)",
		 key);
	return -1;
}

static int parse_items(struct display_options *o, char *text, char *err, size_t len)
{
	char *save = NULL;
	for (char *item = strtok_r(text, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			snprintf(err, len, "--display: '%s' is not key=value: " USAGE, item);
			return -1;
		}
		*eq = '\0';
		if (parse_item(o, item, eq + 1, err, len) < 0)
			return -1;
	}
	return 0;
}

int display_options_parse(struct display_options *o, const char *text, char *err, size_t len)
{
	struct display_options parsed;
	display_options_init(&parsed);
	if (strcmp(text, "none") == 0) {
		*o = parsed;
		return 0;
	}
	char *copy = strdup(text);
	if (!copy) {
		snprintf(err, len, "--display: out of memory");
		return -1;
	}
	int rc = parse_items(&parsed, copy, err, len);
	free(copy);
	if (rc == 0 && parsed.kind != DISPLAY_VNC) {
		snprintf(err, len, "--display: %s", USAGE);
		rc = -1;
	}
	if (rc == 0)
		*o = parsed;
	return rc;
}

/* Appends to out[*used]; false once it no longer fits. */
static bool append(char *out, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool append(char *out, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = *used < len ? vsnprintf(out + *used, len - *used, fmt, ap) : -1;
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *used)
		return false;
	*used += (size_t)n;
	return true;
}

/* host:port as vnc= and websocket= take it back ("[::1]:5700", ":5700"). */
static bool append_host_port(char *out, size_t len, size_t *used, const char *host, uint16_t port)
{
	if (strchr(host, ':'))
		return append(out, len, used, "[%s]:%u", host, port);
	return append(out, len, used, "%s:%u", host, port);
}

int display_options_format(const struct display_options *o, char *out, size_t len)
{
	size_t used = 0;
	bool ok;
	if (o->kind == DISPLAY_NONE)
		return append(out, len, &used, "none") ? 0 : -1;
	if (o->unix_socket)
		ok = append(out, len, &used, "vnc=unix:%s", o->path);
	else
		ok = append(out, len, &used, "vnc=") &&
		     append_host_port(out, len, &used, o->host, o->port);
	if (ok && o->password[0])
		ok = append(out, len, &used, ",password=%s", o->password);
	if (ok && o->websocket)
		ok = append(out, len, &used, ",websocket=") &&
		     (o->websocket_has_host
			  ? append_host_port(out, len, &used, o->websocket_host, o->websocket_port)
			  : append(out, len, &used, "%u", o->websocket_port));
	if (ok && o->width != DISPLAY_DEFAULT_WIDTH)
		ok = append(out, len, &used, ",width=%u", o->width);
	if (ok && o->height != DISPLAY_DEFAULT_HEIGHT)
		ok = append(out, len, &used, ",height=%u", o->height);
	if (ok && o->adapter == DISPLAY_ADAPTER_BOCHS)
		ok = append(out, len, &used, ",adapter=bochs");
	if (ok && o->input == DISPLAY_INPUT_PS2)
		ok = append(out, len, &used, ",input=ps2");
	return ok ? 0 : -1;
}
