// app.js - the status page's behaviour: polls /v1/cluster on the member
// that served the page (never another member), draws the members table and
// the rates, and runs the key browser and the token prompt.
'use strict';

const POLL_MS = 1000;

// ---- API calls: every one carries the token, if there is one ----

// The token lives in sessionStorage: it survives a reload of this tab and
// is gone with the tab, never written to disk by the page.
const TOKEN_KEY = 'kvd-token';
// After the prompt was cancelled the live updates stop opening it again;
// the "Give a token" button does.
let tokenDeclined = false;

function token() {
	try {
		return sessionStorage.getItem(TOKEN_KEY);
	} catch (e) {
		return null;
	}
}

function showAuthBar(authOn) {
	const has = token() !== null;
	const bar = document.getElementById('auth-bar');
	if (authOn || has)
		bar.hidden = false;
	document.getElementById('auth-text').textContent = has
		? 'A token is in use for this tab.'
		: 'This cluster asks for a token.';
	document.getElementById('forget-token').hidden = !has;
	document.getElementById('give-token').hidden = has;
}

// fetch() on this member with the token; a 401 opens the token prompt.
async function api(path, opts) {
	const o = Object.assign({ cache: 'no-store' }, opts || {});
	const headers = new Headers(o.headers || {});
	const t = token();
	if (t !== null)
		headers.set('Authorization', 'Bearer ' + t);
	o.headers = headers;
	const resp = await fetch(path, o);
	if (resp.status === 401 && !tokenDeclined)
		askToken(t !== null ? TOKEN_REFUSED : '');
	if (resp.status === 401)
		showAuthBar(true);
	return resp;
}

// What an API error says, for people: its status, code and message.
async function errorText(resp) {
	let j = null;
	try {
		j = await resp.json();
	} catch (e) {
		j = null;
	}
	const msg = j !== null && typeof j.message === 'string' ? j.message : '';
	if (resp.status === 401)
		return 'this member asks for a token: give one, then try again';
	if (resp.status === 403)
		return 'forbidden for this token' + (msg ? ' (' + msg + ')' : '');
	const code = j !== null && typeof j.error === 'string' ? j.error : resp.statusText;
	return 'HTTP ' + resp.status + ' ' + code + (msg ? ': ' + msg : '');
}

const TOKEN_REFUSED = 'The token given was refused (unknown or revoked).';

// Opens the prompt; @why (if any) says what was wrong with the last token.
function askToken(why) {
	const dlg = document.getElementById('token-dialog');
	if (dlg.open)
		return;
	const p = document.getElementById('token-refused');
	p.hidden = !why;
	p.textContent = why || '';
	document.getElementById('token-input').value = '';
	dlg.returnValue = '';
	dlg.showModal();
}

function tokenClosed() {
	const dlg = document.getElementById('token-dialog');
	// A close event runs as a task of its own: when it comes after the
	// dialog was opened again, it belongs to the earlier closing.
	if (dlg.open)
		return;
	const input = document.getElementById('token-input');
	const t = input.value.trim();
	input.value = '';
	if (dlg.returnValue !== 'use' || t === '') {
		tokenDeclined = true;
		showAuthBar(true);
		return;
	}
	// A header value: printable ASCII without spaces (fetch refuses
	// others outright).
	if (!/^[\x21-\x7e]+$/.test(t)) {
		askToken('A token is letters, digits and punctuation, without spaces.');
		return;
	}
	try {
		sessionStorage.setItem(TOKEN_KEY, t);
	} catch (e) {
		kvMessage('this browser keeps no sessionStorage: the token cannot be kept', true);
		return;
	}
	tokenDeclined = false;
	showAuthBar(true);
	loadKeys(false);
}

function forgetToken() {
	try {
		sessionStorage.removeItem(TOKEN_KEY);
	} catch (e) {
		// Nothing was kept.
	}
	tokenDeclined = false;
	showAuthBar(true);
	kvMessage('Token forgotten.', false);
}

function text(v) {
	return v === undefined || v === null ? '\u2014' : String(v);
}

