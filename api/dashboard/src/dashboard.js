// @ts-check
/**
 * The dashboard page's script: plain browser JavaScript, no framework, nothing loaded from
 * elsewhere. Every URL is relative to the page, so the dashboard works wherever the API is
 * mounted (a sidecar at `/`, an edge worker under a path).
 */

/** How often the group list and the open group's members are refreshed. */
const POLL_MS = 2000;
/** While the tab is hidden, refresh this much less often. */
const HIDDEN_POLL_FACTOR = 5;
/** Messages kept in the live list (and while paused); older ones are removed. */
const MAX_TAIL = 200;
/** Failing for this long turns "reconnecting" into "lost". */
const LOST_AFTER_MS = 15_000;
/** Reopening a stream the browser gave up on: first delay, doubling up to the cap. */
const REOPEN_FIRST_MS = 1000;
const REOPEN_MAX_MS = 30_000;
const TOKEN_KEY = 'groupcast.token';
/** After a message or a reconnect, the counts are refreshed this soon (not once per message). */
const REFRESH_SOON_MS = 500;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return /** @type {T} */ (el);
}

/** @param {HTMLElement} table */
function tbodyOf(table) {
  const body = table.querySelector('tbody');
  if (!body) throw new Error('table without tbody');
  return body;
}

const ui = {
  conn: byId('conn'),
  groupsView: byId('groups-view'),
  groupsBody: tbodyOf(byId('groups')),
  groupsEmpty: byId('groups-empty'),
  groupView: byId('group-view'),
  groupTitle: byId('group-title'),
  groupName: byId('group-name'),
  groupSummary: byId('group-summary'),
  membersBody: tbodyOf(byId('members')),
  tail: byId('tail'),
  pause: /** @type {HTMLButtonElement} */ (byId('pause')),
  clear: byId('clear'),
  publish: /** @type {HTMLFormElement} */ (byId('publish')),
  message: /** @type {HTMLInputElement} */ (byId('message')),
  publishStatus: byId('publish-status'),
  auth: /** @type {HTMLDetailsElement} */ (byId('auth')),
  tokenForm: /** @type {HTMLFormElement} */ (byId('token-form')),
  token: /** @type {HTMLInputElement} */ (byId('token')),
  tokenForget: byId('token-forget'),
  tokenStatus: byId('token-status'),
};

// ---- access token -------------------------------------------------------------------------

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

/** @param {string} value */
function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be off (private mode): the token then lasts until the page is left.
  }
}

/** @param {Record<string, string>} [extra] */
function headers(extra = {}) {
  const h = new Headers(extra);
  const t = token();
  if (t) h.set('Authorization', `Bearer ${t}`);
  return h;
}

/** @param {string} path */
function apiUrl(path) {
  return new URL(path, document.baseURI);
}

/** @param {string} group */
function groupPath(group) {
  return `groups/${encodeURIComponent(group)}`;
}

class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @param {Response} res */
async function apiError(res) {
  try {
    const body = await res.json();
    if (body?.error?.code) return new ApiError(res.status, body.error.code, body.error.message);
  } catch {
    // not our JSON error: describe the status
  }
  return new ApiError(res.status, `HTTP ${res.status}`, res.statusText || 'request failed');
}

