// tagcache console: plain browser JavaScript, no dependencies, served by the admin listener under
// Content-Security-Policy default-src 'self'. Every value shown comes from the backend or the cache
// (tags, URLs), so text is set with textContent, never parsed as HTML.

const TOKEN_KEY = 'tagcache.token';
const REFRESH_MS = 5000;
const HISTORY_EVERY = 2; // refreshes between history reloads
const POINTS = 36; // three minutes of samples

const $ = (id) => document.getElementById(id);

/** Creates an element with text, attributes and children. */
function el(tag, text, attrs = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Calls the admin API with the session's token; resolves { status, body }. */
async function api(path, options = {}) {
  const headers = { authorization: `Bearer ${token()}`, ...(options.headers ?? {}) };
  const res = await fetch(path, { ...options, headers, cache: 'no-store' });
  let body;
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  return { status: res.status, body };
}

// ---------------------------------------------------------------- sign in

async function signIn(candidate) {
  sessionStorage.setItem(TOKEN_KEY, candidate);
  const { status, body } = await api('/invalidations?limit=1');
  if (status === 200 || status === 403) return { ok: true, canRead: status === 200 };
  sessionStorage.removeItem(TOKEN_KEY);
  return { ok: false, message: body.message ?? `the admin API answered ${status}` };
}

function showApp(signedIn) {
  $('sign-in').hidden = signedIn;
  $('app').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('sign-in-error');
  error.textContent = '';
  const result = await signIn($('token').value.trim());
  if (!result.ok) {
    error.textContent = `Sign-in failed: ${result.message}`;
    $('token').focus();
    return;
  }
  $('token').value = '';
  start(result.canRead);
});

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  stop();
  showApp(false);
  $('token').focus();
});

// ---------------------------------------------------------------- live figures from /metrics

/** Prometheus text format → [{ name, labels, value }]. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function summarise(samples) {
  const byRoute = new Map();
  let total = 0;
  let hits = 0;
  let cacheable = 0;
  let stale = 0;
  let bytes = 0;
  let entries = 0;
  for (const s of samples) {
    if (s.name === 'tagcache_requests_total') {
      total += s.value;
      const route = byRoute.get(s.labels.route) ?? { total: 0, hits: 0, cacheable: 0 };
      route.total += s.value;
      if (s.labels.cache !== 'BYPASS') {
        cacheable += s.value;
        route.cacheable += s.value;
      }
      if (s.labels.cache === 'HIT' || s.labels.cache === 'STALE') {
        hits += s.value;
        route.hits += s.value;
      }
      byRoute.set(s.labels.route, route);
    } else if (s.name === 'tagcache_stale_served_total') stale += s.value;
    else if (s.name === 'tagcache_memory_store_bytes') bytes = s.value;
    else if (s.name === 'tagcache_memory_store_entries') entries = s.value;
  }
  return { at: Date.now(), total, hits, cacheable, stale, bytes, entries, byRoute };
}

const series = { rate: [], hit: [] };
let previous;

function ratio(hits, cacheable) {
  return cacheable > 0 ? hits / cacheable : undefined;
}

function percent(value) {
  return value === undefined ? '–' : `${(value * 100).toFixed(1)} %`;
}

function bytesText(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function spark(svg, values, max) {
  svg.replaceChildren();
  const ns = 'http://www.w3.org/2000/svg';
  const base = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: 0, y1: 31, x2: 120, y2: 31 })) base.setAttribute(k, String(v));
  svg.append(base);
  if (values.length < 2) return;
  const top = max ?? Math.max(...values, 1e-9);
  // The samples so far span the width; once POINTS are in, the oldest scroll off the left.
  const step = 120 / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(31 - (v / top) * 29).toFixed(1)}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.append(line);
}

function push(list, value) {
  list.push(value);
  if (list.length > POINTS) list.shift();
}

async function refreshLive() {
  const res = await fetch('/metrics', { cache: 'no-store' });
  if (!res.ok) return;
  const now = summarise(parseMetrics(await res.text()));
  $('store-size').textContent = bytesText(now.bytes);
  $('store-entries').textContent =
    `${now.entries} ${now.entries === 1 ? 'entry' : 'entries'} in this process (the local tier with Redis)`;
  $('stale-total').textContent = `${now.stale} since start`;
  $('live-updated').textContent = `updated ${new Date(now.at).toLocaleTimeString()}`;
  if (previous === undefined) {
    // One sample: figures since start, until the next one gives rates.
    $('hit-ratio').textContent = percent(ratio(now.hits, now.cacheable));
    showRoutes(now, undefined, 1);
    previous = now;
    return;
  }
  const seconds = Math.max(0.001, (now.at - previous.at) / 1000);
  const rate = (now.total - previous.total) / seconds;
  const hitRatio = ratio(now.hits - previous.hits, now.cacheable - previous.cacheable);
  $('request-rate').textContent = rate.toFixed(1);
  $('stale-rate').textContent = ((now.stale - previous.stale) / seconds).toFixed(1);
  $('hit-ratio').textContent = percent(hitRatio ?? ratio(now.hits, now.cacheable));
  push(series.rate, rate);
  push(series.hit, hitRatio ?? 0);
  spark($('rate-chart'), series.rate);
  spark($('hit-chart'), series.hit, 1);

  showRoutes(now, previous, seconds);
  previous = now;
}

/** The busiest routes over the last interval (since start, without a previous sample). */
function showRoutes(now, before, seconds) {
  const rows = [...now.byRoute.entries()]
    .map(([route, r]) => {
      const b = before?.byRoute.get(route) ?? { total: 0, hits: 0, cacheable: 0 };
      return {
        route,
        count: r.total - b.total,
        hit: ratio(r.hits - b.hits, r.cacheable - b.cacheable) ?? ratio(r.hits, r.cacheable),
      };
    })
    .sort((x, y) => y.count - x.count)
    .slice(0, 8);
  $('routes-unit').textContent = before === undefined ? 'Requests since start' : 'Requests / s';
  $('routes')
    .querySelector('tbody')
    .replaceChildren(
      ...rows.map((r) =>
        el('tr', null, {}, [
          el('td', r.route),
          el('td', before === undefined ? r.count : (r.count / seconds).toFixed(1), { class: 'num' }),
          el('td', percent(r.hit), { class: 'num' }),
        ]),
      ),
    );
}

