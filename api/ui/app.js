// The imapapi web UI: one page over the REST API, no framework and no build step.
// DOM is built with createElement/textContent only (never innerHTML), so nothing an API
// answer holds (subjects, names, mail text) can become markup in this page.
'use strict';

const AUTH_KEY = 'imapapi.auth';
const EVENT_TYPES = ['messageNew', 'messageDeleted', 'messageUpdated', 'mailboxReset', 'mailboxDeleted',
  'mailboxNew', 'authenticationError', 'authenticationSuccess', 'connectError', 'messageSent',
  'messageDeliveryError', 'messageFailed'];
// Mail HTML gets this policy on top of the page's own (which the srcdoc frame inherits):
// no scripts, nothing remote; only inline images (data:) may show.
const MAIL_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

// ---------- small DOM helpers ----------

/** h('p', {class: 'x'}, 'text', child): an element with attributes and children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);
let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

/** A labelled input: returns {wrap, input, error}; `key` ties it to an API field error. */
function field(label, attrs = {}, opts = {}) {
  const id = nextId('f');
  const errId = `${id}-err`;
  const tag = opts.tag || 'input';
  const hintId = opts.hint ? `${id}-hint` : null;
  const input = h(tag, { id, name: attrs.name || id, 'aria-describedby': hintId ? `${hintId} ${errId}` : errId, ...attrs });
  if (opts.options) {
    for (const o of opts.options) input.append(h('option', { value: o.value }, o.label));
  }
  const error = h('p', { class: 'error', id: errId });
  const isCheck = attrs.type === 'checkbox';
  const lab = h('label', { for: id }, label);
  const wrap = h('div', { class: isCheck ? 'field check' : 'field', 'data-key': opts.key || null },
    isCheck ? [input, lab] : [lab, input], opts.hint ? h('p', { class: 'muted hint', id: hintId }, opts.hint) : null, error);
  return { wrap, input, error };
}

function notice(message, ok = false) {
  const n = $('#notice');
  n.textContent = message || '';
  n.classList.toggle('ok', ok);
  n.hidden = !message;
}

function table(headers, rows, caption) {
  const t = h('table', { class: 'stack' },
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((cells) => h('tr', {},
      cells.map((c, i) => h('td', { 'data-label': headers[i] || null }, c))))));
  return h('div', { class: 'scroll' }, t);
}

function fmtDate(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

/** `3 d 4 h`, `5 h 2 min`, `42 s`: the two largest units are enough to read at a glance. */
function fmtUptime(seconds) {
  const s = Number(seconds) || 0;
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts = [];
  let rest = s;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n || (parts.length === 0 && size === 1)) parts.push(`${n} ${name}`);
  }
  return parts.slice(0, 2).join(' ');
}

function fmtAddr(a) {
  if (!a) return '';
  const list = Array.isArray(a) ? a : [a];
  return list.map((x) => (x.name ? `${x.name} <${x.address}>` : x.address)).join(', ');
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.fields = (body && body.fields) || [];
    this.code = body && body.code;
  }
}

