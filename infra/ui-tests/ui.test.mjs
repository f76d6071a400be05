// Browser test of the web UI at `/`: the real gateway binary, the test Dovecot and Postfix,
// headless Chromium. Run by run.sh (which installs Chromium and the node modules and starts
// the mail servers); every wait has a timeout so a broken page fails instead of hanging.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import axe from 'axe-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BINARY = path.join(ROOT, 'target/debug/imapapi');
const ARTIFACTS = path.join(ROOT, 'target/ui-artifacts');
const DOVECOT = '/tmp/imapapi-dovecot';
const ADMIN = { user: 'admin', pass: 'pw' };
const SIGNING_KEY = 'ui-test-signing-key';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 740 };

const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const mailUser = { user: `ui-${suffix}`, pass: `pw-${suffix}` };
const accountId = `ui-${suffix}`;

let gateway;
let gatewayLog = '';
let hookPort;
let dataDir;
let base;
let browser;
let page;
const remoteRequests = [];
// How each remote request ended, for the failure message.
const remoteFailures = [];
const pageErrors = [];
const consoleErrors = [];
const axeReport = {};

// ---------- helpers: processes, ports, waits ----------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value, failing after `ms` with `what`. */
async function waitFor(what, fn, ms = 30000, every = 500) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** The REST API straight from node, for set-up and checks the UI does not show. */
async function rest(method, p, body) {
  const auth = Buffer.from(`${ADMIN.user}:${ADMIN.pass}`).toString('base64');
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Basic ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function startGateway() {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imapapi-ui-'));
  gateway = spawn(BINARY, [
    `--api.auth=${ADMIN.user}:${ADMIN.pass}`, `--api.port=${port}`, `--dbs.path=${dataDir}`,
    // One failed webhook attempt dead-letters the event, so the dead-letter page has rows.
    '--queue.maxAttempts=1', '--log.format=text', `--webhooks.signingKey=${SIGNING_KEY}`,
  ], { env: { ...process.env, IMAPAPI_EXTRA_CA: `${DOVECOT}/tls/ca.crt` }, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d) => { gatewayLog = (gatewayLog + d).slice(-20000); };
  gateway.stdout.on('data', keep);
  gateway.stderr.on('data', keep);
  await waitFor('the gateway to answer /health', async () => {
    if (gateway.exitCode !== null) throw new Error(`gateway exited: ${gatewayLog}`);
    return (await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) })).ok;
  }, 30000, 200);
}

async function stopGateway() {
  if (!gateway || gateway.exitCode !== null) return;
  gateway.kill('SIGTERM');
  const exited = await Promise.race([new Promise((r) => gateway.once('exit', () => r(true))), sleep(10000)]);
  if (!exited) gateway.kill('SIGKILL');
}

// ---------- helpers: the test mail account ----------

/** A Dovecot user, as tests/support/dovecot.rs creates one: its own passwd file, renamed in. */
function createMailUser({ user, pass }) {
  const dir = `${DOVECOT}/users.d`;
  const tmp = path.join(dir, `.${user}.tmp`);
  fs.writeFileSync(tmp, `${user}:{PLAIN}${pass}::::::\n`);
  fs.chmodSync(tmp, 0o644);
  fs.renameSync(tmp, path.join(dir, user));
}

/** A minimal IMAP client: LOGIN, APPEND each message as a literal, LOGOUT (plain, on 127.0.0.1). */
function imapAppend({ user, pass }, mailbox, messages) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(1143, '127.0.0.1');
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('IMAP APPEND timed out')); }, 15000);
    let buf = '';
    let step = 0;
    let n = 0;
    let lit;
    const appendNext = () => {
      lit = Buffer.from(messages[n]);
      step = 2; buf = ''; sock.write(`a2 APPEND ${mailbox} {${lit.length}}\r\n`);
    };
    const fail = (e) => { clearTimeout(timer); sock.destroy(); reject(e); };
    sock.on('error', fail);
    sock.on('data', (d) => {
      buf += d.toString();
      const has = (re) => re.test(buf);
      if (step === 0 && has(/^\* OK/m)) { step = 1; buf = ''; sock.write(`a1 LOGIN "${user}" "${pass}"\r\n`); }
      else if (step === 1 && has(/^a1 /m)) {
        if (!has(/^a1 OK/m)) return fail(new Error(`LOGIN: ${buf}`));
        appendNext();
      } else if (step === 2 && has(/^\+/m)) { step = 3; buf = ''; sock.write(Buffer.concat([lit, Buffer.from('\r\n')])); }
      else if (step === 3 && has(/^a2 /m)) {
        if (!has(/^a2 OK/m)) return fail(new Error(`APPEND: ${buf}`));
        if (++n < messages.length) return appendNext();
        step = 4; clearTimeout(timer); sock.end('a3 LOGOUT\r\n'); resolve();
      } else if (step === 2 && has(/^a2 (NO|BAD)/m)) fail(new Error(`APPEND: ${buf}`));
    });
  });
}

