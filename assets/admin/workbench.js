// lookout workbench: edit a rule set in a draft, see compile errors at their line as you
// type, try the draft on a logged call (cards as IMOS shows them, and what changed
// against the live rules), run its tests, save it, publish it, roll back. Everything goes
// through the JSON API under /admin/api/ (README, "The JSON API"); nothing is inline.
'use strict';

(() => {
  const root = document.getElementById('workbench');
  if (!root || !window.LookoutEditor) return;
  const ruleset = root.dataset.ruleset;
  const csrf = root.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props);
    for (const child of children) node.append(child);
    return node;
  };

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try { json = await response.json(); } catch (_) { json = null; }
    return { status: response.status, body: json };
  }

  const live = {};      // path -> text on disk
  const edits = {};     // path -> text in the draft (null: deleted)
  let current = null;   // the path in the editor
  let draftId = null;
  let editor = null;
  let loading = false;  // the editor's text is being set by the page, not typed

  /// The draft's changes: files whose text differs from the live one.
  function changes() {
    const out = {};
    for (const [path, text] of Object.entries(edits)) {
      if (text !== live[path]) out[path] = text;
    }
    return out;
  }

  function renderFiles() {
    const list = $('files');
    list.replaceChildren();
    const paths = [...new Set([...Object.keys(live), ...Object.keys(edits)])].sort();
    for (const path of paths) {
      const changed = path in edits && edits[path] !== live[path];
      const deleted = path in edits && edits[path] === null;
      const button = el('button', { type: 'button', textContent: path + (deleted ? ' (deleted)' : changed ? ' •' : '') });
      if (deleted) button.classList.add('deleted');
      button.dataset.path = path;
      if (path === current) button.classList.add('current');
      button.addEventListener('click', () => open(path));
      list.append(el('li', {}, button));
    }
  }

  function showProblems(problems) {
    const list = $('problems');
    list.replaceChildren();
    for (const p of problems) {
      const where = [p.file, p.line, p.column].filter((x) => x !== null && x !== undefined && x !== '').join(':');
      list.append(el('li', { className: 'error-text', textContent: `${where}: ${p.message}` }));
    }
    $('check-status').textContent = problems.length ? `${problems.length} problem${problems.length === 1 ? '' : 's'}` : 'compiles';
  }

  async function check() {
    const { status, body } = await api('POST', '/admin/api/check', { ruleset, files: changes() });
    if (status !== 200 || !body) {
      showProblems([{ file: '', message: (body && body.error) || `check answered ${status}` }]);
      return [];
    }
    showProblems(body.problems);
    return body.problems
      .filter((p) => p.file === current)
      .map((p) => ({ line: p.line, column: p.column, message: p.message }));
  }

  function open(path) {
    current = path;
    $('file-name').textContent = path;
    const deleted = path in edits && edits[path] === null;
    const text = deleted ? live[path] : (path in edits ? edits[path] : live[path]);
    if (!editor) {
      editor = window.LookoutEditor.create($('editor'), text ?? '', {
        path,
        onChange: (t) => { if (!loading) { edits[current] = t; renderFiles(); } },
        check: () => check(),
      });
    } else {
      loading = true;
      editor.setText(text ?? '', path);
      loading = false;
    }
    editor.setReadOnly(deleted);
    $('delete-file').textContent = deleted ? 'Keep this file' : 'Delete this file in the draft';
    $('file-status').textContent = deleted ? 'Deleted in the draft: publishing removes it.' : '';
    renderFiles();
  }

  /// Deletes the open file in the draft (or keeps it again); a file that exists only in
  /// the draft is dropped from it.
  function toggleDelete() {
    if (!current) return;
    if (isDeleted(current)) {
      delete edits[current];
    } else if (current in live) {
      edits[current] = null;
    } else {
      delete edits[current];
      current = firstRule();
    }
    open(current);
    check();
  }
  function isDeleted(path) { return path in edits && edits[path] === null; }

  function card(alert) {
    const fields = el('dl', { className: 'fields' });
    for (const f of alert.displayFields || []) {
      fields.append(el('div', { className: 'field' }, el('dt', { textContent: f.label }), ' ', el('dd', { textContent: f.value })));
    }
    const body = el('div', { className: 'card-body' }, el('p', { className: 'message', textContent: alert.message }), fields);
    if (alert.mutation) body.append(el('p', { className: 'card-meta', textContent: 'Apply to Estimate: ' + JSON.stringify(alert.mutation) }));
    const item = el('li', { className: `card card-${alert.alertType}` }, body);
    item.dataset.alertType = alert.alertType;
    return item;
  }

  async function tryDraft() {
    const call = $('call-select').value;
    if (!call) {
      $('try-result').replaceChildren(el('p', { className: 'muted', textContent: 'No logged call of this rule set to try on yet.' }));
      return;
    }
    await tryOn({ call });
  }

  async function tryEstimate() {
    let estimate;
    try { estimate = JSON.parse($('estimate-text').value); } catch (e) {
      $('try-result').replaceChildren(el('p', { className: 'error-text', textContent: `The estimate is not JSON: ${e.message}` }));
      return;
    }
    await tryOn({ estimate });
  }

  /// Adds the selected logged call to the draft as a test (what "Save as rule test" on
  /// the call's page downloads), and opens it.
  async function addCallTest() {
    const call = $('call-select').value;
    if (!call) return;
    const response = await fetch(`/admin/api/calls/${encodeURIComponent(call)}/test`, { credentials: 'same-origin' });
    const textBody = await response.text();
    if (!response.ok) {
      let message = `saving the call as a test answered ${response.status}`;
      try { message = JSON.parse(textBody).error || message; } catch (_) { /* not JSON */ }
      $('try-result').replaceChildren(el('p', { className: 'error-text', textContent: message }));
      return;
    }
    const path = `tests/call-${call}.json`;
    edits[path] = textBody;
    open(path);
  }

  async function tryOn(input) {
    const slot = $('try-result');
    slot.replaceChildren(el('p', { className: 'muted', textContent: 'Trying…' }));
    const { status, body } = await api('POST', '/admin/api/try', { ruleset, files: changes(), ...input });
    if (status !== 200) {
      slot.replaceChildren(el('p', { className: 'error-text', textContent: (body && body.error) || `try answered ${status}` }));
      return;
    }
    const d = body.diff;
    const summary = d.same
      ? 'The same answer as the live rules.'
      : `Against the live rules: ${d.added} added, ${d.removed} removed, ${d.changed} changed` + (d.guid_changed ? `, ${d.guid_changed} with a new GUID (IMOS forgets an applied suggestion)` : '') + '.';
    const cards = el('ol', { className: 'cards', id: 'try-cards' });
    for (const alert of body.answer) cards.append(card(alert));
    const runs = el('ul', { className: 'runs' });
    for (const run of body.runs) {
      const error = run.error ? ` — line ${run.error.line ?? '?'}: ${run.error.message}` : '';
      runs.append(el('li', { textContent: `${run.rule}: ${run.outcome}, ${(run.duration_us / 1000).toFixed(2)} ms, ${run.operations} ops${error}` }));
    }
    slot.replaceChildren(el('p', { id: 'try-diff', textContent: summary }), cards, runs);
  }

  async function tryRecent() {
    const slot = $('try-result');
    slot.replaceChildren(el('p', { className: 'muted', textContent: 'Trying on the last calls…' }));
    const { status, body } = await api('POST', '/admin/api/try/recent', { ruleset, files: changes(), calls: 20 });
    if (status !== 200) {
      slot.replaceChildren(el('p', { className: 'error-text', textContent: (body && body.error) || `try answered ${status}` }));
      return;
    }
    const list = el('ul', { className: 'runs' });
    for (const c of body.calls) {
      list.append(el('li', { textContent: `${c.estimate_id || c.id}: ${c.added} added, ${c.removed} removed, ${c.changed} changed${c.guid_changed ? `, ${c.guid_changed} new GUIDs` : ''}` }));
    }
    slot.replaceChildren(el('p', { id: 'try-recent-summary', textContent:
      `On the last ${body.compared} calls, ${body.answers_changed} answers change: ${body.alerts_added} alerts added, ${body.alerts_removed} removed, ${body.alerts_changed} changed` +
      (body.guid_changed ? `, ${body.guid_changed} with a new GUID` : '') +
      (body.draft_rule_failures ? `; the draft's rules failed ${body.draft_rule_failures} times` : '') + '.' }), list);
  }

  async function runTests() {
    const slot = $('test-result');
    slot.replaceChildren(el('p', { className: 'muted', textContent: 'Running…' }));
    const files = changes();
    const on = Object.keys(files).length ? 'the draft' : 'the live rules';
    const { status, body } = await api('POST', '/admin/api/test', { ruleset, files });
    if (status !== 200) {
      slot.replaceChildren(el('p', { className: 'error-text', textContent: (body && body.error) || `tests answered ${status}` }));
      return;
    }
    const list = el('ul', { className: 'tests' });
    for (const t of body.tests) {
      list.append(el('li', { className: t.ok ? '' : 'error-text', textContent: `${t.name} ... ${t.ok ? 'ok' : 'FAILED: ' + t.failures.join('; ')}` }));
    }
    const when = new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    slot.replaceChildren(el('p', { id: 'test-summary', textContent: `${body.passed} passed, ${body.failed} failed` }),
      el('p', { className: 'muted', id: 'test-when', textContent: `on ${on}, ${when}` }), list);
  }

  async function saveDraft() {
    const request = { ruleset, files: changes() };
    if (draftId) request.id = draftId;
    const { status, body } = await api('POST', '/admin/api/drafts', request);
    $('draft-status').textContent = status === 200 ? `Saved as draft ${body.id}` : ((body && body.error) || `saving answered ${status}`);
    if (status === 200) { draftId = body.id; await loadDrafts(); }
  }

  async function publish() {
    const message = $('publish-message').value;
    const request = { ruleset, files: changes(), message };
    const { status, body } = await api('POST', '/admin/api/publish', request);
    const out = $('publish-result');
    if (status === 200) {
      out.className = '';
      out.textContent = `Published: version ${body.version} is live.`;
      await reload();
    } else {
      out.className = 'error-text';
      out.textContent = (body && body.error) || `publishing answered ${status}`;
    }
  }

  /// Runs the draft as a candidate beside the live rules on the calls to come (after
  /// each answer is sent); the Fleet page sums up what it would change.
  async function startCandidate() {
    const message = $('publish-message').value;
    const { status, body } = await api('POST', '/admin/api/candidates', { ruleset, files: changes(), message });
    const out = $('publish-result');
    out.replaceChildren();
    if (status === 201) {
      out.className = '';
      out.append(`Candidate ${body.version} runs beside version ${body.live_version} on the calls to come: `,
        el('a', { href: `/admin/fleet#candidate-${body.id}`, id: 'candidate-link', textContent: 'see what it changes on the Fleet page' }), '.');
    } else {
      out.className = 'error-text';
      out.textContent = (body && body.error) || `starting a candidate answered ${status}`;
    }
  }

  async function loadVersions() {
    const { status, body } = await api('GET', `/admin/api/rulesets/${encodeURIComponent(ruleset)}/versions`);
    const list = $('versions');
    list.replaceChildren();
    if (status !== 200) return;
    for (const v of body) {
      const when = new Date(v.at / 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
      if (v.action === 'retire') {
        // Retired from the fleet: no files to roll back to or compare.
        list.append(el('li', { textContent: `${when} retired from the fleet (was ${v.previous_version}) by ${v.author}: ${v.message}` }));
        continue;
      }
      const item = el('li', { textContent: `${when} ${v.action} ${v.version} by ${v.author}: ${v.message} ` });
      if ($('publish')) {
        const back = el('button', { type: 'button', textContent: 'Roll back to this' });
        back.addEventListener('click', async () => {
          const message = $('publish-message').value || `roll back to ${v.version}`;
          const r = await api('POST', '/admin/api/rollback', { ruleset, to: v.id, message });
          $('publish-result').textContent = r.status === 200 ? `Rolled back: version ${r.body.version} is live.` : ((r.body && r.body.error) || `rollback answered ${r.status}`);
          if (r.status === 200) await reload();
        });
        item.append(back);
      }
      const compare = el('button', { type: 'button', textContent: 'Compare with live' });
      compare.addEventListener('click', () => compareVersions(v.id, 'live', `${v.action} ${v.version}`));
      item.append(' ', compare);
      list.append(item);
    }
  }

  /// What changes going from one version to another, file by file.
  async function compareVersions(from, to, label) {
    const slot = $('compare-result');
    const query = new URLSearchParams({ ruleset, from, to });
    const { status, body } = await api('GET', `/admin/api/compare?${query}`);
    if (status !== 200) {
      slot.replaceChildren(el('p', { className: 'error-text', textContent: (body && body.error) || `compare answered ${status}` }));
      return;
    }
    const title = el('h3', { id: 'compare-title', textContent: body.files.length
      ? `From ${label} to the live rules: ${body.files.length} file${body.files.length === 1 ? '' : 's'} differ, ${body.unchanged} the same`
      : `${label} is the same as the live rules` });
    const parts = [title];
    for (const f of body.files) {
      const pre = el('pre', { className: 'diff' });
      for (const line of f.diff.split('\n')) {
        const kind = line.startsWith('+') && !line.startsWith('+++') ? 'add' : line.startsWith('-') && !line.startsWith('---') ? 'del' : line.startsWith('@@') ? 'hunk' : '';
        pre.append(el('span', { className: kind, textContent: line + '\n' }));
      }
      parts.push(el('details', { open: true, className: 'compare-file' },
        el('summary', { textContent: `${f.path}: ${f.change}, +${f.lines_added} −${f.lines_removed}` }), pre));
    }
    slot.replaceChildren(...parts);
  }

  /// After a publish or rollback: the live files again, the draft emptied.
  async function reload() {
    await loadFiles();
    for (const path of Object.keys(edits)) delete edits[path];
    draftId = null;
    open(current in live ? current : firstRule());
    await loadVersions();
  }

  /// The file the page opens first: the first rule, else the first file.
  function firstRule() {
    const paths = Object.keys(live).sort();
    return paths.find((p) => p.endsWith('.rhai') && !p.includes('/')) || paths[0];
  }

  /// The author's saved drafts of this rule set, each one click from the editor.
  async function loadDrafts() {
    const { status, body } = await api('GET', `/admin/api/drafts?ruleset=${encodeURIComponent(ruleset)}`);
    const list = $('drafts');
    list.replaceChildren();
    if (status !== 200) return;
    for (const d of body) {
      const when = new Date(d.updated_at / 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
      const button = el('button', { type: 'button', textContent: 'Open' });
      button.addEventListener('click', () => {
        for (const path of Object.keys(edits)) delete edits[path];
        for (const [path, text] of Object.entries(d.files)) edits[path] = text;
        draftId = d.id;
        $('draft-status').textContent = `Draft ${d.id} (${d.owner}, made from version ${d.base_version})`;
        const changed = Object.keys(d.files).sort();
        open(changed.find((p) => p.endsWith('.rhai')) || changed[0] || current);
      });
      list.append(el('li', { textContent: `${when} by ${d.owner}: ${Object.keys(d.files).join(', ') || 'no changes'} ` }, button));
    }
  }

  /// The helpers, as the manual lists them, filtered by name.
  let helpers = [];
  function renderHelpers() {
    const wanted = $('helper-filter').value.trim();
    const list = $('helpers');
    list.replaceChildren();
    for (const h of helpers) {
      if (wanted && !h.signatures.some((s) => s.includes(wanted))) continue;
      const item = el('li');
      for (const s of h.signatures) item.append(el('code', { textContent: s }), ' ');
      item.append(el('p', { className: 'muted', textContent: h.summary }));
      item.append(el('pre', { textContent: h.example }));
      list.append(item);
    }
  }
  async function loadHelpers() {
    const { status, body } = await api('GET', '/admin/api/helpers');
    if (status === 200) helpers = body;
    renderHelpers();
  }

  async function loadFiles() {
    const { status, body } = await api('GET', `/admin/api/rulesets/${encodeURIComponent(ruleset)}`);
    if (status !== 200) throw new Error((body && body.error) || `files answered ${status}`);
    for (const path of Object.keys(live)) delete live[path];
    Object.assign(live, body.files);
  }

  async function loadCalls() {
    const { status, body } = await api('GET', `/admin/api/calls?ruleset=${encodeURIComponent(ruleset)}&limit=20`);
    const select = $('call-select');
    select.replaceChildren();
    if (status !== 200) return;
    for (const c of body.calls) {
      const when = new Date(c.received_at / 1000).toISOString().replace('T', ' ').slice(0, 19);
      select.append(el('option', { value: c.id, textContent: `${when} · ${c.estimate_id || '(no id)'} · ${c.alerts} alerts · ${c.id}` }));
    }
  }

  $('new-file').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $('new-file-name').value.trim();
    if (!name) return;
    edits[name] = '';
    $('new-file-name').value = '';
    open(name);
  });
  $('try').addEventListener('click', tryDraft);
  $('try-recent').addEventListener('click', tryRecent);
  $('try-estimate').addEventListener('click', tryEstimate);
  $('add-call-test').addEventListener('click', addCallTest);
  $('run-tests').addEventListener('click', runTests);
  $('delete-file').addEventListener('click', toggleDelete);
  $('save-draft').addEventListener('click', saveDraft);
  if ($('publish')) $('publish').addEventListener('click', publish);
  if ($('start-candidate')) $('start-candidate').addEventListener('click', startCandidate);

  (async () => {
    await loadFiles();
    open(firstRule());
    $('helper-filter').addEventListener('input', renderHelpers);
    // The tests' result on the live rules, as of opening the page.
    await Promise.all([loadCalls(), loadVersions(), loadDrafts(), loadHelpers(), runTests()]);
    root.dataset.ready = 'true';
  })();
})();
