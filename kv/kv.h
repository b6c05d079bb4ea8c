/* kv.h - the replicated state machine: command codec and LMDB store.
 *
 * Three parts, one header:
 *
 *  1. The command codec. A command is the payload of a RAFT_ENTRY_NORMAL
 *     entry: PUT or DELETE of one key, with an optional compare-and-swap
 *     condition, an exactly-once identity (client id, sequence number) and a
 *     routing identity (origin member, request id) that lets the member that
 *     proposed the entry find the HTTP request waiting for it. The byte
 *     layout is in docs/FORMAT.md ("State machine commands").
 *
 *  2. The store (struct kv). An LMDB environment in the data directory holds
 *     the keys, the applied index and the exactly-once table. kv_apply()
 *     applies a batch of committed entries in ONE write transaction that
 *     also records the new applied index and the exactly-once results, so a
 *     crash can never apply an entry twice or skip one (docs/ARCHITECTURE.md,
 *     "LMDB durability").
 *
 *  3. Validation helpers shared with the server (kv_key_valid()).
 *
 * Determinism: every member applies the same entries and must reach the
 * same state. Nothing in kv_apply() reads a clock or depends on how entries
 * are split into batches; the exactly-once expiry counts raft indexes. The
 * kv_options that shape apply results (client_expiry_entries, max_clients,
 * max_client_bytes) MUST therefore be identical on every member of a
 * cluster.
 *
 * Threading: a struct kv is not thread-safe. All calls on one handle,
 * writes and reads alike, must be serialized by the caller (in kvd: the one
 * event-loop thread). The environment is opened with MDB_NOTLS, so the
 * handle may move between threads as long as calls never overlap. No
 * transaction stays open between calls, which is what lets kv_apply() grow
 * the map when LMDB reports MDB_MAP_FULL.
 *
 * Errors: functions return 0 (or a count) on success and a negative KV_E*
 * code on failure; kv_strerror() names each code. Calls that take an
 * @err/@errlen buffer also write one line of context there (may be NULL).
 */
#ifndef KV_KV_H_
#define KV_KV_H_

#include <stddef.h>
#include <stdint.h>

#include "entry.h"

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */

/* Keys are 1..511 bytes: 511 is LMDB's default maximum key size. */
#define KV_KEY_MAX 511

/* The hard upper bound on a value that the codec accepts. The server's
 * --max-value-bytes (default 1 MiB) is checked before proposing; decoding
 * uses only this constant so that every member decodes identically whatever
 * its flags say. */
#define KV_VALUE_MAX (64u * 1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

enum kv_error {
	KV_OK = 0,
	KV_EINVAL = -1,	     /* bad argument (NULL, bad key, bad options) */
	KV_ENOMEM = -2,	     /* allocation failed */
	KV_ENOTFOUND = -3,   /* the key does not exist */
	KV_ELMDB = -4,	     /* LMDB failed; the err buffer says how */
	KV_EIO = -5,	     /* creating the data directory failed */
	KV_EGAP = -6,	     /* first entry is beyond applied index + 1 */
	KV_ENOTSEQ = -7,     /* batch indexes are not consecutive */
	KV_EFORMAT = -8,     /* the store was written by an unknown version */
	KV_ECORRUPT = -9,    /* a stored record has an impossible shape, or
			      * the LMDB file is damaged (see kv_open()) */
	KV_EMAPFULL = -10,   /* the map cannot grow beyond max_map_bytes */
	KV_ESTOPPED = -11,   /* a kv_list() callback asked to stop */
	KV_ENOSPC = -12,     /* no room for the store's pages: file system full,
			      * quota, or the file size limit (kv_retryable) */
	KV_ECOMPACTED = -13, /* kv_events_read(): @from is below the history
			      * kept (the oldest index it can serve in *next) */
	/* Command decoding errors (kv_cmd_decode). Distinct on purpose: the
	 * server logs which rule a corrupt command broke. */
	KV_ECMD_TRUNCATED = -20,    /* fewer bytes than the header or lengths */
	KV_ECMD_VERSION = -21,	    /* unknown version byte */
	KV_ECMD_OP = -22,	    /* unknown operation */
	KV_ECMD_FLAGS = -23,	    /* unknown flag or nonzero reserved field */
	KV_ECMD_KEY_EMPTY = -24,    /* key length 0 */
	KV_ECMD_KEY_TOO_LONG = -25, /* key length above KV_KEY_MAX */
	KV_ECMD_KEY_INVALID = -26,  /* key not valid UTF-8 or has controls */
	KV_ECMD_VALUE_TOO_LONG = -27, /* value length above KV_VALUE_MAX */
	KV_ECMD_DELETE_VALUE = -28,   /* a DELETE that carries value bytes */
	KV_ECMD_TRAILING = -29,	      /* bytes after the value */
	KV_ECMD_SEQ = -30,	      /* nonzero seq without a client id */
	KV_ECMD_CAS = -31,	      /* nonzero cas without the CAS flag */
	KV_ECMD_TXN = -32,   /* a TXN body that does not decode or breaks a
			      * rule of kv_txn_check() */
	KV_ECMD_LEASE = -33, /* a lease argument out of range: TTL outside
			      * 1..KV_LEASE_TTL_MAX, lease id 0, a lease on
			      * an op other than PUT, an EXPIRE list of 0 or
			      * more than KV_LEASE_EXPIRE_MAX ids */
	KV_ECMD_ARGS = -34,  /* a field the op does not take (a key on a
			      * lease op, a value on DELETE_PREFIX, CAS on
			      * an op other than PUT and DELETE, ...) */
	KV_ECMD_AUTH = -35   /* an auth op's operand out of shape: a token
			      * record that does not decode (kv_token_decode)
			      * or a token name that is not valid */
};