/** @param {string} path */
async function getJson(path) {
  let res;
  try {
    res = await fetch(apiUrl(path), { headers: headers(), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'the server cannot be reached');
  }
  if (!res.ok) throw await apiError(res);
  return res.json();
}

/** @param {unknown} err */
function describe(err) {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** @param {unknown} err */
function isAuthError(err) {
  return err instanceof ApiError && (err.status === 401 || err.status === 403);
}

// ---- connection state ---------------------------------------------------------------------

/** When each part started failing (0 = fine), and an auth refusal that retrying cannot fix. */
const health = { pollFailingSince: 0, streamFailingSince: 0, streamOpen: false, auth: '' };
/** @type {string | null} the open group */
let current = null;

function renderState() {
  let state = 'live';
  let text = 'Live';
  const since = Math.min(
    health.pollFailingSince || Number.POSITIVE_INFINITY,
    health.streamFailingSince || Number.POSITIVE_INFINITY,
  );
  if (health.auth) {
    state = 'lost';
    text = `Not authorized (${health.auth}): set a token below`;
  } else if (since !== Number.POSITIVE_INFINITY) {
    const lost = Date.now() - since > LOST_AFTER_MS;
    state = lost ? 'lost' : 'reconnecting';
    text = lost ? 'Connection lost, still retrying' : 'Reconnecting…';
  } else if (current !== null && !health.streamOpen) {
    state = 'connecting';
    text = 'Connecting…';
  }
  // Only changes reach the live region, so screen readers hear each state once.
  if (ui.conn.dataset.state !== state || ui.conn.textContent !== text) {
    ui.conn.dataset.state = state;
    ui.conn.textContent = text;
  }
}

/**
 * @param {'poll' | 'stream'} part
 * @param {unknown} [err]
 */
function failing(part, err) {
  if (isAuthError(err)) {
    health.auth = /** @type {ApiError} */ (err).code;
    ui.auth.open = true;
  }
  const key = part === 'poll' ? 'pollFailingSince' : 'streamFailingSince';
  if (!health[key]) health[key] = Date.now();
  renderState();
}

/** @param {'poll' | 'stream'} part */
function healthy(part) {
  health[part === 'poll' ? 'pollFailingSince' : 'streamFailingSince'] = 0;
  health.auth = '';
  renderState();
}

// ---- tables -------------------------------------------------------------------------------

/**
 * Updates rows in place, keyed, so a focused link survives a refresh.
 * @template T
 * @param {HTMLTableSectionElement} body
 * @param {T[]} items
 * @param {(item: T) => string} key
 * @param {(item: T) => (string | Node)[]} cells
 */
function syncRows(body, items, key, cells) {
  /** @type {Map<string, HTMLTableRowElement>} */
  const old = new Map();
  for (const row of Array.from(body.rows)) old.set(row.dataset.key ?? '', row);
  let at = 0;
  for (const item of items) {
    const k = key(item);
    let row = old.get(k);
    old.delete(k);
    const values = cells(item);
    if (!row) {
      row = document.createElement('tr');
      row.dataset.key = k;
      for (const v of values) row.append(cellFor(v, row.cells.length === 0 ? 'th' : 'td'));
    } else {
      values.forEach((v, i) => {
        const cell = row?.cells[i];
        if (cell && typeof v === 'string' && cell.textContent !== v) cell.textContent = v;
      });
    }
    if (body.rows[at] !== row) body.insertBefore(row, body.rows[at] ?? null);
    at++;
  }
  for (const row of old.values()) row.remove();
}

/**
 * @param {string | Node} value
 * @param {'th' | 'td'} tag
 */
function cellFor(value, tag) {
  const cell = document.createElement(tag);
  if (tag === 'th') cell.scope = 'row';
  if (typeof value === 'string' && /^\d+$/.test(value)) cell.className = 'num';
  cell.append(value);
  return cell;
}

/** @param {string} group */
function groupLink(group) {
  const a = document.createElement('a');
  a.href = `#/group/${encodeURIComponent(group)}`;
  a.textContent = group;
  return a;
}

/** @param {string | null} iso */
function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : '-';
}

/**
 * @typedef {{ tcp: number, udp: number, sse: number }} Counts
 * @typedef {{ group: string, counts: Counts, lastId: string | null }} GroupSummary
 * @typedef {{ id: string, transport: string, remote: string, joinedAt: string, pendingBytes: number }} Member
 * @typedef {GroupSummary & { members: Member[], history: { messages: number } }} GroupDetail
 */

/** @param {GroupSummary[]} groups */
function renderGroups(groups) {
  ui.groupsEmpty.hidden = groups.length > 0;
  syncRows(
    ui.groupsBody,
    groups,
    (g) => g.group,
    (g) => [
      groupLink(g.group),
      String(g.counts.tcp),
      String(g.counts.udp),
      String(g.counts.sse),
      g.lastId ?? '-',
    ],
  );
}

/** @param {GroupDetail | null} detail */
function renderGroup(detail) {
  if (!detail) {
    ui.groupSummary.textContent = 'No such group right now.';
    syncRows(
      ui.membersBody,
      [],
      () => '',
      () => [],
    );
    return;
  }
  const c = detail.counts;
  /** @type {(n: number, word: string) => string} */
  const members = (n, word) => `${n} ${word} member${n === 1 ? '' : 's'}`;
  const kept = detail.history.messages;
  ui.groupSummary.textContent = `${members(c.tcp, 'TCP')}, ${members(c.udp, 'UDP')}, ${members(c.sse, 'SSE')}; ${kept} message${kept === 1 ? '' : 's'} held for replay.`;
  syncRows(
    ui.membersBody,
    detail.members,
    (m) => m.id,
    (m) => [m.transport.toUpperCase(), m.remote, clock(m.joinedAt), String(m.pendingBytes)],
  );
}

// ---- polling ------------------------------------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let pollTimer;

let polling = false;
let pollAgain = false;

/** One refresh at a time: a refresh asked for meanwhile runs right after, once. */
async function poll() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  clearTimeout(pollTimer);
  try {
    await refresh();
  } finally {
    polling = false;
  }
  if (pollAgain) {
    pollAgain = false;
    poll();
    return;
  }
  pollTimer = setTimeout(poll, document.hidden ? POLL_MS * HIDDEN_POLL_FACTOR : POLL_MS);
}

