/* core_config.c - membership configurations (thesis §4.3): the CONFIG entry
 * codec, the configuration in effect, joint consensus and learners. */
#include "core_config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core_buf.h"
#include "byteorder.h"

#define CONFIG_VERSION 1
#define CONFIG_JOINT   1 /* header flag */

/* ---- the codec (docs/FORMAT.md, "Configuration entries") ---- */

/* Little-endian integers come from frame.h's inline helpers: a pure
 * header, so the core needs neither frame.c nor any IO. */

static const struct raft_member *find(const struct raft_membership *m,
				      raft_id id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->members[i].id == id)
			return &m->members[i];
	return NULL;
}

/* A configuration is valid when its ids are distinct and non-zero, each
 * member votes somewhere or learns (never both), OUTGOING appears only
 * while joint, and each voter set it has is non-empty. */
static bool membership_valid(const struct raft_membership *m)
{
	size_t voters = 0, outgoing = 0;

	if (m->n > RAFT_MAX_MEMBERS)
		return false;
	for (size_t i = 0; i < m->n; i++) {
		const struct raft_member *x = &m->members[i];
		uint8_t f = x->flags;

		if (x->id == 0 || find(m, x->id) != x)
			return false;
		if (memchr(x->addr, 0, sizeof(x->addr)) == NULL)
			return false;
		if (f == 0 || (f & ~7u) != 0)
			return false;
		if ((f & RAFT_MEMBER_LEARNER) && f != RAFT_MEMBER_LEARNER)
			return false;
		if ((f & RAFT_MEMBER_OUTGOING) && !m->joint)
			return false;
		voters += (f & RAFT_MEMBER_VOTER) != 0;
		outgoing += (f & RAFT_MEMBER_OUTGOING) != 0;
	}
	return voters > 0 && (!m->joint || outgoing > 0);
}

int raft_membership_encode(const struct raft_membership *m, uint8_t *buf,
			   size_t cap, size_t *len)
{
	size_t off = 8;

	*len = 0;
	if (!membership_valid(m))
		return RAFT_EINVAL;
	if (cap < off)
		return RAFT_EINVAL;
	buf[0] = CONFIG_VERSION;
	buf[1] = m->joint ? CONFIG_JOINT : 0;
	buf[2] = (uint8_t)m->n;
	buf[3] = (uint8_t)(m->n >> 8);
	memset(buf + 4, 0, 4);
	for (size_t i = 0; i < m->n; i++) {
		const struct raft_member *x = &m->members[i];
		size_t alen = strlen(x->addr);

		if (alen > RAFT_MAX_ADDR_LEN || cap - off < 10 + alen)
			return RAFT_EINVAL;
		le_put_u64(buf + off, x->id);
		buf[off + 8] = x->flags;
		buf[off + 9] = (uint8_t)alen;
		memcpy(buf + off + 10, x->addr, alen);
		off += 10 + alen;
	}
	*len = off;
	return RAFT_OK;
}

int raft_membership_decode(const void *data, size_t len,
			   struct raft_membership *out)
{
	const uint8_t *p = data;
	size_t off = 8, n;

	memset(out, 0, sizeof(*out));
	if (data == NULL || len < 8 || p[0] != CONFIG_VERSION ||
	    (p[1] & ~CONFIG_JOINT) != 0 || p[4] || p[5] || p[6] || p[7])
		return RAFT_EINVAL;
	n = (size_t)p[2] | (size_t)p[3] << 8;
	if (n > RAFT_MAX_MEMBERS)
		return RAFT_EINVAL;
	out->joint = (p[1] & CONFIG_JOINT) != 0;
	for (size_t i = 0; i < n; i++) {
		struct raft_member *x = &out->members[i];
		size_t alen;

		if (len - off < 10)
			goto bad;
		x->id = le_get_u64(p + off);
		x->flags = p[off + 8];
		alen = p[off + 9];
		if (len - off - 10 < alen ||
		    memchr(p + off + 10, 0, alen) != NULL)
			goto bad;
		memcpy(x->addr, p + off + 10, alen);
		off += 10 + alen;
		out->n = i + 1;
	}
	if (off != len || !membership_valid(out))
		goto bad;
	return RAFT_OK;
bad:
	memset(out, 0, sizeof(*out));
	return RAFT_EINVAL;
}