/* A static string naming @err (any value, never NULL). */
const char *kv_strerror(int err);

/* Returns 1 if a kv_apply() that failed with @err may succeed when called
 * again with the same entries (KV_ENOSPC once space is freed, KV_EMAPFULL
 * once the limit is raised, KV_ENOMEM once memory is), 0 otherwise. */
int kv_retryable(int err);

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

/* Returns 1 if @key (@len bytes) is a valid key: 1..KV_KEY_MAX bytes of
 * well-formed UTF-8 (no overlong forms, no surrogates U+D800..U+DFFF, no
 * code point above U+10FFFF) containing no control character (bytes below
 * 0x20 and 0x7F). Returns 0 otherwise. @key may be NULL only when len is 0.
 * The server calls this on every key from a URL; the codec calls it on
 * every key it encodes or decodes. */
int kv_key_valid(const uint8_t *key, size_t len);

/* Returns 1 if @key is a key a new write may create: kv_key_valid() and
 * no C1 control character either (U+0080..U+009F), so that keys hold no
 * control characters at all. The codec keeps kv_key_valid()'s rule: an
 * entry written before C1 characters were refused must apply the same way
 * on every member, whatever its version. */
int kv_key_allowed(const uint8_t *key, size_t len);

/* ------------------------------------------------------------------------ */
/* Command codec                                                            */

#define KV_CMD_VERSION	   1
#define KV_CMD_HEADER_SIZE 56
/* Where the header holds the routing identity (origin, request id: two
 * little-endian u64), which the node writes (kvdraft_app.identity_offset). */
#define KV_CMD_IDENTITY_OFFSET 40

/* Operations. Members that do not know an op skip its entries as
 * KV_BAD_COMMAND (KV_ECMD_OP): upgrade every member before using ops 3..11
 * (docs/FORMAT.md). */
enum kv_op {
	KV_OP_PUT = 1,
	KV_OP_DELETE = 2,
	/* A transaction (§1.7): key empty, value = kv_txn_encode()'s body. */
	KV_OP_TXN = 3,
	/* Every key starting with key (0..KV_KEY_MAX bytes; empty: every
	 * key), deleted at one index. No value, no CAS. */
	KV_OP_DELETE_PREFIX = 4,
	/* A new lease: key empty, value = TTL in seconds (le u64,
	 * 1..KV_LEASE_TTL_MAX). Its id is the entry's raft index (unique,
	 * never reused, the same on every member). */
	KV_OP_LEASE_GRANT = 5,
	/* Ends a lease, deleting its keys at one index: key empty, value =
	 * lease id (le u64, nonzero). Unknown: KV_LEASE_NOT_FOUND. */
	KV_OP_LEASE_REVOKE = 6,
	/* Expiry decided by the leader: key empty, value = 1..
	 * KV_LEASE_EXPIRE_MAX lease ids (le u64 each, nonzero). Every listed
	 * lease that still exists ends as by REVOKE, all at one index;
	 * unknown ids are ignored (an earlier entry ended them). */
	KV_OP_LEASE_EXPIRE = 7,
	/* Auth (§1.8; kv/auth.c). Key empty; the operands are the value. */
	/* Turns auth on, replacing every token with the one the value
	 * holds (kv_token_encode(), role admin). While on: KV_CONFLICT. */
	KV_OP_AUTH_ENABLE = 8,
	/* Turns auth off and drops every token. No value. While off:
	 * KV_CONFLICT. */
	KV_OP_AUTH_DISABLE = 9,
	/* A new token (value: kv_token_encode()). KV_CONFLICT while auth is
	 * off, when the name or hash exists, or at KV_AUTH_TOKENS_MAX. */
	KV_OP_TOKEN_PUT = 10,
	/* Revokes a token: value = its name. Unknown: KV_NOT_FOUND; the last
	 * admin token: KV_CONFLICT (no one could administer the cluster). */
	KV_OP_TOKEN_DELETE = 11
};

#define KV_OP_MAX KV_OP_TOKEN_DELETE

/* Flag bits of the command header. */
#define KV_CMD_F_CAS   0x01 /* @cas is a condition (see struct kv_cmd) */
#define KV_CMD_F_LEASE 0x02 /* PUT: 8 bytes of lease id follow the value */

#define KV_LEASE_TTL_MAX    86400u /* seconds (§1.6) */
#define KV_LEASE_EXPIRE_MAX 1024u  /* lease ids in one EXPIRE entry */

/* A decoded (or to-be-encoded) command. After kv_cmd_decode() @key and
 * @value point into the decoded buffer: they live as long as it does and
 * are never NUL-terminated. */
struct kv_cmd {
	uint8_t op;	     /* enum kv_op */
	uint8_t has_cas;     /* 1: apply only if the key's mod index == @cas */
	uint64_t cas;	     /* expected mod index; 0 = key must not exist.
			      * Must be 0 when has_cas == 0. */
	uint64_t client_id;  /* exactly-once client; 0 = none */
	uint64_t seq;	     /* client's sequence number; 0 when client_id 0 */
	uint64_t origin;     /* id of the member that proposed the entry */
	uint64_t request_id; /* origin's id for the waiting request */
	const uint8_t *key;  /* PUT, DELETE: 1..KV_KEY_MAX bytes,
			      * kv_key_valid(); DELETE_PREFIX: 0..KV_KEY_MAX
			      * (valid when not empty); other ops: none */
	size_t key_len;
	const uint8_t *value; /* PUT: 0..KV_VALUE_MAX bytes; DELETE: none;
			       * TXN, LEASE_*: the op's body (enum kv_op) */
	size_t value_len;     /* @value may be NULL when value_len == 0 */
	/* PUT: the lease the key is attached to (KV_CMD_F_LEASE on the wire;
	 * 0 = none: a PUT without a lease detaches the key). Other ops: 0. */
	uint64_t lease;
};

