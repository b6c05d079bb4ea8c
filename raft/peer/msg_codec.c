/* msg_codec.c - raft messages to frames and back (layout in msg_codec.h). */
#include "msg_codec.h"

#include <stdlib.h>
#include <string.h>

/* Byte offsets inside a version 1 message payload. */
enum {
	OFF_VERSION = 0,
	OFF_TYPE = 1,
	OFF_FLAGS = 2,
	OFF_RESERVED = 3,
	OFF_N_ENTRIES = 4,
	OFF_FROM = 8,
	OFF_TO = 16,
	OFF_TERM = 24,
	OFF_INDEX = 32,
	OFF_LOG_TERM = 40,
	OFF_COMMIT = 48,
	OFF_HINT_INDEX = 56,
	OFF_HINT_TERM = 64,
	OFF_CONTEXT = 72
};

/* Largest message payload read at all: room for later versions to grow, so
 * that they are reported as MSG_CODEC_EVERSION rather than as too large. */
#define MAX_MSG_PAYLOAD 4096

_Static_assert(OFF_CONTEXT + 8 == MSG_CODEC_PAYLOAD_SIZE, "payload layout");

static void limits_resolve(const struct msg_codec_limits *in,
			   struct msg_codec_limits *out)
{
	static const struct msg_codec_limits none;

	if (in == NULL)
		in = &none;
	out->max_msgs =
	    in->max_msgs ? in->max_msgs : MSG_CODEC_DEFAULT_MAX_MSGS;
	out->max_entries =
	    in->max_entries ? in->max_entries : MSG_CODEC_DEFAULT_MAX_ENTRIES;
	out->max_entry_bytes = in->max_entry_bytes
				   ? in->max_entry_bytes
				   : MSG_CODEC_DEFAULT_MAX_ENTRY_BYTES;
	out->max_body_bytes = in->max_body_bytes
				  ? in->max_body_bytes
				  : MSG_CODEC_DEFAULT_MAX_BODY_BYTES;
}

static int msg_type_known(uint8_t type)
{
	return type >= RAFT_MSG_APPEND && type <= RAFT_MSG_SNAPSHOT;
}

/* Only AppendEntries and forwarded proposals carry entries. */
static int msg_type_has_entries(uint8_t type)
{
	return type == RAFT_MSG_APPEND || type == RAFT_MSG_PROPOSE;
}

static int entry_type_known(uint8_t type)
{
	return type == RAFT_ENTRY_NORMAL || type == RAFT_ENTRY_NOOP ||
	       type == RAFT_ENTRY_CONFIG;
}

/* Checks the fixed fields of a message (shared by encoder and decoder). */
static int check_header(const struct raft_msg *m,
			const struct msg_codec_limits *lim)
{
	if (!msg_type_known(m->type))
		return MSG_CODEC_EMSG_TYPE;
	if (m->from == 0 || m->to == 0)
		return MSG_CODEC_EID;
	/* Every number from the network is range checked: a term past
	 * RAFT_TERM_MAX would be adopted and never left (term + 1 must not
	 * wrap), and terms must stay JSON integers (raft.h). */
	if (m->term > RAFT_TERM_MAX || m->log_term > RAFT_TERM_MAX ||
	    m->hint_term > RAFT_TERM_MAX || m->index > RAFT_INDEX_MAX ||
	    m->commit > RAFT_INDEX_MAX || m->hint_index > RAFT_INDEX_MAX)
		return MSG_CODEC_ERANGE;
	if (m->n_entries > lim->max_entries)
		return MSG_CODEC_ETOO_MANY_ENTRIES;
	if (m->n_entries > 0 && !msg_type_has_entries(m->type))
		return MSG_CODEC_EENTRIES;
	return MSG_CODEC_OK;
}

/* Checks entry @i of message @m, given the previous entry's term @prev_term.
 * Raft §5.3: an AppendEntries carries the entries that directly follow
 * prevLogIndex, and terms in a log never decrease (§5.4) nor exceed the
 * leader's current term. A forwarded proposal has no index or term yet, so
 * only its entry type is checked. */
static int check_entry(const struct raft_msg *m, size_t i, uint8_t type,
		       raft_term term, raft_index index, raft_term prev_term)
{
	if (!entry_type_known(type))
		return MSG_CODEC_EENTRY_TYPE;
	if (term > RAFT_TERM_MAX || index > RAFT_INDEX_MAX)
		return MSG_CODEC_ERANGE;
	if (m->type != RAFT_MSG_APPEND)
		return MSG_CODEC_OK;
	/* index == m->index + 1 + i, without overflowing. */
	if (index == 0 || index - 1 < m->index || index - 1 - m->index != i)
		return MSG_CODEC_EENTRY_INDEX;
	if (term < prev_term || term > m->term)
		return MSG_CODEC_EENTRY_TERM;
	return MSG_CODEC_OK;
}

