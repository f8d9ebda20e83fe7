// lookout log viewer: "Replay against current rules" in place, without leaving the page.
// Every page works without this script: the replay form then posts and the server
// answers with the call page and the result in it.
'use strict';

function replayFailure(message) {
  const section = document.createElement('section');
  section.id = 'replay-result';
  section.className = 'replay-result replay-failed';
  const text = document.createElement('p');
  text.className = 'error-text';
  text.textContent = message;
  section.append(text);
  return section;
}

function setUpReplay() {
  const form = document.getElementById('replay-form');
  const slot = document.getElementById('replay-slot');
  const button = document.getElementById('replay');
  if (!form || !slot || !button) return;
  const label = button.textContent;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const csrf = form.querySelector('input[name="csrf"]');
    button.disabled = true;
    button.textContent = 'Replaying…';
    slot.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf ? csrf.value : '', 'X-Lookout-Fragment': '1' },
        body: new URLSearchParams(new FormData(form)),
      });
      const page = new DOMParser().parseFromString(await response.text(), 'text/html');
      const result = page.getElementById('replay-result');
      slot.replaceChildren(result
        ? document.importNode(result, true)
        : replayFailure(`the replay was answered ${response.status}; reload the page (your login may have ended) and try again`));
    } catch (e) {
      slot.replaceChildren(replayFailure(`the replay did not reach lookout (${e.message}); check the connection and try again`));
    } finally {
      button.disabled = false;
      button.textContent = label;
      slot.removeAttribute('aria-busy');
    }
  });
}

document.addEventListener('DOMContentLoaded', setUpReplay);
