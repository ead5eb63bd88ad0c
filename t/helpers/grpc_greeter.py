#!/usr/bin/python3
"""A helloworld.Greeter gRPC server with no protoc-generated code (python3-grpcio's generic
handlers; the protobuf messages are encoded by hand: HelloRequest/HelloReply = field 1, string).

  /usr/bin/python3 greeter.py PORT      (Debian's python3: python3-grpcio is not in pyenv's)

Methods:
  /helloworld.Greeter/SayHello              unary: "Hello <name>"
      name "sleep:<ms>"  sleeps that long first (deadline tests: DEADLINE_EXCEEDED at the client)
      name "status:<n>"  aborts with grpc-status n (e.g. 8 RESOURCE_EXHAUSTED)
      name "big:<n>"     answers a message of n bytes (flow-control tests)
  /helloworld.Greeter/SayHelloStreamReply   server streaming: 3 replies
  /helloworld.Greeter/SayHelloBidi          bidi streaming: one reply per request
The grpc-timeout the server saw is echoed in the initial metadata "x-seen-grpc-timeout"
(time_remaining() rounded to ms) so a test can check that the gateway passes/caps it.
"""
import sys, time
from concurrent import futures
import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_string1(s):
    b = s.encode() if isinstance(s, str) else s
    return b"\x0a" + varint(len(b)) + b


def dec_string1(buf):
    # field 1, wire type 2; anything else is ignored
    i = 0
    while i < len(buf):
        key = buf[i]; i += 1
        if key & 7 != 2:
            raise ValueError("unexpected wire type")
        n = 0; shift = 0
        while True:
            c = buf[i]; i += 1
            n |= (c & 0x7F) << shift; shift += 7
            if not c & 0x80:
                break
        val = buf[i:i + n]; i += n
        if key >> 3 == 1:
            return val.decode()
    return ""


def say_hello(request, context):
    name = dec_string1(request)
    rem = context.time_remaining()
    context.send_initial_metadata((("x-seen-grpc-timeout",
                                    "none" if rem is None or rem > 1e8 else "%dms" % round(rem * 1000)),))
    if name.startswith("sleep:"):
        time.sleep(int(name[6:]) / 1000)
    elif name.startswith("status:"):
        context.abort(grpc.StatusCode(next(c for c in grpc.StatusCode
                                           if c.value[0] == int(name[7:]))), "asked for it")
    elif name.startswith("big:"):
        return enc_string1(b"x" * int(name[4:]))
    context.set_trailing_metadata((("x-trailer", "t1"),))
    return enc_string1("Hello " + name)


def say_hello_stream(request, context):
    name = dec_string1(request)
    for i in range(3):
        yield enc_string1("Hello %s #%d" % (name, i))


def say_hello_bidi(request_iterator, context):
    for req in request_iterator:
        yield enc_string1("Hello " + dec_string1(req))


def serve(port):
    handler = grpc.method_handlers_generic_handler("helloworld.Greeter", {
        # no (de)serializers: the handlers get and return raw message bytes
        "SayHello": grpc.unary_unary_rpc_method_handler(say_hello),
        "SayHelloStreamReply": grpc.unary_stream_rpc_method_handler(say_hello_stream),
        "SayHelloBidi": grpc.stream_stream_rpc_method_handler(say_hello_bidi),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("greeter listening on 127.0.0.1:%d" % bound, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 50051)