/** Calls the API with the stored credentials; a 401 opens the sign-in form. */
async function api(method, path, body, as = 'json') {
  const headers = {};
  const auth = sessionStorage.getItem(AUTH_KEY);
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // credentials: 'omit' keeps the browser's own basic-auth prompt out of the way.
  const res = await fetch(path, {
    method, headers, credentials: 'omit', body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    showSignIn(auth ? 'Those credentials were refused.' : '');
    throw new ApiError(401, { message: 'Sign in first.' });
  }
  if (!res.ok) {
    let payload = null;
    try { payload = await res.json(); } catch { /* not JSON: the status says enough */ }
    throw new ApiError(res.status, payload);
  }
  if (as === 'blob') return res.blob();
  if (as === 'text') return res.text();
  return res.json();
}

const enc = encodeURIComponent;

/** Shows an API error: each field's message next to its input, the rest in the notice. */
function showError(err, form) {
  if (err.status === 401) return;
  let placed = 0;
  if (form) {
    for (const f of err.fields || []) {
      const wrap = form.querySelector(`[data-key="${CSS.escape(f.key)}"]`);
      if (!wrap) continue;
      wrap.querySelector('.error').textContent = f.message;
      const input = wrap.querySelector('input, select, textarea');
      if (input) input.setAttribute('aria-invalid', 'true');
      placed++;
    }
  }
  // Keyboard and screen-reader users land on the first field to fix.
  const first = form && form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
  const fields = (err.fields || []).map((f) => `${f.key}: ${f.message}`).join('; ');
  notice(placed ? 'Please correct the marked fields.' : `Error: ${err.message}${fields && !err.message.includes(fields) ? ` (${fields})` : ''}`);
}

function clearErrors(form) {
  form.querySelectorAll('.error').forEach((e) => { e.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  notice('');
}

/** Runs an async action, showing its error; disables `button` meanwhile. */
async function act(button, fn, form) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (err) {
    showError(err, form);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------- sign-in ----------

function showSignIn(message) {
  $('#signin').hidden = false;
  $('#page').hidden = true;
  $('#signin-error').textContent = message || '';
  $('#signin-user').focus();
}

function setupSignIn() {
  $('#signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = $('#signin-user').value;
    const pass = $('#signin-pass').value;
    const token = $('#signin-token').value.trim();
    if (token) sessionStorage.setItem(AUTH_KEY, `Bearer ${token}`);
    else if (user) {
      // btoa takes Latin-1 only; encode UTF-8 first so any password works.
      const bytes = new TextEncoder().encode(`${user}:${pass}`);
      sessionStorage.setItem(AUTH_KEY, `Basic ${btoa(String.fromCharCode(...bytes))}`);
    } else {
      $('#signin-error').textContent = 'Enter a user and password, or an access token.';
      return;
    }
    ev.target.reset();
    $('#signin').hidden = true;
    $('#page').hidden = false;
    $('#signout').hidden = false;
    render();
  });
  $('#signout').addEventListener('click', () => {
    sessionStorage.removeItem(AUTH_KEY);
    $('#signout').hidden = true;
    showSignIn('Signed out.');
  });
  $('#signout').hidden = !sessionStorage.getItem(AUTH_KEY);
}

// ---------- pages ----------

const pages = {
  overview: { title: 'Overview', render: renderOverview },
  accounts: { title: 'Accounts', render: renderAccounts },
  mail: { title: 'Mail', render: renderMail },
  settings: { title: 'Settings', render: renderSettings },
  logs: { title: 'Logs', render: renderLogs },
  outbox: { title: 'Outbox and dead letters', render: renderOutbox },
};

/** The page of the hash (`#/mail?account=x`) and its query. */
function route() {
  const [name, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { name: pages[name] ? name : 'overview', params: new URLSearchParams(query || '') };
}

let renderSeq = 0;

async function render() {
  const { name, params } = route();
  const seq = ++renderSeq;
  document.querySelectorAll('nav a').forEach((a) => {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.title = `${pages[name].title} – imapapi`;
  notice('');
  const root = $('#page');
  const content = h('div', { 'aria-busy': 'true' }, h('h1', {}, pages[name].title));
  root.replaceChildren(content);
  try {
    await pages[name].render(content, params);
  } catch (err) {
    if (seq === renderSeq) showError(err);
  }
  content.removeAttribute('aria-busy');
}

// ---------- overview ----------

async function renderOverview(root) {
  const stats = await api('GET', '/v1/stats?seconds=3600');
  const c = stats.counters || {};
  const events = Object.entries(c).filter(([k]) => k.startsWith('events:')).reduce((s, [, v]) => s + v, 0);
  root.append(
    h('p', {}, 'Gateway version ', h('strong', {}, stats.version), ', up ', h('strong', {}, fmtUptime(stats.uptime)), '.'),
    h('div', { class: 'cards' },
      card('Accounts', stats.accounts),
      card('Events (last hour)', events),
      card('Webhooks delivered (last hour)', c['webhooks:success'] || 0),
      card('Webhooks failed (last hour)', c['webhooks:fail'] || 0)),
    h('h2', {}, 'Accounts by state'),
    barChart(stats.connections || {}),
  );
  const failing = stats.failingReceivers || [];
  root.append(h('h2', {}, 'Failing webhook receivers'));
  root.append(failing.length
    ? table(['Receiver', 'Failing since', 'Error'], failing.map((f) => [f.target, fmtDate(f.since), f.error || '']))
    : h('p', {}, 'None: every webhook receiver answers.'));
  if (stats.queues) {
    const q = stats.queues;
    const row = (n, x) => [n, String(x.ready), x.inFlight === null || x.inFlight === undefined ? 'n/a' : String(x.inFlight), String(x.dead)];
    root.append(h('h2', {}, 'Queues'),
      table(['Queue', 'Ready', 'In flight', 'Dead'], [row('events', q.events), row('submit', q.submit)]));
  }
}

function card(label, value) {
  return h('div', { class: 'card' }, h('span', { class: 'num' }, String(value)), label);
}

/** An inline SVG bar chart of {state: count}, with the numbers as text for screen readers. */
function barChart(data) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs, text) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const entries = Object.entries(data);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const rowH = 26;
  const width = 360;
  const labelW = 150;
  const summary = entries.map(([k, v]) => `${k}: ${v}`).join(', ');
  const chart = svg('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${entries.length * rowH + 4}`, role: 'img', 'aria-label': `Accounts by state: ${summary}`,
  });
  chart.append(svg('title', {}, `Accounts by state: ${summary}`));
  entries.forEach(([k, v], i) => {
    const y = i * rowH + 2;
    const w = ((width - labelW - 40) * v) / max;
    chart.append(
      svg('text', { x: 0, y: y + 17, 'font-size': 14, fill: '#1a1a1a' }, k),
      svg('rect', { x: labelW, y: y + 3, width: Math.max(w, v ? 2 : 0), height: rowH - 8, fill: k === 'connected' ? '#1e6b30' : '#12324f' }),
      svg('text', { x: labelW + w + 6, y: y + 17, 'font-size': 14, fill: '#1a1a1a' }, String(v)),
    );
  });
  return chart;
}

// ---------- accounts ----------

async function renderAccounts(root) {
  const list = h('div', {});
  // The edit form lives outside the list, so the list's reloads leave it alone.
  list.editor = h('section', { 'aria-label': 'Edit an account', hidden: true });
  const refresh = h('button', { type: 'button', class: 'secondary', onclick: () => act(refresh, () => loadAccounts(list)) }, 'Refresh');
  root.append(h('div', { class: 'actions' }, refresh), list, list.editor, h('h2', {}, 'Add an account'), addAccountForm(list));
  await loadAccounts(list);
}

async function loadAccounts(list) {
  const data = await api('GET', '/v1/accounts?pageSize=250');
  const rows = data.accounts.map((a) => [
    a.account,
    a.name || '',
    h('span', { class: `state-${a.state}` }, a.state),
    a.lastError ? `${a.lastError.response}${a.lastError.serverResponseCode ? ` (${a.lastError.serverResponseCode})` : ''}` : '',
    accountActions(a, list),
  ]);
  list.replaceChildren(data.accounts.length
    ? table(['Account', 'Name', 'State', 'Last error', 'Actions'], rows)
    : h('p', {}, 'No accounts yet: add one below.'));
  return data.accounts;
}

function accountActions(a, list) {
  const folders = h('div', { class: 'folders' });
  const reconnect = h('button', {
    type: 'button', class: 'secondary', 'aria-label': `Reconnect ${a.account}`,
    onclick: () => act(reconnect, async () => {
      await api('PUT', `/v1/account/${enc(a.account)}/reconnect`, { reconnect: true });
      notice(`Reconnecting ${a.account}.`, true);
    }),
  }, 'Reconnect');
  const show = h('button', {
    type: 'button', class: 'secondary', 'aria-label': `Folders of ${a.account}`, 'aria-expanded': 'false',
    onclick: () => act(show, async () => {
      if (show.getAttribute('aria-expanded') === 'true') {
        folders.replaceChildren();
        show.setAttribute('aria-expanded', 'false');
        return;
      }
      const mb = await api('GET', `/v1/account/${enc(a.account)}/mailboxes`);
      folders.replaceChildren(h('ul', {}, mb.mailboxes.map((m) => h('li', {},
        h('a', { href: `#/mail?account=${enc(a.account)}&path=${enc(m.path)}` }, m.name || m.path),
        ` – ${m.messages} message${m.messages === 1 ? '' : 's'}`))));
      show.setAttribute('aria-expanded', 'true');
    }),
  }, 'Folders');
  const del = h('button', {
    type: 'button', class: 'danger', 'aria-label': `Delete ${a.account}`,
    onclick: () => act(del, async () => {
      if (!window.confirm(`Delete the account "${a.account}"? Its mail stays on the server.`)) return;
      await api('DELETE', `/v1/account/${enc(a.account)}`);
      notice(`Deleted ${a.account}.`, true);
      await loadAccounts(list);
    }),
  }, 'Delete');
  const edit = h('button', {
    type: 'button', class: 'secondary', 'aria-label': `Edit ${a.account}`,
    onclick: () => act(edit, () => openEditor(a.account, list)),
  }, 'Edit');
  return h('div', {}, h('div', { class: 'actions' }, edit, reconnect, show, del), folders);
}

/** The edit form of one account: name and IMAP server; an empty password keeps the stored one. */
async function openEditor(account, list) {
  const editor = list.editor;
  const d = await api('GET', `/v1/account/${enc(account)}`);
  const imapIn = d.imap || null;
  const auth = (imapIn && imapIn.auth) || null;
  const titleId = nextId('edit-title');
  const name = field('Name', { name: 'name', autocomplete: 'off', value: d.name || '' }, { key: 'name' });
  const parts = [name.wrap];
  let f = null;
  if (imapIn) {
    f = {
      host: field('Host', { name: 'imap-host', autocomplete: 'off', required: true, value: imapIn.host }, { key: 'imap.host' }),
      port: field('Port', { name: 'imap-port', type: 'number', min: 1, max: 65535, required: true, value: imapIn.port }, { key: 'imap.port' }),
      secure: field('TLS from the start (off: STARTTLS when offered)', { name: 'imap-secure', type: 'checkbox', checked: !!imapIn.secure },
        { key: 'imap.secure' }),
      user: field('User', { name: 'imap-user', autocomplete: 'off', value: auth ? auth.user : '' }, { key: 'imap.auth.user' }),
      pass: field('Password', { name: 'imap-pass', type: 'password', autocomplete: 'new-password' },
        { key: 'imap.auth.pass', hint: 'Leave empty to keep the stored password.' }),
    };
    parts.push(h('fieldset', {}, h('legend', {}, 'IMAP (reading mail)'),
      h('div', { class: 'row' }, f.host.wrap, f.port.wrap), f.secure.wrap, h('div', { class: 'row' }, f.user.wrap, f.pass.wrap)));
  } else {
    parts.push(h('p', { class: 'muted' }, 'This account has no IMAP settings of its own (OAuth2): only its name can be changed here.'));
  }
  const save = h('button', { type: 'submit' }, 'Save changes');
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => closeEditor(editor) }, 'Cancel');
  const form = h('form', { class: 'form', 'aria-labelledby': titleId }, ...parts, h('div', { class: 'actions' }, save, cancel));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(form);
    act(save, async () => {
      const body = {};
      const newName = name.input.value.trim();
      if (newName !== (d.name || '')) body.name = newName;
      if (f) {
        const host = f.host.input.value.trim();
        const port = Number(f.port.input.value);
        const secure = f.secure.input.checked;
        const user = f.user.input.value;
        const pass = f.pass.input.value;
        const changed = host !== imapIn.host || port !== imapIn.port || secure !== !!imapIn.secure
          || user !== (auth ? auth.user : '') || pass !== '';
        if (changed) {
          // PUT replaces the whole imap object: keep what this form does not show (tls, …),
          // and the stored secrets as read (`******`), which the API keeps as they are.
          const imap = { ...imapIn, host, port, secure };
          if (user || auth) {
            imap.auth = { ...(auth || {}), user };
            if (pass) imap.auth.pass = pass;
          }
          body.imap = imap;
        }
      }
      if (!Object.keys(body).length) {
        notice('Nothing changed.', true);
        return;
      }
      await api('PUT', `/v1/account/${enc(account)}`, body);
      closeEditor(editor);
      notice(`Saved ${account}; it reconnects with the new settings.`, true);
      await watchAccounts(list);
    }, form);
  });
  editor.replaceChildren(h('h2', { id: titleId, tabindex: '-1' }, `Edit ${account}`), form);
  editor.hidden = false;
  name.input.focus();
}

