/* util.c - small helpers shared by the server's modules. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>

int util_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