// ---------------------------------------------------------------- look-ups

function entryList(entry) {
  const fields = [
    ['URL', entry.url],
    ['Variant', Object.keys(entry.variant).length === 0 ? '–' : JSON.stringify(entry.variant)],
    ['Status', entry.status],
    ['Tags', entry.tags.join(' ') || '–'],
    ['Age', `${entry.ageSeconds} s`],
    ['Fresh for', entry.stale ? 'stale' : `${entry.freshForSeconds} s`],
    [
      'Stale windows',
      `while revalidate ${entry.staleWhileRevalidateSeconds} s, if error ${entry.staleIfErrorSeconds} s`,
    ],
    ['Size', `${bytesText(entry.bodyBytes)} (${entry.contentEncoding})`],
    ['Soft-purged', entry.softPurgedAt ?? '–'],
  ];
  return el(
    'dl',
    null,
    { class: 'entry' },
    fields.flatMap(([k, v]) => [el('dt', k), el('dd', v)]),
  );
}

$('lookup-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const by = form.elements.by.value;
  const value = form.elements.value.value.trim();
  const status = $('lookup-status');
  const result = $('lookup-result');
  result.replaceChildren();
  status.className = 'small';
  status.textContent = 'Looking up…';
  const query =
    by === 'tag' ? `tag=${encodeURIComponent(value)}&limit=20` : `url=${encodeURIComponent(value)}`;
  const { status: code, body } = await api(`/entries?${query}`);
  if (code !== 200) {
    status.className = 'small error';
    status.textContent = body.message ?? `failed (${code})`;
    return;
  }
  if (by === 'tag') {
    status.textContent = `${body.count} ${body.count === 1 ? 'entry carries' : 'entries carry'} the tag ${body.tag}`;
    result.append(
      el(
        'ul',
        null,
        { class: 'break', 'aria-label': 'URLs under the tag' },
        body.urls.map((url) => el('li', url)),
      ),
    );
    return;
  }
  const stored = body.keys.reduce((n, k) => n + k.variants.length, 0);
  status.textContent =
    stored === 0 ? 'Nothing stored for this URL.' : `${stored} stored ${stored === 1 ? 'entry' : 'entries'}`;
  for (const key of body.keys) {
    if (key.variants.length === 0 && key.notStored === null) continue;
    const block = el('div', null, { class: 'result-block' }, [el('h3', key.key, { class: 'break' })]);
    if (key.vary !== null)
      block.append(el('p', `Varies on ${key.vary.join(', ')}`, { class: 'small muted' }));
    for (const entry of key.variants) block.append(entryList(entry));
    if (key.notStored !== null) {
      block.append(
        el('p', `Last response not stored (${key.notStored.at}): ${key.notStored.explanation}`, {
          class: 'small',
        }),
      );
    }
    result.append(block);
  }
});