int msg_codec_check(const struct raft_msg *m,
		    const struct msg_codec_limits *lim_in)
{
	struct msg_codec_limits lim;
	raft_term prev_term;
	int rc;

	if (m == NULL)
		return MSG_CODEC_EINVAL;
	limits_resolve(lim_in, &lim);
	rc = check_header(m, &lim);
	if (rc != MSG_CODEC_OK)
		return rc;
	if (m->n_entries > 0 && m->entries == NULL)
		return MSG_CODEC_EINVAL;
	prev_term = m->log_term;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];

		if (e->len > 0 && e->data == NULL)
			return MSG_CODEC_EINVAL;
		if (e->len > lim.max_entry_bytes)
			return MSG_CODEC_ETOO_LARGE;
		rc = check_entry(m, i, e->type, e->term, e->index, prev_term);
		if (rc != MSG_CODEC_OK)
			return rc;
		prev_term = e->term;
	}
	if (msg_codec_size(m) > lim.max_body_bytes)
		return MSG_CODEC_ETOO_LARGE;
	return MSG_CODEC_OK;
}

size_t msg_codec_size(const struct raft_msg *m)
{
	size_t n = frame_size(MSG_CODEC_PAYLOAD_SIZE);

	for (size_t i = 0; i < m->n_entries; i++)
		n += frame_size(m->entries[i].len);
	return n;
}

/* Writes the message frame of @m (n_entries counted, no entry frames) at
 * @out, which holds MSG_CODEC_HEAD_SIZE bytes; @m passed the checks. */
static void encode_head(const struct raft_msg *m, uint8_t *out)
{
	uint8_t *p = out + FRAME_HEADER_SIZE;

	p[OFF_VERSION] = MSG_CODEC_VERSION;
	p[OFF_TYPE] = m->type;
	p[OFF_FLAGS] = m->reject ? MSG_CODEC_FLAG_REJECT : 0;
	p[OFF_RESERVED] = 0;
	le_put_u32(p + OFF_N_ENTRIES, (uint32_t)m->n_entries);
	le_put_u64(p + OFF_FROM, m->from);
	le_put_u64(p + OFF_TO, m->to);
	le_put_u64(p + OFF_TERM, m->term);
	le_put_u64(p + OFF_INDEX, m->index);
	le_put_u64(p + OFF_LOG_TERM, m->log_term);
	le_put_u64(p + OFF_COMMIT, m->commit);
	le_put_u64(p + OFF_HINT_INDEX, m->hint_index);
	le_put_u64(p + OFF_HINT_TERM, m->hint_term);
	le_put_u64(p + OFF_CONTEXT, m->context);
	frame_encode_header(out, FRAME_MESSAGE, 0, 0, MSG_CODEC_PAYLOAD_SIZE);
}

/* The checks both encoders start with. */
static int check_for_encode(const struct raft_msg *m,
			    const struct msg_codec_limits *lim)
{
	int rc = msg_codec_check(m, lim);

	if (rc != MSG_CODEC_OK)
		return rc;
	/* n_entries fits: check_header bounded it by max_entries, and the
	 * body limit bounds it far below 2^32 entry frames. */
	if (m->n_entries > UINT32_MAX)
		return MSG_CODEC_ETOO_MANY_ENTRIES;
	return MSG_CODEC_OK;
}

int msg_codec_encode(const struct raft_msg *m,
		     const struct msg_codec_limits *lim, uint8_t *out,
		     size_t cap, size_t *written)
{
	uint8_t *p;
	int rc;

	rc = check_for_encode(m, lim);
	if (rc != MSG_CODEC_OK)
		return rc;
	if (out == NULL || cap < msg_codec_size(m))
		return MSG_CODEC_EINVAL;
	encode_head(m, out);
	p = out + MSG_CODEC_HEAD_SIZE;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];

		p += frame_encode(p, e->type, e->term, e->index, e->data,
				  e->len);
	}
	if (written != NULL)
		*written = (size_t)(p - out);
	return MSG_CODEC_OK;
}

int msg_codec_encode_head(const struct raft_msg *m,
			  const struct msg_codec_limits *lim, uint8_t *out,
			  size_t cap)
{
	int rc = check_for_encode(m, lim);

	if (rc != MSG_CODEC_OK)
		return rc;
	if (out == NULL || cap < MSG_CODEC_HEAD_SIZE)
		return MSG_CODEC_EINVAL;
	encode_head(m, out);
	return MSG_CODEC_OK;
}

