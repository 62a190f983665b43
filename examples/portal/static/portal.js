// Live replies: the portal streams the signed-in customer's agent replies as
// server-sent events. On a case's page a reply to that case is added to the
// thread; elsewhere a banner links to it.
'use strict';
(() => {
  const body = document.body;
  if (!body.dataset.live) return;
  const caseID = Number(body.dataset.caseId || 0);
  const thread = document.getElementById('thread');
  const banner = document.getElementById('live-banner');

  function clock(at) {
    return new Date(at).toLocaleString([], { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function show(ev) {
    if (caseID && ev.case_id === caseID && thread) {
      if (thread.querySelector('[data-message-id="' + ev.message_id + '"]')) return; // on the page already
      const li = document.createElement('li');
      li.className = 'msg agent fresh';
      li.dataset.messageId = ev.message_id;
      const from = document.createElement('span');
      from.className = 'from';
      from.textContent = 'Support · ' + clock(ev.at);
      const text = document.createElement('div');
      text.className = 'text';
      text.textContent = ev.text;
      li.append(from, text);
      thread.append(li);
      const status = document.getElementById('case-status');
      if (status && !status.classList.contains('closed')) {
        status.className = 'badge waiting';
        status.textContent = 'Answered: waiting for you';
      }
      li.scrollIntoView({ block: 'nearest' });
      return;
    }
    banner.textContent = '';
    const a = document.createElement('a');
    a.href = '/cases/' + ev.case_id;
    a.id = 'live-link';
    a.textContent = 'New reply from support in one of your cases: open it';
    banner.append(a);
    banner.hidden = false;
  }

  const es = new EventSource('/events?after=' + encodeURIComponent(body.dataset.after || '0'));
  es.onmessage = (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    show(ev);
  };
})();