/* ------------------------------------------------------------------------ */
/* Tokens (§1.8; the operand of AUTH_ENABLE and TOKEN_PUT; kv/auth.c)       */

#define KV_AUTH_NAME_MAX   64	/* bytes of [A-Za-z0-9._-] */
#define KV_AUTH_PREFIX_MAX 511	/* a key prefix: KV_KEY_MAX */
#define KV_AUTH_TOKENS_MAX 1000 /* tokens at once, root included */
#define KV_AUTH_HASH_SIZE  32	/* SHA-256 of the secret */
/* The fixed part of a token record: [role u8][name len u8][prefix len
 * u16 LE][hash 32]; the name and the prefix follow. */
#define KV_TOKEN_HEAD 36
#define KV_TOKEN_MAX  (KV_TOKEN_HEAD + KV_AUTH_NAME_MAX + KV_AUTH_PREFIX_MAX)

enum kv_role { KV_ROLE_ADMIN = 1, KV_ROLE_READWRITE = 2, KV_ROLE_READONLY = 3 };

/* A token as the store keeps it: never the secret, only its hash. */
struct kv_token {
	uint8_t role; /* enum kv_role */
	uint8_t hash[KV_AUTH_HASH_SIZE];
	size_t name_len;		    /* 1..KV_AUTH_NAME_MAX */
	char name[KV_AUTH_NAME_MAX + 1];    /* NUL-terminated */
	size_t prefix_len;		    /* 0..KV_AUTH_PREFIX_MAX */
	uint8_t prefix[KV_AUTH_PREFIX_MAX]; /* the keys it reaches (admin:
					     * empty) */
};

/* Returns 1 if @name (@len bytes) is a token name: 1..KV_AUTH_NAME_MAX
 * bytes of A-Z, a-z, 0-9, '.', '_', '-'. */
int kv_token_name_valid(const char *name, size_t len);

/* Encodes @t into @out (@cap >= KV_TOKEN_MAX is always enough). Returns
 * the bytes written, or KV_ECMD_AUTH when @t breaks a rule (a bad name or
 * role, a prefix too long or not empty-or-kv_key_valid(), an admin with a
 * prefix), KV_EINVAL when @cap is too small. */
int64_t kv_token_encode(const struct kv_token *t, uint8_t *out, size_t cap);

/* Decodes a token record (@len bytes) into @t, trusting no length and
 * checking the rules of kv_token_encode(). 0 or KV_ECMD_AUTH. */
int kv_token_decode(const uint8_t *p, size_t len, struct kv_token *t);

/* ------------------------------------------------------------------------ */
/* Transactions (§1.7; the body of a KV_OP_TXN command)                     */

#define KV_TXN_MAX_COMPARES 128
#define KV_TXN_MAX_OPS	    128	  /* per branch */
#define KV_TXN_LIST_MAX	    10000 /* a list op's limit: 1..this */
/* A transaction whose results (gets and lists) would take more than this
 * many bytes is not applied (KV_TOO_LARGE): every member decides the same,
 * and the exactly-once table never holds more than this per client. */
#define KV_TXN_RESULT_MAX (4u * 1024 * 1024)

enum kv_cmp_target { KV_CMP_MOD = 1, KV_CMP_VALUE = 2, KV_CMP_EXISTS = 3 };
enum kv_cmp_op { KV_CMP_EQ = 1, KV_CMP_NE = 2, KV_CMP_LT = 3, KV_CMP_GT = 4 };

/* One compare: the key's mod index (0 when absent) against @number, its
 * value bytes (lexicographically, memcmp then length; an absent key's
 * value compares as no value: every compare on it is false except !=)
 * against @value, or whether it exists (1/0) against @number. */
struct kv_compare {
	uint8_t target; /* enum kv_cmp_target */
	uint8_t op;	/* enum kv_cmp_op; EXISTS takes == and != only */
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value; /* KV_CMP_VALUE */
	size_t value_len;
	uint64_t number; /* KV_CMP_MOD: an index; KV_CMP_EXISTS: 0 or 1 */
};

enum kv_txn_op_type {
	KV_TXN_PUT = 1,		  /* key, value, lease (0 = none) */
	KV_TXN_DELETE = 2,	  /* key */
	KV_TXN_DELETE_PREFIX = 3, /* key = the prefix (may be empty) */
	KV_TXN_GET = 4,		  /* key */
	KV_TXN_LIST = 5		  /* key = the prefix (may be empty), limit */
};

struct kv_txn_op {
	uint8_t type; /* enum kv_txn_op_type */
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value; /* PUT */
	size_t value_len;
	uint64_t lease; /* PUT */
	uint32_t limit; /* LIST: 1..KV_TXN_LIST_MAX */
};

/* A decoded (or to-be-encoded) transaction: about 24 KiB, so callers
 * allocate it. Keys and values point into the decoded buffer (or the
 * caller's memory when encoding). Branch 0 is "success", 1 "failure". */
