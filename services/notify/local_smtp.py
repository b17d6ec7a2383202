"""A real SMTP server for local use and tests (aiosmtpd): keeps every message it accepts in a
Maildir (`<data_dir>/mail`, readable by any mail program) and counts the SMTP transactions, so
a test can see a message sent twice, and the sessions clients opened. `make run` starts it and
points notify at it.

    python -m services.notify.local_smtp [--port 8025] [--dir .data/mail]
"""

import argparse
import email.policy
import mailbox
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    def __init__(self, directory: Path, refuse: Callable[[str], bool] = lambda _: False):
        self.directory = directory
        self.maildir = mailbox.Maildir(directory, create=True)
        self.refuse = refuse  # a recipient this server answers 550 for (a bounce, in tests)
        self.unavailable = False  # answers 421 (try again later) to every message while set
        self.transactions: Counter[str] = Counter()  # Message-ID -> how often it was accepted
        self.sessions = 0  # SMTP sessions a client opened (each greets with EHLO once)
        self.lock = threading.Lock()

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list):
        session.host_name = hostname  # what aiosmtpd does itself when a handler has no EHLO hook
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list):
        if self.unavailable:
            return "421 4.3.2 service not available, try again later"
        if self.refuse(address):
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message_id = BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True).get("Message-ID", "")
        with self.lock:
            self.maildir.add(raw)
            self.transactions[str(message_id)] += 1
        return "250 2.0.0 Message accepted for delivery"


class LocalSmtpServer:
    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 8025):
        self.handler = MaildirHandler(directory)
        self.host, self.port = host, port
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def messages(self) -> list[EmailMessage]:
        """Every message in the Maildir, oldest first."""
        parser = BytesParser(policy=email.policy.default)
        paths = sorted((self.handler.directory / "new").glob("*"), key=lambda p: p.stat().st_mtime_ns)
        parsed = []
        for path in paths:
            message = parser.parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".data/mail"))
    args = parser.parse_args()
    server = LocalSmtpServer(args.dir, args.host, args.port)
    server.start()
    print(f"SMTP on {args.host}:{args.port}, messages in {args.dir} (Maildir); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
