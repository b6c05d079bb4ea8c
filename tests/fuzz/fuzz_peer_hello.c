/* fuzz_peer_hello.c - libFuzzer target for the peer hello's parsers
 * (raft/peer/peer_proof.c): any bytes as a hello answer and as a nonce.
 * An accepted answer is the one canonical text for its id and proof (it
 * formats back to the same bytes); an accepted nonce is its hex text in
 * either case; a proof checks only for its own id, asker and nonce. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "peer_proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(const uint8_t *data, size_t size)
{
	uint8_t mac[PEER_PROOF_MAC_BYTES];
	char back[PEER_PROOF_ANSWER_MAX];
	raft_id id = 0;
	size_t n;

	if (peer_proof_parse_answer(data, size, &id, mac) != 0)
		return;
	FUZZ_CHECK(id != 0);
	n = peer_proof_format_answer(id, mac, back, sizeof(back));
	FUZZ_CHECK(n == size && memcmp(back, data, size) == 0);
}

static void check_nonce(const uint8_t *data, size_t size)
{
	uint8_t nonce[PEER_PROOF_NONCE_BYTES], mac[PEER_PROOF_MAC_BYTES];
	char *s = malloc(size + 1), hex[PEER_PROOF_NONCE_HEX + 1];

	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	if (peer_proof_parse_nonce(s, nonce) == 0) {
		/* The text ends at its first NUL, as a query value does. */
		FUZZ_CHECK(strlen(s) == PEER_PROOF_NONCE_HEX);
		peer_proof_nonce_hex(nonce, hex);
		for (size_t i = 0; i < PEER_PROOF_NONCE_HEX; i++)
			FUZZ_CHECK(hex[i] == tolower((unsigned char)s[i]));
		peer_proof_compute("tok", 3, nonce, 2, 1, mac);
		FUZZ_CHECK(peer_proof_check("tok", 3, nonce, 2, 1, mac));
		FUZZ_CHECK(!peer_proof_check("tok", 3, nonce, 1, 2, mac));
		nonce[size % PEER_PROOF_NONCE_BYTES] ^= 0x80;
		FUZZ_CHECK(!peer_proof_check("tok", 3, nonce, 2, 1, mac));
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_answer(data, size);
	check_nonce(data, size);
	return 0;
}