struct kv_txn {
	size_t n_compares;
	struct kv_compare compares[KV_TXN_MAX_COMPARES];
	size_t n_ops[2];
	struct kv_txn_op ops[2][KV_TXN_MAX_OPS];
};

/* Checks the rules a transaction must follow: counts within the limits,
 * every key kv_key_valid() (a PUT's key also kv_key_allowed()), prefixes
 * kv_key_valid() or empty, values at most KV_VALUE_MAX, list limits
 * 1..KV_TXN_LIST_MAX, known types and ops, and no key written twice in
 * one branch (by put, delete, or a delete_prefix covering it; two
 * delete_prefix ops of one branch where one prefix starts with the other
 * count as writing twice). Returns 0 or KV_ECMD_TXN with one line saying
 * which rule in @why (may be NULL). */
int kv_txn_check(const struct kv_txn *t, char *why, size_t whylen);

/* Bytes kv_txn_encode() writes for @t (no validation). */
size_t kv_txn_size(const struct kv_txn *t);

/* Encodes @t (checked by kv_txn_check()) into @out (@cap bytes, at least
 * kv_txn_size()). Returns the bytes written or a negative code. */
int64_t kv_txn_encode(const struct kv_txn *t, uint8_t *out, size_t cap);

/* Decodes a TXN body (the command's value) into @t, whose keys and values
 * then point into @buf. Trusts no length; applies kv_txn_check(). 0 or
 * KV_ECMD_TXN. */
int kv_txn_decode(const uint8_t *buf, size_t len, struct kv_txn *t);

/* A transaction's results, as kv_apply() hands them out
 * (kv_result.txn, .txn_len): one item per op of the branch taken, in
 * order; a LIST item is followed by its @count KV items. */
enum { KV_TXN_ITEM_KV = 6 };
struct kv_txn_item {
	uint8_t type;	/* enum kv_txn_op_type of the op, or KV_TXN_ITEM_KV */
	uint8_t flag;	/* GET: found; DELETE: deleted; LIST: more */
	uint64_t index; /* PUT: the txn's index; GET, KV: the key's mod index
			 * (GET of an absent key: 0) */
	uint64_t count; /* DELETE_PREFIX: keys deleted; LIST: KV items that
			 * follow */
	const uint8_t *key; /* GET, KV: the key */
	size_t key_len;
	const uint8_t *value; /* GET (found), KV: the value */
	size_t value_len;
};
struct kv_txn_reader {
	const uint8_t *p, *end;
};
/* Starts reading @len bytes of results at @blob. */
void kv_txn_result_begin(struct kv_txn_reader *rd, const uint8_t *blob,
			 size_t len);
/* The next item: 1 (filled @it, pointing into the blob), 0 at the end,
 * KV_ECORRUPT for a malformed blob. */
int kv_txn_result_next(struct kv_txn_reader *rd, struct kv_txn_item *it);

/* Bytes kv_cmd_encode() writes for @cmd: KV_CMD_HEADER_SIZE + key_len +
 * value_len, + 8 when @lease is not 0. Does not validate. */
size_t kv_cmd_size(const struct kv_cmd *cmd);

/* Validates @cmd by the same rules kv_cmd_decode() enforces and returns 0
 * or the KV_ECMD_* / KV_EINVAL code it breaks. A TXN's body is checked
 * too (kv_txn_decode(): KV_ECMD_TXN), which kv_cmd_decode() leaves to
 * apply, so that a member never proposes a body every member skips. */
int kv_cmd_check(const struct kv_cmd *cmd);

/* Encodes @cmd into @out (@cap bytes, at least kv_cmd_size(cmd)). Returns
 * the number of bytes written, or a negative code: kv_cmd_check()'s, or
 * KV_EINVAL when @cap is too small. Nothing is allocated. */
int64_t kv_cmd_encode(const struct kv_cmd *cmd, uint8_t *out, size_t cap);

/* Like kv_cmd_encode() but writes only the header, the key and the lease
 * (after the value's place): the caller places the cmd->value_len value
 * bytes at @out + KV_CMD_HEADER_SIZE + cmd->key_len (for a PUT
 * cmd->value is not read and may be NULL; the other ops' values are
 * operands, read and checked but not copied). Lets a large value be copied
 * once, from wherever it is, into the command. Returns the size of the
 * whole command or a negative code. */
int64_t kv_cmd_encode_head(const struct kv_cmd *cmd, uint8_t *out, size_t cap);

/* Like kv_cmd_encode() into a malloc'd buffer: on success *@out is owned by
 * the caller (free() it) and *@len is its size. On error *@out is NULL. */
int kv_cmd_encode_alloc(const struct kv_cmd *cmd, uint8_t **out, size_t *len);

/* Decodes the command in @buf (@len bytes, the whole entry payload: trailing
 * bytes are an error). Trusts no length. On success returns 0 and fills
 * @out, whose key/value point into @buf (zero-copy). On error returns a
 * KV_ECMD_* code and @out is unspecified. */
int kv_cmd_decode(const uint8_t *buf, size_t len, struct kv_cmd *out);

/* ------------------------------------------------------------------------ */
/* The store                                                                */

struct kv;

