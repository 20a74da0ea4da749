#!/usr/bin/env python3
"""A webhook receiver for trying BoxOffice's webhooks and alerts, and for its tests.

Every delivery's Standard Webhooks signature is checked with the `standardwebhooks` package from
PyPI (pip install standardwebhooks), independently of BoxOffice's own signing code.

    scripts/webhook-receiver.py [--port N]      # prints "listening on N", then serves:

    POST /hooks/NAME      a delivery for the receiver NAME: verified with NAME's secret, then
                          answered with NAME's next scripted status (200 once the script is used up)
    PUT  /config/NAME     {"secret": "whsec_...", "statuses": [500, 500, 200], "delayMs": 0}
    GET  /received/NAME   every delivery so far: [{"webhookId", "verified", "status", "event", "error"}]
    POST /alerts          an operator alert ({"text": ...}, ALERT_WEBHOOK_URL): recorded
    GET  /received/alerts every alert so far: [{"text": ...}]
"""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
configs = {}   # name -> {"secret", "statuses", "delayMs"}
received = {}  # name -> [record]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload=None):
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_PUT(self):
        if not self.path.startswith("/config/"):
            return self.reply(404)
        name = self.path[len("/config/"):]
        config = json.loads(self.body())
        with lock:
            configs[name] = {"secret": config.get("secret"), "statuses": list(config.get("statuses", [])),
                             "delayMs": int(config.get("delayMs", 0))}
            received.setdefault(name, [])
        self.reply(204)

    def do_GET(self):
        if not self.path.startswith("/received/"):
            return self.reply(404)
        with lock:
            self.reply(200, list(received.get(self.path[len("/received/"):], [])))

    def do_POST(self):
        data = self.body()
        if self.path == "/alerts":
            with lock:
                received.setdefault("alerts", []).append(json.loads(data))
            return self.reply(200, {})
        if not self.path.startswith("/hooks/"):
            return self.reply(404)
        name = self.path[len("/hooks/"):]
        with lock:
            config = configs.get(name, {"secret": None, "statuses": [], "delayMs": 0})
            status = config["statuses"].pop(0) if config["statuses"] else 200
            delay = config["delayMs"]
        record = {"webhookId": self.headers.get("webhook-id"), "verified": False, "status": status, "event": None, "error": None}
        try:
            record["event"] = Webhook(config["secret"]).verify(data, dict(self.headers.items()))
            record["verified"] = True
        except Exception as error:  # WebhookVerificationError; an unconfigured name fails here too
            record["error"] = f"{type(error).__name__}: {error}"
            try:
                record["event"] = json.loads(data)
            except ValueError:
                pass
        if delay:
            time.sleep(delay / 1000)
        with lock:
            received.setdefault(name, []).append(record)
        self.reply(status, {})


def main():
    # A parent that ignores SIGTERM (a test runner's signal handling) passes that on through exec: undo it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    arguments = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
