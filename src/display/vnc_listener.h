/* The listening sockets of the VNC server: TCP on ADDR:PORT (every interface, IPv4 and IPv6,
 * when ADDR is empty; a free port when PORT is 0) or a Unix socket (mode 0600: only this user's
 * processes connect, since the screen and later the keyboard are the VM's). */
#ifndef GUREUM_DISPLAY_VNC_LISTENER_H
#define GUREUM_DISPLAY_VNC_LISTENER_H

#include "display/display_options.h"

#include <stddef.h>
#include <stdint.h>

#define VNC_ADDRESS_MAX 320

/* A non-blocking, close-on-exec listening socket, its address as text in `address`
 * ("127.0.0.1:5900", "[::]:5900", "unix:PATH"); -1 with one sentence in `err`. */
int vnc_listen(const struct display_options *o, char address[VNC_ADDRESS_MAX], char *err,
	       size_t err_len);

/* The same for websocket= (o->websocket): its address, else vnc='s TCP address, else
 * 127.0.0.1. */
int vnc_listen_websocket(const struct display_options *o, char address[VNC_ADDRESS_MAX], char *err,
			 size_t err_len);

/* TCP on host:port ("" every interface); `option` names the --display property in errors. */
int vnc_listen_tcp(const char *host, uint16_t port, const char *option,
		   char address[VNC_ADDRESS_MAX], char *err, size_t err_len);

#endif