/* How kv_apply() commits reach the disk. */
enum kv_sync_mode {
	/* MDB_NOSYNC (default). No fsync per batch: the WAL is the source of
	 * truth. After a process crash LMDB is intact and loses nothing (its
	 * pages reach the OS page cache at commit); after a power loss or
	 * kernel crash the applied index may lag (the server replays WAL
	 * entries above kv_applied_index()), and on a filesystem that reorders
	 * writes the file can even be damaged, because unsynced transactions
	 * may reuse pages of the last synced one. kv_sync() closes that window:
	 * the server calls it on clean shutdown and before compacting the WAL,
	 * so entries are only dropped from the WAL once LMDB holds them on
	 * disk. */
	KV_SYNC_NONE = 0,
	/* MDB_NOMETASYNC: data pages are fsync'd at each commit, the meta page
	 * lazily. Survives power loss with integrity (the last batch or so may
	 * be lost and is replayed from the WAL); one fdatasync per batch. */
	KV_SYNC_META = 1,
	/* Full LMDB durability: two syncs per batch. */
	KV_SYNC_FULL = 2
};

struct kv_options {
	/* Initial LMDB map size in bytes (default 1 GiB). The map is address
	 * space, not disk: the file grows only as pages are used. */
	uint64_t map_bytes;
	/* The map doubles on MDB_MAP_FULL up to this many bytes (default
	 * 1 TiB); beyond it kv_apply() fails with KV_EMAPFULL. */
	uint64_t max_map_bytes;
	/* Exactly-once expiry: before the entry at index i is applied, every
	 * client whose last command was applied at an index < i - N is
	 * forgotten (N = this; default 1000000; 0 = never expire). */
	uint64_t client_expiry_entries;
	/* At most this many clients are remembered (default 100000; 0 = no
	 * cap); admitting one more forgets the one with the oldest last
	 * index (ties: lowest client id). */
	uint64_t max_clients;
	/* At most about this many bytes of client records are remembered
	 * (default 256 MiB; 0 = no cap): a TXN's record holds its results,
	 * up to KV_TXN_RESULT_MAX. Before a record is written, while the
	 * others' bytes and its own exceed this, the client with the oldest
	 * last index (ties: lowest client id) is forgotten, never the one
	 * being written, so the table stays within this plus one record. As
	 * with max_clients, a forgotten client's retry is applied as new.
	 * MUST be identical on every member. */
	uint64_t max_client_bytes;
	enum kv_sync_mode sync_mode;
	/* The watch history: every change is recorded (kv_events_read()),
	 * and once more than 2 N are kept the oldest go, down to N (N = this;
	 * default 100000; 0 = none recorded). */
	uint64_t watch_history;
};

/* Fills @opts with the defaults above. */
void kv_options_init(struct kv_options *opts);

/* Opens (creating if needed) the store in @dir/kv/ (directory mode 0700;
 * LMDB's data.mdb and lock.mdb live there). @dir must exist. @opts may be
 * NULL for the defaults; it is copied. On success *@out is a handle the
 * caller releases with kv_close(). Errors: KV_EINVAL, KV_ENOMEM, KV_EIO,
 * KV_ELMDB, KV_EFORMAT; KV_ECORRUPT when the store was marked damaged
 * (kv_mark_damaged()) or the file is damaged (LMDB says
 * MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INCOMPATIBLE or
 * MDB_BAD_VALSIZE, or data.mdb is shorter than the pages its meta page
 * counts, which is checked before any other page is read: a power loss
 * under KV_SYNC_NONE can leave it so). @err (may be NULL) gets one line
 * of context. */
int kv_open(const char *dir, const struct kv_options *opts, struct kv **out,
	    char *err, size_t errlen);

/* Records that the store in @dir/kv/ was found damaged while running
 * (a call failed with KV_ECORRUPT: a damaged page that kv_check() did not
 * read at start): a file "damaged" holding @why, synced, next to
 * data.mdb. From then on kv_open() of @dir fails with KV_ECORRUPT and
 * @why, so the next start rebuilds the store; kv_restore() removes the
 * mark. Returns 0, KV_ENOMEM or KV_EIO. */
int kv_mark_damaged(const char *dir, const char *why);

/* A bounded consistency check, for a store opened after a crash: in one
 * read transaction, walks at most @limit records from each end of each of
 * its databases (0: every record, once), which reads every branch
 * page on the tree's left and right edges and the leaves there, and
 * checks each record's shape; with @limit 0 it also checks that meta
 * "client_bytes" is the sum of the client records' sizes (a bounded check
 * does not: that needs every record). It catches damaged root and edge pages
 * and records of impossible sizes; a damaged page in the middle of a tree
 * larger than 2 * @limit records is not read, and shows later as the
 * KV_ELMDB/KV_ECORRUPT of the call that reads it. Returns 0, KV_ECORRUPT
 * (damaged), KV_ELMDB or KV_EINVAL, with @err. */
int kv_check(struct kv *kv, uint64_t limit, char *err, size_t errlen);

/* Syncs (best effort) and closes the store; @kv may be NULL. */
void kv_close(struct kv *kv);

/* Forces everything committed so far to disk (mdb_env_sync(force)). Call on
 * clean shutdown and before deleting WAL entries at or below
 * kv_applied_index(). Returns 0 or KV_ELMDB. */
int kv_sync(struct kv *kv, char *err, size_t errlen);

/* Outcome of one entry of a kv_apply() batch. */
enum kv_status {
	KV_NONE = 0,	    /* NOOP or CONFIG entry: only the index advanced */
	KV_APPLIED = 1,	    /* the command took effect */
	KV_CAS_FAILED = 2,  /* the CAS condition did not hold; no effect */
	KV_BAD_COMMAND = 3, /* the payload did not decode; skipped */
	KV_STALE_SEQ = 4,   /* seq below the client's last seq; no effect */
	KV_ALREADY_APPLIED = 5, /* index <= applied index before the call */
	KV_LEASE_NOT_FOUND = 6, /* PUT (also in a TXN) to a lease, or REVOKE
				 * of one, that does not exist; no effect */
	KV_TOO_LARGE = 7,	/* TXN: results over KV_TXN_RESULT_MAX; no
				 * effect */
	KV_CONFLICT = 8,	/* an auth op the auth state refuses (kv_op;
				 * kv_result.count says why: enum
				 * kv_conflict); no effect */
	KV_NOT_FOUND = 9	/* TOKEN_DELETE of an unknown name; no
				 * effect */
};

