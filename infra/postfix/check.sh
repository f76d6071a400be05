#!/usr/bin/env bash
# Smoke check of the test Postfix (start it first: infra/postfix/start.sh). Creates a
# Dovecot test user the way tests/support does (users.d/<user>), then:
#  - sends a mail over submission + STARTTLS (certificate verified against the test CA)
#    with AUTH, and one over implicit TLS, and polls the user's INBOX over IMAP (20 s max)
#    until both arrived;
#  - AUTH without TLS works; a wrong password gets 535; relaying without AUTH is refused.
# Exits 0 on success, non-zero with a message otherwise. Removes its user on success.
# Env overrides: IMAPAPI_POSTFIX_DIR, IMAPAPI_DOVECOT_DIR (as for start.sh).
set -euo pipefail

POSTFIX_DIR=${IMAPAPI_POSTFIX_DIR:-/tmp/imapapi-postfix}
DOVECOT_DIR=${IMAPAPI_DOVECOT_DIR:-/tmp/imapapi-dovecot}
for f in "$POSTFIX_DIR/env" "$DOVECOT_DIR/env"; do
    [[ -s $f ]] || { echo "[check] FAIL: no $f (run infra/postfix/start.sh)" >&2; exit 1; }
done
export POSTFIX_ENV=$POSTFIX_DIR/env DOVECOT_ENV=$DOVECOT_DIR/env

exec timeout 120 python3 - <<'PY'
import imaplib, os, shutil, smtplib, ssl, sys, time, uuid
from email.message import EmailMessage

def env(path):
    out = {}
    for line in open(path):
        k, sep, v = line.rstrip("\n").partition("=")
        if sep:
            out[k] = v
    return out

pf, dv = env(os.environ["POSTFIX_ENV"]), env(os.environ["DOVECOT_ENV"])
host, port, sport = pf["SMTP_HOST"], int(pf["SMTP_PORT"]), int(pf["SMTPS_PORT"])
ctx = ssl.create_default_context(cafile=pf["CA_CERT"])  # verifies chain and 127.0.0.1 SAN

def fail(msg):
    print(f"[check] FAIL: {msg}", file=sys.stderr)
    print(f"[check] logs: {pf['POSTFIX_LOG']} {dv['DOVECOT_LOG']}", file=sys.stderr)
    sys.exit(1)

def ok(msg):
    print(f"[check] ok: {msg}")

# A user exactly as tests/support/dovecot.rs creates one: users.d/<user>, written to a
# temp name and renamed, mode 0644, line "user:{PLAIN}pass::::::".
suffix = uuid.uuid4().hex[:12]
user, password = f"smtp-check-{suffix}", f"pw-{uuid.uuid4().hex[:12]}"
users_dir = pf["USERS_DIR"]
tmp = os.path.join(users_dir, f".{user}.tmp")
with open(tmp, "w") as f:
    f.write(f"{user}:{{PLAIN}}{password}::::::\n")
os.chmod(tmp, 0o644)
os.rename(tmp, os.path.join(users_dir, user))
addr = f"{user}@example.com"
ok(f"created user {user}")

def message(subject):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = addr, addr, subject
    m.set_content("smoke check body\n")
    return m

subjects = []
try:
    # 1. Submission port: STARTTLS, AUTH, send.
    subj = f"check starttls {suffix}"
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.ehlo()
        if not s.has_extn("starttls"):
            fail(f"{host}:{port} offers no STARTTLS")
        s.starttls(context=ctx)
        s.ehlo()
        s.login(user, password)
        s.send_message(message(subj))
    subjects.append(subj)
    ok(f"sent over STARTTLS + AUTH on {host}:{port}")

    # 2. Implicit TLS port.
    subj = f"check smtps {suffix}"
    with smtplib.SMTP_SSL(host, sport, timeout=15, context=ctx) as s:
        s.login(user, password)
        s.send_message(message(subj))
    subjects.append(subj)
    ok(f"sent over implicit TLS + AUTH on {host}:{sport}")

    # 3. AUTH over a connection without TLS is allowed (smtpd_tls_auth_only = no).
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.login(user, password)
    ok("AUTH without TLS accepted")
except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
    fail(f"sending: {e!r}")

# 4. Wrong password: 535.
try:
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.starttls(context=ctx)
        s.login(user, password + "x")
    fail("wrong password was accepted")
except smtplib.SMTPAuthenticationError as e:
    if e.smtp_code != 535:
        fail(f"wrong password: expected 535, got {e.smtp_code} {e.smtp_error!r}")
    ok(f"wrong password refused: {e.smtp_code} {e.smtp_error.decode()}")

# 5. No AUTH: relaying refused (any domain).
try:
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.sendmail("someone@example.org", [addr], message("must not arrive").as_bytes())
    fail("mail without AUTH was accepted")
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients[addr]
    if code // 100 != 5:
        fail(f"unauthenticated relay: expected 5xx, got {code} {text!r}")
    ok(f"relay without AUTH refused: {code} {text.decode()}")

# 6. Both mails arrive in the INBOX (IMAP STARTTLS on Dovecot's port).
deadline, missing = time.monotonic() + 20, list(subjects)
while True:
    try:
        with imaplib.IMAP4(dv["IMAP_HOST"], int(dv["IMAP_PORT"]), timeout=10) as im:
            im.starttls(ssl_context=ctx)
            im.login(user, password)
            im.select("INBOX", readonly=True)
            missing = [s for s in subjects
                       if not im.search(None, "SUBJECT", f'"{s}"')[1][0].split()]
            total = int(im.select("INBOX", readonly=True)[1][0])
    except (imaplib.IMAP4.error, OSError) as e:
        fail(f"IMAP: {e!r}")
    if not missing:
        break
    if time.monotonic() > deadline:
        fail(f"not in {user}'s INBOX after 20 s: {missing}")
    time.sleep(0.25)
if total != len(subjects):
    fail(f"expected {len(subjects)} messages in INBOX, found {total}")
ok(f"both mails in {user}'s INBOX (IMAP {dv['IMAP_HOST']}:{dv['IMAP_PORT']})")

os.remove(os.path.join(users_dir, user))
shutil.rmtree(os.path.join(dv["MAIL_ROOT"], user), ignore_errors=True)
print("[check] PASS")
PY
