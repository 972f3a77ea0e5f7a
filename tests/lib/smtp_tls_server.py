#!/usr/bin/python3
"""
smtp_tls_server.py — a real SMTP server on loopback for the scheduler's
STARTTLS test (tests/scheduler_starttls_test.c), built on Debian's
python3-aiosmtpd (a maintained SMTP server library; the SMTP dialogue,
STARTTLS and the TLS handshake are its, with Python's ssl module).

  smtp_tls_server.py --port N --log FILE --spool DIR [--cert PEM --key PEM]

With --cert/--key the server offers STARTTLS and requires it (530 to MAIL
before TLS); without them it offers no STARTTLS at all. Every SMTP event
is appended to --log as one JSON line, {"conn" (numbered by client
address, so one TCP connection keeps its number across STARTTLS), "event",
"tls" (the connection is encrypted), ...}:
ehlo (hostname), starttls (handshake done), mail (from), rcpt (to), data
(file, bytes): the test checks the order, not only the outcome. Each
accepted message is written to DIR/<n>.eml as received. Ends with exit 0
on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP


class Recorder:
    """The aiosmtpd handler: records every event, accepts every message."""

    def __init__(self, log_path, spool):
        self.log = open(log_path, "a", buffering=1, encoding="utf-8")
        self.spool = spool
        self.conns = {}  # client address → connection number (the session is new after STARTTLS)
        self.messages = 0

    def note(self, session, event, **fields):
        peer = "%s:%s" % tuple(session.peer[:2])
        conn = self.conns.setdefault(peer, len(self.conns) + 1)
        line = {"conn": conn, "event": event, "tls": session.ssl is not None}
        line.update(fields)
        self.log.write(json.dumps(line) + "\n")

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # a handle_EHLO hook must set it
        self.note(session, "ehlo", hostname=hostname, offers=responses)
        return responses

    def handle_STARTTLS(self, server, session, envelope):
        self.note(session, "starttls", cipher=server.transport.get_extra_info("cipher"))
        return True

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.note(session, "mail", address=address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.note(session, "rcpt", address=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        path = os.path.join(self.spool, "%d.eml" % self.messages)
        with open(path, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        self.note(session, "data", file=path, bytes=len(envelope.content), rcpt=envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued as %d" % self.messages


async def serve(args):
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    os.makedirs(args.spool, exist_ok=True)
    handler = Recorder(args.log, args.spool)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sbtest.local", tls_context=tls, require_starttls=tls is not None),
        "127.0.0.1", args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("smtp_tls_server: listening on 127.0.0.1:%d starttls=%s" % (args.port, tls is not None), flush=True)
    await stop.wait()
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--spool", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args()
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