int msg_codec_encode_batch(const struct raft_msg *msgs, size_t n,
			   const struct msg_codec_limits *lim_in,
			   uint8_t **body, size_t *len)
{
	struct msg_codec_limits lim;
	size_t total = 0, off = 0, w;
	uint8_t *buf;
	int rc;

	if (body == NULL || len == NULL || (n > 0 && msgs == NULL))
		return MSG_CODEC_EINVAL;
	*body = NULL;
	*len = 0;
	limits_resolve(lim_in, &lim);
	if (n > lim.max_msgs)
		return MSG_CODEC_ETOO_MANY_MSGS;
	for (size_t i = 0; i < n; i++) {
		rc = msg_codec_check(&msgs[i], &lim);
		if (rc != MSG_CODEC_OK)
			return rc;
		total += msg_codec_size(&msgs[i]);
		if (total > lim.max_body_bytes)
			return MSG_CODEC_ETOO_LARGE;
	}
	/* malloc(0) may return NULL; keep one byte so success has a body. */
	buf = malloc(total > 0 ? total : 1);
	if (buf == NULL)
		return MSG_CODEC_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		rc = msg_codec_encode(&msgs[i], &lim, buf + off, total - off,
				      &w);
		if (rc != MSG_CODEC_OK) {
			free(buf);
			return rc;
		}
		off += w;
	}
	*body = buf;
	*len = total;
	return MSG_CODEC_OK;
}

/* Reads the fixed fields of message frame @f into @m (entries unset). */
static int parse_message(const struct frame *f,
			 const struct msg_codec_limits *lim, struct raft_msg *m)
{
	const uint8_t *p = f->payload;

	if (f->type != FRAME_MESSAGE)
		return MSG_CODEC_EFRAME_TYPE;
	/* The version byte is checked before the length so that a later
	 * version with a longer payload is named as such. */
	if (f->len < 1)
		return MSG_CODEC_ELENGTH;
	if (p[OFF_VERSION] != MSG_CODEC_VERSION)
		return MSG_CODEC_EVERSION;
	if (f->len != MSG_CODEC_PAYLOAD_SIZE)
		return MSG_CODEC_ELENGTH;
	if (f->term != 0 || f->index != 0 || p[OFF_RESERVED] != 0 ||
	    (p[OFF_FLAGS] & ~MSG_CODEC_FLAG_REJECT) != 0)
		return MSG_CODEC_ERESERVED;

	memset(m, 0, sizeof(*m));
	m->type = p[OFF_TYPE];
	m->reject = (p[OFF_FLAGS] & MSG_CODEC_FLAG_REJECT) != 0;
	m->n_entries = le_get_u32(p + OFF_N_ENTRIES);
	m->from = le_get_u64(p + OFF_FROM);
	m->to = le_get_u64(p + OFF_TO);
	m->term = le_get_u64(p + OFF_TERM);
	m->index = le_get_u64(p + OFF_INDEX);
	m->log_term = le_get_u64(p + OFF_LOG_TERM);
	m->commit = le_get_u64(p + OFF_COMMIT);
	m->hint_index = le_get_u64(p + OFF_HINT_INDEX);
	m->hint_term = le_get_u64(p + OFF_HINT_TERM);
	m->context = le_get_u64(p + OFF_CONTEXT);
	return check_header(m, lim);
}

/* One pass over the body. With @out NULL it only validates and counts;
 * otherwise it fills @out, whose arrays were sized by a counting pass over
 * the same bytes (so it cannot fail). Splitting it this way allocates
 * exactly once, after every length and count has been checked. */
