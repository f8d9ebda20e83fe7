// Drives lookout's workbench (/admin/rules) in Debian's headless Chromium through
// playwright-core, as tests/workbench.rs asks (one JSON argument: base URL, the CA, the
// users' tokens, where screenshots go, what to expect):
//
//   an author opens the rule set, types a syntax error and sees it at its line, fixes it,
//   tries the draft on a logged call and sees the changed card, runs the tests, saves the
//   draft, and has no publish button; a publisher adds a new rule and its test from
//   nothing, runs the tests and publishes (the test checks the live answer on
//   stdin/stdout: `published` → `checked`), and rolls back (`rolled back` → `checked`);
//   they run a change as a candidate beside the live rules (`candidate` → `checked` once
//   the test sent three calls and their shadow runs are recorded), read the difference on
//   the Fleet page and the calls behind it, and promote it (`promoted` → `checked`); an
//   author sees the Fleet page without its buttons; a viewer is refused.
//
// Protocol on stdout: `screenshot <path>`, `published`, `rolled back`, `candidate`,
// `promoted`; on stdin: `checked` after each. Everything for
// people goes to stderr; a failed check ends with exit code 1 and `FAILED step ...`.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StepFailure, check, stdinLines, trustedHome, until as untilHolds } from './harness.mjs';

const CHROMIUM = process.env.LOOKOUT_CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 15_000;
const OVERALL_MS = Number(process.env.LOOKOUT_WORKBENCH_TIMEOUT_MS || 100_000);
const cfg = JSON.parse(process.argv[2] || '{}');
const E = cfg.expect;
const origin = new URL(cfg.base).origin;

let step = 'setup';
const log = (...a) => console.error('[workbench]', ...a);
const protocol = (line) => process.stdout.write(line + '\n');
const begin = (name) => { step = name; log(`step ${name}`); };
const nextLine = stdinLines();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-workbench-'));

let browser;
let current;
const problems = [];
async function newPage(label) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (e) => problems.push(`${label}: script error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (context.expectStatus && m.text().includes(`status of ${context.expectStatus}`)) return;
    problems.push(`${label}: console error: ${m.text()} (${JSON.stringify(m.location())})`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank') return;
    if (new URL(u).origin !== origin) problems.push(`${label}: request to another origin: ${u}`);
  });
  current = page;
  return { context, page };
}
const noProblems = () => check(problems.length === 0, `the browser reported:\n  ${problems.join('\n  ')}`);

async function shot(page, name) {
  fs.mkdirSync(cfg.shots, { recursive: true });
  const file = path.resolve(cfg.shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  protocol(`screenshot ${file}`);
}

const until = (what, probe, ok, timeoutMs = STEP_TIMEOUT_MS) => untilHolds(what, probe, ok, timeoutMs);
const text = (page, selector) => page.$eval(selector, (n) => n.textContent);

async function logIn(page, token) {
  await page.goto(`${cfg.base}/admin/login`);
  await page.fill('#login-form input[name="token"]', token);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
  check(new URL(page.url()).pathname === '/admin', `logging in landed on ${page.url()}`);
}

async function openWorkbench(page) {
  await page.goto(`${cfg.base}/admin/rules`);
  await Promise.all([page.waitForNavigation(), page.click(`#rulesets a[href="/admin/rules/${E.ruleset}"]`)]);
  await page.waitForSelector('#workbench[data-ready="true"]');
  await until('the editor shows the rule', () => text(page, '#editor .cm-content'), (t) => t.includes(E.ruleMarker));
}

/// Replaces the editor's text as a person would: select all, type key by key (where the
/// editor indents a new line itself, that much of the line's indentation is not typed).
/// Not `insertText`: Chromium's editing then writes inline styles into the editor, which
/// the page's CSP rightly refuses and reports.
async function replaceText(page, value) {
  await page.click('#editor .cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  const lines = value.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (i > 0) await page.keyboard.press('Enter');
    // What the editor indented by itself is not typed again.
    const indented = await page.evaluate(() => {
      const v = document.querySelector('#editor').shadowRoot.querySelector('.cm-activeLine');
      return v ? v.textContent.length : 0;
    });
    await page.keyboard.type(lines[i].slice(Math.min(indented, lines[i].search(/\S|$/))));
  }
}

