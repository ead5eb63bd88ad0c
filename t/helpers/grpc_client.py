#!/usr/bin/python3
"""gRPC calls through the gateway with python3-grpcio (Debian's /usr/bin/python3), no generated
code: the greeter's messages (t/helpers/grpc_greeter.py) are encoded by hand. Prints one JSON
object per call, one line each:

  /usr/bin/python3 grpc_client.py HOST:PORT [--tls CA_FILE] CALL...

CALL is one of
  unary:NAME[:TIMEOUT]   /helloworld.Greeter/SayHello with name NAME (grpc_greeter.py's
                         "sleep:MS", "status:N" and "big:N" names work), TIMEOUT seconds
  stream:NAME            /helloworld.Greeter/SayHelloStreamReply (3 replies)
  bidi:A,B,...           /helloworld.Greeter/SayHelloBidi, one request per name
  upload:N               SayHello with a name of N bytes (the reply is "Hello " + it)
Output: {"call", "code" (OK, DEADLINE_EXCEEDED, ...), "details", "replies" (decoded texts, or
their lengths past 100 bytes), "initial" and "trailing" metadata, "secs"}.
"""
import json
import os
import sys
import time

import grpc


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_greeter import enc_string1 as enc  # noqa: E402 (the greeter's own encoding)


def dec(buf):
    if not buf or buf[0] != 0x0A:
        return ""
    n, shift, i = 0, 0, 1
    while True:
        c = buf[i]
        n |= (c & 0x7F) << shift
        i += 1
        shift += 7
        if not c & 0x80:
            break
    s = buf[i:i + n].decode(errors="replace")
    return s if len(s) <= 100 else len(s)


def main():
    args = sys.argv[1:]
    target = args.pop(0)
    creds = None
    if args and args[0] == "--tls":
        args.pop(0)
        with open(args.pop(0), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    if creds:
        opts.append(("grpc.ssl_target_name_override", "localhost"))
        ch = grpc.secure_channel(target, creds, options=opts)
    else:
        ch = grpc.insecure_channel(target, options=opts)
    unary = ch.unary_unary("/helloworld.Greeter/SayHello")
    stream = ch.unary_stream("/helloworld.Greeter/SayHelloStreamReply")
    bidi = ch.stream_stream("/helloworld.Greeter/SayHelloBidi")
    for spec in args:
        kind, _, rest = spec.partition(":")
        out = {"call": spec, "code": "OK", "details": "", "replies": [], "initial": {}, "trailing": {}}
        t0 = time.time()
        try:
            if kind == "unary" or kind == "upload":
                timeout = 10
                name = rest
                if kind == "upload":
                    name = "u" * int(rest)
                elif rest.count(":") >= 2 or (rest.count(":") == 1 and not rest.split(":")[0] in ("sleep", "status", "big")):
                    name, _, t = rest.rpartition(":")
                    timeout = float(t)
                resp, call = unary.with_call(enc(name), timeout=timeout)
                out["replies"] = [dec(resp)]
            elif kind == "stream":
                call = stream(enc(rest), timeout=10)
                out["replies"] = [dec(m) for m in call]
            elif kind == "bidi":
                call = bidi(iter([enc(n) for n in rest.split(",")]), timeout=10)
                out["replies"] = [dec(m) for m in call]
            else:
                raise SystemExit("unknown call " + spec)
            out["initial"] = {k: v for k, v in (call.initial_metadata() or ())}
            out["trailing"] = {k: v for k, v in (call.trailing_metadata() or ())}
        except grpc.RpcError as e:
            out["code"] = e.code().name
            out["details"] = e.details() or ""
            try:
                out["trailing"] = {k: v for k, v in (e.trailing_metadata() or ())}
            except Exception:
                pass
        out["secs"] = round(time.time() - t0, 3)
        print(json.dumps(out, sort_keys=True), flush=True)


main()