function closeEditor(editor) {
  editor.replaceChildren();
  editor.hidden = true;
}

function serverFields(prefix, legend, optional) {
  const f = {
    host: field('Host', { name: `${prefix}-host`, autocomplete: 'off', required: !optional }, { key: `${prefix}.host` }),
    port: field('Port', { name: `${prefix}-port`, type: 'number', min: 1, max: 65535, required: !optional,
      value: prefix === 'imap' ? '993' : '465' }, { key: `${prefix}.port` }),
    secure: field('TLS from the start (off: STARTTLS when offered)', { name: `${prefix}-secure`, type: 'checkbox', checked: true },
      { key: `${prefix}.secure` }),
    user: field('User', { name: `${prefix}-user`, autocomplete: 'off', required: !optional }, { key: `${prefix}.auth.user` }),
    pass: field('Password', { name: `${prefix}-pass`, type: 'password', autocomplete: 'new-password', required: !optional },
      { key: `${prefix}.auth.pass` }),
  };
  const set = h('fieldset', {}, h('legend', {}, legend),
    optional ? h('p', { class: 'muted' }, 'Leave the host empty for an account that only reads mail.') : null,
    h('div', { class: 'row' }, f.host.wrap, f.port.wrap), f.secure.wrap, h('div', { class: 'row' }, f.user.wrap, f.pass.wrap));
  const value = () => ({
    host: f.host.input.value.trim(),
    port: Number(f.port.input.value),
    secure: f.secure.input.checked,
    auth: { user: f.user.input.value, pass: f.pass.input.value },
  });
  return { set, value };
}