function cell(tr, label, value, cls) {
	const td = document.createElement('td');
	td.dataset.label = label;
	td.textContent = text(value);
	if (cls)
		td.className = cls;
	tr.appendChild(td);
	return td;
}

function render(view) {
	const body = document.getElementById('members-body');
	const rows = [];
	let leaders = 0;
	for (const m of view.members) {
		const tr = document.createElement('tr');
		tr.dataset.id = String(m.id);
		tr.dataset.reachable = m.reachable ? 'true' : 'false';
		const isLeader = m.is_leader === true;
		if (isLeader)
			leaders++;
		tr.dataset.role = m.reachable ? text(m.state) : 'unknown';
		if (!m.reachable)
			tr.className = 'unreachable';
		else if (isLeader)
			tr.className = 'leader';
		const idCell = cell(tr, 'ID', m.id);
		if (m.self)
			idCell.textContent += ' (this page)';
		cell(tr, 'Role', isLeader ? 'leader \u2605' : (m.reachable ? m.state : 'unknown'));
		cell(tr, 'Term', m.term, 'num');
		cell(tr, 'Commit', m.commit_index, 'num');
		cell(tr, 'Applied', m.applied_index, 'num');
		cell(tr, 'Lag', m.lag, 'num');
		const r = cell(tr, 'Reachable', m.reachable ? 'yes' : 'no: ' + text(m.error),
			m.reachable ? 'reach-yes' : 'reach-no');
		r.title = m.reachable ? '' : text(m.error);
		cell(tr, 'Client URL', m.client_url);
		rows.push(tr);
	}
	body.replaceChildren(...rows);
	const summary = document.getElementById('summary');
	const down = view.members.filter((m) => !m.reachable).length;
	summary.className = down > 0 || leaders !== 1 ? 'error' : '';
	summary.textContent = view.members.length + ' members, ' +
		(leaders === 1 ? 'leader ' + view.leader : 'no leader') +
		(down > 0 ? ', ' + down + ' unreachable' : ', all reachable');
	summary.dataset.leaders = String(leaders);
	document.getElementById('updated').textContent = new Date().toLocaleTimeString();
}

// The member answers but not to this caller (401, 403): it is not shown
// unreachable, and nothing it showed before stays on the page.
function refused(why) {
	const summary = document.getElementById('summary');
	summary.className = 'error';
	summary.textContent = why;
	document.getElementById('members-body').replaceChildren();
}

function fail(why) {
	const summary = document.getElementById('summary');
	summary.className = 'error';
	summary.textContent = 'This member does not answer: ' + why;
	// What the member served last is no longer known to be true.
	for (const tr of document.querySelectorAll('#members-body tr')) {
		tr.className = 'unreachable';
		tr.dataset.reachable = 'false';
	}
}

// Rates: two minutes of one-second samples of this member's counters.
const HISTORY = 120;
const samples = [];

// The counters the rates come from, out of Prometheus's text format.
function counters(textBody) {
	let applied = null;
	let reads = 0;
	for (const line of textBody.split('\n')) {
		if (line.startsWith('kvd_proposals_applied_total '))
			applied = Number(line.split(' ')[1]);
		else if (line.startsWith('kvd_http_requests_total{route="kv_get"') ||
			 line.startsWith('kvd_http_requests_total{route="kv_list"'))
			reads += Number(line.slice(line.lastIndexOf(' ') + 1));
	}
	return applied === null ? null : { applied: applied, reads: reads };
}

function rates() {
	const out = { writes: [], reads: [] };
	for (let i = 1; i < samples.length; i++) {
		const a = samples[i - 1];
		const b = samples[i];
		const dt = (b.t - a.t) / 1000;
		// A restarted member starts its counters again: no rate then.
		if (dt <= 0 || b.applied < a.applied || b.reads < a.reads)
			continue;
		out.writes.push((b.applied - a.applied) / dt);
		out.reads.push((b.reads - a.reads) / dt);
	}
	return out;
}

