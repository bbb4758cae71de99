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
/** Rate samples kept per chart: one a poll, so about five minutes at POLL_MS. */
const CHART_POINTS = 150;
/** Samples a group list sparkline shows (the last minute). */
const SPARK_POINTS = 30;
const CHART_HEIGHT = 180;
/** Join and leave events remembered until a poll covers them (a poll that keeps failing must not grow this). */
const MAX_PRESENCE_SEEN = 1000;

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
  membersNote: byId('members-note'),
  nodeId: byId('node-id'),
  nodeRates: byId('node-rates'),
  nodeChart: byId('node-chart'),
  healthStatus: byId('health-status'),
  healthTiles: byId('health-tiles'),
  healthLists: byId('health-lists'),
  cluster: byId('cluster'),
  clusterSummary: byId('cluster-summary'),
  nodesBody: tbodyOf(byId('nodes')),
  groupRates: byId('group-rates'),
  groupChart: byId('group-chart'),
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
 * A cell: text, a node set once when the row is made, or a function that fills the cell and is
 * called again on every refresh (for cells that change shape: rates, relative times).
 * @typedef {string | Node | ((cell: HTMLTableCellElement) => void)} CellValue
 */

/**
 * Updates rows in place, keyed, so a focused link survives a refresh.
 * @template T
 * @param {HTMLTableSectionElement} body
 * @param {T[]} items
 * @param {(item: T) => string} key
 * @param {(item: T) => CellValue[]} cells
 * @param {(item: T, row: HTMLTableRowElement) => void} [decorate]
 */
function syncRows(body, items, key, cells, decorate) {
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
      const labels = columnLabels(body);
      for (const v of values) {
        const cell = cellFor(v, row.cells.length === 0 ? 'th' : 'td');
        const label = labels[row.cells.length];
        // Phone width shows each cell with its column's name (the header row is hidden there).
        if (cell.tagName === 'TD' && label) cell.dataset.label = label;
        row.append(cell);
      }
    } else {
      values.forEach((v, i) => {
        const cell = row?.cells[i];
        if (!cell) return;
        if (typeof v === 'string') {
          if (cell.textContent !== v) cell.textContent = v;
        } else if (typeof v === 'function') v(cell);
      });
    }
    decorate?.(item, row);
    if (body.rows[at] !== row) body.insertBefore(row, body.rows[at] ?? null);
    at++;
  }
  for (const row of old.values()) row.remove();
}

/**
 * @param {CellValue} value
 * @param {'th' | 'td'} tag
 */
function cellFor(value, tag) {
  const cell = document.createElement(tag);
  if (tag === 'th') cell.scope = 'row';
  if (typeof value === 'string' && /^\d+$/.test(value)) cell.className = 'num';
  if (typeof value === 'function') value(cell);
  else cell.append(value);
  return cell;
}

/** @param {HTMLTableSectionElement} body */
function columnLabels(body) {
  const head = body.parentElement?.querySelector('thead tr');
  return head ? Array.from(head.children, (th) => th.textContent?.trim() ?? '') : [];
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
 * "3 s ago": server times against this browser's clock; a small skew reads as "just now".
 * @param {number} ms
 */
function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

/** @param {number} n */
function rate(n) {
  if (n === 0) return '0';
  if (n < 10) return n.toFixed(1);
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n));
}

