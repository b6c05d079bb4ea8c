/* peer_proof.h - the proof of membership a peer gives before it is sent
 * anything secret: HMAC-SHA256 under the peer token of a nonce chosen by
 * the asker and both members' ids (GET /raft/hello; docs/FORMAT.md, "Peer
 * hello").
 *
 * Why: a member added with POST /v1/members is only an address. Without a
 * proof, the first POST /raft/messages to it would hand whoever listens
 * there the peer token (in X-Kvd-Token) and the log. So before a lane's
 * connection carries anything with the token, the asker sends a fresh
 * random nonce without the token and the address must answer with
 *
 *   HMAC-SHA256(token, "kvd-peer-proof" || nonce || answerer || asker)
 *
 * (nonce: PEER_PROOF_NONCE_BYTES raw bytes; answerer, asker: the members'
 * ids as 8-byte little-endian integers), which only a holder of the token
 * can compute. The answerer's own id is bound in, so an answer got from
 * one member never passes for another (a relay to a real member names
 * that member's id, not the one being added); the asker's id and its nonce
 * are bound in, so an answer is good for one asker's one question only.
 *
 * Pure functions (no IO, no allocation) but peer_proof_nonce(), which
 * reads the kernel's random source. Buffers are the caller's. */
#ifndef RAFT_PEER_PEER_PROOF_H_
#define RAFT_PEER_PEER_PROOF_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"

#define PEER_PROOF_PATH	       "/raft/hello"
#define PEER_PROOF_NONCE_BYTES 32
#define PEER_PROOF_NONCE_HEX   (2 * PEER_PROOF_NONCE_BYTES)
#define PEER_PROOF_MAC_BYTES   32 /* SHA-256 */
#define PEER_PROOF_VERSION     "kvd-peer-proof/1"
/* The answer body: PEER_PROOF_VERSION, a space, the id in decimal, a
 * space, the proof in lower-case hex, a newline. */
#define PEER_PROOF_ANSWER_MAX                                                  \
	(sizeof(PEER_PROOF_VERSION) + 1 + 20 + 1 + 2 * PEER_PROOF_MAC_BYTES + 2)

/* Fills @nonce with PEER_PROOF_NONCE_BYTES bytes from getrandom(2).
 * Returns 0, or -1 (errno set) when the kernel gives none. */
int peer_proof_nonce(uint8_t nonce[PEER_PROOF_NONCE_BYTES]);

/* The proof member @answerer gives member @asker for @nonce under the
 * token @token (@token_len bytes), into @mac. */
void peer_proof_compute(const char *token, size_t token_len,
			const uint8_t nonce[PEER_PROOF_NONCE_BYTES],
			raft_id answerer, raft_id asker,
			uint8_t mac[PEER_PROOF_MAC_BYTES]);

/* Whether @got is the proof of @answerer to @asker for @nonce under
 * @token; compared in constant time (CRYPTO_memcmp). */
bool peer_proof_check(const char *token, size_t token_len,
		      const uint8_t nonce[PEER_PROOF_NONCE_BYTES],
		      raft_id answerer, raft_id asker,
		      const uint8_t got[PEER_PROOF_MAC_BYTES]);

/* @nonce as PEER_PROOF_NONCE_HEX lower-case hex digits and a NUL into
 * @hex. */
void peer_proof_nonce_hex(const uint8_t nonce[PEER_PROOF_NONCE_BYTES],
			  char hex[PEER_PROOF_NONCE_HEX + 1]);

/* Decodes a nonce: exactly PEER_PROOF_NONCE_HEX hex digits (either case),
 * NUL-terminated. Returns 0, or -1 for anything else (@nonce then
 * undefined). */
int peer_proof_parse_nonce(const char *hex,
			   uint8_t nonce[PEER_PROOF_NONCE_BYTES]);

/* Writes the answer body of member @id with proof @mac into @out
 * (@cap >= PEER_PROOF_ANSWER_MAX), NUL-terminated. Returns its length
 * (without the NUL), or 0 if @cap is too small or @id is 0. */
size_t peer_proof_format_answer(raft_id id,
				const uint8_t mac[PEER_PROOF_MAC_BYTES],
				char *out, size_t cap);

/* Parses an answer body of @len bytes at @body (not NUL-terminated; any
 * bytes): exactly the format above, the id 1 .. 2^64-1 without leading
 * zeros, the proof in lower-case hex, a final newline, nothing else.
 * Returns 0 with *@id and @mac, or -1 (outputs undefined). */
int peer_proof_parse_answer(const uint8_t *body, size_t len, raft_id *id,
			    uint8_t mac[PEER_PROOF_MAC_BYTES]);

#endif /* RAFT_PEER_PEER_PROOF_H_ */
