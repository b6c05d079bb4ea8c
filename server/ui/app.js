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
		} catch (e) {
			fail(e.name === 'AbortError' ? 'timed out' : 'unreachable');
		} finally {
			clearTimeout(timer);
		}
	}
	setTimeout(poll, POLL_MS);
}

document.addEventListener('DOMContentLoaded', poll);
