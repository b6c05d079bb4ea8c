// app.js - the status page's behaviour: polls /v1/cluster on the member
// that served the page (never another member) and draws the members table.
'use strict';

const POLL_MS = 1000;

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
	const resp = await fetch('/metrics', { cache: 'no-store', signal: signal });
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
			const resp = await fetch('/v1/cluster', {
				cache: 'no-store', signal: ctl.signal });
			if (!resp.ok)
				fail('HTTP ' + resp.status);
			else
				render(await resp.json());
			await pollMetrics(ctl.signal);
		} catch (e) {
			fail(e.name === 'AbortError' ? 'timed out' : 'unreachable');
		} finally {
			clearTimeout(timer);
		}
	}
	setTimeout(poll, POLL_MS);
}

document.addEventListener('DOMContentLoaded', poll);