function draw(chartId, rateId, values) {
	const line = document.querySelector('#' + chartId + ' polyline');
	const max = Math.max(1, ...values);
	const step = 240 / (HISTORY - 1);
	const x0 = 240 - (values.length - 1) * step;
	line.setAttribute('points', values.map((v, i) =>
		(x0 + i * step).toFixed(1) + ',' + (58 - (v / max) * 56).toFixed(1)).join(' '));
	const last = values.length > 0 ? values[values.length - 1] : null;
	document.getElementById(rateId).textContent =
		last === null ? '\u2014' : last.toFixed(1);
}

async function pollMetrics(signal) {
	const resp = await api('/metrics', { signal: signal });
	if (!resp.ok)
		return;
	const c = counters(await resp.text());
	if (c === null)
		return;
	c.t = performance.now();
	samples.push(c);
	while (samples.length > HISTORY + 1)
		samples.shift();
	const r = rates();
	draw('writes-chart', 'writes-rate', r.writes);
	draw('reads-chart', 'reads-rate', r.reads);
}

async function poll() {
	if (!document.getElementById('paused').checked) {
		const ctl = new AbortController();
		const timer = setTimeout(() => ctl.abort(), POLL_MS * 2);
		try {
			const resp = await api('/v1/cluster', { signal: ctl.signal });
			if (resp.status === 401)
				refused('This member asks for a token.');
			else if (resp.status === 403)
				refused('Forbidden for this token.');
			else if (!resp.ok)
				fail('HTTP ' + resp.status);
			else
				render(await resp.json());
			if (resp.ok)
				await pollMetrics(ctl.signal);
		} catch (e) {
			fail(e.name === 'AbortError' ? 'timed out' : 'unreachable');
		} finally {
			clearTimeout(timer);
		}
	}
	setTimeout(poll, POLL_MS);
}

// ---- The key browser ----

// A value longer than this shows its first bytes only (Edit takes all).
const SHOW_MAX_BYTES = 65536;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

// What the list shows: the prefix and page size it was asked with, the
// last key shown (the next page's "after") and each key's value and mod
// index as loaded (the index an Edit or a Delete sends as cas).
const keys = { prefix: '', limit: 50, last: null, seq: 0, shown: 0 };
// The key the put form was filled with by Edit, and its mod index then.
let loaded = null;
// The key the delete dialog asks about.
let deleting = null;
// The last CAS conflict, for its Reload button.
let conflict = null;

function kvMessage(textValue, isError) {
	const p = document.getElementById('kv-message');
	p.textContent = textValue;
	p.className = isError ? 'message error' : 'message';
}

// The bytes as text when they are valid UTF-8 without control characters
// (tab, newline and carriage return allowed), else null.
function asText(bytes) {
	let s;
	try {
		s = utf8.decode(bytes);
	} catch (e) {
		return null;
	}
	// eslint-disable-next-line no-control-regex
	return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(s) ? null : s;
}

function toHex(bytes) {
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

// Hex digits (spaces and newlines between them allowed) to bytes; throws
// an Error saying what is wrong.
function fromHex(s) {
	const h = s.replace(/\s+/g, '');
	if (!/^[0-9a-fA-F]*$/.test(h))
		throw new Error('the value is not hex: only 0-9, a-f and spaces');
	if (h.length % 2 !== 0)
		throw new Error('the value is not hex: an odd number of digits');
	const out = new Uint8Array(h.length / 2);
	for (let i = 0; i < out.length; i++)
		out[i] = parseInt(h.substr(i * 2, 2), 16);
	return out;
}

function fromBase64(s) {
	const bin = atob(s);
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++)
		out[i] = bin.charCodeAt(i);
	return out;
}

function keyPath(key) {
	return '/v1/kv/' + encodeURIComponent(key);
}

// Shows @bytes in cell @td as text or hex (@mode), the first
// SHOW_MAX_BYTES of them.
function showValue(td, bytes, mode) {
	const part = bytes.length > SHOW_MAX_BYTES ? bytes.subarray(0, SHOW_MAX_BYTES) : bytes;
	let shown = mode === 'text' ? asText(part) : null;
	if (shown === null) {
		mode = 'hex';
		shown = toHex(part);
	}
	if (part !== bytes)
		shown += '\u2026 (' + bytes.length + ' bytes)';
	td.dataset.mode = mode;
	td.querySelector('code').textContent = shown;
	const btn = td.querySelector('button');
	btn.textContent = mode === 'text' ? 'Show hex' : 'Show text';
	btn.setAttribute('aria-pressed', mode === 'hex' ? 'true' : 'false');
}

