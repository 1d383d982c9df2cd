// End-to-end checks of the gpubill customer portal in headless Chromium.
//
//   PORTAL_LINK=... API_BASE=http://127.0.0.1:18080 TENANT=... TENANT_KEY=... \
//   FOREIGN_ALLOCATION_ID=... XSS_PORTAL_LINK=... EMPTY_PORTAL_LINK=... \
//   SCREENSHOT_DIR=/tmp/shots [CHROMIUM=/usr/bin/chromium] node e2e.mjs
//
// Prints one line per check (`ok N - ...` / `not ok N - ...: why`), then one JSON line
// {"checks","failed","screenshots","axe"}; exits 1 when a check failed.

import { chromium } from 'playwright-core';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Reporting

let count = 0;
let failed = 0;
const screenshots = [];
const axeReport = {};

function check(description, passed, why = '') {
  count += 1;
  if (passed) {
    console.log(`ok ${count} - ${description}`);
  } else {
    failed += 1;
    console.log(`not ok ${count} - ${description}: ${oneLine(why || 'failed')}`);
  }
  return passed;
}

function skip(description, reason) {
  count += 1;
  console.log(`ok ${count} - ${description} # SKIP ${oneLine(reason)}`);
}

function oneLine(text) {
  return String(text).replace(/\s+/g, ' ').slice(0, 600);
}

/** Runs a group of checks; an exception counts as one failed check instead of ending the run. */
async function step(description, body) {
  try {
    await body();
  } catch (error) {
    check(description, false, error && error.stack ? error.stack.split('\n').slice(0, 3).join(' | ') : String(error));
  }
}