/** @param {number} n bytes */
function bytes(n) {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * Rate tiles: label, value and an optional warn/bad level, updated in place.
 * @param {HTMLElement} dl
 * @param {{ key: string, label: string, value: string, level?: '' | 'warn' | 'bad', meter?: { value: number, max: number } }[]} tiles
 */
function renderTiles(dl, tiles) {
  /** @type {Map<string, HTMLElement>} */
  const old = new Map();
  for (const el of Array.from(dl.children))
    old.set(/** @type {HTMLElement} */ (el).dataset.key ?? '', /** @type {HTMLElement} */ (el));
  tiles.forEach((t, i) => {
    let box = old.get(t.key);
    old.delete(t.key);
    if (!box) {
      box = document.createElement('div');
      box.dataset.key = t.key;
      box.append(document.createElement('dt'), document.createElement('dd'));
    }
    const [dt, dd] = /** @type {HTMLElement[]} */ (Array.from(box.children));
    if (dt.textContent !== t.label) dt.textContent = t.label;
    if (dd.textContent !== t.value) dd.textContent = t.value;
    box.className = t.level ?? '';
    let meter = box.querySelector('meter');
    if (t.meter) {
      if (!meter) {
        meter = document.createElement('meter');
        meter.setAttribute('aria-label', t.label);
        box.append(meter);
      }
      meter.max = t.meter.max;
      meter.high = t.meter.max * 0.8;
      meter.value = t.meter.value;
    } else meter?.remove();
    if (dl.children[i] !== box) dl.insertBefore(box, dl.children[i] ?? null);
  });
  for (const el of old.values()) el.remove();
}

/**
 * @typedef {{ tcp: number, udp: number, sse: number }} Counts
 * @typedef {{ messagesIn: number, bytesIn: number, deliveries: number, bytesOut: number, lastAt: string | null, preview: string | null, membersBehind?: number, pendingBytes?: number }} Activity
 * @typedef {{ group: string, counts: Counts, lastId: string | null, activity?: Activity }} GroupSummary
 * @typedef {{ id: string, transport: string, remote: string, joinedAt: string, pendingBytes: number, node?: string }} Member
 * @typedef {GroupSummary & { members: Member[], history: { messages: number }, counters: { messagesIn: number, bytesIn: number, deliveries: number, bytesOut?: number } }} GroupDetail
 */

/** Groups that had members with unsent bytes at the previous refresh. */
let groupsBehindBefore = new Set();
/** Members behind across the groups, for the health view. */
const behind = { members: 0, bytes: 0, sustained: 0 };

/** @param {GroupSummary[]} groups */
function renderGroups(groups) {
  ui.groupsEmpty.hidden = groups.length > 0;
  const now = Date.now();
  for (const g of groups) {
    if (g.activity) sample(groupSeries(g.group), now, groupCounters(g.activity));
  }
  // Series of groups that are gone go too: the page may stay open for days.
  const listed = new Set(groups.map((g) => g.group));
  for (const name of groupSeriesByName.keys()) {
    if (!listed.has(name) && name !== current) groupSeriesByName.delete(name);
  }
  // As for members: behind on two refreshes in a row, not a write caught in flight.
  const behindNow = new Set(
    groups.filter((g) => (g.activity?.membersBehind ?? 0) > 0).map((g) => g.group),
  );
  const sustained = groups.filter((g) => behindNow.has(g.group) && groupsBehindBefore.has(g.group));
  groupsBehindBefore = behindNow;
  behind.members = sustained.reduce((n, g) => n + (g.activity?.membersBehind ?? 0), 0);
  behind.bytes = sustained.reduce((n, g) => n + (g.activity?.pendingBytes ?? 0), 0);
  behind.sustained = sustained.length;
  const lagging = new Set(sustained.map((g) => g.group));
  syncRows(
    ui.groupsBody,
    groups,
    (g) => g.group,
    (g) => [
      groupLink(g.group),
      String(g.counts.tcp),
      String(g.counts.udp),
      String(g.counts.sse),
      (cell) => rateCell(cell, g.activity ? groupSeries(g.group) : null),
      (cell) => lastMessageCell(cell, g),
    ],
    (g, row) => row.classList.toggle('pending', lagging.has(g.group)),
  );
}

/**
 * @param {HTMLTableCellElement} cell
 * @param {Series | null} series
 */
function rateCell(cell, series) {
  if (!series) {
    if (cell.textContent !== '-') cell.textContent = '-';
    return;
  }
  let box = cell.querySelector('.rate');
  if (!box) {
    box = document.createElement('span');
    box.className = 'rate';
    const canvas = document.createElement('canvas');
    canvas.className = 'spark';
    canvas.setAttribute('aria-hidden', 'true');
    const text = document.createElement('span');
    text.className = 'mono';
    box.append(canvas, text);
    cell.replaceChildren(box);
  }
  const values = series.in.slice(-SPARK_POINTS);
  const text = /** @type {HTMLElement} */ (box.lastElementChild);
  const now = values.at(-1) ?? 0;
  text.textContent = `${rate(now)}/s`;
  drawSpark(/** @type {HTMLCanvasElement} */ (box.firstElementChild), values);
}

/**
 * @param {HTMLTableCellElement} cell
 * @param {GroupSummary} g
 */
function lastMessageCell(cell, g) {
  const at = g.activity?.lastAt ? Date.parse(g.activity.lastAt) : Number.NaN;
  // Without a time this node has not seen the group's newest message (another node took it).
  const when = Number.isNaN(at) ? '-' : ago(at);
  let time = cell.querySelector('time');
  let preview = /** @type {HTMLElement | null} */ (cell.querySelector('.preview'));
  if (!time) {
    time = document.createElement('time');
    preview = document.createElement('span');
    preview.className = 'preview mono';
    cell.replaceChildren(time, preview);
  }
  if (time.textContent !== when) time.textContent = when;
  const iso = Number.isNaN(at) ? '' : new Date(at).toISOString();
  if (time.dateTime !== iso) time.dateTime = iso;
  const title = iso
    ? new Date(at).toLocaleString()
    : g.lastId
      ? 'not seen by this node since it started'
      : 'no message yet';
  if (time.title !== title) time.title = title;
  const text = g.activity?.preview ?? '';
  if (preview && preview.textContent !== text) preview.textContent = text;
}

/** Members of the open group that had unsent bytes at the previous refresh. */
let pendingBefore = new Set();

/**
 * The members shown: the last poll's list, with the join and leave events seen since applied.
 * @type {Member[]}
 */
let shownMembers = [];
/** Members with unsent bytes on the last two polls. */
let membersBehind = new Set();

/**
 * @param {GroupDetail | null} detail
 * @param {number} asked when the poll asked for it (performance.now())
 */
function renderGroup(detail, asked) {
  if (!detail) {
    ui.groupSummary.textContent = 'No such group right now.';
    shownMembers = withPresence([], asked);
    renderMembers();
    return;
  }
  sample(groupSeries(detail.group), Date.now(), groupCounters(detail.counters));
  renderGroupRates(groupSeries(detail.group));
  const c = detail.counts;
  /** @type {(n: number, word: string) => string} */
  const members = (n, word) => `${n} ${word} member${n === 1 ? '' : 's'}`;
  const kept = detail.history.messages;
  ui.groupSummary.textContent = `${members(c.tcp, 'TCP')}, ${members(c.udp, 'UDP')}, ${members(c.sse, 'SSE')}; ${kept} message${kept === 1 ? '' : 's'} held for replay.`;
  const withPending = new Set(detail.members.filter((m) => m.pendingBytes > 0).map((m) => m.id));
  membersBehind = new Set([...withPending].filter((id) => pendingBefore.has(id)));
  pendingBefore = withPending;
  shownMembers = withPresence(detail.members, asked);
  renderMembers();
  const behind = membersBehind.size;
  ui.membersNote.textContent =
    behind === 0
      ? 'Every member is up to date (no unsent bytes).'
      : `${behind} member${behind === 1 ? ' has' : 's have'} unsent bytes (highlighted).`;
}

function renderMembers() {
  syncRows(
    ui.membersBody,
    shownMembers,
    (m) => m.id,
    (m) => [
      m.transport.toUpperCase(),
      m.remote,
      clock(m.joinedAt),
      String(m.pendingBytes),
      m.node ?? '-',
    ],
    // Unsent bytes on two refreshes in a row mean a member is behind: it stands out. (Once
    // is a write caught in flight, which every busy member shows now and then.)
    (m, row) => row.classList.toggle('pending', membersBehind.has(m.id)),
  );
}

// ---- presence -----------------------------------------------------------------------------

/**
 * A stream's `event: join` / `leave` data (see docs/http-api.md, presence).
 * @typedef {{ type: 'join' | 'leave', group: string, member: string, transport: string, remote: string, node: string, name?: string, at: string }} PresenceEvent
 */

/**
 * Join and leave events by member id, with when they arrived (performance.now()): a poll asked
 * before an event does not know of it yet, so its answer must not undo it.
 * @type {Map<string, { event: PresenceEvent, seen: number }>}
 */
const presenceSeen = new Map();
/** @param {PresenceEvent} e */
function presenceMember(e) {
  return {
    id: e.member,
    transport: e.transport,
    remote: e.remote,
    joinedAt: e.at,
    pendingBytes: 0,
    node: e.node,
  };
}

/**
 * A poll's members with the events that arrived after it was asked for applied; events it
 * covers are forgotten.
 * @param {Member[]} members
 * @param {number} asked
 */
function withPresence(members, asked) {
  let list = members;
  for (const [id, { event, seen }] of presenceSeen) {
    if (seen <= asked) {
      presenceSeen.delete(id);
    } else if (event.type === 'leave') {
      list = list.filter((m) => m.id !== id);
    } else if (!list.some((m) => m.id === id)) {
      list = [...list, presenceMember(event)];
    }
  }
  return list;
}

/**
 * A member came or went: its row is added or removed at once; the next poll fills in the rest
 * (unsent bytes) and stays the source of truth.
 * @param {PresenceEvent} event
 */
function applyPresence(event) {
  presenceSeen.delete(event.member);
  presenceSeen.set(event.member, { event, seen: performance.now() });
  if (presenceSeen.size > MAX_PRESENCE_SEEN) {
    const oldest = presenceSeen.keys().next().value;
    if (oldest !== undefined) presenceSeen.delete(oldest);
  }
  const known = shownMembers.some((m) => m.id === event.member);
  if (event.type === 'join' && !known) shownMembers = [...shownMembers, presenceMember(event)];
  else if (event.type === 'leave' && known)
    shownMembers = shownMembers.filter((m) => m.id !== event.member);
  else return;
  renderMembers();
}

// ---- rates and charts -----------------------------------------------------------------------

/**
 * Rates come from the counters the server keeps: each poll takes a sample, and the rate is the
 * change since the previous one. A counter that went down (the server restarted) starts over.
 * @typedef {{ messagesIn: number, messagesOut: number, bytesIn: number, bytesOut: number }} Counters
 * @typedef {{ last: (Counters & { at: number }) | null, t: number[], in: number[], out: number[], bytesIn: number[], bytesOut: number[] }} Series
 */

/** @returns {Series} */
function newSeries() {
  return { last: null, t: [], in: [], out: [], bytesIn: [], bytesOut: [] };
}

const nodeSeries = newSeries();
/** @type {Map<string, Series>} */
const groupSeriesByName = new Map();

/** @param {string} group */
function groupSeries(group) {
  let s = groupSeriesByName.get(group);
  if (!s) {
    s = newSeries();
    groupSeriesByName.set(group, s);
  }
  return s;
}

/** @param {{ messagesIn: number, bytesIn: number, deliveries: number, bytesOut?: number }} c */
function groupCounters(c) {
  return {
    messagesIn: c.messagesIn,
    messagesOut: c.deliveries,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut ?? 0,
  };
}

/**
 * @param {Series} s
 * @param {number} at
 * @param {Counters} c
 */
function sample(s, at, c) {
  const prev = s.last;
  s.last = { ...c, at };
  // Two polls within a moment of each other (a refresh soon after a poll) say nothing new.
  if (!prev || at - prev.at < POLL_MS / 4) return;
  const dt = (at - prev.at) / 1000;
  /** @type {(k: keyof Counters) => number} */
  const per = (k) => Math.max(0, c[k] - prev[k]) / dt;
  s.t.push(at / 1000);
  s.in.push(per('messagesIn'));
  s.out.push(per('messagesOut'));
  s.bytesIn.push(per('bytesIn'));
  s.bytesOut.push(per('bytesOut'));
  if (s.t.length > CHART_POINTS) {
    for (const a of [s.t, s.in, s.out, s.bytesIn, s.bytesOut]) a.shift();
  }
}

/** @param {Series} s */
function rateTiles(s) {
  const at = (/** @type {number[]} */ a) => a.at(-1) ?? 0;
  return [
    { key: 'in', label: 'Messages/s in', value: rate(at(s.in)) },
    { key: 'out', label: 'Messages/s out', value: rate(at(s.out)) },
    { key: 'bin', label: 'Bytes/s in', value: bytes(at(s.bytesIn)) },
    { key: 'bout', label: 'Bytes/s out', value: bytes(at(s.bytesOut)) },
  ];
}

/** @param {Series} s */
function renderGroupRates(s) {
  renderTiles(ui.groupRates, rateTiles(s));
  updateChart(ui.groupChart, s);
}

/** @param {string} name */
function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** @type {Map<HTMLElement, any>} uPlot instances by container */
const charts = new Map();

/**
 * Draws a series into its container with uPlot (bundled with the page). The container carries
 * the newest values as data attributes, for tests and for anyone reading the DOM.
 * @param {HTMLElement} el
 * @param {Series} s
 */
function updateChart(el, s) {
  el.dataset.points = String(s.t.length);
  el.dataset.lastIn = String(s.in.at(-1) ?? 0);
  el.dataset.lastOut = String(s.out.at(-1) ?? 0);
  const data = [s.t, s.in, s.out];
  // @ts-expect-error: uPlot is the global of the bundled script
  const UPlot = globalThis.uPlot;
  if (!UPlot || el.offsetParent === null) return;
  let chart = charts.get(el);
  if (!chart) {
    const fg = cssVar('--muted');
    const grid = cssVar('--line');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    chart = new UPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: CHART_HEIGHT,
        scales: {
          // A window ending now, a minute at least (so the first samples are not stretched
          // across the chart), growing with the samples to CHART_POINTS polls.
          x: {
            time: true,
            range: (/** @type {any} */ u) => {
              const now = Date.now() / 1000;
              const first = u.data[0][0] ?? now;
              const span = Math.min((CHART_POINTS * POLL_MS) / 1000, Math.max(60, now - first));
              return [now - span, now];
            },
          },
          y: {
            range: (
              /** @type {any} */ _u,
              /** @type {number} */ _min,
              /** @type {number} */ max,
            ) => [0, Math.max(1, max * 1.1)],
          },
        },
        series: [
          {},
          {
            label: 'in',
            stroke: cssVar('--chart-in'),
            width: 2,
            value: (/** @type {any} */ _u, /** @type {number | null} */ v) =>
              v == null ? '-' : `${rate(v)}/s`,
          },
          {
            label: 'out',
            stroke: cssVar('--chart-out'),
            width: 2,
            value: (/** @type {any} */ _u, /** @type {number | null} */ v) =>
              v == null ? '-' : `${rate(v)}/s`,
          },
        ],
        axes: [axis, { ...axis, size: 50 }],
        legend: { show: true },
      },
      data,
      el,
    );
    charts.set(el, chart);
    resizer.observe(el);
  } else chart.setData(data);
}

