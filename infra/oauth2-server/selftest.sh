#!/usr/bin/env bash
# Self-test of the OAuth2 part of the test rig: the test OAuth2 server (server.py), XOAUTH2
# and OAUTHBEARER logins to the test Dovecot (IMAP 1143 STARTTLS, 1993 implicit TLS) and
# SMTP AUTH XOAUTH2 through the test Postfix (2587, STARTTLS), token expiry, refresh and
# revocation, the authorization-code flow, the Gmail profile endpoint, and that password
# logins still work. Brings the rig up first (infra/postfix/start.sh starts Dovecot, which
# starts the OAuth2 server; quick when all run). Every network wait has a timeout; the
# whole test is bounded. Exits non-zero with a message on the first failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

timeout 300 bash "$here/../postfix/start.sh" >/dev/null 2>"${TMPDIR:-/tmp}/oauth2-selftest-start.$$" \
    || { cat "${TMPDIR:-/tmp}/oauth2-selftest-start.$$" >&2; rm -f "${TMPDIR:-/tmp}/oauth2-selftest-start.$$"; die "rig start failed"; }
rm -f "${TMPDIR:-/tmp}/oauth2-selftest-start.$$"

OAUTH2_ENV=${IMAPAPI_OAUTH2_DIR:-/tmp/imapapi-oauth2}/env
DOVECOT_ENV=${IMAPAPI_DOVECOT_DIR:-/tmp/imapapi-dovecot}/env
POSTFIX_ENV=${IMAPAPI_POSTFIX_DIR:-/tmp/imapapi-postfix}/env
for f in "$OAUTH2_ENV" "$DOVECOT_ENV" "$POSTFIX_ENV"; do
    [[ -s $f ]] || die "missing $f"
done

OAUTH2_ENV=$OAUTH2_ENV DOVECOT_ENV=$DOVECOT_ENV POSTFIX_ENV=$POSTFIX_ENV \
    timeout --kill-after=5s 60s python3 - <<'PY'
import base64, http.client, imaplib, json, os, secrets, smtplib, ssl, sys, time
import urllib.parse

def load(path):
    out = {}
    for line in open(path):
        k, sep, v = line.rstrip("\n").partition("=")
        if sep:
            out[k] = v
    return out

O, D, P = load(os.environ["OAUTH2_ENV"]), load(os.environ["DOVECOT_ENV"]), load(os.environ["POSTFIX_ENV"])
URL = urllib.parse.urlsplit(O["IMAPAPI_OAUTH2_URL"])
HOST = D["IMAP_HOST"]
IMAP_PORT, IMAPS_PORT = int(D["IMAP_PORT"]), int(D["IMAPS_PORT"])
SMTP_PORT = int(P["SMTP_PORT"])
TLS = ssl.create_default_context(cafile=D["CA_CERT"])
T = 10  # seconds, every network operation
CLIENT, SECRET = O["IMAPAPI_OAUTH2_CLIENT_ID"], O["IMAPAPI_OAUTH2_CLIENT_SECRET"]
started = time.monotonic()
checks = 0

def ok(msg):
    global checks
    checks += 1
    print("  ok  %s" % msg, flush=True)

def fail(msg):
    print("FAIL: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)

def expect(cond, msg):
    if not cond:
        fail(msg)
    ok(msg)

def req(method, path, body=None, headers=None, form=None, js=None):
    h = dict(headers or {})
    if form is not None:
        body = urllib.parse.urlencode(form)
        h["Content-Type"] = "application/x-www-form-urlencoded"
    if js is not None:
        body = json.dumps(js)
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=T)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        raw = r.read()
        cl = r.getheader("Content-Length")
        if cl is None or int(cl) != len(raw):
            fail("%s %s: Content-Length %r but %d bytes" % (method, path, cl, len(raw)))
        data = json.loads(raw) if raw and "json" in (r.getheader("Content-Type") or "") else None
        return r.status, data, r
    finally:
        c.close()