function button(label, aria, onClick) {
	const b = document.createElement('button');
	b.type = 'button';
	b.textContent = label;
	b.setAttribute('aria-label', aria);
	b.addEventListener('click', onClick);
	return b;
}

function keyRow(kv) {
	const tr = document.createElement('tr');
	tr.dataset.key = kv.key;
	tr.dataset.index = String(kv.index);
	const k = cell(tr, 'Key', kv.key, 'key');
	k.title = kv.key;
	const v = cell(tr, 'Value', '', 'val');
	v.textContent = '';
	const box = document.createElement('div');
	box.className = 'valbox';
	box.appendChild(document.createElement('code'));
	v.appendChild(box);
	const isText = asText(kv.bytes) !== null;
	// A value that is not text has no text view: its toggle is off.
	const toggle = button('', 'Show ' + kv.key + ' as hex or text', () =>
		showValue(v, kv.bytes, v.dataset.mode === 'text' ? 'hex' : 'text'));
	toggle.className = 'val-toggle';
	toggle.disabled = !isText;
	if (!isText)
		toggle.title = 'not printable UTF-8';
	box.appendChild(toggle);
	showValue(v, kv.bytes, isText ? 'text' : 'hex');
	cell(tr, 'Mod index', kv.index, 'num');
	const a = cell(tr, 'Actions', '', 'actions');
	a.textContent = '';
	a.appendChild(button('Edit', 'Edit ' + kv.key, () => editKey(kv)));
	a.appendChild(button('Delete', 'Delete ' + kv.key, () => askDelete(kv)));
	return tr;
}

// One list answer, checked: [{key, bytes, index}], more; or throws.
function parseList(j) {
	if (j === null || typeof j !== 'object' || !Array.isArray(j.kvs) ||
	    typeof j.more !== 'boolean')
		throw new Error('the list answer is not understood');
	const out = [];
	for (const e of j.kvs) {
		if (e === null || typeof e.key !== 'string' || typeof e.value !== 'string' ||
		    !Number.isSafeInteger(e.index) || e.index < 0)
			throw new Error('the list answer is not understood');
		out.push({ key: e.key, bytes: fromBase64(e.value), index: e.index });
	}
	return { kvs: out, more: j.more };
}

// Loads the first page (or, with @next, the page after the last key shown).
async function loadKeys(next) {
	const seq = ++keys.seq;
	const q = new URLSearchParams();
	if (keys.prefix !== '')
		q.set('prefix', keys.prefix);
	q.set('limit', String(keys.limit));
	if (next && keys.last !== null)
		q.set('after', keys.last);
	let page;
	try {
		const resp = await api('/v1/kv?' + q.toString());
		if (!resp.ok) {
			const why = await errorText(resp);
			if (seq === keys.seq)
				kvMessage('Listing failed: ' + why, true);
			return;
		}
		page = parseList(await resp.json());
	} catch (e) {
		if (seq === keys.seq)
			kvMessage('Listing failed: ' + (e instanceof TypeError
				? 'the member did not answer' : e.message), true);
		return;
	}
	// A newer listing started meanwhile: this one is out of date.
	if (seq !== keys.seq)
		return;
	const body = document.getElementById('kvs-body');
	const rows = page.kvs.map(keyRow);
	if (next)
		body.append(...rows);
	else
		body.replaceChildren(...rows);
	keys.shown = next ? keys.shown + rows.length : rows.length;
	if (page.kvs.length > 0)
		keys.last = page.kvs[page.kvs.length - 1].key;
	else if (!next)
		keys.last = null;
	document.getElementById('list-more').hidden = !page.more;
	document.getElementById('list-count').textContent = keys.shown +
		(keys.shown === 1 ? ' key' : ' keys') + (page.more ? ', more follow' : '') +
		(keys.prefix !== '' ? ' under \u201c' + keys.prefix + '\u201d' : '');
	if (!next)
		kvMessage('', false);
}