function addAccountForm(list) {
  const id = field('Account id', { name: 'account', required: true, autocomplete: 'off' }, { key: 'account' });
  const name = field('Name', { name: 'name', autocomplete: 'off' }, { key: 'name' });
  const imap = serverFields('imap', 'IMAP (reading mail)', false);
  const smtp = serverFields('smtp', 'SMTP (sending, optional)', true);
  const steps = h('ul', { class: 'steps', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Check and add');
  const form = h('form', { class: 'form', 'aria-label': 'Add an account' },
    h('div', { class: 'row' }, id.wrap, name.wrap), imap.set, smtp.set, steps, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(form);
    act(submit, async () => {
      const body = { account: id.input.value.trim(), name: name.input.value.trim() || undefined, imap: imap.value() };
      const s = smtp.value();
      if (s.host) body.smtp = s;
      steps.replaceChildren(h('li', {}, 'Checking the servers…'));
      const check = await api('POST', '/v1/verifyAccount', { imap: body.imap, smtp: body.smtp });
      const failed = showSteps(steps, check);
      if (failed) {
        notice(`The ${failed} check failed; nothing was saved.`);
        return;
      }
      await api('POST', '/v1/account', body);
      notice(`Added ${body.account}; it connects in the background.`, true);
      form.reset();
      await watchAccounts(list);
    }, form);
  });
  return form;
}

/** Lists each verified step; returns the first failed one ('IMAP' or 'SMTP') or null. */
function showSteps(steps, check) {
  let failed = null;
  const items = [];
  for (const [key, label] of [['imap', 'IMAP'], ['smtp', 'SMTP']]) {
    const r = check[key];
    if (!r) continue;
    if (r.success) items.push(h('li', { class: 'ok-text' }, `${label}: connected and signed in.`));
    else {
      failed = failed || label;
      items.push(h('li', { class: 'error' }, `${label} failed: ${r.error || 'unknown error'}${r.code ? ` (${r.code})` : ''}`));
    }
  }
  steps.replaceChildren(...items);
  return failed;
}

/** Reloads the list a few times while accounts are still connecting, so their state shows. */
async function watchAccounts(list) {
  for (let i = 0; i < 15; i++) {
    if (!list.isConnected) return;
    const accounts = await loadAccounts(list);
    if (!accounts.some((a) => ['init', 'connecting', 'unset', 'new'].includes(a.state))) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ---------- mail ----------

async function accountOptions() {
  const data = await api('GET', '/v1/accounts?pageSize=250');
  return data.accounts.map((a) => ({ value: a.account, label: a.name ? `${a.name} (${a.account})` : a.account }));
}

async function renderMail(root, params) {
  const options = await accountOptions();
  if (!options.length) {
    root.append(h('p', {}, 'No accounts yet. ', h('a', { href: '#/accounts' }, 'Add one first.')));
    return;
  }
  const acc = field('Account', { name: 'account' }, { tag: 'select', options });
  const folder = field('Folder', { name: 'path' }, { tag: 'select', options: [] });
  const list = h('div', { 'aria-live': 'polite' });
  const view = h('section', { 'aria-label': 'Message' });
  root.append(h('div', { class: 'row' }, acc.wrap, folder.wrap), list, view);
  const state = { page: 0 };
  const loadList = () => act(null, () => loadMessages(acc.input.value, folder.input.value, state, list, view));
  const loadFolders = async () => {
    const mb = await api('GET', `/v1/account/${enc(acc.input.value)}/mailboxes`);
    folder.input.replaceChildren(...mb.mailboxes.map((m) => h('option', { value: m.path }, `${m.name || m.path} (${m.messages})`)));
    const want = params.get('path');
    folder.input.value = mb.mailboxes.some((m) => m.path === want) ? want : (mb.mailboxes.find((m) => m.path === 'INBOX') || mb.mailboxes[0] || {}).path;
    state.page = 0;
    view.replaceChildren();
    await loadList();
  };
  if (params.get('account') && options.some((o) => o.value === params.get('account'))) acc.input.value = params.get('account');
  acc.input.addEventListener('change', () => act(null, loadFolders));
  folder.input.addEventListener('change', () => { state.page = 0; view.replaceChildren(); loadList(); });
  await loadFolders();
}

async function loadMessages(account, path, state, list, view) {
  const data = await api('GET', `/v1/account/${enc(account)}/messages?path=${enc(path)}&page=${state.page}&pageSize=20`);
  const rows = data.messages.map((m) => [
    h('button', { type: 'button', class: 'link', onclick: () => act(null, () => openMessage(account, m.id, view)) },
      m.subject || '(no subject)'),
    fmtAddr(m.from),
    fmtDate(m.date),
    [m.unseen ? 'unread' : '', m.answered ? 'answered' : '', m.attachments && m.attachments.length ? 'attachment' : ''].filter(Boolean).join(', '),
  ]);
  const pager = h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'secondary', disabled: state.page <= 0,
      onclick: () => { state.page--; loadMessages(account, path, state, list, view).catch(showError); } }, 'Previous page'),
    h('span', {}, `Page ${data.page + 1} of ${Math.max(1, data.pages)} (${data.total} messages)`),
    h('button', { type: 'button', class: 'secondary', disabled: state.page + 1 >= data.pages,
      onclick: () => { state.page++; loadMessages(account, path, state, list, view).catch(showError); } }, 'Next page'));
  list.replaceChildren(h('h2', {}, `Messages in ${path}`),
    data.messages.length ? table(['Subject', 'From', 'Date', 'Flags'], rows) : h('p', {}, 'This folder is empty.'), pager);
}

