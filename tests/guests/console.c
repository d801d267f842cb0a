#include "console.h"

#include "guest.h"
#include "portio.h"

void con_putc(char c)
{
	/* Waiting for THRE is what a real driver does; it also exercises the LSR emulation. */
	while (!(inb(PORT_UART0 + UART_LSR) & UART_LSR_THRE))
		;
	outb(PORT_UART0 + UART_THR, (uint8_t)c);
}

void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

void con_put_hex(uint32_t value, int digits)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = digits - 1; i >= 0; i--)
		con_putc(hex[(value >> (4 * i)) & 0xf]);
}

void con_put_dec(uint32_t value)
{
	char buf[10];
	int n = 0;
	do {
		buf[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	while (n > 0)
		con_putc(buf[--n]);
}

void con_put_bytes(const char *s, uint32_t max)
{
	for (uint32_t i = 0; i < max && s[i]; i++)
		con_putc(s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '.');
}