function listSubmit(ev) {
	ev.preventDefault();
	const limit = Number(document.getElementById('list-limit').value);
	if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
		kvMessage('Per page: a whole number from 1 to 1000', true);
		return;
	}
	keys.prefix = document.getElementById('list-prefix').value;
	keys.limit = limit;
	keys.last = null;
	loadKeys(false);
}

function editKey(kv) {
	const t = asText(kv.bytes);
	document.getElementById('put-key').value = kv.key;
	document.getElementById('put-hex').checked = t === null;
	document.getElementById('put-value').value = t !== null ? t : toHex(kv.bytes);
	document.getElementById('put-cas').value = String(kv.index);
	loaded = { key: kv.key, index: kv.index };
	document.getElementById('put-value').focus();
}

// A CAS conflict: the key changed since the page loaded it.
function showConflict(key, index, op) {
	conflict = { key: key, op: op };
	document.getElementById('kv-conflict-text').textContent = '\u201c' + key +
		'\u201d changed by someone else since you loaded it (now at index ' +
		index + (index === 0 ? ': deleted' : '') + ').';
	document.getElementById('kv-conflict').hidden = false;
	kvMessage(op === 'put' ? 'Not written.' : 'Not deleted.', true);
	document.getElementById('kv-reload').focus();
}

function hideConflict() {
	conflict = null;
	document.getElementById('kv-conflict').hidden = true;
}

// Reload after a conflict: the list again, and for a put the key's value
// and mod index as they are now, in the form.
async function reloadConflict() {
	const c = conflict;
	hideConflict();
	await loadKeys(false);
	if (c === null || c.op !== 'put')
		return;
	try {
		const resp = await api(keyPath(c.key));
		if (resp.status === 404) {
			document.getElementById('put-cas').value = '0';
			loaded = { key: c.key, index: 0 };
			kvMessage('\u201c' + c.key + '\u201d no longer exists: Put creates it.', false);
			return;
		}
		if (!resp.ok) {
			kvMessage('Reading failed: ' + await errorText(resp), true);
			return;
		}
		const index = Number(resp.headers.get('X-Kv-Index'));
		const bytes = new Uint8Array(await resp.arrayBuffer());
		if (!Number.isSafeInteger(index) || index < 1) {
			kvMessage('Reading failed: no mod index in the answer', true);
			return;
		}
		editKey({ key: c.key, bytes: bytes, index: index });
		kvMessage('Reloaded \u201c' + c.key + '\u201d at index ' + index + '.', false);
	} catch (e) {
		kvMessage('Reading failed: the member did not answer', true);
	}
}

// An answer to a put or delete that was not 200.
async function writeFailed(resp, key, op) {
	if (resp.status === 412) {
		let j = null;
		try {
			j = await resp.json();
		} catch (e) {
			j = null;
		}
		if (j !== null && Number.isSafeInteger(j.index) && j.index >= 0) {
			showConflict(key, j.index, op);
			return;
		}
	}
	kvMessage((op === 'put' ? 'Put' : 'Delete') + ' failed: ' + await errorText(resp), true);
}

async function putSubmit(ev) {
	ev.preventDefault();
	hideConflict();
	const key = document.getElementById('put-key').value;
	const raw = document.getElementById('put-value').value;
	const cas = document.getElementById('put-cas').value.trim();
	if (key === '') {
		kvMessage('Put: a key is needed', true);
		return;
	}
	if (cas !== '' && !/^[0-9]{1,20}$/.test(cas)) {
		kvMessage('Put: the mod index is a whole number (or empty for any)', true);
		return;
	}
	let bytes;
	try {
		bytes = document.getElementById('put-hex').checked ? fromHex(raw) : encoder.encode(raw);
	} catch (e) {
		kvMessage('Put: ' + e.message, true);
		return;
	}
	let resp;
	try {
		resp = await api(keyPath(key) + (cas !== '' ? '?cas=' + cas : ''),
			{ method: 'PUT', body: bytes });
	} catch (e) {
		kvMessage('Put failed: the member did not answer', true);
		return;
	}
	if (!resp.ok) {
		await writeFailed(resp, key, 'put');
		return;
	}
	let j = null;
	try {
		j = await resp.json();
	} catch (e) {
		j = null;
	}
	const index = j !== null && Number.isSafeInteger(j.index) ? j.index : null;
	// A write under CAS goes on from the index it made.
	if (cas !== '' && index !== null) {
		document.getElementById('put-cas').value = String(index);
		loaded = { key: key, index: index };
	}
	await loadKeys(false);
	kvMessage('Wrote \u201c' + key + '\u201d at index ' + text(index) + '.', false);
}