/* Why an auth op was KV_CONFLICT (kv_result.count). */
enum kv_conflict {
	KV_CONFLICT_AUTH_ON = 1,   /* AUTH_ENABLE while on */
	KV_CONFLICT_AUTH_OFF = 2,  /* AUTH_DISABLE or TOKEN_PUT while off */
	KV_CONFLICT_EXISTS = 3,	   /* TOKEN_PUT: the name (or hash) exists */
	KV_CONFLICT_TOO_MANY = 4,  /* TOKEN_PUT: KV_AUTH_TOKENS_MAX reached */
	KV_CONFLICT_LAST_ADMIN = 5 /* TOKEN_DELETE of the last admin token */
};

struct kv_result {
	uint8_t status;	   /* enum kv_status */
	uint8_t duplicate; /* 1: seq == client's last seq; everything below is
			    * the FIRST application's result, replayed */
	uint8_t deleted;   /* DELETE: 1 if the key existed and was removed */
	int cmd_error;	   /* KV_BAD_COMMAND: the kv_cmd_decode() code */
	raft_index entry_index; /* this entry's raft index */
	/* The raft index the write took effect at (docs/API.md, "index"): the
	 * entry's index, or for a duplicate the first application's. Also set
	 * for CAS failures (the index of the entry that failed). */
	raft_index index;
	/* The key's mod index after the command: PUT: index; DELETE: 0;
	 * CAS failure: the current mod index (0 when the key is absent). */
	uint64_t mod_index;
	/* Copied from the command (0 for non-commands and bad commands), so
	 * the proposing member can find the waiting request. */
	uint64_t origin;
	uint64_t request_id;
	uint64_t client_id;
	uint64_t seq;
	uint8_t op;	   /* the command's enum kv_op (0: not a command) */
	uint8_t succeeded; /* TXN: 1 if the success branch ran */
	/* DELETE_PREFIX, LEASE_REVOKE, LEASE_EXPIRE: keys deleted;
	 * KV_CONFLICT: enum kv_conflict. */
	uint64_t count;
	/* TXN (KV_APPLIED): its results, read with kv_txn_result_begin();
	 * the bytes belong to the store and stay valid until the next
	 * kv_apply() or kv_close() (the server answers the request in the
	 * apply's completion, before either). A duplicate replays the first
	 * application's bytes. */
	const uint8_t *txn;
	size_t txn_len;
	/* LEASE_GRANT: the new lease's id (= index) and TTL in seconds;
	 * LEASE_REVOKE: the id revoked (TTL 0). */
	uint64_t lease_id;
	uint64_t lease_ttl;
};

/* Applies @n committed entries, which must have consecutive indexes, in ONE
 * LMDB write transaction that also stores the new applied index and term
 * and the exactly-once table. Per entry:
 *  - index <= applied index: not applied again (KV_ALREADY_APPLIED);
 *  - NOOP / CONFIG: the applied index advances (KV_NONE);
 *  - NORMAL: decoded; a payload that does not decode is KV_BAD_COMMAND and
 *    otherwise skipped (every member decides the same); a command whose
 *    client's last seq is > seq is KV_STALE_SEQ, == seq is the stored first
 *    result with duplicate = 1; else the command is applied (PUT/DELETE
 *    subject to CAS) and its result stored for the client.
 * @results, if not NULL, has room for @n results and is filled in order.
 * @entries' data is only read during the call (the caller keeps ownership).
 * Errors (nothing is applied): KV_EINVAL (NULL, unknown entry type),
 * KV_ENOTSEQ, KV_EGAP (entries[0].index > applied + 1: never a gap),
 * KV_ENOMEM (a transaction's results or its decoding, and a replayed
 * result's copy, are allocated), KV_EMAPFULL, KV_ENOSPC, KV_ELMDB,
 * KV_ECORRUPT (a malformed record, or LMDB found a damaged page: see
 * kv_open()). On MDB_MAP_FULL the map is grown and the whole batch
 * retried, so callers never see it below max_map_bytes.
 *
 * A full disk: when LMDB cannot write the batch's pages for lack of space
 * (ENOSPC, EDQUOT, EFBIG; or the EIO LMDB reports for a short write, when
 * the file system has less than KV_LOW_SPACE_BYTES plus twice the batch's
 * payload free or the file reached RLIMIT_FSIZE) the result is KV_ENOSPC.
 * After KV_ENOSPC, KV_EMAPFULL or KV_ENOMEM (kv_retryable()) the store on
 * disk and the handle's state (applied index and term, content,
 * exactly-once table) are exactly as before the call, so the caller may
 * pass the same entries again later. If the failed commit also left LMDB's
 * environment unusable (LMDB marks it so when the meta page could not be
 * written; every later transaction would fail with MDB_PANIC) kv_needs_reopen()
 * is 1 and kv_reopen() must be called before any other call. */
int kv_apply(struct kv *kv, const struct raft_entry *entries, size_t n,
	     struct kv_result *results, char *err, size_t errlen);