/* ---- the configuration in effect ---- */

static bool is_member(const struct raft_membership *m, raft_id id)
{
	return find(m, id) != NULL;
}

/* Rebuilds the quorum view and the progress array for @r->configs->cur. The
 * progress of members that are gone is kept on a leader until the
 * configuration that removed them is committed, so that they still
 * receive that entry and learn that they are out. */
static int rebuild(struct raft *r)
{
	const struct raft_membership *m = &r->configs->cur;
	bool keep_old = r->role == RAFT_LEADER && m->index > r->log.commit;
	raft_id ids[2 * RAFT_MAX_MEMBERS + 1];
	size_t n = 0;
	struct raft_progress *prs;
	raft_index last = raft__log_last_index(&r->log);

	memset(&r->quorum, 0, sizeof(r->quorum));
	for (size_t i = 0; i < m->n; i++) {
		const struct raft_member *x = &m->members[i];

		if (x->flags & RAFT_MEMBER_VOTER)
			r->quorum.voters.ids[r->quorum.voters.n++] = x->id;
		if (x->flags & RAFT_MEMBER_OUTGOING)
			r->quorum.outgoing.ids[r->quorum.outgoing.n++] = x->id;
		ids[n++] = x->id;
	}
	if (!is_member(m, r->id))
		ids[n++] = r->id;
	if (keep_old) {
		for (size_t i = 0; i < r->n_prs; i++) {
			raft_id id = r->prs[i].id;
			size_t j = 0;

			while (j < n && ids[j] != id)
				j++;
			/* One change at a time (thesis §4.3): the kept
			 * progress is of one configuration before this one. */
			assert(j < n || n < sizeof(ids) / sizeof(ids[0]));
			if (j == n)
				ids[n++] = id;
		}
	}

	prs = calloc(n, sizeof(*prs));
	if (prs == NULL)
		return RAFT_ENOMEM;
	/* New members first, so that running out of memory leaves the old
	 * array untouched. */
	for (size_t i = 0; i < n; i++) {
		if (raft__progress(r, ids[i]) != NULL)
			continue;
		if (raft__progress_init(&prs[i], ids[i],
					r->opts.max_inflight) != 0) {
			for (size_t j = 0; j < i; j++)
				raft__progress_close(&prs[j]);
			free(prs);
			return RAFT_ENOMEM;
		}
		/* A leader starts a new member like any peer after an
		 * election: probing from the end of its log. */
		raft__progress_reset(&prs[i], last + 1);
	}
	for (size_t i = 0; i < n; i++) {
		struct raft_progress *old = raft__progress(r, ids[i]);

		if (old != NULL) {
			prs[i] = *old;
			old->infl.buf = NULL; /* moved */
		}
	}
	for (size_t i = 0; i < r->n_prs; i++)
		raft__progress_close(&r->prs[i]);
	free(r->prs);
	r->prs = prs;
	r->n_prs = n;
	return RAFT_OK;
}

static void set_current(struct raft *r, const struct raft_membership *m)
{
	struct raft_configs *c = r->configs;

	if (memcmp(&c->cur, m, sizeof(*m)) == 0)
		return;
	c->cur = *m;
	c->version++;
	/* Out of memory keeps the old progress array (and quorum view is
	 * rebuilt on the next change); messages of new members are then
	 * ignored, which Raft tolerates as lost messages. */
	rebuild(r);
}