def admin(path, **args):
    st, data, _ = req("POST", "/admin/" + path, js=args)
    if st != 200:
        fail("POST /admin/%s -> %d %r" % (path, st, data))
    return data

def token_req(form, basic=False):
    h = {}
    if basic:
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (CLIENT, SECRET)).encode()).decode()
    else:
        form = dict(form, client_id=CLIENT, client_secret=SECRET)
    st, data, _ = req("POST", "/token", form=form, headers=h)
    return st, data

class Sasl:
    """First call: the initial response; later calls (the server's error challenge): ack."""
    def __init__(self, first, ack):
        self.first, self.ack, self.calls = first, ack, 0
    def __call__(self, challenge=None):
        self.calls += 1
        return self.first if self.calls == 1 else self.ack

def xoauth2(user, tok):
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, tok)

def imap_login(user, tok, mech="XOAUTH2", port=None):
    """(True, '') on success plus SELECT INBOX; (False, reason) on NO."""
    port = port or IMAP_PORT
    if port == IMAPS_PORT:
        m = imaplib.IMAP4_SSL(HOST, port, ssl_context=TLS, timeout=T)
    else:
        m = imaplib.IMAP4(HOST, port, timeout=T)
        m.starttls(ssl_context=TLS)
    try:
        if mech == "XOAUTH2":
            auth = Sasl(xoauth2(user, tok).encode(), b"")
        else:
            gs2 = "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (user, HOST, port, tok)
            auth = Sasl(gs2.encode(), b"\x01")
        try:
            m.authenticate(mech, auth)
        except imaplib.IMAP4.error as e:
            return False, str(e)
        typ, data = m.select("INBOX")
        if typ != "OK":
            fail("SELECT INBOX for %s: %s %r" % (user, typ, data))
        return True, ""
    finally:
        try:
            m.logout()
        except Exception:
            pass

def imap_ok(user, tok, what, **kw):
    good, why = imap_login(user, tok, **kw)
    expect(good, "%s (%s)" % (what, why or "SELECT INBOX OK"))

def imap_refused(user, tok, what, **kw):
    good, why = imap_login(user, tok, **kw)
    if good:
        fail("%s: the login succeeded" % what)
    # A refused token must read as bad credentials, not as a temporary failure.
    expect("AUTHENTICATIONFAILED" in why, "%s (%s)" % (what, why))

def smtp_xoauth2(user, tok):
    s = smtplib.SMTP(HOST, SMTP_PORT, timeout=T)
    try:
        s.ehlo()
        s.starttls(context=TLS)
        s.ehlo()
        mechs = s.esmtp_features.get("auth", "").split()
        if "XOAUTH2" not in mechs:
            fail("Postfix does not advertise AUTH XOAUTH2 after STARTTLS (AUTH %s)" % mechs)
        try:
            s.auth("XOAUTH2", Sasl(xoauth2(user, tok), ""), initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as e:
            return False, "%d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")), None
        return True, "", s
    except Exception:
        s.close()
        raise

rand = secrets.token_hex(4)
user = "oauth-selftest-%s" % rand

# --- server basics ---
st, h, _ = req("GET", "/health")
expect(st == 200 and h.get("ok"), "GET /health")

# --- issue, IMAP XOAUTH2 and OAUTHBEARER ---
iss = admin("issue", user=user)
at, rt = iss["accessToken"], iss["refreshToken"]
expect(iss["expiresIn"] == 3600, "POST /admin/issue -> tokens, expiresIn 3600")
st, intro, _ = req("POST", "/introspect", form={"token": at})
expect(st == 200 and intro.get("active") is True and intro.get("username") == user
       and intro.get("email") == user and intro.get("exp", 0) > time.time(),
       "POST /introspect: active, username, email, exp")