// ---------------------------------------------------------------- purges

$('purge-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const kind = form.elements.kind.value;
  const soft = form.elements.mode.value === 'soft';
  const items = form.elements.items.value
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const host = form.elements.host.value.trim();
  const status = $('purge-status');
  status.className = 'small';
  let body;
  if (kind === 'all') {
    if (
      !window.confirm(
        `Purge EVERYTHING (${soft ? 'soft: mark stale' : 'hard: delete'})? Every instance sharing the store is affected.`,
      )
    ) {
      status.textContent = 'Not purged.';
      return;
    }
    body = { all: true, soft };
  } else {
    if (items.length === 0) {
      status.className = 'small error';
      status.textContent = 'Name at least one item, one per line.';
      form.elements.items.focus();
      return;
    }
    body = { [kind]: items, soft, ...(kind === 'tags' && host !== '' ? { host } : {}) };
  }
  status.textContent = 'Purging…';
  const { status: code, body: answer } = await api('/invalidate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (code !== 200) {
    status.className = 'small error';
    status.textContent = answer.message ?? `failed (${code})`;
    return;
  }
  status.className = 'small ok';
  status.textContent = `Purged (${answer.mode}): ${answer.entries} ${answer.entries === 1 ? 'entry' : 'entries'} in ${answer.durationMs} ms.`;
  await refreshHistory();
});

// ---------------------------------------------------------------- history

async function refreshHistory() {
  const { status: code, body } = await api('/invalidations?limit=20');
  const status = $('history-status');
  if (code !== 200) {
    status.className = 'small error';
    status.textContent = body.message ?? `failed (${code})`;
    return;
  }
  status.className = 'small';
  status.textContent = body.invalidations.length === 0 ? 'No purges yet.' : '';
  $('history')
    .querySelector('tbody')
    .replaceChildren(
      ...body.invalidations.map((r) => {
        const items =
          r.items.join(' ') + (r.more > 0 ? ` (+${r.more})` : '') + (r.host ? ` on ${r.host}` : '');
        return el('tr', null, {}, [
          el('td', new Date(r.at).toLocaleString()),
          el('td', r.kind),
          el('td', r.mode),
          el('td', items || '–', { class: 'break' }),
          el('td', r.entries, { class: 'num' }),
          el('td', r.by),
          el('td', r.instance, { class: 'break' }),
        ]);
      }),
    );
}

// ---------------------------------------------------------------- lifecycle

let timer;

function start(canRead) {
  showApp(true);
  let ticks = 0;
  const tick = () => {
    refreshLive().catch((err) => console.error('live figures failed:', err));
    if (canRead && ticks++ % HISTORY_EVERY === 0)
      refreshHistory().catch((err) => console.error('history failed:', err));
  };
  if (!canRead)
    $('history-status').textContent = 'This token lacks the scope "read": no history or look-ups.';
  // Two quick samples first, so rates and charts show within seconds of signing in.
  tick();
  timer = setTimeout(() => {
    tick();
    timer = setTimeout(() => {
      tick();
      timer = setInterval(tick, REFRESH_MS);
    }, 1000);
  }, 1000);
}

function stop() {
  clearTimeout(timer);
  clearInterval(timer);
  previous = undefined;
  series.rate.length = 0;
  series.hit.length = 0;
}

if (token() !== null) {
  signIn(token()).then((result) => (result.ok ? start(result.canRead) : showApp(false)));
} else {
  showApp(false);
}