async function refresh() {
  try {
    const body = await getJson('groups');
    renderGroups(body.groups);
    const open = current;
    if (open !== null) {
      try {
        const detail = await getJson(groupPath(open));
        if (open === current) renderGroup(detail);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        if (open === current) renderGroup(null);
      }
    }
    healthy('poll');
  } catch (err) {
    failing('poll', err);
  }
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let soonTimer;

/** Something changed (a message, a reconnect): refresh the counts shortly, at most once per wait. */
function refreshSoon() {
  if (soonTimer !== undefined) return;
  soonTimer = setTimeout(() => {
    soonTimer = undefined;
    poll();
  }, REFRESH_SOON_MS);
}

// ---- live messages ------------------------------------------------------------------------

/** @type {EventSource | null} */
let source = null;
let lastId = '';
let reopenDelay = REOPEN_FIRST_MS;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let reopenTimer;
let paused = false;
/** @type {HTMLLIElement[]} messages that arrived while paused (newest MAX_TAIL kept) */
let held = [];

function closeStream() {
  clearTimeout(reopenTimer);
  source?.close();
  source = null;
  health.streamOpen = false;
  health.streamFailingSince = 0;
}

/** @param {string} group */
function openStream(group) {
  closeStream();
  const url = apiUrl(`${groupPath(group)}/events`);
  // Resume where this page left off; on first open show what the server still holds.
  if (lastId) url.searchParams.set('lastEventId', lastId);
  else url.searchParams.set('from', 'earliest');
  const t = token();
  if (t) url.searchParams.set('access_token', t);
  const es = new EventSource(url);
  source = es;
  es.onopen = () => {
    reopenDelay = REOPEN_FIRST_MS;
    health.streamOpen = true;
    healthy('stream');
    refreshSoon();
  };
  /** @param {MessageEvent} e */
  const onMessage = (e) => {
    lastId = e.lastEventId;
    addEntry(messageEntry(e.lastEventId, e.data, e.type === 'binary'));
    refreshSoon();
  };
  es.addEventListener('message', onMessage);
  es.addEventListener('binary', onMessage);
  es.addEventListener('gap', (e) => addEntry(noticeEntry(gapText(JSON.parse(e.data)))));
  es.addEventListener('close', (e) => {
    const { code, message } = JSON.parse(e.data);
    addEntry(noticeEntry(`The server ended the stream (${code}: ${message}); reconnecting.`));
  });
  es.onerror = () => {
    if (es !== source) return;
    health.streamOpen = false;
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an error answer): find out why, then retry with backoff.
      es.close();
      probe(group);
      reopenTimer = setTimeout(() => current === group && openStream(group), reopenDelay);
      reopenDelay = Math.min(reopenDelay * 2, REOPEN_MAX_MS);
    }
    // Otherwise the browser reconnects by itself, sending Last-Event-ID.
    failing('stream');
  };
}

/**
 * An EventSource does not say why it failed; a plain request to the group does.
 * @param {string} group
 */
async function probe(group) {
  try {
    await getJson(groupPath(group));
  } catch (err) {
    if (group === current && isAuthError(err)) failing('stream', err);
  }
}

/** @param {{ requested: string, resumedFrom: string | null, reason: string }} gap */
function gapText(gap) {
  const why =
    gap.reason === 'evicted'
      ? 'they are older than the history the server keeps'
      : gap.reason === 'reset'
        ? 'the group restarted since'
        : 'the server does not know that id';
  const then = gap.resumedFrom
    ? `continuing from ${gap.resumedFrom}`
    : 'continuing with new messages';
  return `Gap: messages after ${gap.requested} are lost (${why}); ${then}.`;
}

/**
 * @param {string} id
 * @param {string} data
 * @param {boolean} binary
 */