st, intro, _ = req("GET", "/introspect?token=" + urllib.parse.quote(at))
expect(st == 200 and intro.get("active") is True, "GET /introspect?token=")
st, intro, _ = req("GET", "/introspect", headers={"Authorization": "Bearer " + at})
expect(st == 200 and intro.get("active") is True, "GET /introspect with a Bearer header")
st, intro, _ = req("POST", "/introspect", form={"token": "nope"})
expect(st == 200 and intro == {"active": False}, "introspect an unknown token -> active false")
imap_ok(user, at, "IMAP 1143 STARTTLS AUTHENTICATE XOAUTH2, no users.d file")
imap_ok(user, at, "IMAP 1993 TLS AUTHENTICATE OAUTHBEARER", mech="OAUTHBEARER", port=IMAPS_PORT)
imap_refused(user + "-other", at, "XOAUTH2 with another user's token refused")

# --- expire, refresh ---
admin("expire", user=user)
imap_refused(user, at, "XOAUTH2 after /admin/expire refused")
st, tok = token_req({"grant_type": "refresh_token", "refresh_token": rt})
expect(st == 200 and tok.get("access_token") and tok.get("token_type") == "Bearer"
       and tok.get("expires_in") == 3600 and "refresh_token" not in tok,
       "POST /token refresh_token (form client auth) -> new access token")
at2 = tok["access_token"]
imap_ok(user, at2, "XOAUTH2 with the refreshed token")
st, tok = token_req({"grant_type": "refresh_token", "refresh_token": rt}, basic=True)
expect(st == 200 and tok.get("access_token"), "POST /token refresh_token (HTTP basic client auth)")
at3 = tok["access_token"]

# --- SMTP AUTH XOAUTH2 via Postfix (checked by Dovecot) ---
good, why, s = smtp_xoauth2(user, at2)
expect(good, "SMTP 2587 STARTTLS AUTH XOAUTH2 (%s)" % (why or "235"))
s.quit()

# --- revoke ---
admin("revoke", user=user)
imap_refused(user, at2, "XOAUTH2 after /admin/revoke refused")
good, why, s = smtp_xoauth2(user, at3)
expect(not good and why.startswith("535"), "SMTP AUTH XOAUTH2 after revoke refused (%s)" % why)
st, tok = token_req({"grant_type": "refresh_token", "refresh_token": rt})
expect(st == 400 and tok.get("error") == "invalid_grant", "refresh after revoke -> 400 invalid_grant")

# --- stats ---
st, stats, _ = req("GET", "/admin/stats")
mine = stats.get("users", {}).get(user, {})
expect(st == 200 and mine.get("refreshGrants") == 2 and mine.get("codeGrants") == 0
       and mine.get("introspections", 0) >= 7 and stats.get("refreshGrants", 0) >= 2,
       "GET /admin/stats: %r" % mine)

# --- lifetime ---
u2 = user + "-life"
admin("lifetime", user=u2, seconds=0)
iss = admin("issue", user=u2)
st, intro, _ = req("POST", "/introspect", form={"token": iss["accessToken"]})
expect(iss["expiresIn"] == 0 and intro == {"active": False}, "POST /admin/lifetime 0 -> born expired")
admin("lifetime", user=u2, seconds=120)
st, tok = token_req({"grant_type": "refresh_token", "refresh_token": iss["refreshToken"]})
expect(st == 200 and tok["expires_in"] == 120, "refresh after /admin/lifetime 120 -> expires_in 120")
iss = admin("issue", user=u2, expiresIn=30)
expect(iss["expiresIn"] == 30, "POST /admin/issue expiresIn 30")

# --- authorization code flow (own client) ---
cid, csec = "selftest-%s" % rand, secrets.token_hex(8)
admin("clients", clientId=cid, clientSecret=csec)
u3 = user + "-code"
redirect = "http://127.0.0.1:9/callback"
def authorize(client):
    q = urllib.parse.urlencode({"client_id": client, "redirect_uri": redirect,
                                "response_type": "code", "scope": "https://mail.google.com/",
                                "state": "st-" + rand, "login_hint": u3,
                                "access_type": "offline", "prompt": "consent"})
    return req("GET", "/auth?" + q)
