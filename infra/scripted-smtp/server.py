#!/usr/bin/env python3
"""A scripted SMTP server for the failure cases a real Postfix does not produce on demand.

Usage: server.py PORT DIR [--temporary N] [--drop N] [--permanent]

Listens on 127.0.0.1:PORT (no TLS; AUTH PLAIN/LOGIN accepted with any credentials). Answers the DATA of the first N messages with
"451 4.3.0 Try again later" (--temporary N), or drops the connection without an answer to
the DATA of the first N messages (--drop N), or answers every message with "554 5.7.1
Refused for good" (--permanent); accepts the rest, writing each accepted message to DIR/<n>.eml and
every answer it gave, one per line, to DIR/answers.log. Prints "ready" once listening.
Runs until killed.
"""

import argparse
import asyncio
import os

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def anyone(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


class Scripted:
    def __init__(self, directory, temporary, drop, permanent):
        self.directory = directory
        self.temporary = temporary
        self.drop = drop
        self.permanent = permanent
        self.seen = 0
        self.accepted = 0

    def answer(self, line):
        with open(os.path.join(self.directory, "answers.log"), "a") as log:
            log.write(line + "\n")
        return line

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.permanent:
            return self.answer("554 5.7.1 Refused for good")
        if self.seen <= self.temporary:
            return self.answer("451 4.3.0 Try again later")
        if self.seen <= self.temporary + self.drop:
            self.answer("(connection dropped)")
            server.transport.abort()
            # Never answered: the connection is gone.
            return "421 4.4.2 Closing"
        self.accepted += 1
        path = os.path.join(self.directory, "%d.eml" % self.accepted)
        with open(path, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        return self.answer("250 2.0.0 Accepted as %d" % self.accepted)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("directory")
    parser.add_argument("--temporary", type=int, default=0)
    parser.add_argument("--drop", type=int, default=0)
    parser.add_argument("--permanent", action="store_true")
    args = parser.parse_args()
    handler = Scripted(args.directory, args.temporary, args.drop, args.permanent)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=args.port,
        authenticator=anyone,
        auth_require_tls=False,
    )
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
