"""A webhook receiver for Keyward's tests: verifies every delivery with the
`standardwebhooks` library, as a real receiver would, and writes what it saw
to a JSON-lines log the tests read.

    python3 webhook_receiver.py PORT SECRET_FILE LOG_FILE [--fail-first N] [--redirect-to URL]
        [--clock-file FILE]

The signing secret is read from SECRET_FILE on every request (the test
writes it once Keyward has shown it). The first N verified deliveries are
answered 500, later ones 200. While CLOCK_FILE holds a unix time, the
receiver's clock (which a delivery's timestamp must be within 5 minutes of)
stands at it: a test that moves Keyward's clock moves the receiver's too. With --redirect-to every request is answered
302 to that URL. Each line of the log: {"id", "type", "answer", "verified", "signatures",
"timestamp", "body"}.
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks
from datetime import datetime
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("secret_file")
parser.add_argument("log_file")
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--redirect-to", default=None)
parser.add_argument("--clock-file", default=None)
args = parser.parse_args()


class ReceiverClock(datetime):
    """The time in CLOCK_FILE when it has one, else the system's."""

    @classmethod
    def now(cls, tz=None):
        try:
            with open(args.clock_file) as f:
                return datetime.fromtimestamp(int(f.read().strip()), tz)
        except (TypeError, OSError, ValueError):
            return datetime.now(tz)


standardwebhooks.webhooks.datetime = ReceiverClock

lock = threading.Lock()
verified_so_far = 0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def do_POST(self):
        global verified_so_far
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if args.redirect_to:
            self.send_response(302)
            self.send_header("location", args.redirect_to)
            self.end_headers()
            self.record({"id": self.headers.get("webhook-id"), "answer": 302, "verified": None})
            return
        try:
            with open(args.secret_file) as f:
                secret = f.read().strip()
            payload = Webhook(secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
            verified = True
        except (WebhookVerificationError, OSError, ValueError) as error:
            payload, verified = {"error": str(error)}, False
        with lock:
            if verified:
                verified_so_far += 1
                answer = 500 if verified_so_far <= args.fail_first else 200
            else:
                answer = 401
            self.record(
                {
                    "id": self.headers.get("webhook-id"),
                    "type": payload.get("type") if isinstance(payload, dict) else None,
                    "answer": answer,
                    "verified": verified,
                    "signatures": len(self.headers.get("webhook-signature", "").split()),
                    "timestamp": self.headers.get("webhook-timestamp"),
                    "body": body.decode(),
                }
            )
        self.send_response(answer)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if answer == 200 else b"not now")

    def record(self, line):
        with open(args.log_file, "a") as f:
            f.write(json.dumps(line) + "\n")


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
