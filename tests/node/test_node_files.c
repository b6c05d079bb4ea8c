/* test_node_files.c - unit tests of the node's files and settings:
 * members.json (members_file.c) and the options check (node_config.c). */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvdraft_node.h"
#include "members_file.h"
#include "node_config.h"

START_TEST(members_roundtrip)
{
	char dir[] = "/tmp/kvd-test-members-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct members ms = {0}, back;
	char err[256];
	ck_assert_int_eq(members_load(dir, &back, err, sizeof(err)), 0);
	ms.m[0] = (struct member){.id = 1, .voter = 1};
	strcpy(ms.m[0].peer_url, "http://127.0.0.1:7101");
	ms.m[1] = (struct member){.id = 7, .voter = 1};
	strcpy(ms.m[1].peer_url, "http://[::1]:7107");
	ms.n = 2;
	ck_assert_int_eq(members_store(dir, &ms, err, sizeof(err)), 0);
	ck_assert_int_eq(members_load(dir, &back, err, sizeof(err)), 1);
	ck_assert_uint_eq(back.n, 2);
	ck_assert_uint_eq(back.m[1].id, 7);
	ck_assert_str_eq(back.m[1].peer_url, "http://[::1]:7107");
	ck_assert_int_eq(back.m[1].voter, 1);
	ck_assert_ptr_eq(members_find(&back, 7), &back.m[1]);
	ck_assert_ptr_null(members_find(&back, 2));

	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, MEMBERS_FILE);
	FILE *f = fopen(path, "w");
	fputs("{\"version\": 1, \"members\": [{\"id\": 0}]}", f);
	fclose(f);
	ck_assert_int_eq(members_load(dir, &back, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "malformed"));
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Options: the defaults, each range, the founding members, and an old
 * program's smaller struct. */
START_TEST(options_are_checked)
{
	struct kvdraft_node_options o;
	struct node_config c;
	char err[256];
	struct kvdraft_peer peers[] = {{1, "http://127.0.0.1:7101"},
				       {2, "http://127.0.0.1:7102"}};
	kvdraft_node_options_init(&o);
	o.id = 1;
	o.data_dir = "/tmp/x";
	o.advertise_peer = "http://127.0.0.1:7101";
	o.initial = peers;
	o.n_initial = 2;
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.heartbeat_ms, 100);
	ck_assert_uint_eq(c.election_timeout_ms, 1000);
	ck_assert_uint_eq(c.n_initial, 2);
	ck_assert_str_eq(c.initial[1].peer_url, "http://127.0.0.1:7102");
	ck_assert_str_eq(c.app_url, "");
	ck_assert_ptr_null(c.peer_token);
	node_config_free(&c);

	static const char *const bad_urls[] = {"127.0.0.1:7101", "http://",
					       "http://host", "ftp://h:1", ""};
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		o.advertise_peer = bad_urls[i];
		ck_assert_int_eq(
		    node_config_from_options(&o, &c, err, sizeof(err)), -1);
		node_config_free(&c);
	}
	o.advertise_peer = "http://127.0.0.1:7101";
	o.heartbeat_ms = 1000; /* not below the election timeout */
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "heartbeat_ms"));
	node_config_free(&c);
	o.heartbeat_ms = 100;
	peers[1].id = 1; /* listed twice */
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "twice"));
	node_config_free(&c);
	peers[1].id = 2;
	o.max_entry_bytes = 100; /* a membership entry would not fit */
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	node_config_free(&c);
	o.max_entry_bytes = 1u << 30; /* above one peer message */
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	node_config_free(&c);
	o.max_entry_bytes = 1u << 20;
	o.discovery_path = "v1/members"; /* not absolute */
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	node_config_free(&c);
	o.discovery_path = "/v1/members?x";
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	node_config_free(&c);
	o.discovery_path = "/v1/members";
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.discovery_path, "/v1/members");
	node_config_free(&c);
	o.id = 0;
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	node_config_free(&c);
	o.id = 1;
	o.size = 8; /* not initialised */
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)),
			 -1);
	node_config_free(&c);
	/* An older program knew fewer fields: the rest keep the defaults. */
	o.size = offsetof(struct kvdraft_node_options, log);
	o.log_level = 77;
	ck_assert_int_eq(node_config_from_options(&o, &c, err, sizeof(err)), 0);
	node_config_free(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("node_files");
	TCase *tc = tcase_create("files");
	tcase_add_test(tc, members_roundtrip);
	tcase_add_test(tc, options_are_checked);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
