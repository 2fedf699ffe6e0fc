"""Receive CognitionOS webhooks and verify each one's signature with the standardwebhooks library.

    pip install standardwebhooks
    COGNITIONOS_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py 8088

Then subscribe its URL (a public address, or one in WEBHOOK_ALLOWED_PRIVATE_ADDRESSES):

    cognitionos webhooks create http://receiver.example.com:8088/ -e run.succeeded -e run.failed

Each verified event is printed as one line: its type, its webhook-id and its data. A delivery whose signature or
timestamp does not check out is answered 401 and printed to stderr. Deliveries are at least once: the same message
(the same webhook-id) can arrive again after a retry, so act on each webhook-id once.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

verifier = Webhook(os.environ["COGNITIONOS_WEBHOOK_SECRET"])
seen: set[str] = set()  # webhook-ids acted on (keep them in your database in a real receiver)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = verifier.verify(body, dict(self.headers))  # the signature, and a timestamp within 5 minutes
        except WebhookVerificationError as exc:
            print(f"refused: {exc}", file=sys.stderr, flush=True)
            self.send_response(401)
            self.end_headers()
            return
        message_id = self.headers["webhook-id"]
        if message_id not in seen:
            seen.add(message_id)
            print(event["type"], message_id, json.dumps(event["data"]), flush=True)
        self.send_response(204)  # any 2xx: delivered; anything else is retried with backoff
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # the event lines are the log
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8088
    print(f"listening on http://0.0.0.0:{port}/", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Receiver).serve_forever()
