/* key.c - key validation and the error strings of the kv module. */
#include "kv.h"

/* A well-formed UTF-8 scanner after the Unicode standard's table 3-7: the
 * second byte's range depends on the lead byte, which is what rules out
 * overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and
 * code points above U+10FFFF (F4 90.., F5..FF). */
int kv_key_valid(const uint8_t *key, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > KV_KEY_MAX || key == NULL)
		return 0;
	while (i < len) {
		uint8_t c = key[i];
		uint8_t lo = 0x80, hi = 0xBF;
		size_t n;

		if (c < 0x80) {
			/* ASCII: refuse C0 controls and DEL. */
			if (c < 0x20 || c == 0x7F)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return 0; /* continuation byte as lead, C0, C1, F5.. */
		}
		if (len - i - 1 < n)
			return 0; /* sequence cut by the end of the key */
		if (key[i + 1] < lo || key[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if ((key[i + k] & 0xC0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

int kv_key_allowed(const uint8_t *key, size_t len)
{
	if (!kv_key_valid(key, len))
		return 0;
	/* C1 controls U+0080..U+009F are C2 80..C2 9F; a C2 byte is always
	 * a lead byte in a valid key, never a continuation. */
	for (size_t i = 0; i + 1 < len; i++)
		if (key[i] == 0xC2 && key[i + 1] <= 0x9F)
			return 0;
	return 1;
}

const char *kv_strerror(int err)
{
	switch (err) {
	case KV_OK:
		return "success";
	case KV_EINVAL:
		return "invalid argument";
	case KV_ENOMEM:
		return "out of memory";
	case KV_ENOTFOUND:
		return "key not found";
	case KV_ELMDB:
		return "LMDB error";
	case KV_EIO:
		return "I/O error on the data directory";
	case KV_EGAP:
		return "entries would leave a gap after the applied index";
	case KV_ENOTSEQ:
		return "entry indexes are not consecutive";
	case KV_EFORMAT:
		return "store written by an unknown format version";
	case KV_ECORRUPT:
		return "the store is damaged (a malformed record or LMDB file)";
	case KV_EMAPFULL:
		return "LMDB map cannot grow beyond its maximum size";
	case KV_ESTOPPED:
		return "listing stopped by the callback";
	case KV_ENOSPC:
		return "no space left for the store";
	case KV_ECOMPACTED:
		return "the change history no longer holds that index";
	case KV_ECMD_TRUNCATED:
		return "command truncated";
	case KV_ECMD_VERSION:
		return "command has an unknown version";
	case KV_ECMD_OP:
		return "command has an unknown operation";
	case KV_ECMD_FLAGS:
		return "command has unknown flags or nonzero reserved bytes";
	case KV_ECMD_KEY_EMPTY:
		return "command key is empty";
	case KV_ECMD_KEY_TOO_LONG:
		return "command key is longer than 511 bytes";
	case KV_ECMD_KEY_INVALID:
		return "command key is not valid UTF-8 or has control "
		       "characters";
	case KV_ECMD_VALUE_TOO_LONG:
		return "command value is too long";
	case KV_ECMD_DELETE_VALUE:
		return "DELETE command carries a value";
	case KV_ECMD_TRAILING:
		return "command has bytes after its value";
	case KV_ECMD_SEQ:
		return "command has a sequence number but no client id";
	case KV_ECMD_CAS:
		return "command has a CAS index but no CAS flag";
	case KV_ECMD_TXN:
		return "transaction body does not decode or breaks a rule";
	case KV_ECMD_LEASE:
		return "command has a lease argument out of range";
	case KV_ECMD_AUTH:
		return "command has an auth operand out of shape";
	case KV_ECMD_ARGS:
		return "command has a field its operation does not take";
	}
	return "unknown error";
}