// Enter in the value writes; Shift+Enter is a new line.
function valueKey(ev) {
	if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
		ev.preventDefault();
		document.getElementById('put-form').requestSubmit();
	}
}

// The key field no longer names the key Edit loaded: its index is moot.
function keyEdited() {
	if (loaded !== null && document.getElementById('put-key').value !== loaded.key) {
		document.getElementById('put-cas').value = '';
		loaded = null;
	}
}

// The hex box turned on or off: the value is rewritten in the other form.
function hexToggled() {
	const box = document.getElementById('put-hex');
	const area = document.getElementById('put-value');
	if (box.checked) {
		area.value = toHex(encoder.encode(area.value));
		return;
	}
	let bytes;
	try {
		bytes = fromHex(area.value);
	} catch (e) {
		box.checked = true;
		kvMessage(e.message + ': kept as hex', true);
		return;
	}
	const t = asText(bytes);
	if (t === null) {
		box.checked = true;
		kvMessage('These bytes are not printable UTF-8: kept as hex', true);
		return;
	}
	area.value = t;
}

function askDelete(kv) {
	hideConflict();
	deleting = kv;
	document.getElementById('delete-key').textContent = kv.key;
	document.getElementById('delete-cas').textContent =
		'Only if it is still at mod index ' + kv.index + '.';
	const dlg = document.getElementById('delete-dialog');
	dlg.returnValue = '';
	dlg.showModal();
}

async function deleteClosed() {
	// A close event runs as a task of its own: when it comes after the
	// dialog was opened again (a quick Escape then Delete), it belongs to
	// the earlier closing and must not take the key now asked about.
	if (document.getElementById('delete-dialog').open)
		return;
	const kv = deleting;
	deleting = null;
	if (kv === null || document.getElementById('delete-dialog').returnValue !== 'delete')
		return;
	let resp;
	try {
		resp = await api(keyPath(kv.key) + '?cas=' + kv.index, { method: 'DELETE' });
	} catch (e) {
		kvMessage('Delete failed: the member did not answer', true);
		return;
	}
	if (!resp.ok) {
		await writeFailed(resp, kv.key, 'delete');
		return;
	}
	let j = null;
	try {
		j = await resp.json();
	} catch (e) {
		j = null;
	}
	await loadKeys(false);
	kvMessage('Deleted \u201c' + kv.key + '\u201d at index ' +
		text(j !== null ? j.index : null) + '.', false);
}

function start() {
	document.getElementById('list-form').addEventListener('submit', listSubmit);
	document.getElementById('list-more').addEventListener('click', () => loadKeys(true));
	document.getElementById('put-form').addEventListener('submit', putSubmit);
	document.getElementById('put-value').addEventListener('keydown', valueKey);
	document.getElementById('put-key').addEventListener('input', keyEdited);
	document.getElementById('put-hex').addEventListener('change', hexToggled);
	document.getElementById('kv-reload').addEventListener('click', reloadConflict);
	document.getElementById('delete-dialog').addEventListener('close', deleteClosed);
	document.getElementById('token-dialog').addEventListener('close', tokenClosed);
	document.getElementById('forget-token').addEventListener('click', forgetToken);
	document.getElementById('give-token').addEventListener('click', () => askToken(''));
	showAuthBar(false);
	loadKeys(false);
	poll();
}

document.addEventListener('DOMContentLoaded', start);