const MESSAGE = [
  'From: Alice Example <alice@example.com>',
  `To: ${mailUser.user}@example.com`,
  'Subject: Hello from the UI test',
  `Message-ID: <ui-${suffix}@example.com>`,
  'Date: Thu, 03 Dec 2026 10:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Plain body of the test message.',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>HTML body with <b>bold</b> text.<img src="http://remote.invalid/track.png" alt="tracker"></p>',
  '<script>document.title = "pwned"</script>',
  '--alt--',
  '--outer',
  'Content-Type: text/plain; name="notes.txt"',
  'Content-Disposition: attachment; filename="notes.txt"',
  '',
  'attachment content 42',
  '--outer--',
  '',
].join('\r\n');

// ---------- helpers: the browser ----------

async function go(hash, ready) {
  await page.goto(`${base}/#/${hash}`);
  await page.locator('#page:not([hidden]) h1').first().waitFor({ timeout: 15000 });
  if (ready) await ready();
  await page.locator('#page [aria-busy]').waitFor({ state: 'detached', timeout: 15000 });
}

/** axe-core on the page as it is; fails on serious or critical violations. */
async function checkA11y(name) {
  // Evaluated over the DevTools protocol, which the page's CSP (no inline script) allows.
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, {
    // Mail HTML frames are sandboxed without scripts: axe cannot run inside them.
    iframes: false,
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axeReport[name] = result.violations.map((v) => `${v.id}(${v.impact})`);
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
    `axe on ${name}`);
}

/** Screenshots at desktop and phone width; at phone width nothing may scroll sideways. */
async function capture(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  assert.ok(overflow <= 0, `${name} scrolls sideways at ${PHONE.width}px by ${overflow}px`);
}

async function checkPage(name) {
  await checkA11y(name);
  await capture(name);
}

const notice = () => page.locator('#notice');

// ---------- the test ----------

// A run killed by run.sh's timeout must not leave the gateway behind.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
    process.exit(1);
  });
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  createMailUser(mailUser);
  // Twenty older fillers first, so the listing has a second page (20 a page).
  const fillers = Array.from({ length: 20 }, (_, i) => [
    'From: Filler <filler@example.com>', `To: ${mailUser.user}@example.com`, `Subject: Filler ${i + 1}`,
    `Date: Wed, 02 Dec 2026 10:${String(i).padStart(2, '0')}:00 +0000`, '', `Filler ${i + 1}`, ''].join('\r\n'));
  await imapAppend(mailUser, 'INBOX', [...fillers, MESSAGE]);
  await startGateway();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('request', (r) => { if (!r.url().startsWith(base) && !/^(data|blob|about):/.test(r.url())) remoteRequests.push(r.url()); });
  // Chromium's preload scanner sometimes announces an image before the inherited CSP stops
  // it: the request then fails as blocked by that policy and nothing leaves the browser.
  // Only those are forgiven; a remote load that got as far as a DNS lookup still fails.
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText || '';
    if (!r.url().startsWith(base)) remoteFailures.push(`${r.url()}: ${why}`);
    if (/BLOCKED_BY_CSP|csp/i.test(why)) {
      const i = remoteRequests.indexOf(r.url());
      if (i >= 0) remoteRequests.splice(i, 1);
    }
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopGateway();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  fs.writeFileSync(path.join(ARTIFACTS, 'axe.json'), JSON.stringify(axeReport, null, 2));
  console.log('axe violations (any impact) per page:', JSON.stringify(axeReport));
});

