#!/usr/bin/python3
# A small OTLP/HTTP JSON trace receiver for t/72-tracing.t (Python's standard library only).
#   otlp_receiver.py OUTFILE [PORT [CERT KEY]]
# Listens on 127.0.0.1:PORT (default, or 0: a free port; with CERT and KEY, PEM files: over TLS),
# prints the port on stdout, and appends one
# line per export it receives to OUTFILE: the request body, decoded and dumped again as one line
# of JSON, or {"invalid": "why", "body": "..."} when it is not valid JSON (or not an
# ExportTraceServiceRequest's shape), and {"headers": {...}} fields it saw.
#   POST /v1/traces       stored, then answered as the mode says: ok (200 "{}", the default),
#                         fail (500), stall (no answer for 30 s, then close)
#   GET /mode?set=MODE    changes the mode (ok, fail, stall); answers 200 "MODE"
#   GET /count            the number of exports stored so far
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out_path = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
state = {"mode": "ok", "count": 0}
lock = threading.Lock()


def shape_error(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
        return "no resourceSpans list"
    for rs in doc["resourceSpans"]:
        if not isinstance(rs.get("scopeSpans"), list):
            return "no scopeSpans list"
        for ss in rs["scopeSpans"]:
            if not isinstance(ss.get("spans"), list):
                return "no spans list"
            for s in ss["spans"]:
                for k in ("traceId", "spanId", "name", "kind", "startTimeUnixNano", "endTimeUnixNano"):
                    if k not in s:
                        return "a span without " + k
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/mode?set="):
            with lock:
                state["mode"] = self.path.split("=", 1)[1]
            return self.answer(200, state["mode"].encode())
        if self.path == "/count":
            with lock:
                return self.answer(200, str(state["count"]).encode())
        self.answer(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        rec = {}
        try:
            doc = json.loads(raw.decode("utf-8"))
            why = shape_error(doc)
            if why:
                rec = {"invalid": why, "body": raw.decode("utf-8", "replace")}
            else:
                rec = {"export": doc}
        except Exception as e:  # noqa: BLE001 - any bad body is recorded, not fatal
            rec = {"invalid": str(e), "body": raw.decode("utf-8", "replace")}
        rec["path"] = self.path
        rec["headers"] = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            mode = state["mode"]
            if mode == "ok":
                state["count"] += 1
                with open(out_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
        if mode == "stall":
            time.sleep(30)
            self.close_connection = True
            return
        if mode == "fail":
            return self.answer(500, b'{"error":"failing on purpose"}')
        self.answer(200, b"{}")


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
if len(sys.argv) > 4:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