/* The last CONFIG entry in (@from, @to] that decodes, or false. */
static bool scan(const struct raft_log *l, raft_index from, raft_index to,
		 struct raft_membership *out)
{
	for (raft_index i = to; i > from; i--) {
		const struct raft_entry *e = raft__log_get(l, i);

		if (e == NULL || e->type != RAFT_ENTRY_CONFIG)
			continue;
		if (raft_membership_decode(e->data, e->len, out) == RAFT_OK) {
			out->index = i;
			return true;
		}
	}
	return false;
}

static void sync(struct raft *r)
{
	struct raft_configs *c = r->configs;
	struct raft_log *l = &r->log;
	raft_index last = raft__log_last_index(l);
	struct raft_membership m;
	bool full = c->scanned > last || c->scanned < l->snap_index ||
		    raft__log_term_at(l, c->scanned) != c->scanned_term;

	if (!full && c->scanned == last)
		return;
	if (full) {
		/* The log changed under what was scanned (a truncation or
		 * a snapshot): the configuration reverts to the last one
		 * still in it (thesis §4.1). */
		if (!scan(l, l->snap_index, last, &m))
			m = c->base;
		set_current(r, &m);
	} else if (scan(l, c->scanned, last, &m)) {
		set_current(r, &m);
	}
	c->scanned = last;
	c->scanned_term = raft__log_term_at(l, last);
}

static int founding(struct raft_membership *m, const struct raft_options *o)
{
	memset(m, 0, sizeof(*m));
	if (o->n_voters > RAFT_MAX_MEMBERS)
		return RAFT_EINVAL;
	for (size_t i = 0; i < o->n_voters; i++) {
		struct raft_member *x = &m->members[i];
		const char *a = o->voter_addrs ? o->voter_addrs[i] : NULL;

		x->id = o->voters[i];
		x->flags = RAFT_MEMBER_VOTER;
		if (a != NULL) {
			if (strlen(a) > RAFT_MAX_ADDR_LEN)
				return RAFT_EINVAL;
			strcpy(x->addr, a);
		}
		m->n = i + 1;
	}
	return m->n == 0 || membership_valid(m) ? RAFT_OK : RAFT_EINVAL;
}

int raft__config_init(struct raft *r, const struct raft_options *opts,
		      const struct raft_restore *rs)
{
	struct raft_configs *c = calloc(1, sizeof(*c));
	int rv;

	if (c == NULL)
		return RAFT_ENOMEM;
	r->configs = c;
	if (rs->snapshot_config != NULL) {
		rv = raft_membership_decode(rs->snapshot_config,
					    rs->snapshot_config_len, &c->base);
		c->base.index = rs->snapshot_index;
	} else {
		rv = founding(&c->base, opts);
	}
	if (rv != RAFT_OK)
		return rv;
	/* The progress array built by raft_new() is replaced. */
	c->cur = c->base;
	c->version = 1;
	if (rebuild(r) != RAFT_OK)
		return RAFT_ENOMEM;
	c->scanned = r->log.snap_index;
	c->scanned_term = r->log.snap_term;
	sync(r);
	return RAFT_OK;
}

void raft__config_close(struct raft *r)
{
	free(r->configs);
	r->configs = NULL;
}

void raft__config_snapshot(struct raft *r, const struct raft_membership *m)
{
	r->configs->base = *m;
	/* Force a full rescan: the log may have been reset. */
	r->configs->scanned = UINT64_MAX;
	sync(r);
}

void raft__config_compact(struct raft *r, raft_index index)
{
	struct raft_membership m;

	if (raft_membership_at(r, index, &m) == RAFT_OK)
		r->configs->base = m;
}

bool raft__config_changed(const struct raft *r)
{
	return r->configs->version != r->configs->version_handed;
}

void raft__config_handed(struct raft *r)
{
	r->configs->version_handed = r->configs->version;
}