function finish() {
  console.log(JSON.stringify({ checks: count, failed, screenshots, axe: axeReport }));
  process.exitCode = failed > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Environment

const env = {
  PORTAL_LINK: process.env.PORTAL_LINK,
  API_BASE: (process.env.API_BASE || '').replace(/\/+$/, ''),
  TENANT: process.env.TENANT,
  TENANT_KEY: process.env.TENANT_KEY,
  FOREIGN_ALLOCATION_ID: process.env.FOREIGN_ALLOCATION_ID,
  XSS_PORTAL_LINK: process.env.XSS_PORTAL_LINK,
  EMPTY_PORTAL_LINK: process.env.EMPTY_PORTAL_LINK,
  SCREENSHOT_DIR: process.env.SCREENSHOT_DIR,
  CHROMIUM: process.env.CHROMIUM || '/usr/bin/chromium',
};
const missing = Object.entries(env).filter(([, value]) => !value).map(([name]) => name);
if (missing.length) {
  check('environment', false, `missing ${missing.join(', ')}`);
  finish();
  process.exit(1);
}
// The portal's address: API_BASE's, or the host the link lands on (the session cookie's host).
let PORTAL = `${env.API_BASE}/portal/`;
const XSS_NAME = '<img src=x onerror=alert(1)>';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-extensions'];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const READY_TIMEOUT = 20_000;

// ---------------------------------------------------------------------------------------------
// Helpers

async function apiGet(pathAndQuery) {
  const response = await fetch(`${env.API_BASE}${pathAndQuery}`, {
    headers: { Authorization: `Bearer ${env.TENANT_KEY}`, Accept: 'application/json' },
  });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (!response.ok) throw new Error(`GET ${pathAndQuery}: ${response.status} ${text.slice(0, 200)}`);
  return body;
}

const tenantPath = (rest) => `/v1/tenants/${encodeURIComponent(env.TENANT)}${rest}`;

/** Console errors, page errors, CSP violations and dialogs of one page, named by where it was. */
function watch(page, label) {
  const log = { label, console: [], errors: [], csp: [], dialogs: [] };
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    const text = message.text();
    if (/Content[- ]Security[- ]Policy|Refused to (load|execute|apply|connect|evaluate|frame)/i.test(text)) {
      log.csp.push(text);
    } else if (message.type() === 'error') {
      log.console.push(text);
    }
  });
  page.on('pageerror', (error) => log.errors.push(String(error && error.message ? error.message : error)));
  page.on('dialog', async (dialog) => {
    log.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  return log;
}

/** Reports securitypolicyviolation events of every document of `context` into `cspEvents`. */
const cspEvents = [];
async function recordViolations(context, label) {
  await context.exposeFunction('__gpubillCspViolation', (text) => cspEvents.push(`${label}: ${text}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__gpubillCspViolation(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
    });
  });
}

async function waitReady(page, pageName) {
  const selector = pageName
    ? `main#content[data-page="${pageName}"]:not([data-state="loading"])`
    : 'main#content:not([data-state="loading"])';
  await page.waitForSelector(selector, { timeout: READY_TIMEOUT });
  return page.getAttribute('main#content', 'data-state');
}

/** Goes to a hash route of the signed-in app and waits until the page is no longer loading. */
async function visit(page, hash, pageName) {
  const url = new URL(page.url());
  if (url.pathname !== '/portal/' || url.origin !== new URL(PORTAL).origin) {
    await page.goto(`${PORTAL}${hash}`);
  } else {
    await page.evaluate((next) => {
      if (location.hash === next) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = next;
    }, hash);
  }
  return waitReady(page, pageName);
}

async function isSignInPage(page) {
  return (await page.locator('form[action="/portal/sign-in"]').count()) > 0;
}

async function shoot(page, name) {
  const file = path.join(env.SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
  return file;
}

async function figures(page) {
  return page.$$eval('[data-figure]', (elements) => elements.map((element) => [
    element.getAttribute('data-figure'), element.getAttribute('data-value'),
  ]));
}

function flattenOverview(overview) {
  const out = new Map();
  const put = (name, value) => {
    if (value !== undefined && value !== null) out.set(name, String(value));
  };
  for (const key of ['net', 'vat', 'total', 'credit_applied', 'amount_due']) put(`month_to_date.${key}`, overview.month_to_date?.[key]);
  for (const key of ['net', 'vat', 'total', 'run_rate_per_hour']) put(`projected.${key}`, overview.projected?.[key]);
  put('credit_balance', overview.credit_balance);
  put('running_allocations', overview.running_allocations);
  const quota = overview.quota;
  if (quota) {
    for (const name of ['budget', 'gpu_hours']) {
      if (quota[name]) {
        put(`quota.${name}.used`, quota[name].used);
        put(`quota.${name}.cap`, quota[name].cap);
        put(`quota.${name}.percent`, quota[name].percent);
      }
    }
    for (const gauge of quota.concurrent || []) {
      put(`quota.concurrent.${gauge.sku}.used`, gauge.used);
      put(`quota.concurrent.${gauge.sku}.cap`, gauge.cap);
    }
    put('quota.open_holds', quota.open_holds);
  }
  return out;
}

/** GPU-seconds (decimal string) to GPU-hours rounded half-up to 2 places, exactly. */
function hoursOf(seconds) {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(seconds);
  if (!match) return null;
  const fraction = match[2] || '';
  const units = BigInt(match[1] + fraction); // seconds × 10^scale
  const scale = 10n ** BigInt(fraction.length);
  // hours × 100 = units × 100 / (3600 × scale), rounded half up
  const numerator = units * 100n;
  const denominator = 3600n * scale;
  let hundredths = numerator / denominator;
  if ((numerator % denominator) * 2n >= denominator) hundredths += 1n;
  return `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, '0')}`;
}

function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Runs axe-core in a page whose context bypasses CSP; serious and critical violations. */
async function runAxe(page, name, axeSource) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    const outcome = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return outcome.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      nodes: violation.nodes.length,
      target: violation.nodes.slice(0, 3).map((node) => node.target.join(' ')),
    }));
  });
  const serious = result.filter((violation) => violation.impact === 'serious');
  const critical = result.filter((violation) => violation.impact === 'critical');
  axeReport[name] = {
    serious: serious.length,
    critical: critical.length,
    violations: result.map((violation) => violation.id),
  };
  return { serious, critical, all: result };
}

/** The figures of a detail page against the API (fetched twice: only stable values compared). */
async function compareFigures(page, name, { allocationId, invoiceNumber, creditNote }) {
  const sources = {
    allocation: allocationId && [`/v1/allocations/${encodeURIComponent(allocationId)}`, (a) => ({
      'allocation.hold_amount': a.hold_amount, 'allocation.captured_amount': a.captured_amount,
    })],
    invoice: invoiceNumber && [`/v1/invoices/${encodeURIComponent(invoiceNumber)}`, invoiceFigures],
    draft: [null, invoiceFigures],
    'credit-note': creditNote && [`/v1/credit-notes/${encodeURIComponent(creditNote)}`, (n) => ({
      'credit_note.net_total': n.net_total, 'credit_note.vat_total': n.vat_total,
      'credit_note.total': n.total, 'credit_note.credit_returned': n.credit_returned,
    })],
    credit: [tenantPath('/credit?limit=1'), (c) => ({ 'credit.balance': c.balance })],
  };
  if (!sources[name]) return;
  let [source, pick] = sources[name];
  if (name === 'draft') {
    const overview = await apiGet(tenantPath('/overview'));
    source = tenantPath(`/invoices/draft?period=${overview.period}`);
  }
  const first = pick(await apiGet(source));
  const shown = new Map(await figures(page));
  const second = pick(await apiGet(source));
  const problems = [];
  let compared = 0;
  for (const [figure, value] of Object.entries(second)) {
    if (value === null || value === undefined || first[figure] !== value) continue;
    compared += 1;
    if (shown.get(figure) !== String(value)) problems.push(`${figure}: page ${shown.get(figure)} != api ${value}`);
  }
  check(`page ${name} shows the API's figures`, problems.length === 0 && compared > 0, `${compared} compared; ${problems.join('; ')}`);
}