function messageEntry(id, data, binary) {
  const li = document.createElement('li');
  const meta = document.createElement('span');
  meta.className = 'meta mono';
  meta.textContent = `${id} · ${new Date().toLocaleTimeString()}`;
  li.append(meta);
  if (binary) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'binary (base64)';
    li.append(badge);
  }
  const body = document.createElement('span');
  body.className = 'data mono';
  body.textContent = data;
  li.append(body);
  return li;
}

/** @param {string} text */
function noticeEntry(text) {
  const li = document.createElement('li');
  li.className = 'notice';
  li.textContent = text;
  return li;
}

/** @param {HTMLLIElement} li */
function addEntry(li) {
  if (paused) {
    held.push(li);
    if (held.length > MAX_TAIL) held = held.slice(-MAX_TAIL);
    ui.pause.textContent = `Resume (${held.length} new)`;
    return;
  }
  const list = ui.tail;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  while (list.childElementCount > MAX_TAIL) list.firstElementChild?.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

ui.pause.addEventListener('click', () => {
  paused = !paused;
  ui.pause.setAttribute('aria-pressed', String(paused));
  ui.pause.textContent = paused ? 'Resume' : 'Pause';
  if (!paused) {
    const waiting = held;
    held = [];
    for (const li of waiting) addEntry(li);
  }
});

ui.clear.addEventListener('click', () => {
  ui.tail.replaceChildren();
  held = [];
  if (paused) ui.pause.textContent = 'Resume';
});

// ---- publishing ---------------------------------------------------------------------------

ui.publish.addEventListener('submit', async (event) => {
  event.preventDefault();
  const group = current;
  const text = ui.message.value;
  if (group === null || text === '') return;
  const button = ui.publish.querySelector('button');
  if (button) button.disabled = true;
  ui.publishStatus.classList.remove('error');
  try {
    let res;
    try {
      res = await fetch(apiUrl(`${groupPath(group)}/messages`), {
        method: 'POST',
        headers: headers({ 'Content-Type': 'text/plain; charset=utf-8' }),
        body: text,
      });
    } catch {
      throw new ApiError(0, 'UNREACHABLE', 'the server cannot be reached');
    }
    if (!res.ok) throw await apiError(res);
    const result = await res.json();
    const n = result.recipients;
    ui.publishStatus.textContent = `Sent as ${result.ids.join(', ')} to ${n} member${n === 1 ? '' : 's'}.`;
    ui.message.value = '';
  } catch (err) {
    ui.publishStatus.classList.add('error');
    ui.publishStatus.textContent = `Not sent: ${describe(err)}`;
    if (isAuthError(err)) failing('poll', err);
  } finally {
    if (button) button.disabled = false;
    ui.message.focus();
  }
});

// ---- token --------------------------------------------------------------------------------

ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(ui.token.value.trim());
  ui.token.value = '';
  ui.tokenStatus.textContent = token() ? 'Token saved for this tab.' : 'No token set.';
  restart();
});

ui.tokenForget.addEventListener('click', () => {
  setToken('');
  ui.token.value = '';
  ui.tokenStatus.textContent = 'Token forgotten.';
  restart();
});

function restart() {
  health.auth = '';
  if (current !== null) openStream(current);
  poll();
}

// ---- navigation ---------------------------------------------------------------------------

function route() {
  const m = /^#\/group\/(.+)$/.exec(location.hash);
  let group = null;
  if (m) {
    try {
      group = decodeURIComponent(m[1]);
    } catch {
      group = null;
    }
  }
  if (group === current) return;
  const wasOpen = current !== null;
  current = group;
  closeStream();
  lastId = '';
  held = [];
  ui.tail.replaceChildren();
  ui.publishStatus.textContent = '';
  ui.groupView.hidden = group === null;
  ui.groupsView.hidden = group !== null;
  if (group === null) {
    document.title = 'groupcast';
    if (wasOpen) byId('groups-title').focus?.();
  } else {
    document.title = `${group} · groupcast`;
    ui.groupName.textContent = group;
    ui.groupSummary.textContent = '';
    syncRows(
      ui.membersBody,
      [],
      () => '',
      () => [],
    );
    openStream(group);
    ui.groupTitle.focus();
  }
  renderState();
  poll();
}

window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) poll();
});
// "Lost" is a matter of time passing, not of a new event.
setInterval(renderState, 1000);
if (token()) ui.tokenStatus.textContent = 'A token is set for this tab.';
route();
if (current === null) poll();
