#!/usr/bin/env python3
"""Test OAuth2 authorization server for the imapapi test rig.

// Why it exists: the gateway logs in to IMAP and SMTP with XOAUTH2 for OAuth2 accounts
// (Gmail, Outlook), refreshes access tokens with refresh tokens, and must cope with
// expired and revoked tokens. Proving that for real needs an authorization server whose
// tokens the test Dovecot accepts: Dovecot's oauth2 passdb checks every bearer token at
// this server's RFC 7662 introspection endpoint (see infra/dovecot/dovecot.conf.in), and
// the test Postfix checks SMTP AUTH through Dovecot. The admin endpoints let a test issue,
// expire and revoke tokens and count the grants the gateway made. Python standard library
// only (no pip), in-memory state, loopback only. Started by infra/oauth2-server/start.sh.

Env: IMAPAPI_OAUTH2_PORT (default 4480). Listens on 127.0.0.1 only.

Endpoints (all JSON unless noted):
  GET  /auth        Google-like consent, auto-approved: 302 to redirect_uri?code=..&state=..
  POST /token       grant_type=authorization_code | refresh_token (RFC 6749)
  POST /introspect  RFC 7662 (form field token); also GET /introspect?token=.. and
                    GET /introspect with "Authorization: Bearer <token>"
  GET  /gmail/v1/users/me/profile   Gmail API profile for the bearer token's user
  GET  /health      {"ok": true, "pid": N, "version": SERVER_VERSION}
  Admin (tests): POST /admin/issue, /admin/expire, /admin/revoke, /admin/lifetime,
                 /admin/clients; GET /admin/stats. See infra/README.md.
"""

import base64
import binascii
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Bump on every change: start.sh replaces a running server only with a newer version
# (restarting loses every token), like the rig-config-version of the Dovecot config.
SERVER_VERSION = 1
DEFAULT_PORT = 4480
DEFAULT_LIFETIME = 3600
CODE_LIFETIME = 600
DEFAULT_SCOPE = "https://mail.google.com/"
DEFAULT_CLIENT_ID = "test-client"
DEFAULT_CLIENT_SECRET = "test-secret"
MAX_BODY = 1 << 20
# Closes keep-alive connections idle this long (Dovecot's client closes its own after 5 s).
IDLE_TIMEOUT = 120


class OAuthError(Exception):
    """An error answered as JSON: RFC 6749 {"error": code, "error_description": ...}."""

    def __init__(self, status, error, description=None, headers=None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}


