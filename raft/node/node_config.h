/* node_config.h - the node's settings: kvdraft_node_options checked and
 * copied (strings owned), with every default filled in.
 */
#ifndef RAFT_NODE_CONFIG_H_
#define RAFT_NODE_CONFIG_H_

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "kvdraft_node.h"
#include "msg_codec.h"

/* Longest URL kept (peer and application URLs). */
#define NODE_URL_MAX 512
/* Most members a configuration has. */
#define NODE_MEMBERS_MAX RAFT_MAX_MEMBERS
/* Longest data dir path: room for the file names below it. */
#define NODE_DATA_DIR_MAX 4000

/* The largest max_entry_bytes: a framed entry of that size fits one peer
 * message body under the codec's default limit (node_config.c). */
#define NODE_MAX_ENTRY_BYTES_LIMIT                                             \
	(MSG_CODEC_DEFAULT_MAX_BODY_BYTES - FRAME_HEADER_SIZE -                \
	 MSG_CODEC_PAYLOAD_SIZE)

/* HOST and PORT of a peer or application URL "http://HOST:PORT". */
struct node_addr {
	char host[256]; /* without IPv6 brackets */
	int port;
};

/* Parses @url (transport_parse_url(): http:// or https://). Returns 0 or
 * -1. */
int node_parse_url(const char *url, struct node_addr *out);

struct node_peer {
	raft_id id;
	char peer_url[NODE_URL_MAX];
};

struct node_config {
	raft_id id;
	char *data_dir;
	char advertise_peer[NODE_URL_MAX];
	char app_url[NODE_URL_MAX]; /* "" when none */
	char *discovery_path;	    /* NULL: no discovery */
	struct node_peer initial[NODE_MEMBERS_MAX];
	size_t n_initial;
	char *source_host; /* NULL: the kernel's choice */
	char *peer_token;  /* NULL: none */
	/* Peer TLS files, all three or none (NULL); with them every peer
	 * URL is https://. */
	char *peer_cert, *peer_key, *peer_ca;
	unsigned heartbeat_ms;
	unsigned election_timeout_ms;
	unsigned request_timeout_ms;
	uint64_t snapshot_entries;
	unsigned snapshot_keep;
	uint64_t wal_segment_bytes;
	uint32_t max_entry_bytes;
	bool lease_reads;
};

/* Checks @o and fills @c (zeroed first). 0, or -1 with one line in @err;
 * node_config_free() afterwards either way. */
int node_config_from_options(const struct kvdraft_node_options *o,
			     struct node_config *c, char *err, size_t errlen);
void node_config_free(struct node_config *c);

#endif /* RAFT_NODE_CONFIG_H_ */