async function openMessage(account, id, view) {
  const m = await api('GET', `/v1/account/${enc(account)}/message/${enc(id)}?textType=*`);
  const text = m.text || {};
  const parts = [
    h('h2', { tabindex: '-1', id: 'message-title' }, m.subject || '(no subject)'),
    h('dl', { class: 'meta' },
      h('dt', {}, 'From'), h('dd', {}, fmtAddr(m.from)),
      h('dt', {}, 'To'), h('dd', {}, fmtAddr(m.to)),
      m.cc ? [h('dt', {}, 'Cc'), h('dd', {}, fmtAddr(m.cc))] : null,
      h('dt', {}, 'Date'), h('dd', {}, fmtDate(m.date))),
  ];
  if (text.html) {
    parts.push(h('h3', {}, 'HTML body'), mailFrame(text.html));
    if (text.plain) parts.push(h('details', {}, h('summary', {}, 'Plain text'), h('pre', {}, text.plain)));
  } else {
    parts.push(h('h3', {}, 'Text'), h('pre', { class: 'mailtext' }, text.plain || '(no text)'));
  }
  if (text.hasMore) parts.push(h('p', { class: 'muted' }, 'The text was cut; download the source for all of it.'));
  if (m.attachments && m.attachments.length) {
    parts.push(h('h3', {}, 'Attachments'), h('ul', {}, m.attachments.map((a) => h('li', {}, attachmentButton(account, a)))));
  }
  parts.push(replyForm(account, m));
  view.replaceChildren(...parts);
  view.querySelector('#message-title').focus();
}