/* Keeps the map ahead of the store: grows it (doubling, as kv_apply() does
 * on MDB_MAP_FULL, never past max_map_bytes) until its free part holds
 * half of what the store uses plus KV_MAP_ROOM_MIN_BYTES. The map may
 * only grow with no transaction open in this process, which rules it out
 * while a snapshot copy reads the store (kv_snapshot_fd() on another
 * thread); a store that fills its map during a long copy makes the
 * writer wait for the copy's end. Called between copies, this leaves
 * room for a copy's duration of writes. The map is address space, not
 * disk. Returns 0 (also at max_map_bytes), or KV_ELMDB (@err says why;
 * the store is unchanged and kv_apply() still grows the map when full).
 * No transaction may be open in this process. */
int kv_reserve_map(struct kv *kv, char *err, size_t errlen);

/* The least free map kv_reserve_map() keeps. */
#define KV_MAP_ROOM_MIN_BYTES (64ull << 20)

/* Free space below which a short write (EIO from LMDB) counts as a full
 * file system (see kv_apply()). */
#define KV_LOW_SPACE_BYTES (16ull * 1024 * 1024)

/* Returns 1 if a failed kv_apply() left the LMDB environment unusable
 * (see kv_apply()), 0 otherwise. */
int kv_needs_reopen(const struct kv *kv);

/* Closes and reopens the LMDB environment of @kv, which makes a store that
 * kv_needs_reopen() usable again: on disk it is the last good commit
 * (the WAL holds what came after). The applied index and term are read
 * back from the disk. No other call on @kv, kv_snapshot() on another
 * thread included, may run during it. Returns 0, or KV_ELMDB / KV_EFORMAT
 * / KV_ECORRUPT with @err; then @kv is only good for kv_close(). */
int kv_reopen(struct kv *kv, char *err, size_t errlen);

/* The index and term of the last applied entry (0, 0 for a new store).
 * Served from memory, kept in step with each committed kv_apply(). */
raft_index kv_applied_index(const struct kv *kv);
raft_term kv_applied_term(const struct kv *kv);

/* Reads @key. On success returns 0, *@value is a malloc'd copy the caller
 * free()s (NULL when the value is empty), *@len its size and *@mod_index the
 * key's mod index; any out-pointer may be NULL to skip it. Returns
 * KV_ENOTFOUND if absent, KV_EINVAL for an invalid key, KV_ENOMEM,
 * KV_ELMDB, KV_ECORRUPT. */
int kv_get(struct kv *kv, const uint8_t *key, size_t keylen, uint8_t **value,
	   size_t *len, uint64_t *mod_index);

/* Called by kv_list() once per key. @key and @value point into LMDB's map
 * and are valid only during the call. Return 0 to go on, nonzero to stop
 * (kv_list() then returns KV_ESTOPPED). */
typedef int (*kv_list_cb)(void *arg, const uint8_t *key, size_t keylen,
			  const uint8_t *value, size_t len, uint64_t mod_index);

/* Visits, in key order (bytewise), up to @limit keys that start with
 * @prefix (@prefix_len bytes; 0 = all keys) and are strictly greater than
 * @after (@after_len bytes; 0 = from the start), all from one consistent
 * read snapshot. *@more (may be NULL) is set to 1 if further keys match
 * beyond the last visited one. Returns the number of keys visited, or a
 * negative code (KV_EINVAL when limit is 0 or a pointer is NULL with a
 * nonzero length, KV_ESTOPPED, KV_ELMDB, KV_ECORRUPT). */
int64_t kv_list(struct kv *kv, const uint8_t *prefix, size_t prefix_len,
		const uint8_t *after, size_t after_len, size_t limit,
		kv_list_cb cb, void *arg, int *more);

/* ------------------------------------------------------------------------ */
/* Leases (§1.6)                                                            */

struct kv_lease {
	uint64_t id;   /* = the index of its LEASE_GRANT */
	uint64_t ttl;  /* seconds */
	uint64_t keys; /* keys attached */
};

/* Reads lease @id: 0, KV_ENOTFOUND, KV_ELMDB, KV_ECORRUPT. */
int kv_lease_get(struct kv *kv, uint64_t id, struct kv_lease *out);

/* Called per lease (kv_lease_list) or per attached key (kv_lease_keys);
 * pointers valid during the call. Nonzero stops (KV_ESTOPPED). */
typedef int (*kv_lease_cb)(void *arg, const struct kv_lease *l);
typedef int (*kv_lease_key_cb)(void *arg, const uint8_t *key, size_t len);

/* Visits up to @limit leases with id > @after in id order, from one read
 * snapshot; *@more (may be NULL) = 1 if more follow. Returns the number
 * visited or a negative code. */
int64_t kv_lease_list(struct kv *kv, uint64_t after, size_t limit,
		      kv_lease_cb cb, void *arg, int *more);

/* Visits up to @limit keys attached to lease @id in key order. Returns
 * the number visited (0 also for an unknown lease) or a negative code. */
int64_t kv_lease_keys(struct kv *kv, uint64_t id, size_t limit,
		      kv_lease_key_cb cb, void *arg, int *more);

/* The lease @key is attached to in *@lease (0: none). 0, KV_ENOTFOUND
 * (no such key), KV_EINVAL, KV_ELMDB. */
int kv_key_lease(struct kv *kv, const uint8_t *key, size_t keylen,
		 uint64_t *lease);

/* Number of leases, or a negative code. */
int64_t kv_lease_count(struct kv *kv);

/* ------------------------------------------------------------------------ */
/* Auth (§1.8; kv/auth.c)                                                   */

