/* test_peer_proof.c - the proof of membership of the peer hello: the MAC
 * against a value computed apart (docs/FORMAT.md, "Peer hello"), what it
 * binds, and the strict parsers of the nonce and the answer. */
#include <check.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer_proof.h"

static const char *token = "s3cret";

static void nonce_0_31(uint8_t n[PEER_PROOF_NONCE_BYTES])
{
	for (int i = 0; i < PEER_PROOF_NONCE_BYTES; i++)
		n[i] = (uint8_t)i;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		ck_assert_int_eq(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* HMAC-SHA256("s3cret", "kvd-peer-proof" || 00 01 .. 1f || le64(2) ||
 * le64(1)), computed with Python's hmac module: the layout of FORMAT.md,
 * byte for byte. */
START_TEST(test_known_answer)
{
	uint8_t nonce[PEER_PROOF_NONCE_BYTES], mac[PEER_PROOF_MAC_BYTES];
	uint8_t want[PEER_PROOF_MAC_BYTES];

	nonce_0_31(nonce);
	unhex(
	    "305508e43a0b5408d6c33a9b80d8173520a75ad455c430d3e75c81a4ef1c68c8",
	    want, sizeof(want));
	peer_proof_compute(token, strlen(token), nonce, 2, 1, mac);
	ck_assert_mem_eq(mac, want, sizeof(want));
	ck_assert(peer_proof_check(token, strlen(token), nonce, 2, 1, want));
	/* The other direction is another proof. */
	unhex(
	    "53665dcf275ab289377b5f24af0f328da41c3f767936e70d05b9c655bdd53f6d",
	    want, sizeof(want));
	peer_proof_compute(token, strlen(token), nonce, 1, 2, mac);
	ck_assert_mem_eq(mac, want, sizeof(want));
}
END_TEST

/* A proof is good for one token, one nonce, one answerer and one asker:
 * changing any of them, or any bit of the proof, fails the check. */
START_TEST(test_check_binds_everything)
{
	uint8_t nonce[PEER_PROOF_NONCE_BYTES], mac[PEER_PROOF_MAC_BYTES];
	uint8_t bad[PEER_PROOF_MAC_BYTES];

	ck_assert_int_eq(peer_proof_nonce(nonce), 0);
	peer_proof_compute(token, strlen(token), nonce, 4, 1, mac);
	ck_assert(peer_proof_check(token, strlen(token), nonce, 4, 1, mac));
	ck_assert(!peer_proof_check("s3creT", 6, nonce, 4, 1, mac));
	ck_assert(!peer_proof_check("s3cret-", 7, nonce, 4, 1, mac));
	ck_assert(!peer_proof_check(token, 5, nonce, 4, 1, mac));
	ck_assert(!peer_proof_check(token, strlen(token), nonce, 1, 4, mac));
	ck_assert(!peer_proof_check(token, strlen(token), nonce, 3, 1, mac));
	ck_assert(!peer_proof_check(token, strlen(token), nonce, 4, 2, mac));
	for (int i = 0; i < PEER_PROOF_NONCE_BYTES; i++) {
		nonce[i] ^= 1;
		ck_assert(
		    !peer_proof_check(token, strlen(token), nonce, 4, 1, mac));
		nonce[i] ^= 1;
	}
	for (int i = 0; i < PEER_PROOF_MAC_BYTES * 8; i++) {
		memcpy(bad, mac, sizeof(bad));
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert(
		    !peer_proof_check(token, strlen(token), nonce, 4, 1, bad));
	}
	memset(bad, 0, sizeof(bad));
	ck_assert(!peer_proof_check(token, strlen(token), nonce, 4, 1, bad));
}
END_TEST

/* Two nonces in a row differ (getrandom, not a fixed seed). */
START_TEST(test_nonces_differ)
{
	uint8_t a[PEER_PROOF_NONCE_BYTES], b[PEER_PROOF_NONCE_BYTES];

	ck_assert_int_eq(peer_proof_nonce(a), 0);
	ck_assert_int_eq(peer_proof_nonce(b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

START_TEST(test_nonce_text)
{
	uint8_t n[PEER_PROOF_NONCE_BYTES], back[PEER_PROOF_NONCE_BYTES];
	char hex[PEER_PROOF_NONCE_HEX + 1], t[PEER_PROOF_NONCE_HEX + 2];

	nonce_0_31(n);
	peer_proof_nonce_hex(n, hex);
	ck_assert_str_eq(hex, "000102030405060708090a0b0c0d0e0f"
			      "101112131415161718191a1b1c1d1e1f");
	ck_assert_int_eq(peer_proof_parse_nonce(hex, back), 0);
	ck_assert_mem_eq(back, n, sizeof(n));
	/* Either case. */
	strcpy(t, hex);
	t[21] = 'A';
	ck_assert_int_eq(peer_proof_parse_nonce(t, back), 0);
	ck_assert_uint_eq(back[10], 0xa);
	/* One digit short, one too many, a non-digit, none. */
	strcpy(t, hex);
	t[PEER_PROOF_NONCE_HEX - 1] = '\0';
	ck_assert_int_eq(peer_proof_parse_nonce(t, back), -1);
	strcpy(t, hex);
	strcat(t, "0");
	ck_assert_int_eq(peer_proof_parse_nonce(t, back), -1);
	strcpy(t, hex);
	t[7] = 'g';
	ck_assert_int_eq(peer_proof_parse_nonce(t, back), -1);
	strcpy(t, hex);
	t[0] = ' ';
	ck_assert_int_eq(peer_proof_parse_nonce(t, back), -1);
	ck_assert_int_eq(peer_proof_parse_nonce("", back), -1);
	ck_assert_int_eq(peer_proof_parse_nonce(NULL, back), -1);
}
END_TEST

static int parse(const char *s, raft_id *id, uint8_t *mac)
{
	return peer_proof_parse_answer((const uint8_t *)s, strlen(s), id, mac);
}

START_TEST(test_answer_round_trip)
{
	uint8_t mac[PEER_PROOF_MAC_BYTES], back[PEER_PROOF_MAC_BYTES];
	char body[PEER_PROOF_ANSWER_MAX];
	const raft_id ids[] = {1, 42, UINT64_MAX};
	raft_id id;
	size_t n;

	for (int i = 0; i < PEER_PROOF_MAC_BYTES; i++)
		mac[i] = (uint8_t)(0xf0 + i);
	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		n = peer_proof_format_answer(ids[k], mac, body, sizeof(body));
		ck_assert_uint_gt(n, 0);
		ck_assert_uint_eq(n, strlen(body));
		ck_assert_int_eq(parse(body, &id, back), 0);
		ck_assert_uint_eq(id, ids[k]);
		ck_assert_mem_eq(back, mac, sizeof(mac));
	}
	n = peer_proof_format_answer(UINT64_MAX, mac, body, sizeof(body));
	ck_assert_str_eq(body, "kvd-peer-proof/1 18446744073709551615 "
			       "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
			       "000102030405060708090a0b0c0d0e0f\n");
	ck_assert_uint_eq(peer_proof_format_answer(0, mac, body, sizeof(body)),
			  0);
	ck_assert_uint_eq(
	    peer_proof_format_answer(1, mac, body, PEER_PROOF_ANSWER_MAX - 1),
	    0);
}
END_TEST

#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* Anything but the exact format is refused: the answer comes from an
 * address that has proven nothing yet. */
START_TEST(test_answer_refusals)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    "kvd-peer-proof/1",
	    "kvd-peer-proof/1 ",
	    "kvd-peer-proof/2 7 " HEX64 "\n",
	    "KVD-PEER-PROOF/1 7 " HEX64 "\n",
	    "kvd-peer-proof/1 7 " HEX64,	/* no newline */
	    "kvd-peer-proof/1 7 " HEX64 "\r\n", /* CR */
	    "kvd-peer-proof/1 7 " HEX64 "\nx",	/* trailing */
	    "kvd-peer-proof/1 7  " HEX64 "\n",	/* two spaces */
	    " kvd-peer-proof/1 7 " HEX64 "\n",	/* leading space */
	    "kvd-peer-proof/1 0 " HEX64 "\n",	/* id 0 */
	    "kvd-peer-proof/1 07 " HEX64 "\n",	/* leading zero */
	    "kvd-peer-proof/1 -7 " HEX64 "\n",	/* sign */
	    "kvd-peer-proof/1 +7 " HEX64 "\n",	/* sign */
	    "kvd-peer-proof/1 18446744073709551616 " HEX64 "\n", /* 2^64 */
	    "kvd-peer-proof/1 99999999999999999999 " HEX64 "\n",
	    "kvd-peer-proof/1  " HEX64 "\n",	/* no id */
	    "kvd-peer-proof/1 7 " HEX64 "00\n", /* long proof */
	    "kvd-peer-proof/1 7 0" HEX64 "\n",
	    "kvd-peer-proof/1 7 "
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",
	    "kvd-peer-proof/1 7 "
	    "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f"
	    "\n",
	    "kvd-peer-proof/1 7 "
	    "000102030405060708090g0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "\n",
	    "kvd-peer-proof/1 7\n",
	};
	uint8_t mac[PEER_PROOF_MAC_BYTES];
	raft_id id;

	ck_assert_int_eq(parse("kvd-peer-proof/1 7 " HEX64 "\n", &id, mac), 0);
	ck_assert_uint_eq(id, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], &id, mac) == -1, "accepted [%s]",
			      bad[i]);
	/* A NUL inside, and a NULL body. */
	{
		char b[] = "kvd-peer-proof/1 7 " HEX64 "\n";

		b[20] = '\0';
		ck_assert_int_eq(peer_proof_parse_answer((const uint8_t *)b,
							 sizeof(b) - 1, &id,
							 mac),
				 -1);
		ck_assert_int_eq(peer_proof_parse_answer(NULL, 0, &id, mac),
				 -1);
	}
}
END_TEST

static Suite *peer_proof_suite(void)
{
	Suite *s = suite_create("peer_proof");
	TCase *tc = tcase_create("proof");

	tcase_add_test(tc, test_known_answer);
	tcase_add_test(tc, test_check_binds_everything);
	tcase_add_test(tc, test_nonces_differ);
	tcase_add_test(tc, test_nonce_text);
	tcase_add_test(tc, test_answer_round_trip);
	tcase_add_test(tc, test_answer_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peer_proof_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