void raft__config_status(const struct raft *r, struct raft_status *out)
{
	const struct raft_membership *m = &r->configs->cur;
	const struct raft_member *me = find(m, r->id);

	out->member_flags = me != NULL ? me->flags : 0;
	/* A member with no configuration at all is waiting to be added;
	 * one whose configuration leaves it out was removed. */
	out->removed = m->n > 0 && me == NULL;
	out->config_index = m->index;
	out->config_joint = m->joint;
}

int raft_match_index(const struct raft *r, raft_id id, raft_index *match)
{
	*match = 0;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (id == r->id) {
		*match = r->log.persisted;
		return RAFT_OK;
	}
	for (size_t i = 0; i < r->n_prs; i++) {
		if (r->prs[i].id == id) {
			*match = r->prs[i].match;
			return RAFT_OK;
		}
	}
	return RAFT_EINVAL;
}

const struct raft_membership *raft_membership(const struct raft *r)
{
	return &r->configs->cur;
}

int raft_membership_at(const struct raft *r, raft_index index,
		       struct raft_membership *out)
{
	const struct raft_log *l = &r->log;

	if (index < l->snap_index || index > raft__log_last_index(l))
		return RAFT_EINVAL;
	if (!scan(l, l->snap_index, index, out))
		*out = r->configs->base;
	return RAFT_OK;
}

/* ---- the leader's side ---- */

/* Appends @m as a CONFIG entry of the current term; it takes effect at
 * once. */
static int append_config(struct raft *r, struct raft_membership *m,
			 raft_index *index)
{
	uint8_t buf[RAFT_MEMBERSHIP_MAX_BYTES];
	struct raft_entry e;
	size_t len;
	int rv;

	m->index = 0;
	rv = raft_membership_encode(m, buf, sizeof(buf), &len);
	if (rv != RAFT_OK)
		return rv;
	memset(&e, 0, sizeof(e));
	e.term = r->term;
	e.index = raft__log_last_index(&r->log) + 1;
	e.type = RAFT_ENTRY_CONFIG;
	e.len = (uint32_t)len;
	if (raft__buf_new(buf, len, &e.data) != 0)
		return RAFT_ENOMEM;
	if (raft__log_append(&r->log, &e) != 0) {
		raft__buf_unref(e.data);
		return RAFT_ENOMEM;
	}
	if (index != NULL)
		*index = e.index;
	sync(r);
	return RAFT_OK;
}