function invoiceFigures(invoice) {
  return {
    'invoice.net_total': invoice.net_total, 'invoice.vat_total': invoice.vat_total, 'invoice.total': invoice.total,
    'invoice.credit_applied': invoice.credit_applied, 'invoice.amount_due': invoice.amount_due,
  };
}

// ---------------------------------------------------------------------------------------------
// The run

await mkdir(env.SCREENSHOT_DIR, { recursive: true });
const axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
const browser = await chromium.launch({ executablePath: env.CHROMIUM, headless: true, args: LAUNCH_ARGS });
const logs = [];

try {
  // Main context: the real CSP, one-time link sign-in.
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true, locale: 'en-GB' });
  await recordViolations(context, 'main');
  const page = await context.newPage();
  const mainLog = watch(page, 'main');
  logs.push(mainLog);
  let signedIn = false;
  let documentResponse = null;

  // 1. The link signs in; the cookie is HttpOnly and SameSite=Strict; the link works once.
  await step('one-time link signs in', async () => {
    documentResponse = await page.goto(env.PORTAL_LINK);
    const url = new URL(page.url());
    if (url.pathname === '/portal/') PORTAL = `${url.origin}/portal/`;
    check('opening PORTAL_LINK lands on /portal/', url.pathname === '/portal/', `landed on ${page.url()} (${documentResponse?.status()})`);
    const stateAfter = await waitReady(page, 'overview');
    signedIn = ['ready', 'empty'].includes(stateAfter);
    check('signed in: overview ready', signedIn, `data-state=${stateAfter}`);
    check('document answered 200', documentResponse?.status() === 200, `status ${documentResponse?.status()}`);

    const cookies = await context.cookies(PORTAL);
    const session = (process.env.SESSION_COOKIE && cookies.find((cookie) => cookie.name === process.env.SESSION_COOKIE))
      || cookies.find((cookie) => /sess/i.test(cookie.name) && !/csrf|xsrf/i.test(cookie.name))
      || cookies.find((cookie) => /portal/i.test(cookie.name) && !/csrf|xsrf/i.test(cookie.name))
      || (cookies.length === 1 ? cookies[0] : null);
    check('a session cookie is set', Boolean(session), `cookies: ${cookies.map((c) => c.name).join(', ') || 'none'}`);
    if (session) {
      check(`session cookie ${session.name} is HttpOnly`, session.httpOnly === true, JSON.stringify(session));
      check(`session cookie ${session.name} is SameSite=Strict`, session.sameSite === 'Strict', `sameSite=${session.sameSite}`);
    }
    const headers = documentResponse ? await documentResponse.allHeaders() : {};
    const csp = headers['content-security-policy'] || '';
    check('document has a content-security-policy header', /script-src 'self'/.test(csp) && /default-src 'none'/.test(csp), `header: ${csp || 'none'}`);
  });

  await step('a used link fails in a fresh context', async () => {
    const fresh = await browser.newContext({ viewport: DESKTOP });
    const freshPage = await fresh.newPage();
    const response = await freshPage.goto(env.PORTAL_LINK);
    check('the same link again answers 401', response?.status() === 401, `status ${response?.status()} at ${freshPage.url()}`);
    check('the same link again shows the sign-in page', await isSignInPage(freshPage), `url ${freshPage.url()}`);
    const code = await freshPage.getAttribute('[data-message-code]', 'data-message-code').catch(() => null);
    check('the sign-in page says why (message code)', Boolean(code), 'no data-message-code');
    await fresh.close();
  });

  if (!signedIn) throw new Error('not signed in: the remaining checks need a session');

  // 2. Overview figures equal the API's (those stable between two API calls around the page load).
  await step('overview figures', async () => {
    let compared = 0;
    let mismatches = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const before = await apiGet(tenantPath('/overview'));
      await page.reload();
      await waitReady(page, 'overview');
      const after = await apiGet(tenantPath('/overview'));
      const shown = new Map(await figures(page));
      const a = flattenOverview(before);
      const b = flattenOverview(after);
      mismatches = [];
      compared = 0;
      let unstable = false;
      for (const [name, value] of b) {
        if (a.get(name) !== value) {
          if (/^(month_to_date|credit_balance|quota\.(budget|gpu_hours)\.used)/.test(name)) unstable = true;
          continue;
        }
        if (!shown.has(name)) {
          if (!/cap|percent|open_holds|running_allocations/.test(name)) mismatches.push(`${name} not shown`);
          continue;
        }
        compared += 1;
        if (shown.get(name) !== value) mismatches.push(`${name}: page ${shown.get(name)} != api ${value}`);
      }
      if (shown.get('tenant_name') !== after.tenant_name) mismatches.push(`tenant_name: page ${shown.get('tenant_name')} != api ${after.tenant_name}`);
      if (!unstable) break;
    }
    check('overview figures equal GET /overview', mismatches.length === 0 && compared >= 6, `${compared} compared; ${mismatches.join('; ')}`);
    const header = await page.textContent('#tenant-name');
    const overview = await apiGet(tenantPath('/overview'));
    check('header shows the tenant name', header === overview.tenant_name, `header "${header}"`);
    check('title is "Overview · gpubill portal"', (await page.title()) === 'Overview · gpubill portal', await page.title());
    const meters = await page.$$eval('[role="meter"]', (elements) => elements.map((element) => ({
      label: element.getAttribute('aria-label'),
      now: element.getAttribute('aria-valuenow'),
      ticks: element.querySelectorAll('.gauge__tick').length,
    })));
    const expectedMeters = overview.quota
      ? (overview.quota.budget ? 1 : 0) + (overview.quota.gpu_hours ? 1 : 0) + (overview.quota.concurrent || []).length
      : 0;
    check('one meter per gauge, labelled, with 3 tick marks', meters.length === expectedMeters
      && meters.every((meter) => meter.label && meter.now !== null && meter.ticks === 3), JSON.stringify(meters));
  });

  // 3. Every page, screenshot at 1280×800, overview at 390×844.
  const pagesVisited = [];
  let allocationId = null;
  let invoiceNumber = null;
  let creditNote = null;
  await step('visit every page', async () => {
    const allocations = await apiGet(tenantPath('/allocations?limit=5'));
    allocationId = allocations.data?.[0]?.id || null;
    const invoices = await apiGet(tenantPath('/invoices?limit=1000'));
    invoiceNumber = invoices.data?.find((invoice) => invoice.status === 'finalized')?.number || invoices.data?.[0]?.number || null;
    creditNote = invoices.data?.find((invoice) => invoice.credit_note)?.credit_note || null;
    const routes = [
      ['overview', '#/overview', 'Overview'],
      ['usage', '#/usage', 'Usage'],
      ['allocations', '#/allocations', 'Allocations'],
      ['allocation', allocationId && `#/allocations/${encodeURIComponent(allocationId)}`, allocationId && `Allocation ${allocationId}`],
      ['invoices', '#/invoices', 'Invoices'],
      ['invoice', invoiceNumber && `#/invoices/${encodeURIComponent(invoiceNumber)}`, invoiceNumber && `Invoice ${invoiceNumber}`],
      ['draft', '#/invoices/draft', null],
      ['credit-note', creditNote && `#/credit-notes/${encodeURIComponent(creditNote)}`, creditNote && `Credit note ${creditNote}`],
      ['credit', '#/credit', 'Credit'],
    ];
    for (const [name, hash, title] of routes) {
      if (!hash) {
        skip(`page ${name}`, `the tenant has no ${name === 'allocation' ? 'allocation' : name === 'invoice' ? 'issued invoice' : 'voided invoice'}`);
        continue;
      }
      const pageState = await visit(page, hash, name);
      const h1 = await page.locator('main h1').count();
      check(`page ${name} (${hash}) is ready with one h1`, ['ready', 'empty'].includes(pageState) && h1 === 1,
        `data-state=${pageState}, h1=${h1}, text: ${(await page.textContent('main#content')).slice(0, 200)}`);
      if (title) check(`page ${name} has title "${title} · gpubill portal"`, (await page.title()) === `${title} · gpubill portal`, await page.title());
      await shoot(page, name);
      pagesVisited.push([name, hash]);
      await compareFigures(page, name, { allocationId, invoiceNumber, creditNote });
    }
    const phone = await context.newPage();
    const phoneLog = watch(phone, 'phone');
    logs.push(phoneLog);
    await phone.setViewportSize(PHONE);
    await phone.goto(`${PORTAL}#/overview`);
    await waitReady(phone, 'overview');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check('overview at 390×844 has no sideways scroll', overflow <= 0, `${overflow}px too wide`);
    await shoot(phone, 'overview-phone');
    await phone.goto(`${PORTAL}#/usage`);
    await waitReady(phone, 'usage');
    const usageOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check('usage at 390×844 has no sideways scroll (tables scroll in their region)', usageOverflow <= 0, `${usageOverflow}px too wide`);
    await shoot(phone, 'usage-phone');
    await phone.close();
  });

  // 4. Usage: totals equal the API series of the same request; the CSV carries every row.
  await step('usage table and CSV', async () => {
    const requestPromise = page.waitForRequest((request) => /\/v1\/tenants\/[^/]+\/usage\?/.test(request.url())
      && new URL(request.url()).searchParams.get('group_by'), { timeout: READY_TIMEOUT });
    await visit(page, '#/overview', 'overview');
    await visit(page, '#/usage', 'usage');
    const request = await requestPromise;
    const requested = new URL(request.url());
    check('usage asks for day buckets split by sku and price class',
      requested.searchParams.get('granularity') === 'day' && requested.searchParams.get('group_by') === 'sku,price_class', requested.search);
    const body = await apiGet(`${requested.pathname}${requested.search}`);
    const series = body.series || body;
    const shown = new Map(await figures(page));
    const state = await page.getAttribute('main#content', 'data-state');
    if (series.buckets.length === 0) {
      check('usage without buckets shows the empty state', state === 'empty', `data-state=${state}`);
      return;
    }
    check('usage total amount equals the API series', shown.get('usage.total_amount') === series.total_amount,
      `page ${shown.get('usage.total_amount')} != api ${series.total_amount}`);
    check('usage total GPU-seconds equal the API series', shown.get('usage.total_gpu_seconds') === series.total_gpu_seconds,
      `page ${shown.get('usage.total_gpu_seconds')} != api ${series.total_gpu_seconds}`);
    const rows = await page.$$eval('main table tbody tr[data-row]', (elements) => elements.length);
    check('one table row per bucket', rows === series.buckets.length, `${rows} rows, ${series.buckets.length} buckets`);
    const chart = await page.$eval('[data-chart] svg', (svg) => ({ role: svg.getAttribute('role'), label: svg.getAttribute('aria-label'), rects: svg.querySelectorAll('rect').length }));
    check('chart is an SVG with role=img and a label', chart.role === 'img' && Boolean(chart.label) && chart.rects > 0, JSON.stringify(chart));
    const scroller = await page.$eval('main .table-scroll', (element) => ({ tabindex: element.getAttribute('tabindex'), label: element.getAttribute('aria-label') }));
    check('table sits in a focusable, named scroll region', scroller.tabindex === '0' && Boolean(scroller.label), JSON.stringify(scroller));

    const [downloadEvent] = await Promise.all([
      page.waitForEvent('download', { timeout: READY_TIMEOUT }),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const csvPath = await downloadEvent.path();
    const csv = parseCsv(await readFile(csvPath, 'utf8'));
    const [header, ...lines] = csv;
    const column = (name) => header.indexOf(name);
    const needed = ['start', 'sku', 'price_class', 'gpu_seconds', 'gpu_hours', 'amount'];
    check('CSV has the columns', needed.every((name) => column(name) >= 0), `header: ${header.join(',')}`);
    const data = lines.filter((line) => line[0] !== 'total');
    const total = lines.find((line) => line[0] === 'total');
    const problems = [];
    if (data.length !== series.buckets.length) problems.push(`${data.length} rows for ${series.buckets.length} buckets`);
    series.buckets.forEach((bucket, index) => {
      const line = data[index];
      if (!line) return;
      const expected = {
        start: bucket.start, sku: bucket.sku ?? '', price_class: bucket.price_class ?? '',
        gpu_seconds: bucket.gpu_seconds, gpu_hours: hoursOf(bucket.gpu_seconds), amount: bucket.amount,
      };
      for (const [name, value] of Object.entries(expected)) {
        if (line[column(name)] !== value) problems.push(`row ${index + 1} ${name}: csv ${line[column(name)]} != ${value}`);
      }
    });
    if (!total) problems.push('no total row');
    else {
      if (total[column('gpu_seconds')] !== series.total_gpu_seconds) problems.push(`total gpu_seconds ${total[column('gpu_seconds')]}`);
      if (total[column('amount')] !== series.total_amount) problems.push(`total amount ${total[column('amount')]}`);
    }
    check('every CSV row equals the API series', problems.length === 0, problems.slice(0, 8).join('; '));
    const tableHours = await page.$$eval('main table tbody tr[data-row] td[data-figure="usage.bucket.gpu_seconds"]',
      (cells) => cells.map((cell) => cell.textContent.replace(/,/g, '')));
    const csvHours = data.map((line) => line[column('gpu_hours')]);
    check('the CSV GPU-hours are the table\'s', JSON.stringify(tableHours) === JSON.stringify(csvHours),
      `table ${tableHours.slice(0, 3)} csv ${csvHours.slice(0, 3)}`);
  });

  // 4b. Usage of one allocation (the allocation filter), from its detail page's link.
  await step('usage of one allocation', async () => {
    const page0 = await apiGet(tenantPath('/allocations?limit=20'));
    const allocation = (page0.data || []).find((a) => a.ended_at) || (page0.data || [])[0];
    if (!allocation) {
      skip('usage filtered by allocation', 'the tenant has no allocation');
      return;
    }
    await visit(page, `#/allocations/${encodeURIComponent(allocation.id)}`, 'allocation');
    const requestPromise = page.waitForRequest((request) => /\/v1\/tenants\/[^/]+\/usage\?/.test(request.url())
      && new URL(request.url()).searchParams.get('allocation') === allocation.id, { timeout: READY_TIMEOUT });
    await page.getByRole('link', { name: 'Usage of this allocation' }).click();
    const pageState = await waitReady(page, 'usage');
    const request = await requestPromise;
    check('the allocation\'s usage page asks the API for that allocation only', Boolean(request), 'no request');
    const requested = new URL(request.url());
    const response = await fetch(`${env.API_BASE}${requested.pathname}${requested.search}`,
      { headers: { Authorization: `Bearer ${env.TENANT_KEY}`, Accept: 'application/json' } });
    const body = await response.json().catch(() => null);
    check('the API answers the allocation filter', response.status === 200, `${response.status} ${body?.detail || ''}`);
    if (response.status !== 200) return;
    const series = body.series || body;
    const shown = new Map(await figures(page));
    if (series.buckets.length === 0) {
      check('an allocation without usage in range shows the empty state', pageState === 'empty', `data-state=${pageState}`);
    } else {
      check('the allocation\'s usage total equals the API series', pageState === 'ready'
        && shown.get('usage.total_amount') === series.total_amount && shown.get('usage.total_gpu_seconds') === series.total_gpu_seconds,
      `data-state=${pageState}; page ${shown.get('usage.total_amount')}/${shown.get('usage.total_gpu_seconds')} != api ${series.total_amount}/${series.total_gpu_seconds}`);
    }
  });

  // 5. Another tenant's allocation is not found.
  await step('foreign allocation', async () => {
    const pageState = await visit(page, `#/allocations/${encodeURIComponent(env.FOREIGN_ALLOCATION_ID)}`, 'allocation');
    check('another tenant\'s allocation shows the not-found state', pageState === 'not-found', `data-state=${pageState}`);
    await shoot(page, 'allocation-not-found');
    const status = await page.evaluate(async (id) => (await fetch(`/v1/allocations/${encodeURIComponent(id)}`,
      { credentials: 'same-origin', headers: { Accept: 'application/json' } })).status, env.FOREIGN_ALLOCATION_ID);
    check('fetch of another tenant\'s allocation answers 404', status === 404, `status ${status}`);
  });

  // 6. axe-core on every page, in a second context that bypasses CSP (only to inject axe).
  await step('accessibility (axe-core)', async () => {
    const storageState = await context.storageState();
    const axeContext = await browser.newContext({ viewport: DESKTOP, bypassCSP: true, storageState });
    const axePage = await axeContext.newPage();
    const targets = [...pagesVisited, ['allocation-not-found', `#/allocations/${encodeURIComponent(env.FOREIGN_ALLOCATION_ID)}`]];
    for (const [name, hash] of targets) {
      await axePage.goto(`${PORTAL}${hash}`);
      await waitReady(axePage, name === 'allocation-not-found' ? 'allocation' : name);
      const result = await runAxe(axePage, name, axeSource);
      check(`axe: no serious or critical violations on ${name}`, result.serious.length + result.critical.length === 0,
        JSON.stringify([...result.serious, ...result.critical]));
    }
    await axePage.setViewportSize(PHONE);
    await axePage.goto(`${PORTAL}#/overview`);
    await waitReady(axePage, 'overview');
    const phone = await runAxe(axePage, 'overview-phone', axeSource);
    check('axe: no serious or critical violations on overview at 390×844', phone.serious.length + phone.critical.length === 0,
      JSON.stringify([...phone.serious, ...phone.critical]));
    await axeContext.close();

    const signInContext = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
    const signInPage = await signInContext.newPage();
    await signInPage.goto(PORTAL);
    const result = await runAxe(signInPage, 'sign-in', axeSource);
    check('axe: no serious or critical violations on sign-in', result.serious.length + result.critical.length === 0,
      JSON.stringify([...result.serious, ...result.critical]));
    await shoot(signInPage, 'sign-in');
    await signInContext.close();
  });

  // 10. Keyboard: Tab from the top reaches the nav links in order; Enter on Usage navigates.
  // A fresh load, so that sequential focus starts at the top of the document.
  const freshOverview = async () => {
    await page.goto(`${PORTAL}#/overview`);
    await page.reload();
    await waitReady(page, 'overview');
  };
  await step('keyboard', async () => {
    await freshOverview();
    const order = [];
    for (let i = 0; i < 12; i += 1) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => {
        const element = document.activeElement;
        return element ? { tag: element.tagName, text: (element.textContent || '').trim(), href: element.getAttribute('href') } : null;
      }));
    }
    const navHrefs = ['#/overview', '#/usage', '#/allocations', '#/invoices', '#/credit'];
    const start = order.findIndex((item) => item && item.href === navHrefs[0]);
    const inOrder = start >= 0 && navHrefs.every((href, index) => order[start + index]?.href === href);
    check('Tab reaches the nav links in order', inOrder, JSON.stringify(order.map((item) => item && (item.href || item.text))));
    const focusables = await page.$$eval('a[href], button, input, select, [tabindex="0"]', (elements) => elements.length);
    check('the page has keyboard-reachable controls', focusables > 5, String(focusables));
    if (inOrder) {
      await freshOverview();
      for (let i = 0; i <= start + 1; i += 1) await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement?.getAttribute('href'));
      check('Tab lands on Usage', focused === '#/usage', `focused ${focused}`);
      await page.keyboard.press('Enter');
      const pageState = await waitReady(page, 'usage');
      check('Enter on Usage opens the usage page', ['ready', 'empty'].includes(pageState), `data-state=${pageState}`);
      const currentLink = await page.getAttribute('a[href="#/usage"]', 'aria-current');
      check('the Usage link is marked current', currentLink === 'page', `aria-current=${currentLink}`);
    }
  });

  // 11. Sign-out ends the session.
  await step('sign-out', async () => {
    await page.goto(`${PORTAL}#/overview`);
    await waitReady(page, 'overview');
    await Promise.all([
      page.waitForNavigation({ timeout: READY_TIMEOUT }),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    check('sign out lands on /portal/', new URL(page.url()).pathname === '/portal/', page.url());
    check('sign out returns to the sign-in page', await isSignInPage(page), page.url());
    const status = await page.evaluate(async (overviewPath) => (await fetch(overviewPath,
      { credentials: 'same-origin', headers: { Accept: 'application/json' } })).status, tenantPath('/overview'));
    check('after sign-out the API answers 401', status === 401, `status ${status}`);
  });

  // 12. Sign in by pasting the key; the key is kept nowhere the page can read.
  await step('sign-in with the key', async () => {
    await page.goto(PORTAL);
    check('without a session /portal/ is the sign-in page', await isSignInPage(page), page.url());
    await page.getByLabel('API key').fill('gpk_this_is_not_a_key');
    const [wrong] = await Promise.all([
      page.waitForNavigation({ timeout: READY_TIMEOUT }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    check('a wrong key answers 401 with the sign-in page', wrong?.status() === 401 && await isSignInPage(page), `status ${wrong?.status()}`);
    const message = (await page.textContent('[data-message-code]').catch(() => '') || '').trim();
    check('a wrong key is explained', message.length > 0, 'no message');

    await page.getByLabel('API key').fill(env.TENANT_KEY);
    const [signedInResponse] = await Promise.all([
      page.waitForNavigation({ timeout: READY_TIMEOUT }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    check('signing in with the key lands on /portal/', new URL(page.url()).pathname === '/portal/' && signedInResponse?.status() === 200,
      `${signedInResponse?.status()} at ${page.url()}`);
    const pageState = await waitReady(page);
    const pageName = await page.getAttribute('main#content', 'data-page');
    check('pasting the key signs in (overview ready)', pageName === 'overview' && ['ready', 'empty'].includes(pageState),
      `data-page=${pageName} data-state=${pageState}`);
    const stored = await page.evaluate((key) => ({
      cookie: document.cookie.includes(key),
      local: Object.keys(localStorage).some((name) => name.includes(key) || (localStorage.getItem(name) || '').includes(key)),
      session: Object.keys(sessionStorage).some((name) => name.includes(key) || (sessionStorage.getItem(name) || '').includes(key)),
      url: location.href.includes(key),
      dom: document.documentElement.outerHTML.includes(key),
    }), env.TENANT_KEY);
    check('the key is not in document.cookie, localStorage, sessionStorage, the URL or the DOM',
      !stored.cookie && !stored.local && !stored.session && !stored.url && !stored.dom, JSON.stringify(stored));
    const cookies = await context.cookies(PORTAL);
    check('no cookie carries the key', cookies.every((cookie) => !cookie.value.includes(env.TENANT_KEY)), cookies.map((c) => c.name).join(','));
  });

  // 8. XSS: a tenant named <img src=x onerror=alert(1)> renders as text.
  await step('xss tenant', async () => {
    const xssContext = await browser.newContext({ viewport: DESKTOP });
    await recordViolations(xssContext, 'xss');
    const xssPage = await xssContext.newPage();
    const xssLog = watch(xssPage, 'xss');
    logs.push(xssLog);
    await xssPage.goto(env.XSS_PORTAL_LINK);
    await waitReady(xssPage, 'overview');
    for (const [name, hash] of [['usage', '#/usage'], ['allocations', '#/allocations'], ['invoices', '#/invoices'], ['credit', '#/credit'], ['overview', '#/overview']]) {
      await visit(xssPage, hash, name);
    }
    await xssPage.waitForTimeout(500);
    const header = await xssPage.textContent('#tenant-name');
    check('the header shows the tenant name as literal text', header === XSS_NAME, `header "${header}"`);
    const images = await xssPage.$$eval('img', (elements) => elements.filter((element) => element.getAttribute('src') === 'x').length);
    check('no img element with src="x" exists', images === 0, `${images} found`);
    check('no dialog opened', xssLog.dialogs.length === 0, xssLog.dialogs.join('; '));
    await shoot(xssPage, 'xss-overview');
    await xssContext.close();
  });

  // 9. Empty state: a tenant without usage.
  await step('empty tenant', async () => {
    const emptyContext = await browser.newContext({ viewport: DESKTOP });
    await recordViolations(emptyContext, 'empty');
    const emptyPage = await emptyContext.newPage();
    logs.push(watch(emptyPage, 'empty'));
    await emptyPage.goto(env.EMPTY_PORTAL_LINK);
    for (const [name, hash] of [['overview', '#/overview'], ['usage', '#/usage']]) {
      const pageState = await visit(emptyPage, hash, name);
      const emptyMark = await emptyPage.locator('main [data-empty]').count();
      const text = await emptyPage.textContent('main#content');
      check(`${name} of a tenant without usage is the empty state`, pageState === 'empty' || emptyMark > 0, `data-state=${pageState}`);
      check(`${name} says "No usage yet this month"`, /No usage yet this month/.test(text), text.slice(0, 200));
      check(`${name} of a tenant without usage draws no chart`, (await emptyPage.locator('main [data-chart]').count()) === 0, 'chart drawn');
      await shoot(emptyPage, `empty-${name}`);
    }
    await emptyContext.close();
  });

  // 7. CSP: the header was checked on the document; no violation, no page error anywhere.
  await step('content security policy', async () => {
    const csp = logs.flatMap((log) => log.csp.map((text) => `${log.label}: ${text}`));
    check('no CSP violation in any console', csp.length === 0, csp.slice(0, 5).join(' | '));
    check('no securitypolicyviolation event', cspEvents.length === 0, cspEvents.slice(0, 5).join(' | '));
    const dialogs = logs.flatMap((log) => log.dialogs.map((text) => `${log.label}: ${text}`));
    check('no dialog opened on any page', dialogs.length === 0, dialogs.join(' | '));
    const errors = logs.flatMap((log) => log.errors.map((text) => `${log.label}: ${text}`));
    check('no uncaught page error', errors.length === 0, errors.slice(0, 5).join(' | '));
  });
  await context.close();
} catch (error) {
  check('run', false, error && error.stack ? error.stack.split('\n').slice(0, 3).join(' | ') : String(error));
} finally {
  await browser.close().catch(() => {});
  finish();
}