const resizer = new ResizeObserver((entries) => {
  for (const e of entries) {
    const chart = charts.get(/** @type {HTMLElement} */ (e.target));
    const width = Math.floor(e.contentRect.width);
    if (chart && width > 0 && Math.abs(chart.width - width) > 1) {
      chart.setSize({ width, height: CHART_HEIGHT });
    }
  }
});

/** Charts take their colours from the page's; a change of system theme redraws them. */
function dropCharts() {
  for (const [el, chart] of charts) {
    resizer.unobserve(el);
    chart.destroy();
  }
  charts.clear();
}

matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  dropCharts();
  redrawCharts();
});

function redrawCharts() {
  updateChart(ui.nodeChart, nodeSeries);
  if (current !== null) updateChart(ui.groupChart, groupSeries(current));
}

/**
 * A sparkline: the last minute of a group's incoming rate, scaled to its own peak.
 * @param {HTMLCanvasElement} canvas
 * @param {number[]} values
 */
function drawSpark(canvas, values) {
  const ratio = window.devicePixelRatio || 1;
  const w = 120;
  const h = 28;
  if (canvas.width !== w * ratio) {
    canvas.width = w * ratio;
    canvas.height = h * ratio;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  canvas.dataset.last = String(values.at(-1) ?? 0);
  if (values.length < 2) return;
  const max = Math.max(...values, 1e-9);
  ctx.strokeStyle = cssVar('--chart-in');
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x =
      (i / (SPARK_POINTS - 1)) * (w - 2) +
      1 +
      (SPARK_POINTS - values.length) * ((w - 2) / (SPARK_POINTS - 1));
    const y = h - 2 - (v / max) * (h - 4);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

// ---- health and cluster ---------------------------------------------------------------------

/**
 * /healthz answers 503 with the same report when the node is down or degraded (strict): that
 * report is what the health view shows, so it is read whatever the status.
 */
async function getHealth() {
  let res;
  try {
    res = await fetch(apiUrl('healthz'), { headers: headers(), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'the server cannot be reached');
  }
  if (res.status === 401 || res.status === 403) throw await apiError(res);
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/**
 * @typedef {{ node: string, members: Counts, groups: number, lastSeen: string }} Peer
 * @param {any} h the /healthz report; every part is optional (an edge worker answers less)
 */
function renderHealth(h) {
  ui.nodeId.textContent = typeof h.node === 'string' ? h.node : '';
  const traffic = h.traffic && typeof h.traffic === 'object' ? Object.values(h.traffic) : null;
  if (traffic) {
    /** @type {(k: string) => number} */
    const sum = (k) => traffic.reduce((n, t) => n + (Number(t?.[k]) || 0), 0);
    sample(nodeSeries, Date.now(), {
      messagesIn: sum('messagesIn'),
      messagesOut: sum('messagesOut'),
      bytesIn: sum('bytesIn'),
      bytesOut: sum('bytesOut'),
    });
  }
  renderTiles(ui.nodeRates, rateTiles(nodeSeries));
  updateChart(ui.nodeChart, nodeSeries);

  const status = typeof h.status === 'string' ? h.status : 'unknown';
  const bp = h.backplane;
  const bpText =
    bp?.kind === 'redis' ? `; Redis ${bp.connected ? 'connected' : 'not connected'}` : '';
  ui.healthStatus.textContent = `Status: ${status}${bpText}.`;
  ui.healthStatus.classList.toggle('error', status !== 'ok');

  /** @type {Parameters<typeof renderTiles>[1]} */
  const tiles = [];
  const conns = h.connections;
  const max = Number(h.limits?.maxConnections);
  if (conns) {
    const open = (Number(conns.tcp) || 0) + (Number(conns.sse) || 0);
    const share = max > 0 ? open / max : 0;
    tiles.push({
      key: 'conns',
      label: 'Connections / limit',
      value: max > 0 ? `${open} / ${max}` : String(open),
      level: share >= 0.9 ? 'bad' : share >= 0.7 ? 'warn' : '',
      meter: max > 0 ? { value: open, max } : undefined,
    });
  }
  const maxGroups = Number(h.limits?.maxGroups);
  if (typeof h.groups === 'number') {
    const share = maxGroups > 0 ? h.groups / maxGroups : 0;
    tiles.push({
      key: 'groups',
      label: 'Groups / limit',
      value: maxGroups > 0 ? `${h.groups} / ${maxGroups}` : String(h.groups),
      level: share >= 0.9 ? 'bad' : share >= 0.7 ? 'warn' : '',
      meter: maxGroups > 0 ? { value: h.groups, max: maxGroups } : undefined,
    });
  }
  const slow = h.slowConsumers;
  if (slow) {
    const n = (Number(slow.tcp) || 0) + (Number(slow.sse) || 0);
    tiles.push({
      key: 'slow',
      label: 'Slow consumers cut',
      value: `${n} (TCP ${slow.tcp ?? 0}, SSE ${slow.sse ?? 0})`,
      level: n > 0 ? 'warn' : '',
    });
  }
  tiles.push({
    key: 'behind',
    label: 'Members behind',
    value:
      behind.members === 0
        ? '0'
        : `${behind.members} in ${behind.sustained} group${behind.sustained === 1 ? '' : 's'}, ${bytes(behind.bytes)} unsent`,
    level: behind.members > 0 ? 'warn' : '',
  });
  const total = (/** @type {Record<string, number> | undefined} */ m) =>
    m ? Object.values(m).reduce((a, b) => a + (Number(b) || 0), 0) : 0;
  if (h.rejected) {
    const n = total(h.rejected);
    tiles.push({
      key: 'rejected',
      label: 'Rejected',
      value: String(n),
      level: n > 0 ? 'warn' : '',
    });
  }
  if (h.dropped) {
    const n = total(h.dropped);
    tiles.push({
      key: 'dropped',
      label: 'Messages dropped',
      value: String(n),
      level: n > 0 ? 'bad' : '',
    });
  }
  const memory = memoryUse(h.memory);
  if (memory) {
    const share = memory.limit > 0 ? memory.used / memory.limit : 0;
    tiles.push({
      key: 'memory',
      label: 'Memory budget',
      value:
        memory.limit > 0 ? `${bytes(memory.used)} / ${bytes(memory.limit)}` : bytes(memory.used),
      level: share >= 0.9 ? 'bad' : share >= 0.7 ? 'warn' : '',
      meter: memory.limit > 0 ? { value: memory.used, max: memory.limit } : undefined,
    });
  }
  renderTiles(ui.healthTiles, tiles);

  /** @type {[string, string[]][]} */
  const lists = [
    ['Rejected, by reason', reasons(h.rejected)],
    ['Dropped, by reason', reasons(h.dropped)],
  ];
  if (memory) lists.push(['Memory, by kind', memory.kinds]);
  renderLists(lists.filter(([, items]) => items.length > 0));
  renderCluster(h);
}

/** @param {Record<string, number> | undefined} m */
function reasons(m) {
  if (!m || typeof m !== 'object') return [];
  return Object.entries(m)
    .filter(([, n]) => Number(n) > 0)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map(([reason, n]) => `${reason}: ${n}`);
}

/**
 * The memory budget, in whichever of these shapes the server reports it: `{ used, limit }`,
 * optionally with kinds beside them as numbers or `{ used, limit }` of their own.
 * @param {any} m
 */
function memoryUse(m) {
  if (!m || typeof m !== 'object') return null;
  const used = Number(m.used ?? m.usedBytes);
  const limit = Number(m.limit ?? m.limitBytes ?? m.budget);
  if (!Number.isFinite(used)) return null;
  /** @type {string[]} */
  const kinds = [];
  const byKind = m.byKind ?? m.kinds ?? m;
  for (const [kind, v] of Object.entries(byKind)) {
    if (['used', 'usedBytes', 'limit', 'limitBytes', 'budget'].includes(kind)) continue;
    if (typeof v === 'number') kinds.push(`${kind}: ${bytes(v)}`);
    else if (v && typeof v === 'object' && typeof (/** @type {any} */ (v).used) === 'number') {
      const k = /** @type {any} */ (v);
      kinds.push(
        `${kind}: ${bytes(k.used)}${typeof k.limit === 'number' ? ` / ${bytes(k.limit)}` : ''}`,
      );
    }
  }
  return { used, limit: Number.isFinite(limit) ? limit : 0, kinds };
}

/** @param {[string, string[]][]} lists */
function renderLists(lists) {
  const key = JSON.stringify(lists);
  if (ui.healthLists.dataset.key === key) return;
  ui.healthLists.dataset.key = key;
  ui.healthLists.replaceChildren(
    ...lists.map(([title, items]) => {
      const box = document.createElement('div');
      const h = document.createElement('h3');
      h.textContent = title;
      const ul = document.createElement('ul');
      for (const text of items) {
        const li = document.createElement('li');
        li.textContent = text;
        ul.append(li);
      }
      box.append(h, ul);
      return box;
    }),
  );
}

/** @param {any} h */
function renderCluster(h) {
  const bp = h.backplane;
  /** @type {Peer[]} */
  const peers = bp?.kind === 'redis' && Array.isArray(bp.peers) ? bp.peers : [];
  ui.cluster.hidden = bp?.kind !== 'redis';
  if (ui.cluster.hidden) return;
  const n = Number(bp.nodes) || peers.length;
  ui.clusterSummary.textContent = `${n} live node${n === 1 ? '' : 's'} sharing groups over Redis.`;
  syncRows(
    ui.nodesBody,
    peers,
    (p) => p.node,
    (p) => [
      p.node,
      String(p.members.tcp),
      String(p.members.udp),
      String(p.members.sse),
      String(p.groups),
      ago(Date.parse(p.lastSeen)),
    ],
    (p, row) => row.cells[0]?.classList.toggle('this-node', p.node === h.node),
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
    const [body, health] = await Promise.all([getJson('groups'), getHealth()]);
    renderGroups(body.groups);
    if (health) renderHealth(health);
    const open = current;
    if (open !== null) {
      const asked = performance.now();
      try {
        const detail = await getJson(groupPath(open));
        if (open === current) renderGroup(detail, asked);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        if (open === current) renderGroup(null, asked);
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
/**
 * Whether the server sends join and leave events: the sidecar does, the edge worker answers
 * `400` to `?presence=true`. Asked for until a stream with it fails with `400`; then the page
 * goes without (the poll still updates the members).
 * @type {'unknown' | 'yes' | 'no'}
 */
let presenceSupport = 'unknown';
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
  const presence = presenceSupport !== 'no';
  if (presence) url.searchParams.set('presence', 'true');
  const t = token();
  if (t) url.searchParams.set('access_token', t);
  const es = new EventSource(url);
  source = es;
  es.onopen = () => {
    if (presence) presenceSupport = 'yes';
    reopenDelay = REOPEN_FIRST_MS;
    health.streamOpen = true;
    healthy('stream');
    refreshSoon();
  };
  /** The publish time of the messages that follow (the stream's latest `time` event). */
  let time = Number.NaN;
  es.addEventListener('time', (e) => {
    time = Number(e.data);
  });
  /** @param {MessageEvent} e */
  const onMessage = (e) => {
    lastId = e.lastEventId;
    addEntry(messageEntry(e.lastEventId, e.data, e.type === 'binary', time));
    refreshSoon();
  };
  es.addEventListener('message', onMessage);
  es.addEventListener('binary', onMessage);
  es.addEventListener('gap', (e) => addEntry(noticeEntry(gapText(JSON.parse(e.data)))));
  // Named events: 'message' listeners never see them, so they stay out of the live messages.
  /** @param {MessageEvent} e */
  const onPresence = (e) => {
    if (es === source && current === group) applyPresence(JSON.parse(e.data));
    refreshSoon();
  };
  es.addEventListener('join', onPresence);
  es.addEventListener('leave', onPresence);
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
      if (presence && presenceSupport === 'unknown') probePresence(es, url, group);
      else retryStream(group);
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

/**
 * Finds out why the stream failed, and opens it again after a delay that doubles each time.
 * @param {string} group
 */
function retryStream(group) {
  probe(group);
  reopenTimer = setTimeout(() => current === group && openStream(group), reopenDelay);
  reopenDelay = Math.min(reopenDelay * 2, REOPEN_MAX_MS);
}

/**
 * A stream asking for presence failed before ever opening: if the server refuses the parameter
 * (`400`, the edge worker), reopen without it at once; otherwise retry as usual.
 * @param {EventSource} es
 * @param {URL} url
 * @param {string} group
 */
async function probePresence(es, url, group) {
  const controller = new AbortController();
  let status = 0;
  try {
    const res = await fetch(url, { headers: headers(), signal: controller.signal });
    status = res.status;
  } catch {
    // unreachable: retried below like any failed stream
  } finally {
    // A stream that did open now is not read: the probe only wanted the status.
    controller.abort();
  }
  // Meanwhile the page may have moved on (another group, a new token): nothing to do then.
  if (group !== current || source !== es) return;
  if (status === 400) {
    presenceSupport = 'no';
    openStream(group);
  } else retryStream(group);
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
 * @param {number} time when the sidecar received it (NaN from a server that does not say)
 */
function messageEntry(id, data, binary, time) {
  const li = document.createElement('li');
  const meta = document.createElement('span');
  meta.className = 'meta mono';
  const known = !Number.isNaN(time);
  const at = new Date(known ? time : Date.now());
  const stamp = document.createElement('time');
  stamp.dateTime = at.toISOString();
  stamp.textContent = `${at.toLocaleTimeString()}.${String(at.getMilliseconds()).padStart(3, '0')}`;
  stamp.title = known ? 'received by the sidecar' : 'arrived here (the server sent no time)';
  meta.append(`${id} · `, stamp);
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
    ui.membersNote.textContent = '';
    // The chart shows the open group: the next refresh draws it anew.
    const old = charts.get(ui.groupChart);
    if (old) {
      resizer.unobserve(ui.groupChart);
      old.destroy();
      charts.delete(ui.groupChart);
    }
    renderGroupRates(groupSeries(group));
    presenceSeen.clear();
    shownMembers = [];
    membersBehind = new Set();
    renderMembers();
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