class State:
    """Every token, code, client and counter; each public method holds the lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clients = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.codes = {}  # code -> {user, client_id, redirect_uri, scope, expires}
        self.access = {}  # token -> {user, client_id, scope, exp, revoked}
        self.refresh = {}  # token -> {user, client_id, scope, revoked}
        self.lifetimes = {}  # user -> seconds
        self.totals = {"refreshGrants": 0, "codeGrants": 0, "introspections": 0}
        self.per_user = {}  # user -> same counters

    # -- helpers, called with the lock held --

    def _count(self, key, user):
        self.totals[key] += 1
        if user is not None:
            counters = self.per_user.setdefault(
                user, {"refreshGrants": 0, "codeGrants": 0, "introspections": 0})
            counters[key] += 1

    def _new_access(self, user, client_id, scope, lifetime=None):
        if lifetime is None:
            lifetime = self.lifetimes.get(user, DEFAULT_LIFETIME)
        token = "at-" + secrets.token_urlsafe(32)
        self.access[token] = {"user": user, "client_id": client_id, "scope": scope,
                              "exp": time.time() + lifetime, "revoked": False}
        return token, lifetime

    def _new_refresh(self, user, client_id, scope):
        token = "rt-" + secrets.token_urlsafe(32)
        self.refresh[token] = {"user": user, "client_id": client_id, "scope": scope,
                               "revoked": False}
        return token

    def _active_access(self, token):
        info = self.access.get(token) if token else None
        if info is None or info["revoked"] or time.time() >= info["exp"]:
            return None
        return info

    # -- client authentication --

    def client_known(self, client_id):
        with self.lock:
            return client_id in self.clients

    def check_client(self, client_id, client_secret):
        with self.lock:
            return client_id in self.clients and secrets.compare_digest(
                self.clients[client_id].encode(), (client_secret or "").encode())

    def add_client(self, client_id, client_secret):
        with self.lock:
            self.clients[client_id] = client_secret

    # -- grants --

    def new_code(self, user, client_id, redirect_uri, scope):
        code = "code-" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"user": user, "client_id": client_id,
                                "redirect_uri": redirect_uri, "scope": scope,
                                "expires": time.time() + CODE_LIFETIME}
        return code

    def code_grant(self, client_id, code, redirect_uri):
        with self.lock:
            info = self.codes.pop(code, None)  # single use, even when the rest is wrong
            if info is None or time.time() >= info["expires"]:
                raise OAuthError(400, "invalid_grant", "unknown, used or expired code")
            if info["client_id"] != client_id:
                raise OAuthError(400, "invalid_grant", "code issued to another client")
            if info["redirect_uri"] != redirect_uri:
                raise OAuthError(400, "invalid_grant", "redirect_uri mismatch")
            user, scope = info["user"], info["scope"]
            access, lifetime = self._new_access(user, client_id, scope)
            refresh = self._new_refresh(user, client_id, scope)
            self._count("codeGrants", user)
        return user, {"access_token": access, "refresh_token": refresh,
                      "expires_in": int(lifetime), "token_type": "Bearer", "scope": scope}

    def refresh_grant(self, client_id, refresh_token):
        with self.lock:
            info = self.refresh.get(refresh_token)
            if info is None or info["revoked"]:
                raise OAuthError(400, "invalid_grant", "unknown or revoked refresh token")
            if info["client_id"] != client_id:
                raise OAuthError(400, "invalid_grant", "refresh token of another client")
            user, scope = info["user"], info["scope"]
            access, lifetime = self._new_access(user, client_id, scope)
            self._count("refreshGrants", user)
        return user, {"access_token": access, "expires_in": int(lifetime),
                      "token_type": "Bearer", "scope": scope}

    # -- resource side --

    def introspect(self, token):
        with self.lock:
            info = self._active_access(token)
            known = self.access.get(token) if token else None
            self._count("introspections", known["user"] if known else None)
            if info is None:
                return None, {"active": False}
            return info["user"], {"active": True, "username": info["user"],
                                  "email": info["user"], "sub": info["user"],
                                  "exp": int(info["exp"]), "scope": info["scope"],
                                  "client_id": info["client_id"]}

    def bearer_user(self, token):
        with self.lock:
            info = self._active_access(token)
            return info["user"] if info else None

    # -- admin --

    def issue(self, user, expires_in):
        with self.lock:
            access, lifetime = self._new_access(user, DEFAULT_CLIENT_ID, DEFAULT_SCOPE,
                                                expires_in)
            refresh = self._new_refresh(user, DEFAULT_CLIENT_ID, DEFAULT_SCOPE)
        return {"accessToken": access, "refreshToken": refresh, "expiresIn": int(lifetime)}

    def expire(self, user):
        now = time.time()
        n = 0
        with self.lock:
            for info in self.access.values():
                if info["user"] == user and info["exp"] > now:
                    info["exp"] = now
                    n += 1
        return {"user": user, "expired": n}

    def revoke(self, user):
        a = r = 0
        with self.lock:
            for table in (self.access, self.refresh):
                for info in table.values():
                    if info["user"] == user and not info["revoked"]:
                        info["revoked"] = True
                        if table is self.access:
                            a += 1
                        else:
                            r += 1
        return {"user": user, "revokedAccessTokens": a, "revokedRefreshTokens": r}

    def set_lifetime(self, user, seconds):
        with self.lock:
            self.lifetimes[user] = seconds
        return {"user": user, "seconds": seconds}

    def stats(self):
        with self.lock:
            out = dict(self.totals)
            out["users"] = {u: dict(c) for u, c in self.per_user.items()}
        return out


STATE = State()


def log(msg):
    sys.stderr.write("%s oauth2-server: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), msg))
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Dovecot's HTTP client reuses connections
    server_version = "imapapi-test-oauth2/1"
    timeout = IDLE_TIMEOUT

    # -- plumbing --

    def log_request(self, code="-", size="-"):
        pass  # replaced by _log: the default logs the request line, query tokens included

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def log_error(self, fmt, *args):
        # The base class's messages may quote the request line, which may hold a token.
        log("%s malformed or timed-out request (%s)" % (
            self.address_string(), args[0] if args and isinstance(args[0], int) else "-"))

    def _log(self, status, note=""):
        path = urllib.parse.urlsplit(self.path).path  # never the query: it may hold a token
        log("%s %s -> %d%s" % (self.command, path, status, " " + note if note else ""))

    def _send(self, status, body=b"", ctype="application/json", headers=None, note=""):
        self.send_response(status)
        if body or status != 204:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status, note)

    def _json(self, status, obj, headers=None, note=""):
        body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self._send(status, body, headers=headers, note=note)

    def _error(self, err, note=""):
        obj = {"error": err.error}
        if err.description:
            obj["error_description"] = err.description
        self._json(err.status, obj, headers=err.headers,
                   note=(note + " " if note else "") + "error=" + err.error)

    def _body(self):
        # A body that is not read in full would be taken for the next request.
        keep = self.close_connection
        self.close_connection = True
        body = self._read_body()
        self.close_connection = keep
        return body

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise OAuthError(413, "invalid_request", "body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise OAuthError(400, "invalid_request", "bad Content-Length")
        if length < 0 or length > MAX_BODY:
            raise OAuthError(413, "invalid_request", "body too large")
        return self.rfile.read(length) if length else b""

    def _form(self, body):
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                           strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "body is not UTF-8")
        form = {}
        for k, v in pairs:
            if k in form:
                raise OAuthError(400, "invalid_request", "parameter %s repeated" % k)
            form[k] = v
        return form

    def _json_body(self, body):
        try:
            obj = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "body is not JSON")
        if not isinstance(obj, dict):
            raise OAuthError(400, "invalid_request", "body is not a JSON object")
        return obj

    def _bearer(self):
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None

    def _basic(self):
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() != "basic ":
            return None
        try:
            raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "malformed basic credentials",
                             {"WWW-Authenticate": 'Basic realm="imapapi-test"'})
        cid, sep, secret = raw.partition(":")
        if not sep:
            raise OAuthError(401, "invalid_client", "malformed basic credentials",
                             {"WWW-Authenticate": 'Basic realm="imapapi-test"'})
        # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
        return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)

    def _dispatch(self, routes):
        path = urllib.parse.urlsplit(self.path).path
        handler = routes.get(path)
        try:
            if handler is None:
                self._body()  # keep the connection usable
                raise OAuthError(404, "not_found", "no such endpoint")
            handler()
        except OAuthError as e:
            self._error(e)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a bug here must not kill the connection silently
            log("internal error on %s %s: %r" % (self.command, path, e))
            self._json(500, {"error": "server_error"})

    def do_GET(self):
        self._dispatch({
            "/auth": self.get_auth,
            "/introspect": self.introspect,
            "/gmail/v1/users/me/profile": self.get_profile,
            "/admin/stats": self.admin_stats,
            "/health": self.get_health,
        })

    def do_POST(self):
        self._dispatch({
            "/token": self.post_token,
            "/introspect": self.introspect,
            "/admin/issue": self.admin_issue,
            "/admin/expire": self.admin_expire,
            "/admin/revoke": self.admin_revoke,
            "/admin/lifetime": self.admin_lifetime,
            "/admin/clients": self.admin_clients,
        })

    # -- endpoints --

    def get_health(self):
        self._json(200, {"ok": True, "pid": os.getpid(), "version": SERVER_VERSION})

    def get_auth(self):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query,
                                        keep_blank_values=True))
        client_id = q.get("client_id", "")
        if not STATE.client_known(client_id):
            raise OAuthError(400, "invalid_client", "unknown client_id")
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri:
            raise OAuthError(400, "invalid_request", "redirect_uri missing")
        if q.get("response_type") != "code":
            raise OAuthError(400, "unsupported_response_type", "only response_type=code")
        user = q.get("login_hint", "")
        if not user:
            raise OAuthError(400, "invalid_request",
                             "login_hint missing (it names the user to approve)")
        scope = q.get("scope") or DEFAULT_SCOPE
        code = STATE.new_code(user, client_id, redirect_uri, scope)
        params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
        location = redirect_uri + sep + urllib.parse.urlencode(params)
        self._send(302, b"", ctype="text/plain", headers={"Location": location},
                   note="user=%s client=%s" % (user, client_id))

    def post_token(self):
        form = self._form(self._body())
        basic = self._basic()
        challenge = {}
        if basic is not None:
            client_id, secret = basic
            challenge = {"WWW-Authenticate": 'Basic realm="imapapi-test"'}
            if "client_id" in form and form["client_id"] != client_id:
                raise OAuthError(400, "invalid_request", "client_id differs from basic auth")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not STATE.check_client(client_id, secret):
            raise OAuthError(401, "invalid_client", "unknown client or wrong secret",
                             challenge)
        grant = form.get("grant_type", "")
        if grant == "authorization_code":
            if not form.get("code"):
                raise OAuthError(400, "invalid_request", "code missing")
            user, out = STATE.code_grant(client_id, form["code"],
                                         form.get("redirect_uri", ""))
        elif grant == "refresh_token":
            if not form.get("refresh_token"):
                raise OAuthError(400, "invalid_request", "refresh_token missing")
            user, out = STATE.refresh_grant(client_id, form["refresh_token"])
        elif not grant:
            raise OAuthError(400, "invalid_request", "grant_type missing")
        else:
            raise OAuthError(400, "unsupported_grant_type", "unsupported grant_type")
        self._json(200, out, note="grant=%s user=%s" % (grant, user))

    def introspect(self):
        token = None
        if self.command == "POST":
            token = self._form(self._body()).get("token")
        else:
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query,
                                            keep_blank_values=True))
            token = q.get("token")
        if not token:
            token = self._bearer()
        if not token:
            raise OAuthError(400, "invalid_request", "token missing")
        user, out = STATE.introspect(token)
        self._json(200, out, note="active=%s user=%s" % (str(out["active"]).lower(),
                                                          user or "-"))

    def get_profile(self):
        user = STATE.bearer_user(self._bearer())
        if user is None:
            self._json(401, {"error": {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED"}},
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                             'error="invalid_token"'})
            return
        self._json(200, {"emailAddress": user, "messagesTotal": 0, "threadsTotal": 0,
                         "historyId": "1"}, note="user=%s" % user)

    # -- admin --

    def _admin_args(self, *required):
        obj = self._json_body(self._body())
        for key in required:
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise OAuthError(400, "invalid_request", "%s (non-empty string) missing" % key)
        return obj

    @staticmethod
    def _seconds(obj, key, required):
        v = obj.get(key)
        if v is None and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise OAuthError(400, "invalid_request", "%s must be an integer >= 0" % key)
        return v

    def admin_issue(self):
        obj = self._admin_args("user")
        out = STATE.issue(obj["user"], self._seconds(obj, "expiresIn", False))
        self._json(200, out, note="user=%s" % obj["user"])

    def admin_expire(self):
        obj = self._admin_args("user")
        self._json(200, STATE.expire(obj["user"]), note="user=%s" % obj["user"])

    def admin_revoke(self):
        obj = self._admin_args("user")
        self._json(200, STATE.revoke(obj["user"]), note="user=%s" % obj["user"])

    def admin_lifetime(self):
        obj = self._admin_args("user")
        out = STATE.set_lifetime(obj["user"], self._seconds(obj, "seconds", True))
        self._json(200, out, note="user=%s" % obj["user"])

    def admin_clients(self):
        obj = self._admin_args("clientId", "clientSecret")
        STATE.add_client(obj["clientId"], obj["clientSecret"])
        self._json(200, {"clientId": obj["clientId"]}, note="client=%s" % obj["clientId"])

    def admin_stats(self):
        self._json(200, STATE.stats())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    try:
        port = int(os.environ.get("IMAPAPI_OAUTH2_PORT") or DEFAULT_PORT)
    except ValueError:
        sys.exit("IMAPAPI_OAUTH2_PORT must be a number")
    server = Server(("127.0.0.1", port), Handler)
    log("listening on http://127.0.0.1:%d (pid %d)" % (port, os.getpid()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
