// The chat widget: messages go to POST /api/messages; the transcript (the
// visitor's messages and the agents' replies) arrives on /api/events as
// server-sent events, so a reply shows up without a reload.
'use strict';
(() => {
  const log = document.getElementById('chat-log');
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  const nameInput = document.getElementById('chat-name');
  const status = document.getElementById('chat-status');
  const errorBox = document.getElementById('chat-error');
  const seen = new Set();

  const empty = document.createElement('li');
  empty.className = 'chat-empty';
  empty.textContent = 'Say hello: an agent answers here.';
  log.append(empty);

  try { nameInput.value = localStorage.getItem('livechat-name') || ''; } catch (_) { /* private mode */ }
  nameInput.addEventListener('change', () => {
    try { localStorage.setItem('livechat-name', nameInput.value); } catch (_) { /* private mode */ }
  });

  function newId() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function clock(at) {
    const d = at ? new Date(at) : new Date();
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function bubble(kind, text, at) {
    const li = document.createElement('li');
    li.className = 'msg ' + kind;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(body);
    if (kind !== 'system') {
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = (kind === 'agent' ? 'Support · ' : '') + clock(at);
      li.append(meta);
    }
    return li;
  }

  function append(li) {
    empty.remove();
    log.append(li);
    log.scrollTop = log.scrollHeight;
  }

  function render(ev) {
    if (seen.has(ev.seq)) return;
    seen.add(ev.seq);
    if (ev.kind === 'customer' && ev.client_id) {
      const mine = log.querySelector('[data-client-id="' + CSS.escape(ev.client_id) + '"]');
      if (mine) { // our own message, already on the page
        mine.classList.remove('pending', 'failed');
        mine.dataset.seq = ev.seq;
        if (ev.case_id) mine.dataset.caseId = ev.case_id;
        if (ev.message_id) mine.dataset.messageId = ev.message_id;
        return;
      }
    }
    const li = bubble(ev.kind, ev.text, ev.at);
    li.dataset.seq = ev.seq;
    if (ev.case_id) li.dataset.caseId = ev.case_id;
    if (ev.message_id) li.dataset.messageId = ev.message_id;
    if (ev.client_id) li.dataset.clientId = ev.client_id;
    for (const f of ev.files || []) {
      const a = document.createElement('a');
      a.href = f.url;
      a.textContent = '📎 ' + f.name;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      li.insertBefore(a, li.lastChild);
    }
    append(li);
  }

  async function send(li, text, clientId) {
    li.classList.add('pending');
    li.classList.remove('failed');
    try {
      const resp = await fetch('/api/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: text, client_id: clientId, name: nameInput.value }),
      });
      const out = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new Error(out.error || 'HTTP ' + resp.status);
      li.classList.remove('pending');
      errorBox.hidden = true;
    } catch (err) {
      li.classList.remove('pending');
      li.classList.add('failed');
      li.title = 'Not sent: click to try again';
      errorBox.textContent = err.message + ' (click the message to send it again)';
      errorBox.hidden = false;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    const id = newId();
    const li = bubble('customer', text);
    li.dataset.clientId = id;
    append(li);
    send(li, text, id);
  });

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  log.addEventListener('click', (e) => {
    const li = e.target.closest('.msg.failed');
    if (li) send(li, li.querySelector('.text').textContent, li.dataset.clientId);
  });

  // EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed.
  const es = new EventSource('/api/events');
  es.onopen = () => { status.textContent = 'online'; status.dataset.state = 'online'; };
  es.onerror = () => { status.textContent = 'reconnecting…'; status.dataset.state = 'reconnecting'; };
  es.onmessage = (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    render(ev);
  };
})();