/** Mail HTML in a frame with no script, no same-origin access and no remote content. */
function mailFrame(html) {
  const doc = `<!doctype html><html><head><meta charset="utf-8">`
    + `<meta http-equiv="Content-Security-Policy" content="${MAIL_CSP}">`
    + `</head><body>${html}</body></html>`;
  const frame = h('iframe', { class: 'mailframe', sandbox: '', title: 'Message body (HTML, remote content blocked)', referrerpolicy: 'no-referrer' });
  frame.srcdoc = doc;
  return frame;
}

/** Downloads need the Authorization header, so: fetch as a blob, then an object URL. */
function attachmentButton(account, a) {
  const label = `${a.filename || 'attachment'} (${a.contentType}, ${a.encodedSize} bytes)`;
  const btn = h('button', {
    type: 'button', class: 'link',
    onclick: () => act(btn, async () => {
      const blob = await api('GET', `/v1/account/${enc(account)}/attachment/${enc(a.id)}`, undefined, 'blob');
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: a.filename || 'attachment' });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    }),
  }, `Download ${label}`);
  return btn;
}

function replyForm(account, m) {
  const me = (m.to && m.to[0] && m.to[0].address) || '';
  const replyTo = m.replyTo && m.replyTo.length ? m.replyTo : m.from;
  const from = field('From', { name: 'from', type: 'email', required: true, value: me, autocomplete: 'email' }, { key: 'from' });
  const to = field('To', { name: 'to', required: true, value: fmtAddr(replyTo) }, { key: 'to' });
  const body = field('Reply', { name: 'text', required: true }, { tag: 'textarea', key: 'text' });
  const status = h('p', { 'aria-live': 'polite' });
  const send = h('button', { type: 'submit' }, 'Send reply');
  const form = h('form', { class: 'form', 'aria-labelledby': 'reply-title' },
    h('h3', { id: 'reply-title' }, 'Reply'), from.wrap, to.wrap, body.wrap, status, send);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(form);
    act(send, async () => {
      const res = await api('POST', `/v1/account/${enc(account)}/submit`, {
        reference: { message: m.id, action: 'reply' },
        from: { address: from.input.value.trim() },
        to: parseAddresses(to.input.value),
        text: body.input.value,
      });
      status.textContent = `Reply queued (queue id ${res.queueId}).`;
      status.className = 'ok-text';
      body.input.value = '';
    }, form);
  });
  return form;
}

/** "Name <a@b>, c@d" → [{name, address}], for the API's address objects. */
function parseAddresses(s) {
  return s.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const mt = x.match(/^(.*)<([^>]+)>$/);
    return mt ? { name: mt[1].trim().replace(/^"|"$/g, ''), address: mt[2].trim() } : { address: x };
  });
}

// ---------- settings ----------