/* Whether auth is on: 1 or 0 (KV_EINVAL for NULL). Kept in memory, as
 * last committed: a change is seen as soon as its entry is applied. */
int kv_auth_enabled(struct kv *kv);

/* The token whose secret hashes to @hash, into *@out: 0, KV_ENOTFOUND,
 * KV_ELMDB, KV_ECORRUPT. Also answers while auth is off (no tokens then).
 * From one read snapshot, at each call: no cache outlives an apply. */
int kv_auth_lookup(struct kv *kv, const uint8_t hash[KV_AUTH_HASH_SIZE],
		   struct kv_token *out);

/* A number that changes whenever the auth state may have changed in this
 * process: after each kv_apply() that applied an auth op, and at each
 * kv_open() and kv_reopen() (a restored snapshot holds other tokens). A
 * holder of a long-lived permission (a watch stream) looks the token up
 * again when it differs from the one it saw. Any thread. */
uint64_t kv_auth_generation(void);

/* Called per token, in name order; @t is valid during the call only.
 * Nonzero stops (KV_ESTOPPED). */
typedef int (*kv_token_cb)(void *arg, const struct kv_token *t);

/* Visits every token (at most KV_AUTH_TOKENS_MAX). Returns the number
 * visited or a negative code. */
int64_t kv_auth_list(struct kv *kv, kv_token_cb cb, void *arg);

/* Number of keys stored, or a negative code. */
int64_t kv_count(struct kv *kv);

/* A deterministic 64-bit digest of the content: FNV-1a over every
 * (key length, key, value length, value, mod index) in key order, then
 * every lease and every key attached to one, then the auth state and
 * every token record (layout in docs/FORMAT.md; a store without leases,
 * or with auth off, digests as before them). Equal content gives equal
 * digests on every member; the exactly-once table, the watch history and
 * the applied index are not included. */
int kv_digest(struct kv *kv, uint64_t *digest);

struct kv_stats {
	uint64_t keys;	     /* keys stored */
	uint64_t clients;    /* exactly-once clients remembered */
	uint64_t used_bytes; /* pages in use * page size */
	uint64_t map_bytes;  /* current map size */
	raft_index applied_index;
	raft_term applied_term;
};

/* Fills @st. Returns 0 or KV_ELMDB. */
int kv_stats(struct kv *kv, struct kv_stats *st);

/* ------------------------------------------------------------------------ */
/* Watch history (events.c; docs/FORMAT.md, "The LMDB store")              */

enum kv_event_type { KV_EVENT_PUT = 1, KV_EVENT_DELETE = 2 };

/* One change: valid during the callback only. */
struct kv_event {
	raft_index index;
	uint8_t type; /* enum kv_event_type */
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value; /* PUT's value (DELETE: empty) */
	size_t value_len;
};

/* Returns nonzero to stop the read (after this event). */
typedef int (*kv_event_fn)(void *arg, const struct kv_event *ev);

/* Calls @fn, in index order, for every recorded change at an index >=
 * @from whose key is @match (@exact) or starts with it, reading at most
 * about @max_scan events (whole indexes: the changes of one index are
 * never split). *@next is where to resume: after the last index read, or
 * the store's applied index + 1 when everything was read. One LMDB read
 * transaction: any thread, beside the writer. Returns 0, KV_ECOMPACTED
 * (@from below the history kept; *@next the oldest index it can serve),
 * KV_ELMDB, KV_ECORRUPT. */
int kv_events_read(struct kv *kv, raft_index from, const uint8_t *match,
		   size_t match_len, int exact, size_t max_scan, kv_event_fn fn,
		   void *arg, raft_index *next);

/* ------------------------------------------------------------------------ */
/* Snapshots (docs/ARCHITECTURE.md, "Snapshots and log compaction")         */

/* Writes a consistent, compacted copy of the whole store (data, applied
 * index and term, exactly-once table) to the new file @path (it must not
 * exist; mode 0600) and fsyncs it. *@index and *@term (may be NULL) get the
 * applied index and term the copy holds: with calls serialized, those of
 * the store at the time of the call. The copy is an LMDB data file that
 * kv_restore() installs. Errors: KV_EINVAL, KV_EIO, KV_ELMDB. */
int kv_snapshot(struct kv *kv, const char *path, raft_index *index,
		raft_term *term, char *err, size_t errlen);

/* Writes the same compacted copy to the open file @fd (positioned at its
 * start), without syncing or closing it: the caller owns @fd. Safe on
 * another thread than the store's writer (one LMDB read transaction;
 * kv.c, MDB_NOTLS). Errors: KV_EINVAL, KV_ELMDB. */
int kv_snapshot_fd(struct kv *kv, int fd, char *err, size_t errlen);

/* Checks that @path is a snapshot of a known store format and reads the
 * applied index and term it holds. Errors: KV_EINVAL, KV_ELMDB (not an
 * LMDB file), KV_EFORMAT, KV_ECORRUPT. */
int kv_snapshot_info(const char *path, raft_index *index, raft_term *term,
		     char *err, size_t errlen);

/* Replaces the store in @dir/kv/ with the snapshot file @path, after
 * checking it with kv_snapshot_info(). The file is moved (rename), so it
 * must be on the same filesystem as @dir; the file and the directory are
 * fsync'd, so the switch is atomic and durable. No handle on @dir may be
 * open: close it, restore, kv_open() again. Errors: those of
 * kv_snapshot_info(), KV_EIO. */
int kv_restore(const char *dir, const char *path, char *err, size_t errlen);

#endif /* KV_KV_H_ */
