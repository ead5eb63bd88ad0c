#!/usr/bin/python3
# A scripted external authorizer for t/56-auth-basic-external.t (Python's standard library only).
#   authz.py LOGFILE  - listens on 127.0.0.1 (a free port, printed on stdout), answers each GET by
#   its Authorization field and appends one JSON line per request it saw to LOGFILE:
#     Bearer allow-NAME  200, X-User-Id: NAME, X-Consumer: NAME
#     Bearer allow       204, X-User-Id: anonymous (no X-Consumer)
#     Bearer deny        403
#     Bearer slow        sleeps 2 s, then 200
#     Bearer boom        500
#     anything else      401 with WWW-Authenticate: Bearer realm="authz"
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log_path = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        with open(log_path, "a") as f:
            f.write(json.dumps({
                "path": self.path,
                "host": self.headers.get("Host"),
                "method": self.headers.get("X-Original-Method"),
                "uri": self.headers.get("X-Original-URI"),
                "authorization": auth,
                "forwarded": [k.lower() for k in self.headers.keys()],
            }) + "\n")
        if auth.startswith("Bearer allow-"):
            name = auth[len("Bearer allow-"):]
            self.answer(200, [("X-User-Id", name), ("X-Consumer", name)])
        elif auth == "Bearer allow":
            self.answer(204, [("X-User-Id", "anonymous")])
        elif auth == "Bearer deny":
            self.answer(403)
        elif auth == "Bearer slow":
            time.sleep(2)
            self.answer(200)
        elif auth == "Bearer boom":
            self.answer(500)
        else:
            self.answer(401, [("WWW-Authenticate", 'Bearer realm="authz"')])


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
