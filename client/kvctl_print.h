/* kvctl_print.h - output helpers shared by kvctl's commands: values in
 * base64 (-o json) and bytes escaped onto one line (text). */
#ifndef CLIENT_KVCTL_PRINT_H_
#define CLIENT_KVCTL_PRINT_H_

#include <stddef.h>

/* Standard base64 (RFC 4648, padded) of the @n bytes at @p, NUL-terminated,
 * malloc'd (the caller frees it); NULL when out of memory. */
char *kvctl_b64_encode(const unsigned char *p, size_t n);

/* Prints the @n bytes at @p on stdout with \\, \t, \n and non-printable
 * bytes escaped, so that a field stays on one line. */
void kvctl_print_escaped(const unsigned char *p, size_t n);

#endif /* CLIENT_KVCTL_PRINT_H_ */