async function renderSettings(root) {
  const s = await api('GET', '/v1/settings');
  const hook = field('Webhook URL', { name: 'webhooks', inputmode: 'url', autocomplete: 'off', value: s.webhooks || '',
    placeholder: 'https://example.com/hook' }, { key: 'webhooks' });
  const chosen = new Set(s.webhookEvents || []);
  const all = field('All events', { name: 'all-events', type: 'checkbox', checked: chosen.has('*') });
  const boxes = EVENT_TYPES.map((e) => ({ e, f: field(e, { name: `event-${e}`, type: 'checkbox', checked: chosen.has(e) }) }));
  const events = h('fieldset', { 'data-key': 'webhookEvents' }, h('legend', {}, 'Events sent to the webhook'),
    all.wrap, h('div', { class: 'cards checks' }, boxes.map((b) => b.f.wrap)), h('p', { class: 'error' }));
  const logs = s.logs || {};
  const logAll = field('Keep protocol logs of every account', { name: 'logs-all', type: 'checkbox', checked: !!logs.all },
    { key: 'logs.all' });
  const maxLines = field('Lines kept per account', { name: 'logs-max', type: 'number', min: 1,
    value: logs.maxLogLines || '' }, { key: 'logs.maxLogLines' });
  const authServer = field('Auth server URL', { name: 'authServer', inputmode: 'url', autocomplete: 'off',
    value: s.authServer || '', placeholder: 'https://auth.example.com/credentials' },
  { key: 'authServer', hint: 'Asked for the credentials of accounts with "useAuthServer". Empty: not set.' });
  const gmailId = field('Client id', { name: 'gmailClientId', autocomplete: 'off', value: s.gmailClientId || '' },
    { key: 'gmailClientId' });
  const gmailSecret = field('Client secret', { name: 'gmailClientSecret', type: 'password', autocomplete: 'new-password' },
    { key: 'gmailClientSecret',
      hint: s.gmailClientSecret ? 'A secret is stored (not shown). Leave empty to keep it.' : 'No secret stored yet.' });
  const gmailRedirect = field('Redirect URL', { name: 'gmailRedirectUrl', inputmode: 'url', autocomplete: 'off',
    value: s.gmailRedirectUrl || '', placeholder: 'https://gateway.example.com/oauth' },
  { key: 'gmailRedirectUrl', hint: "This gateway's /oauth address, as registered with Google." });
  // What the page was loaded with: only the fields changed since are sent.
  const loaded = { authServer: s.authServer || '', gmailClientId: s.gmailClientId || '', gmailRedirectUrl: s.gmailRedirectUrl || '' };
  // Sends one webhook now to the URL in the field (saved or not) and says what came back.
  const testButton = h('button', { type: 'button', class: 'secondary' }, 'Send a test webhook');
  const testResult = h('p', { role: 'status', class: 'test-result' });
  const testRow = h('div', { class: 'actions' }, testButton, testResult);
  const save = h('button', { type: 'submit' }, 'Save settings');
  const form = h('form', { class: 'form', 'aria-label': 'Settings' }, hook.wrap, testRow, events,
    h('fieldset', {}, h('legend', {}, 'Protocol logs'), logAll.wrap, maxLines.wrap),
    h('fieldset', {}, h('legend', {}, 'Auth server'), authServer.wrap),
    h('fieldset', {}, h('legend', {}, 'Gmail OAuth2 client'), gmailId.wrap, gmailSecret.wrap, gmailRedirect.wrap), save);
  testButton.addEventListener('click', () => {
    clearErrors(form);
    testResult.textContent = 'Sending…';
    act(testButton, async () => {
      const url = hook.input.value.trim();
      let r;
      try {
        r = await api('POST', '/v1/webhooks/test', url ? { url } : {});
      } catch (err) {
        testResult.textContent = '';
        // The route names the URL `url`; here it is the webhook field.
        for (const f of err.fields || []) if (f.key === 'url') f.key = 'webhooks';
        throw err;
      }
      const took = `${r.durationMs} ms`;
      testResult.className = `test-result ${r.success ? 'ok-text' : 'error'}`;
      testResult.textContent = r.success
        ? `Test webhook delivered to ${r.target}: it answered ${r.status} in ${took}.`
        : `Test webhook to ${r.target} failed after ${took}: ${r.error}.`;
    }, form);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(form);
    testResult.textContent = '';
    act(save, async () => {
      const body = {
        webhooks: hook.input.value.trim(),
        webhookEvents: all.input.checked ? ['*'] : boxes.filter((b) => b.f.input.checked).map((b) => b.e),
        logs: { ...logs, all: logAll.input.checked },
      };
      if (maxLines.input.value) body.logs.maxLogLines = Number(maxLines.input.value);
      const typed = { authServer: authServer.input.value.trim(), gmailClientId: gmailId.input.value.trim(),
        gmailRedirectUrl: gmailRedirect.input.value.trim() };
      for (const [k, v] of Object.entries(typed)) if (v !== loaded[k]) body[k] = v;
      // The stored secret is never shown; it is sent only when a new one was typed.
      if (gmailSecret.input.value) body.gmailClientSecret = gmailSecret.input.value;
      const res = await api('POST', '/v1/settings', body);
      Object.assign(loaded, typed);
      if (body.gmailClientSecret) {
        gmailSecret.input.value = '';
        gmailSecret.wrap.querySelector('.hint').textContent = 'A secret is stored (not shown). Leave empty to keep it.';
      }
      notice(`Saved (${(res.updated || []).join(', ') || 'nothing changed'}).`, true);
    }, form);
  });
  root.append(form);
}