int raft__config_propose(struct raft *r, const struct raft_config_change *ch,
			 raft_index *index)
{
	struct raft_membership m;
	const struct raft_membership *cur = &r->configs->cur;
	struct raft_member *x = NULL;
	size_t voters = 0;

	if (index != NULL)
		*index = 0;
	if (ch == NULL)
		return RAFT_EINVAL;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (r->transferee != 0)
		return RAFT_ETRANSFER;
	/* Thesis §4.3: one change at a time; the next starts only once
	 * C_new is committed. */
	if (cur->joint || cur->index > r->log.commit)
		return RAFT_ECONFIG;
	/* A new leader may hold an uncommitted configuration of an earlier
	 * term that it does not know about as such; changing again before
	 * an entry of its own term commits could overlap two changes
	 * (the fix to single-server changes, Ongaro 2015). */
	if (raft__log_term_at(&r->log, r->log.commit) != r->term)
		return RAFT_EBUSY;
	if (ch->id == 0)
		return RAFT_EINVAL;
	m = *cur;
	for (size_t i = 0; i < m.n; i++) {
		if (m.members[i].id == ch->id)
			x = &m.members[i];
		voters += (m.members[i].flags & RAFT_MEMBER_VOTER) != 0;
	}
	switch (ch->type) {
	case RAFT_CHANGE_ADD_LEARNER:
		if (x != NULL || m.n >= RAFT_MAX_MEMBERS || ch->addr == NULL ||
		    ch->addr[0] == 0 || strlen(ch->addr) > RAFT_MAX_ADDR_LEN)
			return RAFT_EINVAL;
		/* A learner does not count in any majority, so adding one
		 * needs no joint phase. */
		x = &m.members[m.n++];
		memset(x, 0, sizeof(*x));
		x->id = ch->id;
		x->flags = RAFT_MEMBER_LEARNER;
		strcpy(x->addr, ch->addr);
		break;
	case RAFT_CHANGE_PROMOTE:
		if (x == NULL || x->flags != RAFT_MEMBER_LEARNER)
			return RAFT_EINVAL;
		/* C_old,new: every old voter is also OUTGOING. */
		for (size_t i = 0; i < m.n; i++)
			if (m.members[i].flags & RAFT_MEMBER_VOTER)
				m.members[i].flags |= RAFT_MEMBER_OUTGOING;
		x->flags = RAFT_MEMBER_VOTER;
		m.joint = true;
		break;
	case RAFT_CHANGE_REMOVE:
		if (x == NULL)
			return RAFT_EINVAL;
		if (x->flags == RAFT_MEMBER_LEARNER) {
			*x = m.members[--m.n];
			memset(&m.members[m.n], 0, sizeof(m.members[m.n]));
			break;
		}
		if (voters <= 1)
			return RAFT_EINVAL;
		for (size_t i = 0; i < m.n; i++)
			if (m.members[i].flags & RAFT_MEMBER_VOTER)
				m.members[i].flags |= RAFT_MEMBER_OUTGOING;
		x->flags = RAFT_MEMBER_OUTGOING;
		m.joint = true;
		break;
	default:
		return RAFT_EINVAL;
	}
	return append_config(r, &m, index);
}

/* The voter of the configuration, other than this member, whose log is
 * the leader's whole log, or 0. */
static raft_id up_to_date_voter(struct raft *r)
{
	raft_index last = raft__log_last_index(&r->log);

	for (size_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];

		if (pr->id != r->id && pr->match == last &&
		    raft__quorum_is_voter(&r->quorum, pr->id))
			return pr->id;
	}
	return 0;
}

static void leader_duties(struct raft *r)
{
	struct raft_configs *c = r->configs;
	struct raft_membership m;

	if (c->cur.index > r->log.commit)
		return;
	if (c->cur.joint) {
		/* Thesis §4.3: "Once C_old,new has been committed ... the
		 * leader [can] create a log entry describing C_new and
		 * replicate it to the cluster." Memory running out leaves
		 * it for the next call. */
		m = c->cur;
		m.joint = false;
		for (size_t i = 0; i < m.n;) {
			m.members[i].flags &= (uint8_t)~RAFT_MEMBER_OUTGOING;
			if (m.members[i].flags == 0) {
				m.members[i] = m.members[--m.n];
				memset(&m.members[m.n], 0,
				       sizeof(m.members[m.n]));
			} else {
				i++;
			}
		}
		append_config(r, &m, NULL);
		return;
	}
	if (!raft__quorum_is_voter(&r->quorum, r->id)) {
		/* Thesis §4.2.2: a leader removed from the configuration
		 * "steps down (returns to follower state) once the
		 * C_new entry is committed". The member whose log is
		 * complete is told to campaign at once, so the cluster is
		 * not without a leader for an election timeout. */
		raft_id to = up_to_date_voter(r);

		if (to != 0) {
			struct raft_msg tn = {
			    .type = RAFT_MSG_TIMEOUT_NOW,
			    .to = to,
			};

			raft__send(r, &tn, false);
		}
		raft__become_follower(r, r->term, 0);
	}
	/* Progress kept for members the committed configuration removed
	 * is dropped now. */
	if (r->n_prs > c->cur.n + !is_member(&c->cur, r->id))
		rebuild(r);
}

void raft__config_after(struct raft *r)
{
	sync(r);
	if (r->role == RAFT_LEADER)
		leader_duties(r);
}
