// Drives lookout's log viewer (/admin) in Debian's headless Chromium through playwright-core.
//
// Run by tests/viewer.rs, which starts the real server, sends the calls and passes what the
// pages must show as one JSON argument:
//
//   node tests/browser/viewer.mjs '{"base":"https://localhost:PORT","token":"...",
//     "ca":"<dir>/certs/ca.pem","shots":"target/viewer-screenshots", "expect":{...}}'
//
// Chromium trusts the server the way a person's browser would: the development CA is added
// to an NSS database in a throw-away HOME (certutil, from Debian's libnss3-tools), so TLS is
// verified for real (no --ignore-certificate-errors, no ignoreHTTPSErrors).
//
// Talking to the Rust test: this script writes protocol lines on stdout (`screenshot <path>`,
// `edit-rules`) and, after `edit-rules`, waits for the line `rules-edited` on stdin (the test
// edits a rule on disk and waits until the server serves the new version). Everything for
// people goes to stderr. Any failed check ends the script with exit code 1 and
// `FAILED step (x) <name>: <what>`.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StepFailure, check, stdinLines, trustedHome as homeTrusting, until as untilHolds } from './harness.mjs';

const CHROMIUM = process.env.LOOKOUT_CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 15_000;
const OVERALL_MS = Number(process.env.LOOKOUT_VIEWER_TIMEOUT_MS || 100_000);

const cfg = JSON.parse(process.argv[2] || '{}');
for (const key of ['base', 'token', 'ca', 'shots', 'expect']) {
  if (!cfg[key]) fail('setup', `missing "${key}" in the JSON argument`);
}
const E = cfg.expect;
const origin = new URL(cfg.base).origin;

let step = 'setup';
const log = (...a) => console.error('[viewer]', ...a);
const protocol = (line) => process.stdout.write(line + '\n');

function fail(name, message) {
  console.error(`FAILED step ${name}: ${message}`);
  process.exit(1);
}
function begin(name) {
  step = name;
  log(`step ${name}`);
}

// ---- stdin: lines from the Rust test ---------------------------------------------------
const nextLine = stdinLines();

// ---- Chromium with the dev CA trusted -----------------------------------------------------
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-viewer-'));
const trustedHome = () => homeTrusting(scratch, cfg.ca);

let browser;
let current; // the page a failure screenshot is taken of
async function launch() {
  const home = trustedHome();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: home },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // No --user-data-dir: playwright-core gives every launch a fresh, empty one in a
      // temp folder and removes it on close.
    ],
  });
  log(`Chromium ${browser.version()} (${CHROMIUM})`);
}

