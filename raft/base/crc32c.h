/* crc32c.h - CRC-32C (Castagnoli, RFC 3720), by table or by SSE4.2. */
#ifndef RAFT_CRC32C_H_
#define RAFT_CRC32C_H_

#include <stddef.h>
#include <stdint.h>

/* Extends @crc (0 to start) over @len bytes at @buf and returns the new
 * value. Uses the SSE4.2 crc32 instruction when the CPU has it (detected once,
 * at first use), else the table. Thread-safe. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations, exposed so tests can check both agree. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Precondition: crc32c_hw_available() returned 1. */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
int crc32c_hw_available(void);

/* The size and CRC-32C of the whole file @path, read in bounded chunks
 * (crc32c_file.c). Returns 0, or -1 with one line in @err. */
int crc32c_file(const char *path, uint64_t *size, uint32_t *crc, char *err,
		size_t errlen);

#endif /* RAFT_CRC32C_H_ */