async function run() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: trustedHome(scratch, cfg.ca) },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  log(`Chromium ${browser.version()}`);

  begin('(a) an author opens the rule set in the workbench');
  const { page } = await newPage('author');
  await logIn(page, cfg.author);
  await openWorkbench(page);
  check(await page.$('#publish') === null, 'an author sees a publish button');
  const calls = await page.$$eval('#call-select option', (o) => o.map((x) => x.value));
  check(calls.includes(E.call), `the logged call ${E.call} is not offered: ${calls}`);
  // Each rule's activity from the log, with its chart; the tests' result on the live rules.
  const activity = await text(page, '#activity tr[data-rule="speed"] .day');
  check(/^[12] calls? · [12] alerts? · p50 [0-9.]+ ms · p99 [0-9.]+ ms$/.test(activity), `the activity reads "${activity}"`);
  check(await page.$('#activity tr[data-rule="speed"] svg.chart rect[fill="#8a94a6"]') !== null, 'no bar in the activity chart');
  await until('the live rules were tested on opening', () => text(page, '#test-result'),
    (t) => t.startsWith(E.testSummary) && t.includes('on the live rules'));
  await shot(page, 'workbench-activity');

  begin('(b) a syntax error is shown at its line as it is typed');
  await replaceText(page, E.broken);
  await until('the problem is listed', () => text(page, '#problems'), (t) => t.includes(E.brokenAt));
  await page.waitForSelector('#editor .cm-lint-marker-error');
  await shot(page, 'workbench-error');

  begin('(c) fixed, it compiles; tried on the logged call, the card changes');
  await replaceText(page, E.fixed);
  await until('it compiles', () => text(page, '#check-status'), (t) => t === 'compiles');
  await page.selectOption('#call-select', E.call);
  await page.click('#try');
  await until('the diff is shown', () => text(page, '#try-diff'), (t) => t.includes('1 changed'));
  const cards = await page.$$eval('#try-cards li .message', (n) => n.map((x) => x.textContent));
  check(cards.includes(E.newMessage), `the tried cards are ${JSON.stringify(cards)}`);
  await shot(page, 'workbench-try');
  await page.click('#try-recent');
  await until('the draft is tried on the last calls', () => text(page, '#try-recent-summary'),
    // Every logged call of this estimate changes the same way (the test sent it once or twice).
    (t) => /^On the last (\d+) calls, \1 answers change: 0 alerts added, 0 removed, \1 changed\.$/.test(t));

  begin('(d) the tests run against the draft; the draft is saved');
  await page.click('#run-tests');
  await until('the tests ran', () => text(page, '#test-summary'), (t) => t === E.testSummary);
  await page.click('#save-draft');
  await until('the draft is saved', () => text(page, '#draft-status'), (t) => t.startsWith('Saved as draft '));

  begin('(d2) the saved draft opens again after a reload; the helpers are listed');
  await page.reload();
  await page.waitForSelector('#workbench[data-ready="true"]');
  await until('the live rule is back in the editor', () => text(page, '#editor .cm-content'), (t) => !t.includes(E.newMessage));
  await page.click('#drafts li button');
  await until('the draft is in the editor', () => text(page, '#editor .cm-content'), (t) => t.includes(E.newMessage));
  check((await text(page, '#files')).includes('speed.rhai •'), 'the draft\'s file is not marked changed');
  // A logged call added to the draft as a test; an estimate pasted and tried.
  await page.selectOption('#call-select', E.call);
  await page.click('#add-call-test');
  await until('the call is a test in the draft', () => text(page, '#files'), (t) => t.includes(`tests/call-${E.call}.json •`));
  check((await text(page, '#editor .cm-content')).includes('"expect"'), 'the call test is not in the editor');
  await page.click('#paste-panel summary');
  await page.fill('#estimate-text', '{"estimateID": "PASTED", "speed": 20}');
  await page.click('#try-estimate');
  await until('the pasted estimate is tried', () => page.$$eval('#try-cards li .message', (n) => n.map((x) => x.textContent)),
    (cards) => cards.includes(E.newMessage));
  // A data file opens highlighted as CSV; deleted in the draft it is marked and read-only,
  // and kept again in one click.
  await page.click(`#files button[data-path="${E.dataFile}"]`);
  await until('the CSV is open', () => text(page, '#file-name'), (t) => t === E.dataFile);
  const highlighted = await page.evaluate(() => document.querySelector('#editor').shadowRoot
    .querySelectorAll('.cm-line span').length);
  check(highlighted >= 3, `the CSV is not highlighted (${highlighted} tokens)`);
  await page.click('#delete-file');
  await until('the file is deleted in the draft', () => text(page, '#files'), (t) => t.includes(`${E.dataFile} (deleted)`));
  check((await text(page, '#file-status')).includes('publishing removes it'), 'a deleted file does not say so');
  check(await page.evaluate(() => document.querySelector('#editor').shadowRoot
    .querySelector('.cm-content').getAttribute('contenteditable')) === 'false', 'a deleted file can still be edited');
  await page.click('#delete-file');
  await until('the file is kept again', () => text(page, '#files'), (t) => !t.includes('(deleted)') && t.includes(E.dataFile));
  await page.click('#helpers-panel summary');
  await page.fill('#helper-filter', 'round');
  await until('the helpers are listed', () => text(page, '#helpers'), (t) => t.includes('round(number, places)') && !t.includes('format_date'));
  noProblems();

  begin('(e) a publisher publishes; the next call is answered by the new version');
  const pub = await newPage('publisher');
  await logIn(pub.page, cfg.publisher);
  await openWorkbench(pub.page);
  await replaceText(pub.page, E.fixed);
  await until('it compiles', () => text(pub.page, '#check-status'), (t) => t === 'compiles');
  // A new rule and its test, written from nothing in the page.
  for (const [file, source] of [[E.newRule.file, E.newRule.source], [E.newTest.file, E.newTest.source]]) {
    await pub.page.fill('#new-file-name', file);
    await pub.page.click('#new-file button');
    await until(`${file} is open`, () => text(pub.page, '#file-name'), (t) => t === file);
    await replaceText(pub.page, source);
  }
  await until('the draft compiles', () => text(pub.page, '#check-status'), (t) => t === 'compiles');
  await pub.page.click('#run-tests');
  await until('both tests pass', () => text(pub.page, '#test-summary'), (t) => t === '2 passed, 0 failed');
  await pub.page.fill('#publish-message', 'Warn from 13 knots, in the CP words; an ETA card');
  await pub.page.click('#publish');
  await until('published', () => text(pub.page, '#publish-result'), (t) => t.includes('is live'));
  await shot(pub.page, 'workbench-published');
  protocol('published');
  check((await nextLine(20_000)) === 'checked', 'the test did not confirm the live answer');

  begin('(f) the publisher rolls back to the version before the workbench');
  await until('the versions list the baseline', () => pub.page.$$eval('#versions li', (n) => n.map((x) => x.textContent)),
    (items) => items.length === 2 && items[1].includes('baseline'));
  await pub.page.click('#versions li:nth-child(2) button');
  await until('rolled back', () => text(pub.page, '#publish-result'), (t) => t.includes('Rolled back'));
  await until('the editor shows the live rule again', () => text(pub.page, '#editor .cm-content'), (t) => t.includes(E.ruleMarker) && !t.includes(E.newMessage));
  protocol('rolled back');
  check((await nextLine(20_000)) === 'checked', 'the test did not confirm the rolled-back answer');
  // The publish compared with the live rules now: what the rollback took away.
  await until('the versions list the rollback', () => pub.page.$$eval('#versions li', (n) => n.length), (n) => n === 3);
  const compare = await pub.page.$$('#versions li:nth-child(2) button');
  await compare[compare.length - 1].click();
  await until('the comparison is shown', () => text(pub.page, '#compare-title'), (t) => t.includes('3 files differ'));
  const removed = await pub.page.$$eval('#compare-result .del', (n) => n.map((x) => x.textContent).join(''));
  check(removed.includes(E.newRule.source.trim()), `the removed lines are ${JSON.stringify(removed)}`);
  await shot(pub.page, 'workbench-compare');
  noProblems();

  begin('(f2) the publisher tries the change as a candidate on live calls, reads the difference, promotes it');
  await replaceText(pub.page, E.fixed);
  await until('it compiles', () => text(pub.page, '#check-status'), (t) => t === 'compiles');
  await pub.page.fill('#publish-message', 'Warn from 13 knots: what would it change?');
  await pub.page.click('#start-candidate');
  await until('the candidate runs', () => text(pub.page, '#publish-result'), (t) => t.includes('runs beside version'));
  protocol('candidate');
  check((await nextLine(30_000)) === 'checked', 'the test did not see the candidate run on 3 calls');
  await Promise.all([pub.page.waitForNavigation(), pub.page.click('#candidate-link')]);
  const numbers = await pub.page.$$eval('.candidate .shadow-summary a', (n) => n.map((x) => x.textContent.trim()));
  for (const want of ['3 calls compared', '3 answers changed', '3 alerts changed', '0 alerts added', '0 GUID changes', '0 rule errors']) {
    check(numbers.includes(want), `the Fleet page says ${JSON.stringify(numbers)}, not "${want}"`);
  }
  await shot(pub.page, 'workbench-fleet');
  // The calls behind "answers changed", the candidate's answer beside each.
  await Promise.all([pub.page.waitForNavigation(), pub.page.click('.candidate .shadow-summary a[href$="kind=changed"]')]);
  const answers = await pub.page.$$eval('#shadow-calls .candidate-answer', (n) => n.map((x) => x.textContent));
  check(answers.length === 3 && answers.every((a) => a === `PermanentWarning: ${E.newMessage}`), `the candidate's answers are ${JSON.stringify(answers)}`);
  await shot(pub.page, 'workbench-candidate-calls');
  // The author sees the same summary and no buttons that need the publisher role.
  await page.goto(`${cfg.base}/admin/fleet`);
  check((await page.$$('.candidate button')).length === 0, 'an author is offered promote/discard');
  check((await text(page, '.candidate')).includes('A publisher can promote'), 'the author is not told who can promote');
  await pub.page.goto(`${cfg.base}/admin/fleet`);
  await Promise.all([pub.page.waitForNavigation(), pub.page.click('.candidate button.promote')]);
  check(new URL(pub.page.url()).pathname === '/admin/fleet', `promoting landed on ${pub.page.url()}`);
  check(await pub.page.$('#no-candidates') !== null, 'the promoted candidate is still listed as running');
  protocol('promoted');
  check((await nextLine(20_000)) === 'checked', 'the test did not confirm the promoted answer');
  noProblems();

  begin('(g) a viewer is refused the workbench');
  const viewer = await newPage('viewer');
  viewer.context.expectStatus = 403;
  await logIn(viewer.page, cfg.viewer);
  const refused = await viewer.page.goto(`${cfg.base}/admin/rules/${E.ruleset}`);
  check(refused.status() === 403, `a viewer got ${refused.status()}`);
  check((await viewer.page.textContent('main')).includes('needs the author role'), 'the 403 does not say why');
  noProblems();
}

const overall = setTimeout(() => { console.error(`FAILED step ${step}: the whole run took over ${OVERALL_MS} ms`); process.exit(1); }, OVERALL_MS);
try {
  await run();
  clearTimeout(overall);
  await browser.close();
  fs.rmSync(scratch, { recursive: true, force: true });
  log('all steps passed');
  process.exit(0);
} catch (e) {
  console.error(`FAILED step ${step}: ${e instanceof StepFailure ? e.message : e.stack}`);
  try { if (current) await shot(current, `failed-${step.slice(1, 2)}`); } catch (_) { /* best effort */ }
  process.exit(1);
}