// A context records page errors, console errors and every request that leaves for another
// origin (the viewer serves all its assets itself).
function watch(context, label) {
  const problems = [];
  context.on('page', (page) => attach(page));
  const attach = (page) => {
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('pageerror', (e) => problems.push(`${label}: script error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const url = m.location()?.url || '';
      if (url.endsWith('/favicon.ico')) return;
      // A 401 is what some steps ask for; Chromium logs it as a failed resource. So is
      // the status a step says it expects (context.expectStatus).
      if (/status of 401/.test(m.text()) && context.expect401) return;
      if (context.expectStatus && m.text().includes(`status of ${context.expectStatus}`)) return;
      problems.push(`${label}: console error: ${m.text()} (${url})`);
    });
    page.on('request', (r) => {
      const u = r.url();
      if (u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank') return;
      if (new URL(u).origin !== origin) problems.push(`${label}: request to another origin: ${u}`);
    });
  };
  return { problems, attach };
}

async function newPage(label, { expect401 = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.expect401 = expect401;
  const w = watch(context, label);
  const page = await context.newPage();
  w.attach(page);
  current = page;
  return { context, page, problems: w.problems };
}

function noProblems(problems) {
  check(problems.length === 0, `the browser reported:\n  ${problems.join('\n  ')}`);
}

async function shot(page, name) {
  fs.mkdirSync(cfg.shots, { recursive: true });
  const file = path.resolve(cfg.shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  protocol(`screenshot ${file}`);
}

// Polls `probe` until `ok(value)` holds; survives navigations in between.
const until = (what, probe, ok, timeoutMs = STEP_TIMEOUT_MS) => untilHolds(what, probe, ok, timeoutMs);

// The icon each alertType was shown with, over every card checked: one icon per type.
const icons = new Map();

const rowIds = (page) => page.$$eval('#calls tr.call[data-id]', (rows) => rows.map((r) => r.dataset.id));
const eventRowIds = (page) => page.$$eval('#events tr.event[data-id]', (rows) => rows.map((r) => r.dataset.id));
const sameSet = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

async function setFilter(page, name, value) {
  const field = page.locator(`#filters [name="${name}"]`).first();
  check(await field.count() === 1, `#filters has no field name="${name}"`);
  const tag = await field.evaluate((el) => el.tagName.toLowerCase());
  const type = await field.evaluate((el) => (el.getAttribute('type') || '').toLowerCase());
  if (tag === 'select') await field.selectOption(value === '' ? { index: 0 } : value);
  else if (type === 'checkbox') await field.setChecked(Boolean(value));
  else await field.fill(String(value));
}

// Sets every filter this test uses (rule set, problems, text, time range), then applies them.
async function applyFilters(page, filters, expected, what) {
  const all = { ruleset: '', problems: false, q: '', since: '', until: '', ...filters };
  for (const [name, value] of Object.entries(all)) await setFilter(page, name, value);
  // The list is a server-rendered page: count rows only once the new one has loaded (a
  // half-loaded page has no rows, which would pass for an empty result).
  await page.evaluate(() => { window.__lookoutOldList = true; });
  await page.click('#apply-filters');
  const ids = await until(`${what}: the rows should be exactly ${JSON.stringify(expected)}`,
    async () => {
      const fresh = await page.evaluate(() => !window.__lookoutOldList && document.readyState === 'complete');
      return fresh ? rowIds(page) : '(the list has not reloaded yet)';
    },
    (ids) => Array.isArray(ids) && sameSet(ids, expected));
  log(`  ${what}: ${ids.length} row(s)`);
}

async function visibleText(page) {
  return ((await page.locator('body').innerText().catch(() => '')) || '').replace(/\s+/g, ' ').slice(0, 300);
}

// The text of a whole page (the 401 pages must not carry any of the calls' data).
async function leaks(page) {
  const html = await page.content();
  return E.secrets.filter((s) => html.includes(s));
}

async function expect401(page, pathAndQuery) {
  const response = await page.goto(cfg.base + pathAndQuery);
  check(response, `no response for ${pathAndQuery}`);
  check(response.status() === 401, `GET ${pathAndQuery} answered ${response.status()}, expected 401`);
  const leaked = await leaks(page);
  check(leaked.length === 0, `the 401 page of ${pathAndQuery} shows call data: ${JSON.stringify(leaked)}`);
}

async function checkCards(page, expectedCards, label) {
  const cards = await page.$$eval('.card[data-alert-type]', (els) => els.map((el) => ({
    type: el.dataset.alertType,
    message: el.querySelector('.message')?.textContent.trim() ?? null,
    fields: [...el.querySelectorAll('.field')].map((f) => f.textContent.replace(/\s+/g, ' ').trim()),
    links: [...el.querySelectorAll('a.source-link')].map((a) => a.href),
    mutation: [...el.querySelectorAll('.mutation')].map((m) => m.textContent.replace(/\s+/g, ' ').trim()).join(' '),
    icon: (() => {
      const i = el.querySelector('img, svg');
      if (!i) return null;
      if (i.tagName.toLowerCase() === 'svg') return { key: i.outerHTML, loaded: true };
      return { key: i.currentSrc || i.src, loaded: i.complete && i.naturalWidth > 0 };
    })(),
  })));
  check(cards.length === expectedCards.length,
    `${label}: expected ${expectedCards.length} card(s), found ${cards.length}: ${JSON.stringify(cards)}`);
  expectedCards.forEach((want, i) => {
    const got = cards[i];
    const where = `${label}, card ${i + 1}`;
    check(got.type === want.alertType, `${where}: data-alert-type is ${got.type}, expected ${want.alertType}`);
    check(got.icon && got.icon.loaded, `${where}: no icon (an <img> that loaded, or an <svg>): ${JSON.stringify(got.icon)}`);
    icons.set(got.type, [...(icons.get(got.type) || []), got.icon.key]);
    check(got.message === want.message, `${where}: .message is ${JSON.stringify(got.message)}, expected ${JSON.stringify(want.message)}`);
    for (const [labelText, value] of want.fields || []) {
      check(got.fields.some((f) => f.includes(labelText) && f.includes(value)),
        `${where}: no .field with ${JSON.stringify(labelText)} and ${JSON.stringify(value)}; fields: ${JSON.stringify(got.fields)}`);
    }
    if (want.link) check(got.links.includes(want.link), `${where}: no a.source-link to ${want.link}; links: ${JSON.stringify(got.links)}`);
    else check(got.links.length === 0, `${where}: unexpected a.source-link ${JSON.stringify(got.links)}`);
    for (const text of want.mutation || []) {
      check(got.mutation.includes(text), `${where}: .mutation does not show ${JSON.stringify(text)}: ${JSON.stringify(got.mutation)}`);
    }
    if (!want.mutation) check(got.mutation === '', `${where}: unexpected .mutation ${JSON.stringify(got.mutation)}`);
  });
  return cards;
}

async function detailsText(page, id) {
  const el = page.locator(`#${id}`);
  check(await el.count() === 1, `no #${id}`);
  const tag = await el.evaluate((e) => e.tagName.toLowerCase());
  const inner = tag === 'details' ? el : el.locator('xpath=ancestor::details[1]');
  check(tag === 'details' || await inner.count() === 1, `#${id} is not a collapsible <details> (it is <${tag}>)`);
  await inner.evaluate((d) => { d.open = true; });
  return (await el.textContent()) || '';
}

async function openCall(page, id) {
  const link = page.locator(`#calls tr.call[data-id="${id}"] a`).first();
  check(await link.count() === 1, `the row of call ${id} has no link`);
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/admin/calls/${id}`),
    link.click(),
  ]);
  await page.waitForLoadState('load');
}

async function replay(page, what, isDone) {
  await page.click('#replay');
  return until(`${what}: #replay-result`, () => page.evaluate(() => {
    const r = document.querySelector('#replay-result');
    if (!r) return null;
    return {
      noChange: r.classList.contains('no-change'),
      changes: [...r.querySelectorAll('.change[data-change]')].map((c) => ({
        kind: c.dataset.change, text: c.textContent.replace(/\s+/g, ' ').trim(),
      })),
      text: r.textContent.replace(/\s+/g, ' ').trim(),
    };
  }), (r) => r && isDone(r));
}