st, err, _ = authorize("no-such-client")
expect(st == 400 and err.get("error") == "invalid_client", "GET /auth unknown client_id -> 400")
st, _, r = authorize(cid)
loc = urllib.parse.urlsplit(r.getheader("Location") or "")
qs = dict(urllib.parse.parse_qsl(loc.query))
expect(st == 302 and loc.path == "/callback" and qs.get("state") == "st-" + rand and qs.get("code"),
       "GET /auth -> 302 redirect_uri?code=..&state=..")
def code_grant(code, redir, secret=csec):
    st, data, _ = req("POST", "/token", form={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": redir, "client_id": cid,
                                              "client_secret": secret})
    return st, data
st, data = code_grant(qs["code"], redirect, secret="wrong")
expect(st == 401 and data.get("error") == "invalid_client", "POST /token wrong secret -> 401 invalid_client")
st, data = code_grant(qs["code"], redirect)
expect(st == 200 and data.get("access_token") and data.get("refresh_token")
       and data.get("token_type") == "Bearer" and data.get("expires_in") == 3600
       and data.get("scope") == "https://mail.google.com/",
       "POST /token authorization_code -> access + refresh token")
code_at = data["access_token"]
st, data = code_grant(qs["code"], redirect)
expect(st == 400 and data.get("error") == "invalid_grant", "the code is single-use")
st, _, r = authorize(cid)
code2 = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.getheader("Location")).query))["code"]
st, data = code_grant(code2, redirect + "x")
expect(st == 400 and data.get("error") == "invalid_grant", "redirect_uri mismatch -> invalid_grant")
imap_ok(u3, code_at, "XOAUTH2 with the authorization-code token")
st, stats, _ = req("GET", "/admin/stats")
expect(stats["users"].get(u3, {}).get("codeGrants") == 1, "stats count the code grant")

# --- Gmail profile ---
st, prof, _ = req("GET", "/gmail/v1/users/me/profile", headers={"Authorization": "Bearer " + code_at})
expect(st == 200 and prof == {"emailAddress": u3, "messagesTotal": 0, "threadsTotal": 0,
                              "historyId": "1"}, "GET /gmail/v1/users/me/profile")
st, _, _ = req("GET", "/gmail/v1/users/me/profile", headers={"Authorization": "Bearer " + at2})
expect(st == 401, "profile with a revoked token -> 401")

# --- password users are unchanged ---
users_dir = D["USERS_DIR"]
pu, pw = "pw-selftest-%s" % rand, "pw-%s" % secrets.token_hex(6)
tmp = os.path.join(users_dir, ".%s.tmp" % pu)
with open(tmp, "w") as f:
    f.write("%s:{PLAIN}%s::::::\n" % (pu, pw))
os.chmod(tmp, 0o644)
os.rename(tmp, os.path.join(users_dir, pu))
try:
    m = imaplib.IMAP4(HOST, IMAP_PORT, timeout=T)
    try:
        typ, _ = m.login(pu, pw)
        expect(typ == "OK" and m.select("INBOX")[0] == "OK", "password user: LOGIN (plaintext 1143) + SELECT")
    finally:
        m.logout()
    m = imaplib.IMAP4(HOST, IMAP_PORT, timeout=T)
    t0 = time.monotonic()
    try:
        m.login(pu, pw + "x")
        fail("password user: a wrong password was accepted")
    except imaplib.IMAP4.error as e:
        expect("AUTHENTICATIONFAILED" in str(e) and time.monotonic() - t0 < 2,
               "password user: wrong password refused at once (%s)" % e)
    finally:
        m.logout()
    s = smtplib.SMTP(HOST, SMTP_PORT, timeout=T)
    try:
        s.starttls(context=TLS)
        s.login(pu, pw)
        ok("password user: SMTP AUTH PLAIN on 2587")
    finally:
        s.quit()
    iss = admin("issue", user=pu)
    imap_ok(pu, iss["accessToken"], "password user with a token: XOAUTH2 works too")
finally:
    os.unlink(os.path.join(users_dir, pu))

print("oauth2 selftest passed: %d checks in %.1fs" % (checks, time.monotonic() - started))
PY
