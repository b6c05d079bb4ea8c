/* peer_proof.c - building and checking the proof of membership of the
 * peer hello (peer_proof.h). */
#include "peer_proof.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "byteorder.h"

/* Domain separation: a MAC made under the peer token for this purpose
 * never passes for one made for another. */
#define PROOF_LABEL	"kvd-peer-proof"
#define PROOF_LABEL_LEN (sizeof(PROOF_LABEL) - 1)
#define PROOF_MSG_LEN	(PROOF_LABEL_LEN + PEER_PROOF_NONCE_BYTES + 16)

int peer_proof_nonce(uint8_t nonce[PEER_PROOF_NONCE_BYTES])
{
	size_t got = 0;

	while (got < PEER_PROOF_NONCE_BYTES) {
		ssize_t r =
		    getrandom(nonce + got, PEER_PROOF_NONCE_BYTES - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

void peer_proof_compute(const char *token, size_t token_len,
			const uint8_t nonce[PEER_PROOF_NONCE_BYTES],
			raft_id answerer, raft_id asker,
			uint8_t mac[PEER_PROOF_MAC_BYTES])
{
	uint8_t msg[PROOF_MSG_LEN];
	unsigned int mac_len = 0;
	uint8_t *p = msg;

	memcpy(p, PROOF_LABEL, PROOF_LABEL_LEN);
	p += PROOF_LABEL_LEN;
	memcpy(p, nonce, PEER_PROOF_NONCE_BYTES);
	p += PEER_PROOF_NONCE_BYTES;
	le_put_u64(p, answerer);
	le_put_u64(p + 8, asker);
	/* HMAC() with a caller's buffer allocates nothing that can fail
	 * but the digest's context; should it fail, the MAC is all zeros,
	 * which no check accepts (peer_proof_check computes the same). */
	if (HMAC(EVP_sha256(), token, (int)token_len, msg, sizeof(msg), mac,
		 &mac_len) == NULL ||
	    mac_len != PEER_PROOF_MAC_BYTES)
		memset(mac, 0, PEER_PROOF_MAC_BYTES);
	OPENSSL_cleanse(msg, sizeof(msg));
}

bool peer_proof_check(const char *token, size_t token_len,
		      const uint8_t nonce[PEER_PROOF_NONCE_BYTES],
		      raft_id answerer, raft_id asker,
		      const uint8_t got[PEER_PROOF_MAC_BYTES])
{
	static const uint8_t zero[PEER_PROOF_MAC_BYTES];
	uint8_t want[PEER_PROOF_MAC_BYTES];
	bool ok;

	peer_proof_compute(token, token_len, nonce, answerer, asker, want);
	/* A failed HMAC leaves zeros: never a proof. */
	ok = CRYPTO_memcmp(want, zero, sizeof(want)) != 0 &&
	     CRYPTO_memcmp(want, got, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

static const char hexdig[] = "0123456789abcdef";

void peer_proof_nonce_hex(const uint8_t nonce[PEER_PROOF_NONCE_BYTES],
			  char hex[PEER_PROOF_NONCE_HEX + 1])
{
	for (size_t i = 0; i < PEER_PROOF_NONCE_BYTES; i++) {
		hex[2 * i] = hexdig[nonce[i] >> 4];
		hex[2 * i + 1] = hexdig[nonce[i] & 15];
	}
	hex[PEER_PROOF_NONCE_HEX] = '\0';
}

/* The value of hex digit @c, or -1; upper case only when @upper_ok. */
static int hexval(unsigned char c, bool upper_ok)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (upper_ok && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes 2 * @n hex digits at @s into @out; -1 on a non-digit. */
static int unhex(const uint8_t *s, size_t n, bool upper_ok, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i], upper_ok);
		int lo = hexval(s[2 * i + 1], upper_ok);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int peer_proof_parse_nonce(const char *hex,
			   uint8_t nonce[PEER_PROOF_NONCE_BYTES])
{
	if (hex == NULL ||
	    strnlen(hex, PEER_PROOF_NONCE_HEX + 1) != PEER_PROOF_NONCE_HEX)
		return -1;
	return unhex((const uint8_t *)hex, PEER_PROOF_NONCE_BYTES, true, nonce);
}

size_t peer_proof_format_answer(raft_id id,
				const uint8_t mac[PEER_PROOF_MAC_BYTES],
				char *out, size_t cap)
{
	char hex[2 * PEER_PROOF_MAC_BYTES + 1];
	int n;

	if (id == 0 || cap < PEER_PROOF_ANSWER_MAX)
		return 0;
	for (size_t i = 0; i < PEER_PROOF_MAC_BYTES; i++) {
		hex[2 * i] = hexdig[mac[i] >> 4];
		hex[2 * i + 1] = hexdig[mac[i] & 15];
	}
	hex[sizeof(hex) - 1] = '\0';
	n = snprintf(out, cap, PEER_PROOF_VERSION " %llu %s\n",
		     (unsigned long long)id, hex);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int peer_proof_parse_answer(const uint8_t *body, size_t len, raft_id *id,
			    uint8_t mac[PEER_PROOF_MAC_BYTES])
{
	const size_t vlen = sizeof(PEER_PROOF_VERSION) - 1;
	const uint8_t *p = body, *end = body + len;
	uint64_t v = 0;
	size_t digits = 0;

	if (body == NULL || len > PEER_PROOF_ANSWER_MAX || len < vlen + 1 ||
	    memcmp(p, PEER_PROOF_VERSION " ", vlen + 1) != 0)
		return -1;
	p += vlen + 1;
	/* The id: 1 .. 2^64-1 in decimal, no sign, no leading zero. */
	if (p < end && *p == '0')
		return -1;
	while (p < end && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		p++;
		digits++;
	}
	if (digits == 0 || v == 0 || p >= end || *p != ' ')
		return -1;
	p++;
	if ((size_t)(end - p) != 2 * PEER_PROOF_MAC_BYTES + 1 ||
	    end[-1] != '\n' || unhex(p, PEER_PROOF_MAC_BYTES, false, mac) != 0)
		return -1;
	*id = v;
	return 0;
}
