/* Text output on the first 16550 UART: all a payload needs to tell the test what it saw. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdint.h>

void con_putc(char c);
void con_puts(const char *s);
/* `digits` hexadecimal digits, without a prefix. */
void con_put_hex(uint32_t value, int digits);
void con_put_dec(uint32_t value);
/* At most `max` bytes of `s`, stopping at its NUL; unprintable bytes appear as '.'. */
void con_put_bytes(const char *s, uint32_t max);

#endif