static int walk(const uint8_t *body, size_t len,
		const struct msg_codec_limits *lim, size_t *n_msgs,
		size_t *n_entries, struct msg_batch *out, size_t *err_offset)
{
	size_t off = 0, used, nm = 0, ne = 0;
	struct raft_msg tmp;
	struct frame f;
	int rc;

	while (off < len) {
		struct raft_msg *m = out ? &out->msgs[nm] : &tmp;
		raft_term prev_term;

		if (nm == lim->max_msgs) {
			rc = MSG_CODEC_ETOO_MANY_MSGS;
			goto fail;
		}
		rc = frame_decode(body + off, len - off, MAX_MSG_PAYLOAD, &f,
				  &used);
		if (rc != FRAME_OK)
			goto fail;
		rc = parse_message(&f, lim, m);
		if (rc != MSG_CODEC_OK)
			goto fail;
		off += used;
		if (out != NULL)
			m->entries = m->n_entries ? &out->entries[ne] : NULL;
		prev_term = m->log_term;
		for (size_t i = 0; i < m->n_entries; i++) {
			rc = frame_decode(body + off, len - off,
					  lim->max_entry_bytes, &f, &used);
			if (rc != FRAME_OK)
				goto fail;
			if (f.type == FRAME_MESSAGE) {
				rc = MSG_CODEC_EFRAME_TYPE;
				goto fail;
			}
			rc = check_entry(m, i, f.type, f.term, f.index,
					 prev_term);
			if (rc != MSG_CODEC_OK)
				goto fail;
			prev_term = f.term;
			if (out != NULL) {
				struct raft_entry *e = &out->entries[ne];

				e->term = f.term;
				e->index = f.index;
				e->type = f.type;
				e->len = f.len;
				/* Zero-copy: data stays in the body buffer
				 * (read-only, see struct msg_batch). */
				e->data = f.len ? (uint8_t *)f.payload : NULL;
			}
			ne++;
			off += used;
		}
		nm++;
	}
	*n_msgs = nm;
	*n_entries = ne;
	return MSG_CODEC_OK;
fail:
	if (err_offset != NULL)
		*err_offset = off;
	return rc;
}

int msg_codec_decode(const uint8_t *body, size_t len,
		     const struct msg_codec_limits *lim_in,
		     struct msg_batch *out, size_t *err_offset)
{
	struct msg_codec_limits lim;
	size_t nm, ne;
	int rc;

	if (out == NULL || (body == NULL && len > 0))
		return MSG_CODEC_EINVAL;
	memset(out, 0, sizeof(*out));
	limits_resolve(lim_in, &lim);
	if (len > lim.max_body_bytes) {
		if (err_offset != NULL)
			*err_offset = 0;
		return MSG_CODEC_ETOO_LARGE;
	}
	rc = walk(body, len, &lim, &nm, &ne, NULL, err_offset);
	if (rc != MSG_CODEC_OK)
		return rc;
	if (nm == 0)
		return MSG_CODEC_OK;
	out->msgs = calloc(nm, sizeof(*out->msgs));
	out->entries = ne ? calloc(ne, sizeof(*out->entries)) : NULL;
	if (out->msgs == NULL || (ne > 0 && out->entries == NULL)) {
		msg_batch_free(out);
		return MSG_CODEC_ENOMEM;
	}
	rc = walk(body, len, &lim, &out->n_msgs, &out->n_entries, out,
		  err_offset);
	/* The same bytes passed the counting pass. */
	if (rc != MSG_CODEC_OK || out->n_msgs != nm || out->n_entries != ne)
		abort();
	return MSG_CODEC_OK;
}

void msg_batch_free(struct msg_batch *b)
{
	if (b == NULL)
		return;
	free(b->msgs);
	free(b->entries);
	memset(b, 0, sizeof(*b));
}

const char *msg_codec_strerror(int err)
{
	switch (err) {
	case MSG_CODEC_OK:
		return "ok";
	case MSG_CODEC_ENOMEM:
		return "out of memory";
	case MSG_CODEC_EINVAL:
		return "invalid argument";
	case MSG_CODEC_EFRAME_TYPE:
		return "unexpected frame type (message/entry order broken)";
	case MSG_CODEC_EVERSION:
		return "unknown message version";
	case MSG_CODEC_ELENGTH:
		return "message payload has the wrong length";
	case MSG_CODEC_EMSG_TYPE:
		return "unknown message type";
	case MSG_CODEC_ERESERVED:
		return "reserved message bits set";
	case MSG_CODEC_EID:
		return "message from or to member 0";
	case MSG_CODEC_ETOO_MANY_MSGS:
		return "too many messages in one body";
	case MSG_CODEC_ETOO_MANY_ENTRIES:
		return "too many entries in one message";
	case MSG_CODEC_ETOO_LARGE:
		return "body or entry too large";
	case MSG_CODEC_EENTRIES:
		return "entries on a message type that carries none";
	case MSG_CODEC_EENTRY_TYPE:
		return "entry frame of a non-entry type";
	case MSG_CODEC_EENTRY_INDEX:
		return "inconsistent entry indexes";
	case MSG_CODEC_EENTRY_TERM:
		return "inconsistent entry terms";
	case MSG_CODEC_ERANGE:
		return "term or index out of range";
	default:
		if (err < 0 && err > MSG_CODEC_ENOMEM)
			return frame_strerror(err);
		return "unknown error";
	}
}
