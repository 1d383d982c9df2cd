// gpubill customer portal: one page over the public API, routed by the URL's hash.
//
// Rules this file keeps (the server's Content-Security-Policy and the portal's contract):
// - every string from the API or the page's meta tags reaches the DOM through textContent,
//   createTextNode or attribute setters, never through HTML parsing;
// - no inline style attributes: layout lives in app.css, and the few computed sizes are set
//   through the CSSOM (`element.style.width`);
// - every figure shown from the API carries data-figure (its name) and data-value (the exact API
//   string); <main id="content"> carries data-page and data-state (loading, ready, empty,
//   not-found, error).

const SVG_NS = 'http://www.w3.org/2000/svg';
const TITLE_SUFFIX = ' · gpubill portal';
const FETCH_OPTIONS = { credentials: 'same-origin', headers: { Accept: 'application/json' } };

// ---------------------------------------------------------------------------------------------
// DOM helpers: text only

function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

function s(tag, attrs, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

function setAttributes(element, attrs) {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    const lower = name.toLowerCase();
    if (lower === 'style' || lower.startsWith('on')) {
      throw new Error(`refused attribute ${name}`);
    }
    element.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function clear(element) {
  while (element.firstChild) element.firstChild.remove();
}

function meta(name) {
  const element = document.querySelector(`meta[name="${name}"]`);
  return element ? element.getAttribute('content') || '' : '';
}

/** An element showing an API figure: data-figure and data-value carry its name and exact text. */
function fig(tag, name, value, text, attrs = {}) {
  return h(tag, { ...attrs, 'data-figure': name, 'data-value': value ?? '' }, text);
}

// ---------------------------------------------------------------------------------------------
// Exact decimals (API strings) without floats

/** `text` as [sign, digits BigInt, scale], or null. */
function parseDecimal(text) {
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(String(text ?? '').trim());
  if (!match) return null;
  const fraction = match[3] || '';
  return { negative: Boolean(match[1]), units: BigInt(match[2] + fraction), scale: fraction.length };
}

function decimalText(negative, units, scale) {
  let digits = units.toString().padStart(scale + 1, '0');
  if (scale > 0) digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return (negative && units !== 0n ? '-' : '') + digits;
}

/** `text / divisor`, truncated to `places` (enough places that rounding to 2 afterwards is exact). */
function divideDecimal(text, divisor, places = 10) {
  const value = parseDecimal(text);
  if (!value) return null;
  const scaled = value.units * 10n ** BigInt(places);
  const quotient = scaled / (BigInt(divisor) * 10n ** BigInt(value.scale));
  return decimalText(value.negative, quotient, places);
}

/** `text × 100` as a decimal string (a VAT rate of 0.20 is 20). */
function percentOfFraction(text) {
  const value = parseDecimal(text);
  if (!value) return text;
  const shift = Math.min(2, value.scale);
  const units = value.units * 10n ** BigInt(2 - shift);
  return decimalText(value.negative, units, value.scale - shift);
}

function isZero(text) {
  const value = parseDecimal(text);
  return value !== null && value.units === 0n;
}

function compareDecimal(a, b) {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return 0;
  const scale = Math.max(x.scale, y.scale);
  const xv = (x.negative ? -1n : 1n) * x.units * 10n ** BigInt(scale - x.scale);
  const yv = (y.negative ? -1n : 1n) * y.units * 10n ** BigInt(scale - y.scale);
  return xv < yv ? -1 : xv > yv ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Formatting for people (en-GB), in the tenant's currency and time zone

const formatters = new Map();
function formatter(key, make) {
  if (!formatters.has(key)) formatters.set(key, make());
  return formatters.get(key);
}

function money(text, currency = state.currency) {
  if (text === null || text === undefined || text === '') return '—';
  try {
    // A zero written "-0" (as a decimal can be) reads as plain zero.
    return formatter(`money:${currency}`, () =>
      new Intl.NumberFormat('en-GB', { style: 'currency', currency })).format(isZero(text) ? '0' : String(text));
  } catch {
    return `${text} ${currency}`;
  }
}

/** A unit price: up to 6 places, at least 2. */
function unitPrice(text, currency = state.currency) {
  try {
    return formatter(`price:${currency}`, () =>
      new Intl.NumberFormat('en-GB', {
        style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: 6,
      })).format(String(text));
  } catch {
    return `${text} ${currency}`;
  }
}

function number(text, places = 2) {
  if (text === null || text === undefined || text === '') return '—';
  return formatter(`number:${places}`, () =>
    new Intl.NumberFormat('en-GB', { minimumFractionDigits: places, maximumFractionDigits: places }))
    .format(String(text));
}

function plainNumber(text) {
  if (text === null || text === undefined || text === '') return '—';
  return formatter('plain', () => new Intl.NumberFormat('en-GB', { maximumFractionDigits: 6 }))
    .format(String(text));
}

/** GPU-seconds as GPU-hours rounded to 2 places, without grouping (the CSV's figure). */
function gpuHoursPlain(seconds) {
  const hours = divideDecimal(seconds, 3600);
  if (hours === null) return '';
  return formatter('hours-plain', () => new Intl.NumberFormat('en-GB', {
    minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: false,
  })).format(hours);
}

/** GPU-seconds as GPU-hours rounded to 2 places, for reading. */
function gpuHours(seconds) {
  const hours = divideDecimal(seconds, 3600);
  return hours === null ? '—' : number(hours, 2);
}

function percent(text) {
  return `${formatter('percent', () => new Intl.NumberFormat('en-GB', { maximumFractionDigits: 2 }))
    .format(String(text))} %`;
}

function dateTime(iso, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  if (!iso) return '—';
  const instant = new Date(iso);
  if (Number.isNaN(instant.getTime())) return iso;
  const key = `dt:${state.timeZone}:${JSON.stringify(options)}`;
  return formatter(key, () =>
    new Intl.DateTimeFormat('en-GB', { ...options, timeZone: state.timeZone })).format(instant);
}

function date(iso) {
  return dateTime(iso, { dateStyle: 'medium' });
}

/** A `YYYY-MM` period as "November 2026". */
function monthName(period) {
  const match = /^(\d{4})-(\d{2})$/.exec(period || '');
  if (!match) return period || '';
  return formatter('month', () => new Intl.DateTimeFormat('en-GB', {
    month: 'long', year: 'numeric', timeZone: 'UTC',
  })).format(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1)));
}

function humanize(code) {
  if (!code) return '—';
  const text = String(code).replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Time zone arithmetic (local calendar dates of the tenant's zone to instants and back)

function zonedParts(instantMs, timeZone) {
  const parts = formatter(`parts:${timeZone}`, () => new Intl.DateTimeFormat('en-GB', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  })).formatToParts(new Date(instantMs));
  const get = (type) => Number(parts.find((part) => part.type === type)?.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour') % 24, minute: get('minute'), second: get('second') };
}

function zoneOffsetMs(instantMs, timeZone) {
  const p = zonedParts(instantMs, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(instantMs / 1000) * 1000;
}

/** The instant a local calendar date (`YYYY-MM-DD`) starts in `timeZone`. */
function startOfLocalDay(day, timeZone) {
  const [year, month, dayOfMonth] = day.split('-').map(Number);
  const guess = Date.UTC(year, month - 1, dayOfMonth);
  let instant = guess - zoneOffsetMs(guess, timeZone);
  const second = guess - zoneOffsetMs(instant, timeZone);
  if (second !== instant) instant = second;
  return instant;
}

function localDay(instantMs, timeZone = state.timeZone) {
  const p = zonedParts(instantMs, timeZone);
  return `${String(p.year).padStart(4, '0')}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

function addDays(day, count) {
  const [year, month, dayOfMonth] = day.split('-').map(Number);
  const next = new Date(Date.UTC(year, month - 1, dayOfMonth + count));
  return next.toISOString().slice(0, 10);
}

function isDay(text) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text || '')) return false;
  const parsed = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === text;
}

function rfc3339(instantMs) {
  return new Date(instantMs).toISOString().replace('.000Z', 'Z');
}

/** The tenant's current month as local days: [first, last]. */
function currentMonthDays() {
  const period = state.period || localDay(Date.now()).slice(0, 7);
  const [year, month] = period.split('-').map(Number);
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return [`${period}-01`, `${period}-${String(last).padStart(2, '0')}`];
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

class SessionEnded extends Error {}

async function api(path) {
  let response;
  try {
    response = await fetch(path, FETCH_OPTIONS);
  } catch {
    throw new ApiError(0, 'network', 'The billing service could not be reached. Check your connection and try again.');
  }
  if (response.status === 401) {
    showSessionEnded();
    throw new SessionEnded('session ended');
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const detail = body && typeof body.detail === 'string' && body.detail
      ? body.detail
      : `The billing service answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`;
    throw new ApiError(response.status, body && body.code, detail);
  }
  return response.json();
}

const tenantPath = (rest) => `/v1/tenants/${encodeURIComponent(state.tenant)}${rest}`;

// ---------------------------------------------------------------------------------------------
// State shared by the pages

const state = {
  tenant: meta('gpubill-tenant'),
  sessionExpiresAt: meta('gpubill-session-expires'),
  tenantName: null,
  timeZone: 'UTC',
  currency: 'EUR',
  period: null,
  overview: null,
  overviewFetchedAt: 0,
  sessionOver: false,
  view: 0,
  firstRender: true,
};

async function loadOverview(maxAgeMs = 0) {
  if (state.overview && Date.now() - state.overviewFetchedAt <= maxAgeMs) return state.overview;
  const overview = await api(tenantPath('/overview'));
  adoptOverview(overview);
  return overview;
}

function adoptOverview(overview) {
  state.overview = overview;
  state.overviewFetchedAt = Date.now();
  state.tenantName = overview.tenant_name;
  if (overview.time_zone && validTimeZone(overview.time_zone)) state.timeZone = overview.time_zone;
  if (overview.currency) state.currency = overview.currency;
  if (overview.period) state.period = overview.period;
  const name = document.getElementById('tenant-name');
  if (name && typeof overview.tenant_name === 'string' && overview.tenant_name !== '') {
    name.textContent = overview.tenant_name;
    name.setAttribute('data-figure', 'tenant_name');
    name.setAttribute('data-value', overview.tenant_name);
    name.setAttribute('title', `Account ${state.tenant}`);
  }
  const zoneNote = document.getElementById('zone-note');
  if (zoneNote) {
    zoneNote.textContent = `Dates and times are in ${state.timeZone}, the time zone of your billing periods.`;
  }
  updateSessionNote();
}

function validTimeZone(timeZone) {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function updateSessionNote() {
  const note = document.getElementById('session-note');
  const expires = Date.parse(state.sessionExpiresAt);
  if (!note || Number.isNaN(expires)) return;
  note.textContent = `This session ends at ${dateTime(state.sessionExpiresAt, { dateStyle: 'medium', timeStyle: 'short' })}.`;
}

/**
 * Around the session's end, asks the API whether it still holds (this browser's clock may be off
 * from the server's): a 401 shows "Your session has ended", anything else looks again later.
 */
function watchSessionExpiry() {
  const expires = Date.parse(state.sessionExpiresAt);
  if (Number.isNaN(expires)) return;
  const probe = async () => {
    if (state.sessionOver) return;
    try {
      await api(tenantPath('/overview'));
    } catch {
      // SessionEnded has shown its page; another failure says nothing about the session.
    }
    if (!state.sessionOver) window.setTimeout(probe, 60_000);
  };
  // setTimeout holds at most ~24.8 days; a session is far shorter.
  window.setTimeout(probe, Math.min(Math.max(0, expires - Date.now()) + 1000, 2 ** 31 - 1));
}

// ---------------------------------------------------------------------------------------------
// Page frame: <main id="content" data-page data-state>

const main = () => document.getElementById('content');

const SECTIONS = {
  overview: 'overview', usage: 'usage', allocations: 'allocations', allocation: 'allocations',
  invoices: 'invoices', invoice: 'invoices', draft: 'invoices', 'credit-note': 'invoices', credit: 'credit',
};

/** Starts a page: marks <main>, empties it, sets the title and the current nav link. */
function begin(page, title) {
  state.view += 1;
  const token = state.view;
  const content = main();
  content.setAttribute('data-page', page);
  content.setAttribute('data-state', 'loading');
  content.setAttribute('aria-busy', 'true');
  content.removeAttribute('data-error');
  clear(content);
  content.append(h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  document.title = title + TITLE_SUFFIX;
  if (!state.firstRender) window.scrollTo(0, 0);
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.getAttribute('data-nav') === SECTIONS[page]) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  return {
    page,
    alive: () => token === state.view && !state.sessionOver,
    title(text) {
      document.title = text + TITLE_SUFFIX;
    },
    /** Replaces the page's content and sets its state. */
    show(pageState, ...nodes) {
      if (token !== state.view || state.sessionOver) return;
      clear(content);
      append(content, nodes);
      content.setAttribute('data-state', pageState);
      content.removeAttribute('aria-busy');
      if (!state.firstRender) {
        const heading = content.querySelector('h1');
        if (heading) {
          heading.setAttribute('tabindex', '-1');
          heading.focus({ preventScroll: true });
        }
      }
      state.firstRender = false;
    },
  };
}

function pageHead(title, ...lede) {
  return h('div', { class: 'page-head' },
    h('div', null, h('h1', null, title), lede.length ? h('p', { class: 'lede' }, ...lede) : null));
}

function showFailure(view, title, error) {
  if (error instanceof SessionEnded || state.sessionOver) return;
  const detail = error instanceof ApiError ? error.detail : 'Something went wrong while showing this page.';
  if (!(error instanceof ApiError)) console.warn(error);
  const retry = h('button', { type: 'button', class: 'button' }, 'Try again');
  retry.addEventListener('click', () => route());
  view.show('error',
    pageHead(title),
    h('div', { class: 'notice notice--error', role: 'alert', 'data-error-code': error?.code || '' },
      h('p', null, detail),
      h('p', null, retry)));
}

function showNotFound(view, title, text, back) {
  view.title(title);
  view.show('not-found',
    pageHead(title),
    h('div', { class: 'notice notice--info', 'data-not-found': '' },
      h('p', null, text),
      h('p', null, h('a', { href: back.href }, back.text))));
}

function showSessionEnded() {
  if (state.sessionOver) return;
  state.sessionOver = true;
  state.view += 1;
  const content = main();
  clear(content);
  content.setAttribute('data-state', 'error');
  content.setAttribute('data-error', 'session-ended');
  content.removeAttribute('aria-busy');
  document.title = `Session ended${TITLE_SUFFIX}`;
  const note = document.getElementById('session-note');
  if (note) note.textContent = 'Your session has ended.';
  append(content, [
    h('h1', { tabindex: '-1' }, 'Your session has ended'),
    h('div', { class: 'notice notice--info', role: 'alert' },
      h('p', null, 'For your security, portal sessions end after a while or when you sign out. Your figures are safe.'),
      h('p', null, h('a', { href: '/portal/', class: 'button button--primary' }, 'Sign in again'))),
  ]);
  content.querySelector('h1').focus({ preventScroll: true });
}

function tableBlock(label, caption, head, rows, foot) {
  const table = h('table', null,
    h('caption', null, ...caption),
    h('thead', null, h('tr', null, head.map(([text, cls]) => h('th', { scope: 'col', class: cls }, text)))),
    h('tbody', null, rows),
    foot ? h('tfoot', null, foot) : null);
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

function statusBadge(status) {
  const labels = {
    running: 'Running', released: 'Released', expired: 'Expired', preempted: 'Preempted',
    finalized: 'Issued', voided: 'Voided', draft: 'Draft',
  };
  return h('span', { class: `badge badge--${status}`, 'data-status': status }, labels[status] || humanize(status));
}

function stat(label, name, value, text, { key = false, sub = null } = {}) {
  return h('div', { class: key ? 'stat stat--key' : 'stat' },
    h('dt', null, label),
    h('dd', null, fig('span', name, value, text), sub ? h('span', { class: 'stat__sub' }, sub) : null));
}

// ---------------------------------------------------------------------------------------------
// Gauges

const LEVEL_TEXT = {
  ok: 'Below 75 %',
  notice: '75 % or more',
  warning: '90 % or more',
  reached: 'Cap reached',
};

function gauge({ title, name, gauge: value, format, unit }) {
  const level = LEVEL_TEXT[value.level] ? value.level : 'ok';
  const pct = Number(value.percent);
  const clamped = Number.isFinite(pct) ? Math.max(0, Math.min(100, pct)) : 0;
  const fill = h('div', { class: 'gauge__fill' });
  fill.style.width = `${clamped}%`;
  const bar = h('div', {
    class: 'gauge__bar',
    role: 'meter',
    'aria-label': `${title}: share of the cap used`,
    'aria-valuemin': '0',
    'aria-valuemax': '100',
    'aria-valuenow': String(clamped),
    'aria-valuetext': `${percent(value.percent)} of the cap, ${LEVEL_TEXT[level].toLowerCase()}`,
  },
  fill,
  h('span', { class: 'gauge__tick gauge__tick--75' }),
  h('span', { class: 'gauge__tick gauge__tick--90' }),
  h('span', { class: 'gauge__tick gauge__tick--100' }));
  return h('div', { class: `gauge gauge--${level}`, 'data-gauge': name, 'data-level': level },
    h('div', { class: 'gauge__head' },
      h('h3', { class: 'gauge__title' }, title),
      h('span', { class: `level level--${level}` }, LEVEL_TEXT[level])),
    h('p', { class: 'gauge__figures' },
      h('strong', null, fig('span', `${name}.used`, value.used, format(value.used))),
      ' of ',
      fig('span', `${name}.cap`, value.cap, format(value.cap)),
      unit ? ` ${unit}` : '',
      ' · ',
      fig('span', `${name}.percent`, value.percent, percent(value.percent))),
    bar,
    h('div', { class: 'gauge__scale', 'aria-hidden': 'true' },
      h('span', { class: 'at-75' }, '75%'),
      h('span', { class: 'at-90' }, '90%'),
      h('span', { class: 'at-100' }, '100%')));
}

// ---------------------------------------------------------------------------------------------
// Overview

async function renderOverview(view) {
  let overview;
  try {
    overview = await loadOverview(state.firstRender ? 10_000 : 0);
  } catch (error) {
    showFailure(view, 'Overview', error);
    return;
  }
  if (!view.alive()) return;

  const mtd = overview.month_to_date || {};
  const noUsage = isZero(mtd.gpu_seconds ?? '0') && isZero(mtd.net) && !overview.running_allocations;

  const nodes = [
    pageHead('Overview',
      `${monthName(overview.period)} · figures as of `,
      fig('time', 'as_of', overview.as_of, dateTime(overview.as_of), { datetime: overview.as_of }),
      ` (${state.timeZone})`),
  ];
  if (noUsage) nodes.push(overviewNoUsage(overview));
  nodes.push(
    overviewMonthSection(overview),
    overviewProjectionSection(overview),
    overviewQuotaSection(overview.quota),
    overviewCreditSection(overview));

  view.show(noUsage ? 'empty' : 'ready', nodes);
}

// The overview's "No usage yet this month" notice, with links to invoices and credit.
function overviewNoUsage(overview) {
  return h('div', { class: 'notice notice--empty', 'data-empty': 'no-usage' },
    h('h2', null, 'No usage yet this month'),
    h('p', null, 'Nothing has run on your account since ', date(overview.period_start),
      '. As soon as an allocation starts, its GPU-hours and cost show up here within minutes.'),
    h('p', null, h('a', { href: '#/invoices' }, 'See your invoices'), ' · ',
      h('a', { href: '#/credit' }, 'See your prepaid credit')));
}

// The overview's "Month to date" section: the draft's figures and, when set, the budget gauge.
function overviewMonthSection(overview) {
  const mtd = overview.month_to_date || {};
  const quota = overview.quota;
  const monthSection = h('section', { class: 'section', 'aria-labelledby': 'mtd-heading' },
    h('h2', { id: 'mtd-heading' }, 'Month to date'),
    h('dl', { class: 'stats' },
      stat('Net', 'month_to_date.net', mtd.net, money(mtd.net)),
      stat('VAT', 'month_to_date.vat', mtd.vat, money(mtd.vat)),
      stat('Total', 'month_to_date.total', mtd.total, money(mtd.total)),
      stat('Prepaid credit applied', 'month_to_date.credit_applied', mtd.credit_applied, money(mtd.credit_applied)),
      stat('Amount due', 'month_to_date.amount_due', mtd.amount_due, money(mtd.amount_due), { key: true })),
    h('p', { class: 'muted small' },
      'From the live draft of this month\'s invoice. ', h('a', { href: '#/invoices/draft' }, 'Open the draft invoice'),
      [' · ', fig('span', 'month_to_date.gpu_seconds', mtd.gpu_seconds,
        `${gpuHours(mtd.gpu_seconds)} GPU-hours metered`), ' this month']));
  if (quota && quota.budget) {
    monthSection.append(h('div', { class: 'gauges section' },
      gauge({ title: 'Monthly budget', name: 'quota.budget', gauge: quota.budget, format: (v) => money(v) })));
  }
  return monthSection;
}

// The overview's "Projected month end" section: projected figures, run rate and the method.
function overviewProjectionSection(overview) {
  const projected = overview.projected || {};
  return h('section', { class: 'section', 'aria-labelledby': 'projection-heading' },
    h('h2', { id: 'projection-heading' }, 'Projected month end'),
    h('dl', { class: 'stats' },
      stat('Net', 'projected.net', projected.net, money(projected.net)),
      stat('VAT', 'projected.vat', projected.vat, money(projected.vat)),
      stat('Total', 'projected.total', projected.total, money(projected.total), { key: true }),
      stat('Current run rate', 'projected.run_rate_per_hour', projected.run_rate_per_hour,
        money(projected.run_rate_per_hour), { sub: 'net, per hour' }),
      stat('Running allocations', 'running_allocations', String(overview.running_allocations ?? 0),
        plainNumber(String(overview.running_allocations ?? 0)),
        { sub: overview.running_allocations ? h('a', { href: '#/allocations?status=running' }, 'See them') : 'none now' })),
    h('p', { class: 'muted small' },
      'Method: the draft plus running allocations at their current rate until month end or their maximum duration, whichever comes first. The period runs from ',
      fig('time', 'period_start', overview.period_start, date(overview.period_start), { datetime: overview.period_start }),
      ' to the end of ',
      fig('time', 'period_end', overview.period_end, date(new Date(Date.parse(overview.period_end) - 1000).toISOString()), { datetime: overview.period_end }),
      '.'));
}

// The overview's "Quotas" section: the GPU-hour and concurrency gauges, or why there are none.
function overviewQuotaSection(quota) {
  const quotaSection = h('section', { class: 'section', 'aria-labelledby': 'quota-heading' },
    h('h2', { id: 'quota-heading' }, 'Quotas'));
  if (!quota) {
    quotaSection.append(h('p', { class: 'notice notice--info', 'data-quota': 'unavailable' },
      'Quota figures are unavailable right now. Your usage and invoices are not affected.'));
    return quotaSection;
  }
  const gauges = quotaGauges(quota);
  if (!gauges.firstChild && !quota.budget) {
    quotaSection.append(h('p', { class: 'muted' }, 'Your contract sets no budget, GPU-hour or concurrency caps.'));
  } else if (!gauges.firstChild) {
    quotaSection.append(h('p', { class: 'muted' }, 'Your contract sets no GPU-hour or concurrency caps.'));
  } else {
    quotaSection.append(gauges);
  }
  quotaSection.append(h('p', { class: 'muted small' },
    'Held for running allocations (not spent yet): ',
    fig('span', 'quota.open_holds', quota.open_holds, money(quota.open_holds)),
    '. Marks on each bar show 75 %, 90 % and 100 % of the cap.',
    quota.ledger_as_of ? [' Ledger figures as of ',
      fig('time', 'quota.ledger_as_of', quota.ledger_as_of, dateTime(quota.ledger_as_of), { datetime: quota.ledger_as_of }), '.'] : null));
  return quotaSection;
}

// The quota gauges other than the budget: GPU-hours, then one per SKU's concurrency cap.
function quotaGauges(quota) {
  const gauges = h('div', { class: 'gauges' });
  if (quota.gpu_hours) {
    gauges.append(gauge({
      title: 'GPU-hours this month', name: 'quota.gpu_hours', gauge: quota.gpu_hours,
      format: (v) => number(v, 2), unit: 'GPU-hours',
    }));
  }
  for (const concurrent of quota.concurrent || []) {
    gauges.append(gauge({
      title: `Concurrent GPUs · ${concurrent.sku}`, name: `quota.concurrent.${concurrent.sku}`,
      gauge: concurrent, format: (v) => plainNumber(v), unit: 'GPUs',
    }));
  }
  return gauges;
}

// The overview's "Prepaid credit" section: the balance and a link to its history.
function overviewCreditSection(overview) {
  return h('section', { class: 'section', 'aria-labelledby': 'credit-heading' },
    h('h2', { id: 'credit-heading' }, 'Prepaid credit'),
    h('dl', { class: 'stats stats--single' },
      stat('Balance', 'credit_balance', overview.credit_balance, money(overview.credit_balance))),
    h('p', { class: 'muted small' }, 'Credit is drawn by your next invoice. ',
      h('a', { href: '#/credit' }, 'See the credit history')));
}

// ---------------------------------------------------------------------------------------------
// Usage

const PALETTE = ['#1f5fa8', '#c4501b', '#1b7f5f', '#8e3f8e', '#8a6a00', '#3b3b98', '#b0306a', '#4d6b2f', '#006d77', '#7a4a1e'];

function usageQuery(params) {
  const [monthFirst, monthLast] = currentMonthDays();
  const from = isDay(params.get('from')) ? params.get('from') : monthFirst;
  const to = isDay(params.get('to')) ? params.get('to') : monthLast;
  const granularity = params.get('granularity') === 'hour' ? 'hour' : 'day';
  const allocation = (params.get('allocation') || '').trim();
  return { from, to, granularity, allocation, isCurrentMonth: from === monthFirst && to === monthLast && !allocation };
}

function usageHash({ from, to, granularity, allocation }) {
  const params = new URLSearchParams({ from, to, granularity });
  if (allocation) params.set('allocation', allocation);
  return `#/usage?${params}`;
}

function usageForm(query, allocations) {
  const fromInput = h('input', { id: 'usage-from', name: 'from', type: 'date', value: query.from, required: true });
  const toInput = h('input', { id: 'usage-to', name: 'to', type: 'date', value: query.to, required: true });
  const granularity = h('select', { id: 'usage-granularity', name: 'granularity' },
    h('option', { value: 'day', selected: query.granularity === 'day' }, 'Day'),
    h('option', { value: 'hour', selected: query.granularity === 'hour' }, 'Hour'));
  const allocation = h('input', {
    id: 'usage-allocation', name: 'allocation', type: 'text', value: query.allocation,
    list: 'usage-allocation-list', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'All allocations', 'aria-describedby': 'usage-allocation-help',
  });
  const datalist = h('datalist', { id: 'usage-allocation-list' },
    (allocations || []).map((a) => h('option', { value: a.id }, `${a.sku} · ${humanize(a.status)} · ${date(a.started_at)}`)));
  const error = h('p', { class: 'field__error', id: 'usage-form-error', role: 'alert' });
  const form = h('form', { class: 'filters', 'aria-label': 'Usage range', novalidate: true },
    h('div', { class: 'field field--date' }, h('label', { for: 'usage-from' }, 'From'), fromInput),
    h('div', { class: 'field field--date' }, h('label', { for: 'usage-to' }, 'To (inclusive)'), toInput),
    h('div', { class: 'field' }, h('label', { for: 'usage-granularity' }, 'Granularity'), granularity),
    h('div', { class: 'field' },
      h('label', { for: 'usage-allocation' }, 'Allocation'), allocation, datalist,
      h('span', { id: 'usage-allocation-help', class: 'visually-hidden' }, 'Optional: an allocation id to show only its usage')),
    h('div', { class: 'field' }, h('button', { type: 'submit', class: 'button button--primary' }, 'Show usage')),
    error);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = {
      from: fromInput.value, to: toInput.value, granularity: granularity.value, allocation: allocation.value.trim(),
    };
    fromInput.removeAttribute('aria-invalid');
    toInput.removeAttribute('aria-invalid');
    if (!isDay(next.from) || !isDay(next.to)) {
      error.textContent = 'Enter both dates as day, month and year.';
      (isDay(next.from) ? toInput : fromInput).setAttribute('aria-invalid', 'true');
      return;
    }
    if (next.to < next.from) {
      error.textContent = 'The end date must be on or after the start date.';
      toInput.setAttribute('aria-invalid', 'true');
      return;
    }
    error.textContent = '';
    const hash = usageHash(next);
    if (location.hash === hash) route();
    else location.hash = hash;
  });
  return form;
}

function groupKey(bucket) {
  return `${bucket.sku ?? ''}\u001f${bucket.price_class ?? ''}`;
}

function groupLabel(bucket) {
  return `${bucket.sku ?? 'All SKUs'} · ${humanize(bucket.price_class ?? 'all classes')}`;
}

/** The chart's slots: every day (or hour) of the range, so days without usage show as gaps. */
function chartSlots(query, fromMs, toMs) {
  const slots = [];
  if (query.granularity === 'day') {
    for (let day = query.from; day <= query.to && slots.length < 400; day = addDays(day, 1)) {
      slots.push({ key: day, start: startOfLocalDay(day, state.timeZone) });
    }
  } else {
    for (let t = fromMs; t < toMs && slots.length < 24 * 400; t += 3_600_000) {
      slots.push({ key: String(t), start: t });
    }
  }
  return slots;
}

function slotKeyOf(query, bucket) {
  const start = Date.parse(bucket.start);
  return query.granularity === 'day' ? localDay(start) : String(start);
}

function niceStep(max, count) {
  if (max <= 0) return 1;
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

function drawChart(holder, { query, slots, series, groups, colors, summary }) {
  const width = Math.max(300, Math.floor(holder.clientWidth || 800));
  const height = width < 520 ? 240 : 300;
  const margin = { top: 24, right: 10, bottom: 34, left: 54 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const stacks = chartStacks(query, slots, series);
  const { step, top } = chartScale(stacks);
  const frame = {
    width, height, margin, plotWidth,
    y: (value) => margin.top + plotHeight - (value / top) * plotHeight,
    band: plotWidth / Math.max(1, slots.length),
  };

  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, width: String(width), height: String(height),
    role: 'img', 'aria-label': summary, focusable: 'false',
  });
  svg.append(chartGrid(frame, step, top));
  svg.append(chartBars(frame, { query, slots, series, groups, colors, stacks }));
  svg.append(chartLabels(frame, query, slots));

  clear(holder);
  holder.append(svg);
}

// The chart's stacks: each slot's key to the buckets that start in it.
function chartStacks(query, slots, series) {
  const stacks = new Map(slots.map((slot) => [slot.key, []]));
  for (const bucket of series.buckets) {
    const stack = stacks.get(slotKeyOf(query, bucket));
    if (stack) stack.push(bucket);
  }
  return stacks;
}

// The chart's vertical scale: a round grid step and the axis top (GPU-hours) above the tallest stack.
function chartScale(stacks) {
  let max = 0;
  for (const stack of stacks.values()) {
    const total = stack.reduce((sum, bucket) => sum + Number(bucket.gpu_seconds) / 3600, 0);
    max = Math.max(max, total);
  }
  const step = niceStep(max, 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  return { step, top };
}

// The chart's grid: a line and a GPU-hour label per step, and the unit above the axis.
function chartGrid({ width, margin, y }, step, top) {
  const grid = s('g', { 'aria-hidden': 'true' });
  for (let value = 0; value <= top + step / 1000; value += step) {
    grid.append(
      s('line', { class: value === 0 ? 'chart__baseline' : 'chart__grid', x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }),
      s('text', { class: 'chart__axis', x: margin.left - 6, y: y(value) + 4, 'text-anchor': 'end' },
        formatter('axis', () => new Intl.NumberFormat('en-GB', { maximumFractionDigits: 2 })).format(value)));
  }
  grid.append(s('text', { class: 'chart__axis', x: margin.left - 6, y: 11, 'text-anchor': 'end' }, 'GPU-h'));
  return grid;
}

// The chart's bars: per slot, one rect per group stacked in the groups' order, each with a title.
function chartBars({ margin, y, band }, { query, slots, series, groups, colors, stacks }) {
  const barWidth = Math.max(1, band * (slots.length > 100 ? 0.9 : 0.72));
  const bars = s('g', { 'aria-hidden': 'true' });
  slots.forEach((slot, index) => {
    const x = margin.left + index * band + (band - barWidth) / 2;
    let base = 0;
    const stack = stacks.get(slot.key) || [];
    stack.sort((a, b) => groups.indexOf(groupKey(a)) - groups.indexOf(groupKey(b)));
    for (const bucket of stack) {
      const hours = Number(bucket.gpu_seconds) / 3600;
      if (!(hours > 0)) continue;
      const y0 = y(base);
      const y1 = y(base + hours);
      base += hours;
      bars.append(s('rect', {
        x: x.toFixed(2), y: y1.toFixed(2), width: barWidth.toFixed(2), height: Math.max(0.5, y0 - y1).toFixed(2),
        fill: colors.get(groupKey(bucket)), stroke: '#ffffff', 'stroke-width': slots.length > 100 ? '0' : '0.75',
      }, s('title', null, `${slotLabel(query, slot)} · ${groupLabel(bucket)}: ${gpuHours(bucket.gpu_seconds)} GPU-hours, ${money(bucket.amount, series.currency)}`)));
    }
  });
  return bars;
}

// The chart's time axis: a label under every few slots, as many as fit the width.
function chartLabels({ height, margin, plotWidth, band }, query, slots) {
  const labels = s('g', { 'aria-hidden': 'true' });
  const maxLabels = Math.max(2, Math.floor(plotWidth / (query.granularity === 'day' ? 56 : 70)));
  const every = Math.max(1, Math.ceil(slots.length / maxLabels));
  slots.forEach((slot, index) => {
    if (index % every !== 0) return;
    const x = margin.left + index * band + band / 2;
    labels.append(s('text', { class: 'chart__axis', x: x.toFixed(2), y: height - margin.bottom + 16, 'text-anchor': 'middle' },
      axisLabel(query, slot)));
  });
  return labels;
}

function slotLabel(query, slot) {
  return query.granularity === 'day'
    ? dateTime(new Date(slot.start).toISOString(), { day: 'numeric', month: 'short', year: 'numeric' })
    : dateTime(new Date(slot.start).toISOString(), { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function axisLabel(query, slot) {
  const iso = new Date(slot.start).toISOString();
  if (query.granularity === 'day') return dateTime(iso, { day: 'numeric', month: 'short' });
  const p = zonedParts(slot.start, state.timeZone);
  return p.hour === 0 ? dateTime(iso, { day: 'numeric', month: 'short' }) : dateTime(iso, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function csvField(value, { text = false } = {}) {
  let field = value === null || value === undefined ? '' : String(value);
  // A text cell a spreadsheet would read as a formula is quoted as text.
  if (text && /^[=+\-@\t\r]/.test(field)) field = `'${field}`;
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

function usageCsv(series, startText) {
  const header = ['start', 'end', 'start_local', 'sku', 'price_class', 'allocation_id', 'gpu_seconds', 'gpu_hours', 'amount', 'currency'];
  const lines = [header.join(',')];
  for (const bucket of series.buckets) {
    lines.push([
      csvField(bucket.start), csvField(bucket.end), csvField(startText(bucket)),
      csvField(bucket.sku, { text: true }), csvField(bucket.price_class, { text: true }),
      csvField(bucket.allocation_id, { text: true }),
      csvField(bucket.gpu_seconds), csvField(gpuHoursPlain(bucket.gpu_seconds)), csvField(bucket.amount),
      csvField(series.currency),
    ].join(','));
  }
  lines.push([
    'total', '', '', '', '', '',
    csvField(series.total_gpu_seconds), csvField(gpuHoursPlain(series.total_gpu_seconds)), csvField(series.total_amount),
    csvField(series.currency),
  ].join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function download(fileName, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: fileName, class: 'visually-hidden', tabindex: '-1' }, fileName);
  document.body.append(link);
  link.click();
  window.setTimeout(() => {
    link.remove();
    URL.revokeObjectURL(url);
  }, 1000);
}

function safeFilePart(text) {
  return String(text).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'usage';
}

let chartObserver = null;

async function renderUsage(view, params) {
  if (chartObserver) {
    chartObserver.disconnect();
    chartObserver = null;
  }
  try {
    await loadOverview(60_000);
  } catch (error) {
    showFailure(view, 'Usage', error);
    return;
  }
  const query = usageQuery(params);
  const fromMs = startOfLocalDay(query.from, state.timeZone);
  const toMs = startOfLocalDay(addDays(query.to, 1), state.timeZone);
  const loaded = await loadUsage(query, fromMs, toMs);
  if (!loaded) return;
  const { series, failure, allocations } = loaded;
  if (!view.alive()) return;

  const rangeText = `${dateTime(rfc3339(fromMs), { dateStyle: 'medium' })} to ${dateTime(rfc3339(toMs - 1000), { dateStyle: 'medium' })}`;
  const head = pageHead('Usage',
    `GPU-hours and cost at list price, ${rangeText}`,
    query.allocation ? [', allocation ', h('code', null, query.allocation)] : '',
    ` (${state.timeZone}).`);
  const form = usageForm(query, allocations);

  if (failure) {
    view.show('error', head, form, usageFailureNotice(failure));
    return;
  }
  if (series.buckets.length === 0) {
    view.show('empty', head, form, usageEmptyNotice(query));
    return;
  }
  showUsageSeries(view, { query, series, fromMs, toMs, rangeText, head, form });
}

/**
 * Fetches the usage series of `query` and, alongside, the allocations for the form's list:
 * { series, failure, allocations }, or null once the session has ended.
 */
async function loadUsage(query, fromMs, toMs) {
  const apiParams = new URLSearchParams({
    from: rfc3339(fromMs), to: rfc3339(toMs), granularity: query.granularity, group_by: 'sku,price_class',
  });
  if (query.allocation) apiParams.set('allocation', query.allocation);

  const allocationsPromise = api(tenantPath('/allocations?limit=100'))
    .then((page) => page.data || [])
    .catch(() => []);
  let series;
  let failure = null;
  try {
    const body = await api(tenantPath(`/usage?${apiParams}`));
    series = body && body.series ? body.series : body;
    if (!series || !Array.isArray(series.buckets)) {
      throw new ApiError(0, 'unexpected', 'The billing service answered without a usage series.');
    }
  } catch (error) {
    if (error instanceof SessionEnded) return null;
    failure = error;
  }
  const allocations = await allocationsPromise;
  return { series, failure, allocations };
}

// The usage page's error notice when the series could not be fetched.
function usageFailureNotice(failure) {
  const detail = failure instanceof ApiError ? failure.detail : 'The usage could not be shown.';
  if (!(failure instanceof ApiError)) console.warn(failure);
  return h('div', { class: 'notice notice--error', role: 'alert', 'data-error-code': failure.code || '' }, h('p', null, detail));
}

// The usage page's empty notice: no usage this month, or none in the chosen range.
function usageEmptyNotice(query) {
  const message = query.isCurrentMonth ? 'No usage yet this month' : 'No usage in this range';
  return h('div', { class: 'notice notice--empty', 'data-empty': 'no-usage' },
    h('h2', null, message),
    h('p', null, query.isCurrentMonth
      ? 'When your allocations run, their GPU-hours and cost appear here by day, split by SKU and price class.'
      : 'Nothing was metered for this selection. Try a wider range or clear the allocation filter.'));
}

/** Shows a non-empty usage series (chart, CSV download, table), then draws the chart and keeps it fitted. */
function showUsageSeries(view, { query, series, fromMs, toMs, rangeText, head, form }) {
  const { groups, groupBuckets, colors } = usageGroups(series);
  const slots = chartSlots(query, fromMs, toMs);
  const unit = query.granularity === 'day' ? 'day' : 'hour';

  const summary = `Stacked bar chart of GPU-hours per ${unit} by SKU and price class, ${rangeText}: `
    + `${gpuHours(series.total_gpu_seconds)} GPU-hours in total across ${groups.length} `
    + `${groups.length === 1 ? 'group' : 'groups'}. The table below lists every figure.`;
  const holder = h('div', { class: 'chart__canvas' });
  const chart = h('figure', { class: 'chart', 'data-chart': 'usage' },
    h('figcaption', null, `GPU-hours per ${unit}, stacked by SKU and price class`),
    holder, usageLegend(groups, groupBuckets, colors));

  const startText = usageStartText(query);
  const table = usageTable(series, unit, startText);
  const actions = usageCsvActions(query, series, startText);

  view.show('ready', head, form, chart, actions, table);

  const draw = () => drawChart(holder, { query, slots, series, groups, colors, summary });
  draw();
  watchChartWidth(holder, draw);
}

// The series' groups (SKU and price class) in a stable order, a bucket of each and their colours.
function usageGroups(series) {
  const groups = [];
  const groupBuckets = new Map();
  for (const bucket of series.buckets) {
    const key = groupKey(bucket);
    if (!groupBuckets.has(key)) {
      groups.push(key);
      groupBuckets.set(key, bucket);
    }
  }
  groups.sort((a, b) => a.localeCompare(b));
  const colors = new Map(groups.map((key, index) => [key, PALETTE[index % PALETTE.length]]));
  return { groups, groupBuckets, colors };
}

// The chart's legend: one swatch and label per group.
function usageLegend(groups, groupBuckets, colors) {
  return h('ul', { class: 'legend', 'aria-label': 'Legend' },
    groups.map((key) => {
      const swatch = h('span', { class: 'legend__swatch', 'aria-hidden': 'true' });
      swatch.style.backgroundColor = colors.get(key);
      return h('li', null, swatch, groupLabel(groupBuckets.get(key)));
    }));
}

// A bucket's start as the table and the CSV show it: a day, or a day and hour.
function usageStartText(query) {
  return (bucket) => (query.granularity === 'day'
    ? dateTime(bucket.start, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })
    : dateTime(bucket.start, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }));
}

// The usage table: one row per bucket and a total row.
function usageTable(series, unit, startText) {
  const rows = series.buckets.map((bucket) => h('tr', {
    'data-row': `${bucket.start}|${bucket.sku ?? ''}|${bucket.price_class ?? ''}${bucket.allocation_id ? `|${bucket.allocation_id}` : ''}`,
  },
  h('td', null, h('time', { datetime: bucket.start }, startText(bucket))),
  h('td', null, bucket.sku ?? '—'),
  h('td', null, humanize(bucket.price_class)),
  fig('td', 'usage.bucket.gpu_seconds', bucket.gpu_seconds, gpuHours(bucket.gpu_seconds), { class: 'num' }),
  fig('td', 'usage.bucket.amount', bucket.amount, money(bucket.amount, series.currency), { class: 'num' })));
  const foot = h('tr', { 'data-row': 'total' },
    h('th', { scope: 'row', colspan: '3' }, 'Total'),
    fig('td', 'usage.total_gpu_seconds', series.total_gpu_seconds, gpuHours(series.total_gpu_seconds), { class: 'num' }),
    fig('td', 'usage.total_amount', series.total_amount, money(series.total_amount, series.currency), { class: 'num' }));
  return tableBlock('Usage table', [
    `Usage per ${unit}, SKU and price class`,
    h('span', { class: 'caption__note' },
      `Starts in ${state.timeZone}. GPU-hours are GPU-seconds ÷ 3,600, rounded to 2 places; amounts at list price, rounded per row. Your invoice is the authority.`),
  ], [['Start'], ['SKU'], ['Price class'], ['GPU-hours', 'num'], ['Amount', 'num']], rows, foot);
}

// The "Download CSV" button and its note.
function usageCsvActions(query, series, startText) {
  const csvButton = h('button', { type: 'button', class: 'button', 'data-action': 'download-csv' }, 'Download CSV');
  csvButton.addEventListener('click', () => {
    const name = `gpubill-usage-${safeFilePart(state.tenant)}-${query.from}-to-${query.to}-${query.granularity}${query.allocation ? `-${safeFilePart(query.allocation)}` : ''}.csv`;
    download(name, 'text/csv;charset=utf-8', usageCsv(series, startText));
  });
  return h('div', { class: 'actions' }, csvButton,
    h('span', { class: 'muted small' }, 'The CSV holds the exact GPU-seconds and amounts of the table.'));
}

/** Redraws the chart when its holder's width changes by more than 8 px (the page's one observer). */
function watchChartWidth(holder, draw) {
  let lastWidth = holder.clientWidth;
  if ('ResizeObserver' in window) {
    chartObserver = new ResizeObserver(() => {
      if (!holder.isConnected) {
        chartObserver?.disconnect();
        return;
      }
      if (Math.abs(holder.clientWidth - lastWidth) > 8) {
        lastWidth = holder.clientWidth;
        draw();
      }
    });
    chartObserver.observe(holder);
  }
}

// ---------------------------------------------------------------------------------------------
// Allocations

function allocationRow(allocation) {
  const ended = allocation.ended_at
    ? h('time', { datetime: allocation.ended_at }, dateTime(allocation.ended_at))
    : h('span', { class: 'muted' }, 'Not yet');
  return h('tr', { 'data-row': allocation.id },
    h('th', { scope: 'row' }, h('a', { href: `#/allocations/${encodeURIComponent(allocation.id)}` }, h('code', null, allocation.id))),
    h('td', null, statusBadge(allocation.status)),
    h('td', null, allocation.sku),
    h('td', null, humanize(allocation.class)),
    h('td', { class: 'num' }, plainNumber(String(allocation.gpus))),
    h('td', null, h('time', { datetime: allocation.started_at }, dateTime(allocation.started_at))),
    h('td', null, ended),
    fig('td', 'allocation.hold_amount', allocation.hold_amount, money(allocation.hold_amount), { class: 'num' }),
    allocation.captured_amount === null || allocation.captured_amount === undefined
      ? h('td', { class: 'num muted' }, 'Not yet')
      : fig('td', 'allocation.captured_amount', allocation.captured_amount, money(allocation.captured_amount), { class: 'num' }));
}

async function renderAllocations(view, params) {
  const status = ['running', 'released', 'expired', 'preempted'].includes(params.get('status')) ? params.get('status') : '';
  const query = (cursor) => {
    const search = new URLSearchParams({ limit: '50' });
    if (status) search.set('status', status);
    if (cursor) search.set('cursor', cursor);
    return tenantPath(`/allocations?${search}`);
  };
  let page;
  try {
    await loadOverview(60_000);
    page = await api(query(null));
  } catch (error) {
    showFailure(view, 'Allocations', error);
    return;
  }
  if (!view.alive()) return;

  const select = h('select', { id: 'allocation-status', name: 'status' },
    [['', 'All'], ['running', 'Running'], ['released', 'Released'], ['expired', 'Expired'], ['preempted', 'Preempted']]
      .map(([value, text]) => h('option', { value, selected: value === status }, text)));
  const filter = h('form', { class: 'filters', 'aria-label': 'Filter allocations' },
    h('div', { class: 'field' }, h('label', { for: 'allocation-status' }, 'Status'), select),
    h('div', { class: 'field' }, h('button', { type: 'submit', class: 'button' }, 'Show')));
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    const hash = select.value ? `#/allocations?status=${select.value}` : '#/allocations';
    if (location.hash === hash) route();
    else location.hash = hash;
  });

  const head = pageHead('Allocations', `Your GPU allocations, newest first. Times in ${state.timeZone}.`);
  if (page.data.length === 0) {
    view.show('empty', head, filter,
      h('div', { class: 'notice notice--empty', 'data-empty': 'no-allocations' },
        h('h2', null, status ? `No ${humanize(status).toLowerCase()} allocations` : 'No allocations yet'),
        h('p', null, 'Allocations you start through the API are listed here with their GPUs, holds and costs.')));
    return;
  }
  const body = h('tbody', null, page.data.map(allocationRow));
  const table = h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Allocations table' },
    h('table', null,
      h('caption', null, status ? `${humanize(status)} allocations` : 'All allocations',
        h('span', { class: 'caption__note' }, 'Hold: authorized at start for the maximum duration. Captured: what the allocation cost when it ended.')),
      h('thead', null, h('tr', null,
        [['Allocation'], ['Status'], ['SKU'], ['Class'], ['GPUs', 'num'], ['Started'], ['Ended'], ['Hold', 'num'], ['Captured', 'num']]
          .map(([text, cls]) => h('th', { scope: 'col', class: cls }, text)))),
      body));
  const more = pagerButton(page.next_cursor, async (cursor) => {
    const next = await api(query(cursor));
    body.append(...next.data.map(allocationRow));
    return next.next_cursor;
  }, 'Show more allocations');
  view.show('ready', head, filter, table, more);
}

/** A "Show more" button walking `next_cursor`; hidden on the last page. */
function pagerButton(cursor, loadMore, label) {
  const wrap = h('div', { class: 'actions' });
  if (!cursor) return wrap;
  let next = cursor;
  const button = h('button', { type: 'button', class: 'button', 'data-action': 'more' }, label);
  const status = h('span', { class: 'muted small', role: 'status' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = 'Loading…';
    try {
      next = await loadMore(next);
      status.textContent = next ? 'More rows added.' : 'All rows shown.';
      if (!next) button.remove();
    } catch (error) {
      if (error instanceof SessionEnded) return;
      status.textContent = error instanceof ApiError ? error.detail : 'More rows could not be loaded.';
    } finally {
      button.disabled = false;
    }
  });
  wrap.append(button, status);
  return wrap;
}

function migText(gpu) {
  if (gpu.mig_first_slice === null || gpu.mig_first_slice === undefined) return 'Whole GPU';
  const count = gpu.mig_slices ?? 1;
  const last = gpu.mig_first_slice + count - 1;
  return count === 1
    ? `MIG slice ${gpu.mig_first_slice} (1 slice)`
    : `MIG slices ${gpu.mig_first_slice}–${last} (${count} slices)`;
}

function factItem(label, value) {
  return h('div', null, h('dt', null, label), h('dd', null, value));
}

function durationText(seconds) {
  const total = Number(seconds);
  if (!Number.isFinite(total)) return String(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.round((total % 3600) / 60);
  return hours > 0 ? `${hours} h${minutes ? ` ${minutes} min` : ''}` : `${minutes} min`;
}

async function renderAllocation(view, params, id) {
  let allocation;
  try {
    await loadOverview(60_000);
    allocation = await api(`/v1/allocations/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showNotFound(view, 'Allocation not found',
        ['There is no allocation ', h('code', null, id), ' on your account.'],
        { href: '#/allocations', text: 'Back to your allocations' });
      return;
    }
    showFailure(view, 'Allocation', error);
    return;
  }
  if (!view.alive()) return;
  view.title(`Allocation ${allocation.id}`);

  const usageLink = allocationUsageLink(allocation);
  view.show('ready',
    pageHead(`Allocation ${allocation.id}`, `${allocation.gpus} × ${allocation.sku}, ${humanize(allocation.class).toLowerCase()}. Times in ${state.timeZone}.`),
    allocationFacts(allocation),
    allocationPreemption(allocation),
    allocationPlacement(allocation),
    h('p', { class: 'actions' },
      h('a', { href: usageLink, class: 'button' }, 'Usage of this allocation'),
      h('a', { href: '#/allocations' }, 'Back to allocations')));
}

// The link to the allocation's usage: the days it ran on (so far, while it runs).
function allocationUsageLink(allocation) {
  const startDay = localDay(Date.parse(allocation.started_at));
  const lastInstant = allocation.ended_at
    ? Date.parse(allocation.ended_at)
    : Math.min(Date.now(), Date.parse(allocation.max_end_at));
  const endDay = localDay(lastInstant);
  return usageHash({
    from: startDay, to: endDay < startDay ? startDay : endDay, granularity: 'day', allocation: allocation.id,
  });
}

// The allocation's facts card: status, SKU, class, GPUs, times, hold and captured amount.
function allocationFacts(allocation) {
  return h('dl', { class: 'facts card' },
    factItem('Status', statusBadge(allocation.status)),
    factItem('SKU', allocation.sku),
    factItem('Price class', humanize(allocation.class)),
    factItem('GPUs', fig('span', 'allocation.gpus', String(allocation.gpus), plainNumber(String(allocation.gpus)))),
    factItem('Started', h('time', { datetime: allocation.started_at }, dateTime(allocation.started_at))),
    factItem('Ended', allocation.ended_at ? h('time', { datetime: allocation.ended_at }, dateTime(allocation.ended_at)) : 'Still running'),
    factItem('Maximum end', h('time', { datetime: allocation.max_end_at }, dateTime(allocation.max_end_at))),
    factItem('Maximum duration', durationText(allocation.max_duration_seconds)),
    factItem('Hold', fig('span', 'allocation.hold_amount', allocation.hold_amount, money(allocation.hold_amount))),
    factItem('Captured amount', allocation.captured_amount === null || allocation.captured_amount === undefined
      ? 'Not yet: captured when the allocation ends'
      : fig('span', 'allocation.captured_amount', allocation.captured_amount, money(allocation.captured_amount))),
    allocation.class === 'spot' ? factItem('Spot priority', String(allocation.priority)) : null);
}

// The allocation's "Preemption" section (notice, preempting allocation, credit granted), or null.
function allocationPreemption(allocation) {
  if (!(allocation.status === 'preempted' || allocation.notice || allocation.credit_amount)) return null;
  return h('section', { class: 'section', 'aria-labelledby': 'preemption-heading' },
    h('h2', { id: 'preemption-heading' }, 'Preemption'),
    h('div', { class: 'notice notice--info' },
      allocation.notice ? h('p', { 'data-figure': 'allocation.notice', 'data-value': allocation.notice }, allocation.notice) : null,
      allocation.preempted_by ? h('p', null, 'Taken back for allocation ', h('code', null, allocation.preempted_by), '.') : null,
      allocation.credit_amount !== null && allocation.credit_amount !== undefined
        ? h('p', null, 'Prepaid credit granted: ',
          fig('strong', 'allocation.credit_amount', allocation.credit_amount, money(allocation.credit_amount)),
          '. ', h('a', { href: '#/credit' }, 'See your credit'))
        : null));
}

// The allocation's "GPUs" section: its GPUs and MIG slices, or a note that none are recorded.
function allocationPlacement(allocation) {
  const placement = (allocation.placement || []).map((gpu, index) => h('tr', { 'data-row': `${gpu.node}|${gpu.gpu_index}|${gpu.mig_first_slice ?? ''}|${index}` },
    h('td', null, gpu.node),
    h('td', { class: 'num' }, String(gpu.gpu_index)),
    h('td', null, migText(gpu)),
    h('td', null, h('code', null, gpu.gpu_uuid))));
  return h('section', { class: 'section', 'aria-labelledby': 'gpus-heading' },
    h('h2', { id: 'gpus-heading' }, 'GPUs'),
    placement.length
      ? tableBlock('GPUs of this allocation', ['GPUs and MIG slices given to this allocation'],
        [['Node'], ['GPU index', 'num'], ['MIG slice'], ['GPU UUID']], placement)
      : h('p', { class: 'muted' }, 'No GPU placement is recorded for this allocation.'));
}

// ---------------------------------------------------------------------------------------------
// Invoices and credit notes

async function allInvoices() {
  const rows = [];
  let cursor = null;
  for (let pages = 0; pages < 20; pages += 1) {
    const search = new URLSearchParams({ limit: '200' });
    if (cursor) search.set('cursor', cursor);
    const page = await api(tenantPath(`/invoices?${search}`));
    rows.push(...(page.data || []));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return rows;
}

async function renderInvoices(view) {
  let invoices;
  try {
    await loadOverview(60_000);
    invoices = await allInvoices();
  } catch (error) {
    showFailure(view, 'Invoices', error);
    return;
  }
  if (!view.alive()) return;
  invoices.reverse(); // newest first

  const draftCard = h('div', { class: 'notice notice--info', 'data-draft-link': '' },
    h('p', null, h('strong', null, `${monthName(state.period)} is still open. `),
      'Its invoice is composed live from your metered usage until the month ends. ',
      h('a', { href: '#/invoices/draft' }, `View the live draft for ${monthName(state.period)}`)));

  const head = pageHead('Invoices', 'Issued invoices, newest first, with their PDF and e-invoice files.');
  if (invoices.length === 0) {
    view.show('empty', head, draftCard,
      h('div', { class: 'notice notice--empty section', 'data-empty': 'no-invoices' },
        h('h2', null, 'No invoices issued yet'),
        h('p', null, 'Your first invoice is issued after the end of your first month of usage.')));
    return;
  }
  const rows = invoices.map((invoice) => h('tr', { 'data-row': invoice.number },
    h('th', { scope: 'row' }, h('a', { href: `#/invoices/${encodeURIComponent(invoice.number)}` }, invoice.number)),
    h('td', null, monthName(invoice.period)),
    h('td', null, invoice.issued_at ? h('time', { datetime: invoice.issued_at }, date(invoice.issued_at)) : '—'),
    h('td', null, statusBadge(invoice.status),
      invoice.credit_note ? [' ', h('a', { href: `#/credit-notes/${encodeURIComponent(invoice.credit_note)}` }, invoice.credit_note)] : null),
    fig('td', 'invoice.total', invoice.total, money(invoice.total, invoice.currency), { class: 'num' }),
    fig('td', 'invoice.amount_due', invoice.amount_due, money(invoice.amount_due, invoice.currency), { class: 'num' })));
  view.show('ready', head, draftCard,
    h('div', { class: 'section' },
      tableBlock('Invoices table', ['Issued invoices'],
        [['Number'], ['Period'], ['Issued'], ['Status'], ['Total', 'num'], ['Amount due', 'num']], rows)));
}

function downloadLinks(kind, number) {
  const base = `/v1/${kind}/${encodeURIComponent(number)}`;
  const label = kind === 'invoices' ? 'invoice' : 'credit note';
  return h('section', { class: 'section', 'aria-labelledby': 'downloads-heading' },
    h('h2', { id: 'downloads-heading' }, 'Downloads'),
    h('div', { class: 'downloads' },
      h('a', { class: 'button', href: `${base}/pdf`, download: '', 'data-download': 'pdf' }, `PDF ${label}`),
      h('a', { class: 'button', href: `${base}/e-invoice?syntax=cii`, download: '', 'data-download': 'cii' }, 'E-invoice, CII XML'),
      h('a', { class: 'button', href: `${base}/e-invoice?syntax=ubl`, download: '', 'data-download': 'ubl' }, 'E-invoice, UBL XML')),
    h('p', { class: 'muted small' }, 'The PDF is PDF/A-3 with the CII e-invoice embedded (Factur-X).'));
}

function invoiceLines(invoice) {
  // Lines are numbered from 1 as on the PDF and the e-invoice; data-row keeps the API's `line`.
  const rows = (invoice.lines || []).map((line, index) => h('tr', { 'data-row': String(line.line) },
    h('td', { class: 'num' }, String(index + 1)),
    h('td', { class: 'wrap' }, line.description,
      line.adjustment ? h('span', { class: 'stat__sub' }, `Adjustment for ${monthName(line.service_period)}`) : null),
    h('td', null, monthName(line.service_period)),
    fig('td', 'line.quantity_gpu_hours', line.quantity_gpu_hours, plainNumber(line.quantity_gpu_hours), { class: 'num' }),
    fig('td', 'line.unit_price', line.unit_price, unitPrice(line.unit_price, invoice.currency), { class: 'num' }),
    h('td', { class: 'num' }, `${percentOfFraction(line.vat_rate)} %`),
    fig('td', 'line.amount', line.amount, money(line.amount, invoice.currency), { class: 'num' })));
  return tableBlock('Invoice lines', ['Lines', h('span', { class: 'caption__note' }, 'Quantities in GPU-hours; amounts net of VAT.')],
    [['Line', 'num'], ['Description'], ['Service period'], ['GPU-hours', 'num'], ['Unit price', 'num'], ['VAT', 'num'], ['Amount', 'num']], rows);
}

function invoiceTotals(invoice, prefix) {
  const rate = percentOfFraction(invoice.vat_rate);
  return h('dl', { class: 'summary card' },
    h('dt', null, 'Net total'), h('dd', null, fig('span', `${prefix}.net_total`, invoice.net_total, money(invoice.net_total, invoice.currency))),
    h('dt', null, `VAT (${rate} %)`), h('dd', null, fig('span', `${prefix}.vat_total`, invoice.vat_total, money(invoice.vat_total, invoice.currency))),
    h('dt', { class: 'summary__total' }, 'Total'), h('dd', { class: 'summary__total' }, fig('span', `${prefix}.total`, invoice.total, money(invoice.total, invoice.currency))),
    h('dt', null, 'Prepaid credit applied'), h('dd', null, fig('span', `${prefix}.credit_applied`, invoice.credit_applied, money(invoice.credit_applied, invoice.currency))),
    h('dt', { class: 'summary__total' }, 'Amount due'), h('dd', { class: 'summary__total' }, fig('span', `${prefix}.amount_due`, invoice.amount_due, money(invoice.amount_due, invoice.currency))));
}

function invoiceFacts(invoice) {
  return h('dl', { class: 'facts card' },
    factItem('Status', statusBadge(invoice.status)),
    factItem('Period', `${monthName(invoice.period)} (${invoice.time_zone})`),
    factItem('Issued', invoice.issued_at ? h('time', { datetime: invoice.issued_at }, dateTime(invoice.issued_at)) : 'Not issued yet'),
    factItem('Currency', invoice.currency),
    factItem('VAT', [`${humanize(invoice.vat_category)}, ${percentOfFraction(invoice.vat_rate)} %`,
      invoice.vat_mention ? h('span', { class: 'stat__sub' }, invoice.vat_mention) : null]),
    invoice.vat_number ? factItem('Your VAT number', invoice.vat_number) : null);
}

async function renderInvoice(view, params, number) {
  let invoice;
  try {
    await loadOverview(60_000);
    invoice = await api(`/v1/invoices/${encodeURIComponent(number)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showNotFound(view, 'Invoice not found', ['There is no invoice ', h('code', null, number), ' on your account.'],
        { href: '#/invoices', text: 'Back to your invoices' });
      return;
    }
    showFailure(view, 'Invoice', error);
    return;
  }
  if (!view.alive()) return;
  view.title(`Invoice ${invoice.number}`);
  const voided = invoice.status === 'voided' || invoice.credit_note
    ? h('div', { class: 'notice notice--error', 'data-voided': '' },
      h('p', null, 'This invoice is void. ',
        invoice.credit_note
          ? ['It is cancelled by credit note ', h('a', { href: `#/credit-notes/${encodeURIComponent(invoice.credit_note)}` }, invoice.credit_note), '.']
          : null))
    : null;
  view.show('ready',
    pageHead(`Invoice ${invoice.number}`, `${monthName(invoice.period)} · `, fig('span', 'invoice.total', invoice.total, money(invoice.total, invoice.currency)), ' total'),
    voided,
    invoiceFacts(invoice),
    h('section', { class: 'section', 'aria-labelledby': 'lines-heading' },
      h('h2', { id: 'lines-heading' }, 'Charges'),
      invoiceLines(invoice),
      h('div', { class: 'section' }, invoiceTotals(invoice, 'invoice'))),
    downloadLinks('invoices', invoice.number),
    h('p', { class: 'actions' }, h('a', { href: '#/invoices' }, 'Back to invoices')));
}

async function renderDraft(view) {
  let invoice;
  try {
    await loadOverview(60_000);
    invoice = await api(tenantPath(`/invoices/draft?${new URLSearchParams({ period: state.period })}`));
  } catch (error) {
    showFailure(view, 'Draft invoice', error);
    return;
  }
  if (!view.alive()) return;
  view.title(`Draft invoice ${monthName(invoice.period)}`);
  const head = pageHead(`Draft invoice · ${monthName(invoice.period)}`,
    'Composed live from your metered usage: figures change until the month ends and the invoice is issued.');
  if (!invoice.lines || invoice.lines.length === 0) {
    view.show('empty', head,
      h('div', { class: 'notice notice--empty', 'data-empty': 'no-charges' },
        h('h2', null, 'No charges yet this month'),
        h('p', null, 'Nothing has been billed for this month so far. Lines appear here as your allocations run.')),
      invoiceTotals(invoice, 'invoice'));
    return;
  }
  view.show('ready', head,
    invoiceFacts(invoice),
    h('section', { class: 'section', 'aria-labelledby': 'lines-heading' },
      h('h2', { id: 'lines-heading' }, 'Charges so far'),
      invoiceLines(invoice),
      h('div', { class: 'section' }, invoiceTotals(invoice, 'invoice'))),
    h('p', { class: 'actions' }, h('a', { href: '#/invoices' }, 'Back to invoices')));
}

async function renderCreditNote(view, params, number) {
  let note;
  try {
    await loadOverview(60_000);
    note = await api(`/v1/credit-notes/${encodeURIComponent(number)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showNotFound(view, 'Credit note not found', ['There is no credit note ', h('code', null, number), ' on your account.'],
        { href: '#/invoices', text: 'Back to your invoices' });
      return;
    }
    showFailure(view, 'Credit note', error);
    return;
  }
  if (!view.alive()) return;
  view.title(`Credit note ${note.number}`);
  const currency = state.currency;
  const rows = (note.lines || []).map((line, index) => h('tr', { 'data-row': String(line.line) },
    h('td', { class: 'num' }, String(index + 1)),
    h('td', { class: 'wrap' }, line.description),
    fig('td', 'line.quantity', line.quantity, plainNumber(line.quantity), { class: 'num' }),
    fig('td', 'line.unit_price', line.unit_price, unitPrice(line.unit_price, currency), { class: 'num' }),
    h('td', { class: 'num' }, `${percentOfFraction(line.vat_rate)} %`),
    fig('td', 'line.amount', line.amount, money(line.amount, currency), { class: 'num' })));
  view.show('ready',
    pageHead(`Credit note ${note.number}`, 'Cancels invoice ',
      h('a', { href: `#/invoices/${encodeURIComponent(note.invoice_number)}` }, note.invoice_number), '.'),
    h('dl', { class: 'facts card' },
      factItem('Invoice cancelled', h('a', { href: `#/invoices/${encodeURIComponent(note.invoice_number)}` }, note.invoice_number)),
      factItem('Issued', h('time', { datetime: note.issued_at }, dateTime(note.issued_at))),
      factItem('Reason', note.reason)),
    h('section', { class: 'section', 'aria-labelledby': 'lines-heading' },
      h('h2', { id: 'lines-heading' }, 'Lines'),
      tableBlock('Credit note lines', ['Lines credited', h('span', { class: 'caption__note' }, 'Amounts net of VAT.')],
        [['Line', 'num'], ['Description'], ['Quantity', 'num'], ['Unit price', 'num'], ['VAT', 'num'], ['Amount', 'num']], rows),
      h('div', { class: 'section' },
        h('dl', { class: 'summary card' },
          h('dt', null, 'Net total'), h('dd', null, fig('span', 'credit_note.net_total', note.net_total, money(note.net_total, currency))),
          h('dt', null, 'VAT'), h('dd', null, fig('span', 'credit_note.vat_total', note.vat_total, money(note.vat_total, currency))),
          h('dt', { class: 'summary__total' }, 'Total credited'), h('dd', { class: 'summary__total' }, fig('span', 'credit_note.total', note.total, money(note.total, currency))),
          h('dt', null, 'Prepaid credit returned'), h('dd', null, fig('span', 'credit_note.credit_returned', note.credit_returned, money(note.credit_returned, currency)))))),
    downloadLinks('credit-notes', note.number),
    h('p', { class: 'actions' }, h('a', { href: '#/invoices' }, 'Back to invoices')));
}

// ---------------------------------------------------------------------------------------------
// Credit

function creditRow(movement, seen) {
  const base = movement.transaction_id;
  const count = (seen.get(base) || 0) + 1;
  seen.set(base, count);
  const negative = compareDecimal(movement.amount, '0') < 0;
  return h('tr', { 'data-row': count === 1 ? base : `${base}#${count}` },
    h('td', null, h('time', { datetime: movement.booked_at }, dateTime(movement.booked_at))),
    h('td', null, humanize(movement.kind)),
    h('td', { class: 'wrap' }, movement.description),
    fig('td', 'credit.movement.amount', movement.amount,
      `${negative ? '' : '+'}${money(movement.amount)}`, { class: 'num' }),
    fig('td', 'credit.movement.balance', movement.balance, money(movement.balance), { class: 'num' }));
}

async function renderCredit(view) {
  const query = (cursor) => {
    const search = new URLSearchParams({ limit: '50' });
    if (cursor) search.set('cursor', cursor);
    return tenantPath(`/credit?${search}`);
  };
  let credit;
  try {
    await loadOverview(60_000);
    credit = await api(query(null));
  } catch (error) {
    showFailure(view, 'Credit', error);
    return;
  }
  if (!view.alive()) return;
  const currency = credit.currency || state.currency;
  const seen = new Map();
  const head = pageHead('Prepaid credit', `Credit is drawn by your invoices. Times in ${state.timeZone}.`);
  const balance = h('dl', { class: 'stats stats--single' },
    stat('Balance', 'credit.balance', credit.balance, money(credit.balance, currency), { key: true }));
  const data = credit.data || [];
  if (data.length === 0) {
    view.show('ready', head, balance,
      h('p', { class: 'notice notice--info section', 'data-empty': 'no-movements' }, 'No credit has been granted or drawn on your account yet.'));
    return;
  }
  const body = h('tbody', null, data.map((movement) => creditRow(movement, seen)));
  const table = h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Credit history table' },
    h('table', null,
      h('caption', null, 'History, oldest first', h('span', { class: 'caption__note' }, 'Grants add to the balance; invoices draw from it.')),
      h('thead', null, h('tr', null,
        [['Booked'], ['Kind'], ['Description'], ['Amount', 'num'], ['Balance after', 'num']]
          .map(([text, cls]) => h('th', { scope: 'col', class: cls }, text)))),
      body));
  const more = pagerButton(credit.next_cursor, async (cursor) => {
    const next = await api(query(cursor));
    body.append(...(next.data || []).map((movement) => creditRow(movement, seen)));
    return next.next_cursor;
  }, 'Show more');
  view.show('ready', head, balance, h('div', { class: 'section' }, table), more);
}

// ---------------------------------------------------------------------------------------------
// Routing

const ROUTES = [
  [/^\/overview$/, 'overview', 'Overview', renderOverview],
  [/^\/usage$/, 'usage', 'Usage', renderUsage],
  [/^\/allocations$/, 'allocations', 'Allocations', renderAllocations],
  [/^\/allocations\/([^/]+)$/, 'allocation', 'Allocation', renderAllocation],
  [/^\/invoices$/, 'invoices', 'Invoices', renderInvoices],
  [/^\/invoices\/draft$/, 'draft', 'Draft invoice', renderDraft],
  [/^\/invoices\/([^/]+)$/, 'invoice', 'Invoice', renderInvoice],
  [/^\/credit-notes\/([^/]+)$/, 'credit-note', 'Credit note', renderCreditNote],
  [/^\/credit$/, 'credit', 'Credit', renderCredit],
];

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function route() {
  if (state.sessionOver) return;
  const raw = location.hash.replace(/^#/, '');
  const at = raw.indexOf('?');
  const path = at === -1 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at === -1 ? '' : raw.slice(at + 1));
  if (path === '' || path === '/' || path === 'content') {
    history.replaceState(null, '', '#/overview');
    return route();
  }
  for (const [pattern, page, title, render] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      const view = begin(page, title);
      render(view, params, ...match.slice(1).map(decode)).catch((error) => showFailure(view, title, error));
      return undefined;
    }
  }
  const view = begin('not-found', 'Page not found');
  view.show('not-found', pageHead('Page not found'),
    h('div', { class: 'notice notice--info', 'data-not-found': '' },
      h('p', null, 'This address does not match a page of the portal.'),
      h('p', null, h('a', { href: '#/overview' }, 'Go to the overview'))));
  return undefined;
}

function start() {
  const skip = document.querySelector('[data-skip]');
  if (skip) {
    skip.addEventListener('click', (event) => {
      event.preventDefault();
      const heading = main().querySelector('h1');
      const target = heading || main();
      if (heading) heading.setAttribute('tabindex', '-1');
      target.focus();
    });
  }
  window.addEventListener('hashchange', route);
  watchSessionExpiry();
  updateSessionNote();
  route();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