// ---------- logs ----------

async function renderLogs(root, params) {
  const options = await accountOptions();
  if (!options.length) {
    root.append(h('p', {}, 'No accounts yet.'));
    return;
  }
  root.append(h('p', {}, 'IMAP protocol lines of one account (credentials never shown). They are kept only for accounts chosen under ',
    h('a', { href: '#/settings' }, 'Settings'), '.'));
  const acc = field('Account', { name: 'account' }, { tag: 'select', options });
  if (params.get('account')) acc.input.value = params.get('account');
  const out = h('div', { 'aria-live': 'polite' });
  const show = h('button', { type: 'submit' }, 'Show log');
  const form = h('form', { class: 'row' }, acc.wrap, show);
  let url = null;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(show, async () => {
      const id = acc.input.value;
      const text = await api('GET', `/v1/logs/${enc(id)}`, undefined, 'text');
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
      const lines = text ? text.split('\n').filter(Boolean).length : 0;
      out.replaceChildren(
        h('p', {}, `${lines} line${lines === 1 ? '' : 's'}. `, h('a', { href: url, download: `imapapi-${id}.log` }, `Download the log of ${id}`)),
        h('pre', { class: 'log', tabindex: '0', 'aria-label': `Log of ${id}` }, text || '(empty: logging is off for this account, or nothing happened yet)'));
    });
  });
  root.append(form, out);
}

// ---------- outbox and dead letters ----------

async function renderOutbox(root) {
  const outbox = h('div', {});
  const dead = h('div', {});
  root.append(h('h2', {}, 'Outbox'), h('p', {}, 'Messages queued for sending, being sent, or failed.'), outbox,
    h('h2', {}, 'Dead letters'), h('p', {}, 'Webhook events that ran out of delivery attempts.'), dead);
  await Promise.all([loadOutbox(outbox), loadDeadLetters(dead)]);
}

async function loadOutbox(box) {
  const data = await api('GET', '/v1/outbox?pageSize=250');
  const rows = data.messages.map((m) => {
    const cancel = h('button', {
      type: 'button', class: 'danger', 'aria-label': `Cancel ${m.subject || m.queueId}`,
      onclick: () => act(cancel, async () => {
        if (!window.confirm(`Cancel sending "${m.subject || m.queueId}"?`)) return;
        await api('DELETE', `/v1/outbox/${enc(m.queueId)}`);
        notice('Cancelled.', true);
        await loadOutbox(box);
      }),
    }, 'Cancel');
    return [m.subject || '(no subject)', m.account, (m.envelope && m.envelope.to || []).join(', '), m.state,
      fmtDate(m.sendAt), String(m.attempts), m.state === 'queued' ? cancel : ''];
  });
  box.replaceChildren(rows.length
    ? table(['Subject', 'Account', 'To', 'State', 'Send at', 'Attempts', 'Action'], rows)
    : h('p', {}, 'The outbox is empty.'));
}

async function loadDeadLetters(box) {
  const data = await api('GET', '/v1/deadletters');
  const rows = data.events.map((d) => {
    const ev = d.event || {};
    const what = `${ev.event || 'event'} of ${ev.account || '?'}`;
    const redrive = h('button', {
      type: 'button', class: 'secondary', 'aria-label': `Redrive ${what} ${d.id}`,
      onclick: () => act(redrive, async () => {
        const r = await api('POST', '/v1/deadletters/redrive', { ids: [d.id] });
        notice(`Sent again: ${r.redriven}.`, true);
        await loadDeadLetters(box);
      }),
    }, 'Redrive');
    const drop = h('button', {
      type: 'button', class: 'danger', 'aria-label': `Drop ${what} ${d.id}`,
      onclick: () => act(drop, async () => {
        if (!window.confirm(`Drop the ${what} for good?`)) return;
        const r = await api('DELETE', `/v1/deadletters?id=${enc(d.id)}`);
        notice(`Dropped: ${r.deleted}.`, true);
        await loadDeadLetters(box);
      }),
    }, 'Drop');
    return [ev.event || '', ev.account || '', fmtDate(ev.date), String(d.attempts), h('div', { class: 'actions' }, redrive, drop)];
  });
  box.replaceChildren(rows.length
    ? table(['Event', 'Account', 'Date', 'Attempts', 'Actions'], rows)
    : h('p', {}, 'No dead letters.'));
}

// ---------- start ----------

document.addEventListener('DOMContentLoaded', () => {
  setupSignIn();
  window.addEventListener('hashchange', () => {
    render();
    $('#main').focus();
  });
  if (!location.hash) history.replaceState(null, '', '#/overview');
  render();
});