// ---- the steps ------------------------------------------------------------------------------
async function main() {
  begin('(0) launch Chromium');
  await launch();

  begin('(a) /admin without logging in is 401 and shows no call data');
  {
    const { context, page, problems } = await newPage('anonymous', { expect401: true });
    await expect401(page, '/admin');
    await expect401(page, `/admin/calls/${E.open.id}`);
    await expect401(page, '/admin/api/calls');
    await expect401(page, '/admin/events');
    await expect401(page, `/admin/events/${E.events.open.id}`);
    // A wrong token logs nobody in.
    await page.goto(`${cfg.base}/admin/login?token=${encodeURIComponent(cfg.token + 'x')}`);
    await expect401(page, '/admin');
    noProblems(problems);
    await context.close();
  }

  const { context, page, problems } = await newPage('logged in');

  begin('(b) log in through #login-form and see the calls');
  {
    const response = await page.goto(`${cfg.base}/admin/login`);
    check(response.status() === 200, `GET /admin/login answered ${response.status()}`);
    await page.fill('#login-form input[name="token"]', cfg.token);
    const [answer] = await Promise.all([page.waitForNavigation(), page.click('#login')]);
    await page.waitForLoadState('load');
    check(/^\/admin\/?$/.test(new URL(page.url()).pathname),
      `submitting #login-form did not land on the list: ${page.url()} answered ${answer?.status()}: ${await visibleText(page)}`);
    const cookies = await context.cookies();
    check(cookies.length >= 1, 'logging in set no cookie');
    for (const c of cookies) {
      check(c.httpOnly && c.secure && c.sameSite === 'Strict',
        `cookie ${c.name} should be HttpOnly, Secure, SameSite=Strict: ${JSON.stringify(c)}`);
    }
    const ids = await until('the list shows every call sent', () => rowIds(page),
      (ids) => E.all.every((id) => ids.includes(id)));
    const ours = ids.filter((id) => E.all.includes(id));
    const newestFirst = [...E.all].reverse();
    check(ours.join() === newestFirst.join(), `calls are not newest first: ${JSON.stringify(ours)}, expected ${JSON.stringify(newestFirst)}`);
    check(await page.locator('#log-loss-banner').count() === 0, '#log-loss-banner is shown although no call was dropped');
    await shot(page, 'list');
    noProblems(problems);
  }

  begin('(c) filter by rule set, problems, text and time');
  {
    const set = E.filters.ruleset;
    await applyFilters(page, { ruleset: set }, E.filters.byRuleset, `ruleset=${set}`);
    await applyFilters(page, { ruleset: set, problems: true }, E.filters.byRulesetProblems, `ruleset=${set} + problems`);
    await shot(page, 'list-filtered');
    await applyFilters(page, { problems: true }, E.filters.problems, 'problems only');
    await applyFilters(page, { q: E.filters.text }, E.filters.byText, `q=${E.filters.text}`);
    await applyFilters(page, { since: '1h' }, E.all, 'since=1h');
    await applyFilters(page, { until: '2001-01-01' }, [], 'until=2001-01-01');
    await applyFilters(page, {}, E.all, 'no filter');
    noProblems(problems);
  }

  begin('(d) open a call: its cards, request, response and trace');
  {
    await openCall(page, E.open.id);
    await checkCards(page, E.open.cards, `call ${E.open.id}`);
    const headers = await detailsText(page, 'request-headers');
    const body = await detailsText(page, 'request-body');
    const answer = await detailsText(page, 'response-body');
    check(body.includes(E.open.bodyText), `#request-body does not show ${JSON.stringify(E.open.bodyText)}`);
    check(answer.includes(E.open.cards[0].message), `#response-body does not show the answered alert`);
    const flat = headers.replace(/\s+/g, ' ');
    for (const [name, value] of E.open.headers) {
      check(flat.includes(name) && flat.includes(value), `#request-headers does not show ${name}: ${value}: ${flat.slice(0, 300)}`);
    }
    const html = await page.content();
    for (const secret of E.open.hidden) {
      check(!html.includes(secret), `the call page shows ${JSON.stringify(secret)}, which must have been redacted`);
    }
    const trace = await page.$$eval('#trace tr.rule-run', (rows) => rows.map((r) => r.textContent.replace(/\s+/g, ' ').trim()));
    check(trace.length === E.open.rules.length, `#trace has ${trace.length} tr.rule-run, expected ${E.open.rules.length}: ${JSON.stringify(trace)}`);
    for (const rule of E.open.rules) {
      check(trace.some((t) => t.includes(rule)), `#trace has no row for rule ${rule}: ${JSON.stringify(trace)}`);
    }
    check(await page.locator('#save-test').count() === 1, 'no #save-test link');
    await shot(page, 'call');

    // The signed call of the other rule set: a warning card, and its signature never shown.
    await page.goto(`${cfg.base}/admin/calls/${E.signed.id}`);
    await checkCards(page, E.signed.cards, `call ${E.signed.id}`);
    const signedHeaders = await detailsText(page, 'request-headers');
    check(!signedHeaders.includes(E.signed.signature), '#request-headers shows the signature');
    check(!(await page.content()).includes(E.signed.signature), 'the call page carries the signature somewhere');
    await shot(page, 'call-warning');
    const perType = [...icons].map(([type, keys]) => [type, [...new Set(keys)]]);
    check(perType.every(([, keys]) => keys.length === 1), `an alertType was shown with several icons: ${JSON.stringify(perType)}`);
    check(new Set(perType.map(([, keys]) => keys[0])).size === perType.length, `two alertTypes share an icon: ${JSON.stringify(perType)}`);

    // The call whose rule failed: the trace names the error and where it happened.
    await page.goto(`${cfg.base}/admin/calls/${E.failed.id}`);
    const failedTrace = ((await page.locator('#trace').textContent()) || '').replace(/\s+/g, ' ');
    for (const text of E.failed.traceText) {
      check(failedTrace.includes(text), `#trace of call ${E.failed.id} does not show ${JSON.stringify(text)}: ${failedTrace.slice(0, 400)}`);
    }
    check(new RegExp(E.failed.traceLine).test(failedTrace), `#trace of call ${E.failed.id} does not give the error's line (/${E.failed.traceLine}/): ${failedTrace.slice(0, 400)}`);
    noProblems(problems);
  }

  begin('(e) replay against the current rules: no change, then a change after a rule edit');
  {
    await page.goto(`${cfg.base}/admin/calls/${E.open.id}`);
    const first = await replay(page, 'first replay', (r) => r.noChange || r.changes.length > 0);
    check(first.noChange && first.changes.length === 0, `the rules did not change, yet the replay shows: ${JSON.stringify(first)}`);
    log('  first replay: no change');

    protocol('edit-rules');
    const answer = await nextLine(45_000);
    check(answer === 'rules-edited', `expected "rules-edited" from the test, got ${JSON.stringify(answer)}`);

    const second = await replay(page, 'second replay', (r) => r.changes.length > 0);
    check(!second.noChange, `#replay-result still has class no-change: ${JSON.stringify(second)}`);
    const kinds = second.changes.map((c) => c.kind);
    check(kinds.length === 1 && kinds[0] === 'changed', `expected one .change[data-change="changed"], got ${JSON.stringify(second.changes)}`);
    for (const text of E.replay.changedText) {
      check(second.changes[0].text.includes(text), `the change does not show ${JSON.stringify(text)}: ${second.changes[0].text}`);
    }
    log('  second replay: changed');
    await shot(page, 'replay-changed');
    noProblems(problems);
  }

  begin('(f) port events: the list, a container filter, an event and its links');
  {
    await page.goto(`${cfg.base}/admin`);
    const nav = page.locator('header nav a[href="/admin/events"]');
    check(await nav.count() === 1, 'the navigation has no link to /admin/events');
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin/events'), nav.click()]);
    await page.waitForLoadState('load');
    const ids = await until('the events list shows every event sent', () => eventRowIds(page),
      (ids) => sameSet(ids, E.events.all));
    check(ids.join() === E.events.all.join(), `events are not newest first: ${JSON.stringify(ids)}, expected ${JSON.stringify(E.events.all)}`);
    const marked = await page.$$eval('#events tr.event', (rows) => rows
      .filter((r) => r.querySelector('.unknown'))
      .map((r) => r.dataset.id));
    check(marked.join() === E.events.unknown.join(), `rows marked unknown: ${JSON.stringify(marked)}, expected ${JSON.stringify(E.events.unknown)}`);
    await shot(page, 'events');

    // The container as people write it; the list shows its events only.
    await page.fill('#event-filters input[name="container"]', E.events.container);
    await page.evaluate(() => { window.__lookoutOldList = true; });
    await page.click('#apply-event-filters');
    await until(`container=${E.events.container}: the rows should be exactly ${JSON.stringify(E.events.byContainer)}`,
      async () => {
        const fresh = await page.evaluate(() => !window.__lookoutOldList && document.readyState === 'complete');
        return fresh ? eventRowIds(page) : '(the list has not reloaded yet)';
      },
      (ids) => Array.isArray(ids) && ids.join() === E.events.byContainer.join());
    check(new URL(page.url()).searchParams.get('container') === E.events.container,
      `the filtered list's address does not carry the container: ${page.url()}`);
    log(`  container=${E.events.container}: ${E.events.byContainer.length} row(s)`);
    await shot(page, 'events-filtered');

    // One event: its name, its payload (collapsible) and links to its container, vessel, port.
    const id = E.events.open.id;
    const link = page.locator(`#events tr.event[data-id="${id}"] a[href="/admin/events/${id}"]`);
    check(await link.count() === 1, `the row of event ${id} has no link to its page`);
    await Promise.all([page.waitForURL((u) => u.pathname === `/admin/events/${id}`), link.click()]);
    await page.waitForLoadState('load');
    const title = ((await page.locator('h1').textContent()) || '').replace(/\s+/g, ' ');
    check(title.includes(E.events.open.event), `the event page's title is ${JSON.stringify(title)}, expected it to name ${E.events.open.event}`);
    const payload = await detailsText(page, 'event-payload');
    for (const text of E.events.open.payloadText) {
      check(payload.includes(text), `#event-payload does not show ${JSON.stringify(text)}: ${payload.slice(0, 300)}`);
    }
    for (const [kind, href] of [['container', E.events.open.containerLink], ['vessel', E.events.open.vesselLink], ['port', E.events.open.portLink]]) {
      const hrefs = await page.$$eval(`a.key.${kind}`, (as) => as.map((a) => new URL(a.href).pathname + new URL(a.href).search));
      check(hrefs.includes(href), `the event page has no ${kind} link to ${href}: ${JSON.stringify(hrefs)}`);
    }
    await shot(page, 'event');
    const vessel = page.locator(`a.key.vessel[href="${E.events.open.vesselLink}"]`).first();
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin/events' && u.search.includes('vessel=')), vessel.click()]);
    await page.waitForLoadState('load');
    const byVessel = await until('the vessel link lists the vessel\'s events', () => eventRowIds(page),
      (ids) => ids.join() === E.events.byVessel.join());
    log(`  the vessel link: ${byVessel.length} row(s)`);
    noProblems(problems);
  }

  begin('(h) long values wrap or scroll in their own box: no page is wider than the window, at 390 px or 1280 px');
  {
    const L = E.long;
    // What each page must show of the long values, so that there is something to wrap.
    const shows = (what, text) => async () => {
      check((await page.content()).includes(text), `${what} does not show the long value ${JSON.stringify(text.slice(0, 40))}…`);
    };
    const replayed = async () => {
      const r = await replay(page, 'replay of the call with long values', (r) => r.changes.length > 0 || r.noChange);
      check(r.changes.length > 0, `the replay of ${L.values} shows no change after the rule edit: ${JSON.stringify(r)}`);
    };
    const junk = 'y'.repeat(300);
    // [screenshot name, address, status, checks]
    const pages = [
      ['list', '/admin', 200, [shows('the list', `>${L.rulesetText}<`), shows('the list', L.estimate)]],
      ['call-long-ruleset', `/admin/calls/${L.ruleset}`, 200, [shows('the call page', L.rulesetText)]],
      ['call-long-values', `/admin/calls/${L.values}`, 200, [shows('the call page', L.header), shows('the call page', L.estimate)]],
      ['replay-long-values', `/admin/calls/${L.values}`, 200, [replayed]],
      ['events', '/admin/events', 200, [shows('the events list', L.event.container)]],
      ['event-long', `/admin/events/${L.event.id}`, 200, [shows('the event page', L.event.container)]],
      // Pages that quote what was asked for: a filter that does not read, an unknown call.
      ['list-bad-filter', `/admin?since=${junk}`, 400, []],
      ['call-unknown', `/admin/calls/${junk}`, 404, []],
    ];
    const wide = [];
    for (const width of L.widths) {
      await page.setViewportSize({ width, height: 900 });
      for (const [name, url, status, checks] of pages) {
        context.expectStatus = status === 200 ? null : status;
        const response = await page.goto(cfg.base + url);
        check(response.status() === status, `GET ${url.slice(0, 80)} answered ${response.status()}, expected ${status}`);
        await page.waitForLoadState('load');
        await page.$$eval('details', (ds) => ds.forEach((d) => { d.open = true; }));
        for (const c of checks) await c();
        const m = await page.evaluate(() => {
          const inner = window.innerWidth;
          // The outermost elements that stick out past the window (for the failure message).
          const out = [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > inner + 0.5
              && !(el.parentElement && el.parentElement.getBoundingClientRect().right > inner + 0.5))
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + String(el.className).trim().split(/\s+/).join('.') : ''} (right ${Math.round(el.getBoundingClientRect().right)})`);
          return {
            scrollWidth: document.documentElement.scrollWidth,
            clientWidth: document.documentElement.clientWidth,
            innerWidth: inner,
            out,
          };
        });
        log(`  ${width} px ${name}: scrollWidth ${m.scrollWidth}, innerWidth ${m.innerWidth}, clientWidth ${m.clientWidth}`);
        if (m.scrollWidth > m.innerWidth || m.scrollWidth > m.clientWidth) {
          wide.push(`${name} at ${width} px: document scrollWidth ${m.scrollWidth} > window ${m.innerWidth} (client ${m.clientWidth}); sticking out: ${m.out.join(', ')}`);
        }
        if (width === L.widths[0]) await shot(page, `narrow-${name}`);
      }
    }
    context.expectStatus = null;
    await page.setViewportSize({ width: 1280, height: 900 });
    check(wide.length === 0, `pages scroll sideways:\n  ${wide.join('\n  ')}`);
    noProblems(problems);
  }

  begin('(g) logged out (or a fresh browser) is 401 again');
  {
    const logout = page.locator('#logout');
    if (await logout.count() > 0) {
      context.expect401 = true;
      const [answer] = await Promise.all([page.waitForNavigation(), logout.first().click()]);
      await page.waitForLoadState('load');
      const said = `#logout answered ${answer?.status()} at ${page.url()}: ${await visibleText(page)}`;
      const after = await page.goto(`${cfg.base}/admin`);
      check(after.status() === 401, `after clicking #logout, GET /admin answered ${after.status()}, expected 401 (${said})`);
      check((await leaks(page)).length === 0, 'after logging out, /admin shows call data');
      log('  #logout: /admin is 401 again');
    }
    await context.close();
    const fresh = await newPage('fresh', { expect401: true });
    await expect401(fresh.page, '/admin');
    await expect401(fresh.page, `/admin/calls/${E.open.id}`);
    await expect401(fresh.page, `/admin/events/${E.events.open.id}`);
    noProblems(fresh.problems);
    await fresh.context.close();
  }
}

const watchdog = setTimeout(() => {
  console.error(`FAILED step ${step}: the browser test took more than ${OVERALL_MS} ms`);
  process.exit(1);
}, OVERALL_MS);

let code = 0;
try {
  await main();
  log('all steps passed');
} catch (e) {
  const what = e instanceof StepFailure ? e.message : (e.stack || String(e));
  console.error(`FAILED step ${step}: ${what}`);
  code = 1;
  if (current && !current.isClosed()) await shot(current, 'failure').catch(() => {});
} finally {
  clearTimeout(watchdog);
  await browser?.close().catch(() => {});
  fs.rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);