test('the web UI, page by page, against the real gateway', { timeout: 300000 }, async (t) => {
  await t.test('serves the page with a strict CSP', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal((await fetch(`${base}/v1/accounts`)).status, 401, 'the data stays behind auth');
  });

  await t.test('asks for credentials, signs in by keyboard, shows the overview', async () => {
    await page.goto(`${base}/`);
    await page.locator('#signin:not([hidden])').waitFor();
    await checkPage('signin');
    // Keyboard only: the form takes the focus, Tab moves on, Enter submits.
    assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-user');
    await page.keyboard.type(ADMIN.user);
    await page.keyboard.press('Tab');
    await page.keyboard.type('wrong');
    await page.keyboard.press('Enter');
    await page.getByText('Those credentials were refused.').waitFor();
    await page.getByLabel('User', { exact: true }).fill(ADMIN.user);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.pass);
    await page.getByLabel('Password', { exact: true }).press('Enter');
    await page.getByText('Gateway version').waitFor();
    await page.locator('svg.chart').waitFor();
    await page.getByText(/, up \d+ (s|min)/).waitFor();
    assert.match(await page.locator('svg.chart').getAttribute('aria-label'), /connected: 0/);
    await checkPage('overview');
  });

  await t.test('adds the account through the form; a failed check names the step', async () => {
    await go('accounts');
    await page.getByText('No accounts yet').waitFor();
    const form = page.getByRole('form', { name: 'Add an account' });
    await form.getByLabel('Account id').fill(accountId);
    await form.getByLabel('Name').fill('UI test account');
    const imap = form.locator('fieldset', { hasText: 'IMAP (reading mail)' });
    await imap.getByLabel('Host').fill('127.0.0.1');
    await imap.getByLabel('Port').fill('1143');
    await imap.getByLabel(/TLS from the start/).uncheck();
    await imap.getByLabel('User').fill(mailUser.user);
    await imap.getByLabel('Password').fill('not-the-password');
    const smtp = form.locator('fieldset', { hasText: 'SMTP (sending' });
    await smtp.getByLabel('Host').fill('127.0.0.1');
    await smtp.getByLabel('Port').fill('2587');
    await smtp.getByLabel(/TLS from the start/).uncheck();
    await smtp.getByLabel('User').fill(mailUser.user);
    await smtp.getByLabel('Password').fill(mailUser.pass);
    await form.getByRole('button', { name: 'Check and add' }).click();
    await form.getByText(/^IMAP failed: /).waitFor();
    await notice().getByText('The IMAP check failed; nothing was saved.').waitFor();
    await imap.getByLabel('Password').fill(mailUser.pass);
    await form.getByRole('button', { name: 'Check and add' }).click();
    await form.getByText('SMTP: connected and signed in.').waitFor();
    await notice().getByText(`Added ${accountId}`).waitFor();
    const row = page.locator('tr', { hasText: accountId });
    await row.locator('.state-connected').waitFor({ timeout: 30000 });
    await row.getByRole('button', { name: `Folders of ${accountId}` }).click();
    await row.getByRole('listitem').filter({ hasText: 'INBOX' }).getByText('21 messages').waitFor();
    await checkPage('accounts');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('tr', { hasText: accountId }).locator('.state-connected').waitFor();
    // A folder links to its listing on the mail page.
    await page.locator('tr', { hasText: accountId }).getByRole('button', { name: `Folders of ${accountId}` }).click();
    await page.getByRole('link', { name: 'INBOX' }).click();
    await page.getByText('Messages in INBOX').waitFor();
  });

  let messageId;
  await t.test('opens the message: sandboxed HTML, no remote content, attachment, reply', async () => {
    await go(`mail?account=${encodeURIComponent(accountId)}`);
    await page.getByText('Page 1 of 2 (21 messages)').waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('Page 2 of 2 (21 messages)').waitFor();
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByText('Page 1 of 2 (21 messages)').waitFor();
    await page.getByRole('button', { name: 'Hello from the UI test' }).click();
    const frame = page.locator('iframe.mailframe');
    await frame.waitFor();
    assert.equal(await frame.getAttribute('sandbox'), '', 'sandbox without any allowance');
    assert.match(await frame.getAttribute('srcdoc'), /Content-Security-Policy/);
    await page.frameLocator('iframe.mailframe').getByText('bold').waitFor();
    await page.getByText('Plain text').click();
    await page.getByText('Plain body of the test message.').waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15000 }),
      page.getByRole('button', { name: /Download notes\.txt/ }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'notes.txt');
    assert.equal(fs.readFileSync(await download.path(), 'utf8').trim(), 'attachment content 42');
    const reply = page.getByRole('form', { name: 'Reply' });
    assert.equal(await reply.getByLabel('To').inputValue(), 'Alice Example <alice@example.com>');
    await reply.getByLabel('To').fill(`${mailUser.user}@example.com`);
    await reply.getByLabel('Reply').fill('Thanks, answered from the web UI.');
    await checkPage('mail');
    await reply.getByRole('button', { name: 'Send reply' }).click();
    await reply.getByText(/Reply queued \(queue id /).waitFor();
    // Sent by the submit role over Postfix, then the original is flagged \Answered.
    const list = await rest('GET', `/v1/account/${accountId}/messages?path=INBOX&pageSize=50`);
    messageId = list.messages.find((m) => m.subject === 'Hello from the UI test').id;
    await waitFor('the original to be flagged answered after the reply was sent', async () =>
      (await rest('GET', `/v1/account/${accountId}/message/${messageId}`)).answered, 60000, 1000);
    assert.equal(await page.evaluate(() => document.title), 'Mail – imapapi', 'mail scripts did not run');
  });

  await t.test('settings: a bad webhook URL shows next to the field; a good one saves', async () => {
    await go('settings');
    const hook = page.getByLabel('Webhook URL');
    await hook.fill('not a url');
    await page.getByLabel('All events').check();
    await page.getByLabel('Keep protocol logs of every account').check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    const err = page.locator('[data-key="webhooks"] .error');
    await err.getByText(/must be a valid uri/).waitFor();
    assert.equal(await hook.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.name), 'webhooks', 'the focus moves to the field to fix');
    // A visible focus ring (the outline the stylesheet sets for :focus-visible).
    assert.notEqual(await hook.evaluate((el) => getComputedStyle(el).outlineStyle), 'none');
    await checkPage('settings-error');
    // Nothing listens there: deliveries fail and, with one attempt, become dead letters.
    hookPort = await freePort();
    await hook.fill(`http://127.0.0.1:${hookPort}/hook`);
    await page.getByRole('button', { name: 'Save settings' }).click();
    await notice().getByText(/^Saved \(/).waitFor();
    assert.equal(await err.textContent(), '');
    const saved = await rest('GET', '/v1/settings');
    assert.deepEqual(saved.webhookEvents, ['*']);
    assert.equal(saved.logs.all, true);
    await checkPage('settings');
  });

  await t.test('settings: a test webhook reaches a receiver, signed; an unreachable one is reported', async () => {
    await go('settings');
    const send = page.getByRole('button', { name: 'Send a test webhook' });
    const result = page.locator('.test-result');
    // The saved URL: nothing listens there.
    await send.click();
    await result.getByText(/^Test webhook to http:\/\/127\.0\.0\.1:\d+ failed after \d+ ms: request failed/).waitFor();
    // A receiver typed into the field but not saved: the test goes there.
    const got = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { got.push({ headers: req.headers, body }); res.end('ok'); });
    });
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const port = receiver.address().port;
      await page.getByLabel('Webhook URL').fill(`http://127.0.0.1:${port}/test-hook`);
      await send.click();
      await result.getByText(new RegExp(`^Test webhook delivered to http://127\\.0\\.0\\.1:${port}: it answered 200 in \\d+ ms\\.$`)).waitFor();
      assert.equal(got.length, 1, 'one request');
      const event = JSON.parse(got[0].body);
      assert.equal(event.event, 'webhookTest');
      assert.equal(got[0].headers['x-imapapi-event-id'], event.id);
      const signature = `sha256=${crypto.createHmac('sha256', SIGNING_KEY).update(got[0].body).digest('hex')}`;
      assert.equal(got[0].headers['x-webhook-signature'], signature, 'signed as real deliveries are');
      await checkPage('settings-test-webhook');
      assert.equal((await rest('GET', '/v1/settings')).webhooks, `http://127.0.0.1:${hookPort}/hook`,
        'a tested URL is not saved');
      // An unusable URL is named at the field.
      await page.getByLabel('Webhook URL').fill('ftp://127.0.0.1/x');
      await send.click();
      await page.locator('[data-key="webhooks"] .error').getByText(/not http or https/).waitFor();
      // The next step saves this form: it must hold the stored URL again.
      await page.getByLabel('Webhook URL').fill(`http://127.0.0.1:${hookPort}/hook`);
    } finally {
      receiver.close();
    }
  });

  await t.test('settings: auth server and Gmail client; a bad URL errs at its field; saved values survive a reload', async () => {
    await go('settings');
    const authServer = page.getByLabel('Auth server URL');
    const gmail = page.locator('fieldset', { hasText: 'Gmail OAuth2 client' });
    await authServer.fill('ftp://auth.example.com');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('[data-key="authServer"] .error').getByText(/must be a valid uri/).waitFor();
    assert.equal(await authServer.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.name), 'authServer');
    await checkPage('settings-authserver-error');
    const authUrl = `http://127.0.0.1:${hookPort}/auth`;
    await authServer.fill(authUrl);
    await gmail.getByLabel('Client id').fill('ui-client.apps.example.com');
    await gmail.getByLabel('Client secret').fill('ui-client-secret');
    await gmail.getByLabel('Redirect URL').fill(`${base}/oauth`);
    const [saveReq] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/v1/settings') && r.method() === 'POST', { timeout: 15000 }),
      page.getByRole('button', { name: 'Save settings' }).click(),
    ]);
    await notice().getByText(/^Saved \(/).waitFor();
    const sent = saveReq.postDataJSON();
    assert.equal(sent.authServer, authUrl);
    assert.equal(sent.gmailClientSecret, 'ui-client-secret');
    assert.equal(await page.locator('[data-key="authServer"] .error').textContent(), '');
    // After a reload the page shows what is stored; the secret stays hidden.
    await page.reload();
    await page.locator('#page:not([hidden]) h1').first().waitFor({ timeout: 15000 });
    await page.locator('#page [aria-busy]').waitFor({ state: 'detached', timeout: 15000 });
    assert.equal(await page.getByLabel('Auth server URL').inputValue(), authUrl);
    assert.equal(await gmail.getByLabel('Client id').inputValue(), 'ui-client.apps.example.com');
    assert.equal(await gmail.getByLabel('Redirect URL').inputValue(), `${base}/oauth`);
    assert.equal(await gmail.getByLabel('Client secret').inputValue(), '');
    await gmail.getByText('A secret is stored (not shown). Leave empty to keep it.').waitFor();
    // Saving again with nothing typed sends none of these: the stored secret is kept.
    const [again] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/v1/settings') && r.method() === 'POST', { timeout: 15000 }),
      page.getByRole('button', { name: 'Save settings' }).click(),
    ]);
    await notice().getByText(/^Saved \(/).waitFor();
    const body = again.postDataJSON();
    for (const k of ['authServer', 'gmailClientId', 'gmailClientSecret', 'gmailRedirectUrl']) assert.ok(!(k in body), `${k} not sent`);
    const stored = await rest('GET', '/v1/settings');
    assert.equal(stored.authServer, authUrl);
    assert.equal(stored.gmailClientId, 'ui-client.apps.example.com');
    assert.equal(stored.gmailRedirectUrl, `${base}/oauth`);
    assert.equal(stored.gmailClientSecret, '******');
    await checkPage('settings-oauth');
  });

  await t.test('reconnects the account and reads its protocol log', async () => {
    await go('accounts');
    await page.getByRole('button', { name: `Reconnect ${accountId}` }).click();
    await notice().getByText(`Reconnecting ${accountId}.`).waitFor();
    await go(`logs?account=${encodeURIComponent(accountId)}`);
    const log = page.locator('pre.log');
    await waitFor('the log to show the LOGIN line', async () => {
      await page.getByRole('button', { name: 'Show log' }).click();
      await log.waitFor({ timeout: 5000 });
      return /LOGIN \*{6}/.test(await log.textContent());
    }, 30000, 1000);
    assert.doesNotMatch(await log.textContent(), new RegExp(mailUser.pass), 'no password in the log');
    const link = page.getByRole('link', { name: `Download the log of ${accountId}` });
    assert.match(await link.getAttribute('href'), /^blob:/);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), link.click()]);
    assert.match(fs.readFileSync(await download.path(), 'utf8'), /CAPABILITY/);
    await checkPage('logs');
  });

  await t.test('edits the account: renamed, host changed, the password kept', async () => {
    await go('accounts');
    await page.getByRole('button', { name: `Edit ${accountId}` }).click();
    const form = page.getByRole('form', { name: `Edit ${accountId}` });
    const name = form.getByLabel('Name');
    await name.waitFor();
    assert.equal(await name.inputValue(), 'UI test account');
    assert.equal(await page.evaluate(() => document.activeElement.name), 'name', 'the form takes the focus');
    assert.equal(await form.getByLabel('Password').inputValue(), '', 'no password shown');
    assert.equal(await form.getByLabel('Host').inputValue(), '127.0.0.1');
    await checkPage('account-edit');
    await name.fill('Renamed in the UI');
    // The certificate names localhost too: a changed server with the stored password.
    await form.getByLabel('Host').fill('localhost');
    const logins = async () => {
      const auth = Buffer.from(`${ADMIN.user}:${ADMIN.pass}`).toString('base64');
      const res = await fetch(`${base}/v1/logs/${accountId}`, { headers: { authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(15000) });
      return ((await res.text()).match(/LOGIN \*{6}/g) || []).length;
    };
    const loginsBefore = await logins();
    const [put] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith(`/v1/account/${accountId}`) && r.method() === 'PUT', { timeout: 15000 }),
      name.press('Enter'),
    ]);
    const body = put.postDataJSON();
    assert.equal(body.name, 'Renamed in the UI');
    assert.equal(body.imap.host, 'localhost');
    assert.equal(body.imap.auth.user, mailUser.user);
    assert.notEqual(body.imap.auth.pass, mailUser.pass, 'the password is not sent back');
    await notice().getByText(`Saved ${accountId}`).waitFor();
    assert.equal(await form.count(), 0, 'the form closes');
    const row = page.locator('tr', { hasText: accountId });
    await row.getByText('Renamed in the UI').waitFor();
    // A new login after the save, and the account connected after it (checked twice, apart).
    await waitFor('a new IMAP login after the edit', async () => (await logins()) > loginsBefore, 30000, 1000);
    let connectedPolls = 0;
    const details = await waitFor('the account to stay connected with the stored password', async () => {
      const d = await rest('GET', `/v1/account/${accountId}`);
      assert.notEqual(d.state, 'authenticationError', `the login failed: ${JSON.stringify(d.lastError)}`);
      connectedPolls = d.state === 'connected' ? connectedPolls + 1 : 0;
      return connectedPolls >= 2 ? d : null;
    }, 30000, 1000);
    assert.equal(details.imap.host, 'localhost');
    assert.equal(details.name, 'Renamed in the UI');
    assert.equal(details.imap.auth.pass, '******', 'a password is still stored');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('tr', { hasText: 'Renamed in the UI' }).locator('.state-connected').waitFor({ timeout: 30000 });
  });

  await t.test('outbox: cancels a scheduled send; dead letters: redrive and drop', async () => {
    await rest('POST', `/v1/account/${accountId}/submit`, {
      from: { address: `${mailUser.user}@example.com` }, to: [{ address: `${mailUser.user}@example.com` }],
      subject: 'Scheduled from the UI test', text: 'later', sendAt: new Date(Date.now() + 86400000).toISOString(),
    });
    await waitFor('an event in the dead letters', async () => (await rest('GET', '/v1/deadletters')).events.length > 0, 30000);
    await go('outbox');
    const row = page.locator('tr', { hasText: 'Scheduled from the UI test' });
    await row.getByText('queued').waitFor();
    await page.locator('tr', { hasText: 'Event' }).first().waitFor();
    await checkPage('outbox');
    await row.getByRole('button', { name: 'Cancel Scheduled from the UI test' }).click();
    await notice().getByText('Cancelled.').waitFor();
    await page.getByText('The outbox is empty.').waitFor();
    const redrive = page.getByRole('button', { name: /^Redrive / }).first();
    await redrive.click();
    await notice().getByText('Sent again: 1.').waitFor();
    // The redriven event fails again (nothing listens); drop whatever is dead now.
    await waitFor('a dead letter to drop', async () => {
      await go('outbox');
      return (await page.getByRole('button', { name: /^Drop / }).count()) > 0;
    }, 30000, 1000);
    await page.getByRole('button', { name: /^Drop / }).first().click();
    await notice().getByText('Dropped: 1.').waitFor();
  });

  await t.test('overview with a connected account and a failing receiver', async () => {
    await go('overview');
    await waitFor('the failing receiver on the overview', async () => {
      await go('overview');
      return (await page.getByText('None: every webhook receiver answers.').count()) === 0;
    }, 30000, 1000);
    assert.match(await page.locator('svg.chart').getAttribute('aria-label'), /connected: 1/);
    await page.locator('tr', { hasText: `127.0.0.1:${hookPort}` }).first().waitFor();
    await checkPage('overview-busy');
  });

  await t.test('signs out, and in again with an access token', async () => {
    const { token } = await rest('POST', '/v1/tokens', { description: 'UI test', scopes: ['api'], ttl: '1h' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin:not([hidden])').waitFor();
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Gateway version').waitFor();
    assert.match(await page.evaluate(() => sessionStorage.getItem('imapapi.auth')), /^Bearer imapapi_/);
  });

  await t.test('deletes the account after a confirm', async () => {
    await go('accounts');
    await page.getByRole('button', { name: `Delete ${accountId}` }).click();
    await notice().getByText(`Deleted ${accountId}.`).waitFor();
    await page.getByText('No accounts yet').waitFor();
  });

  await t.test('Swagger UI at /docs: bundled, and "Try it out" works with API auth on', async () => {
    await page.goto(`${base}/docs/`);
    const op = page.locator('#operations-Service-getV1Stats');
    await op.waitFor({ timeout: 20000 });
    await page.locator('.auth-wrapper button.authorize').click();
    const basic = page.locator('.modal-ux .auth-container', { hasText: 'basicAuth' });
    await basic.locator('input[type=text]').fill(ADMIN.user);
    await basic.locator('input[type=password]').fill(ADMIN.pass);
    await basic.locator('button.modal-btn.authorize').click();
    await basic.getByText('Authorized').waitFor();
    await basic.locator('button.btn-done').click();
    await op.locator('.opblock-summary-control').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.getByRole('button', { name: 'Execute' }).click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 15000 });
    assert.equal((await status.textContent()).trim(), '200', 'the call went through with the credentials');
    assert.match(await op.locator('.live-responses-table .microlight').first().textContent(), /"version"/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'docs-try-it-out.png'), fullPage: false });
  });

  await t.test('nothing remote was loaded and no script error happened', () => {
    assert.deepEqual(remoteRequests, [], `remote requests and how they failed: ${JSON.stringify(remoteFailures)}`);
    assert.deepEqual(pageErrors, []);
    // The only errors allowed: what the mail frame was kept from doing (the tracker image,
    // the script), and the answers the test provoked (401 before sign-in, 400 for the bad URL).
    const expected = [/remote\.invalid/, /Blocked script execution in 'about:srcdoc'/, /status of 40[01]/];
    const unexpected = consoleErrors.filter((m) => !expected.some((re) => re.test(m)));
    assert.deepEqual(unexpected, []);
    assert.ok(!gatewayLog.includes(mailUser.pass), 'the gateway never logs the mail password');
  });
});

test('with API auth off the UI opens without asking for credentials', { timeout: 60000 }, async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imapapi-ui-open-'));
  const open = spawn(BINARY, [`--api.port=${port}`, `--dbs.path=${dir}`, '--log.format=text'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const tab = await browser.newPage({ viewport: DESKTOP });
  try {
    await waitFor('the gateway without auth to answer /health', async () => {
      if (open.exitCode !== null) throw new Error(`gateway exited with ${open.exitCode}`);
      return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok;
    }, 30000, 200);
    await tab.goto(`${url}/`);
    await tab.getByText('Gateway version').waitFor({ timeout: 15000 });
    assert.equal(await tab.locator('#signin').isHidden(), true, 'no sign-in form');
    await tab.goto(`${url}/#/accounts`);
    await tab.getByText('No accounts yet').waitFor({ timeout: 15000 });
    await tab.screenshot({ path: path.join(ARTIFACTS, 'no-auth-accounts.png'), fullPage: true });
  } finally {
    await tab.close().catch(() => {});
    open.kill('SIGTERM');
    await Promise.race([new Promise((r) => open.once('exit', r)), sleep(10000)]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
