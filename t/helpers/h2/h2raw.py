#!/usr/bin/python3
# Crafted HTTP/2 frames for the flood tests (t/66-http2-floods.t): a raw socket, frames packed by
# hand with struct, header blocks from the hpack package (Debian's python3-h2 brings it). Run
# with /usr/bin/python3.
#
#   h2raw.py --port P --mode MODE [--n N] [--size BYTES] [--path /p] [--tls] [--timeout S]
#            [--wait S] [--authority NAME]
#
# Modes (each sends its frames after the connection preface and an empty SETTINGS, acks the
# server's SETTINGS, reads all the while, and stops at the connection's end, at the deadline, or
# when its own condition is met):
#   rapid_reset     N times HEADERS (GET PATH, END_STREAM) + RST_STREAM(CANCEL) on new streams
#   continuation    HEADERS without END_HEADERS + N CONTINUATION frames (a valid GET block
#                   spread over them)
#   header_count    one GET block with N extra fields x-hN: N
#   header_size     one GET block with fields x-big-K of 1000 bytes each, SIZE decoded bytes in all
#   ping | settings | window_update | priority | empty_data
#                   N frames of that kind, back to back (empty_data: on a POST stream to PATH
#                   opened first, no END_STREAM)
#   hpack_table_size  a GET block that starts with a dynamic table size update to SIZE
#   hpack_huge      a GET block with a literal field whose value claims SIZE bytes, sent in 16 KiB
#                   frames (HEADERS + up to N CONTINUATION)
#   concurrent      N GET streams to PATH at once (END_STREAM); waits for every stream to end
#   idle            one GET to PATH, then waits (up to --wait) for GOAWAY and the close
#   priority_zero   a PRIORITY frame on stream 0
#   priority_self   a PRIORITY frame making stream 1 depend on itself
#   data_after_reset  HEADERS (POST PATH, no END_STREAM) and RST_STREAM(CANCEL) on stream 1, then
#                   DATA on it; then a GET on stream 3
#   data_after_close  a GET on stream 1, after its response DATA on it; then a GET on stream 3
#   data_after_server_reset  a POST with content-length: 2 and 5 bytes of DATA on stream 1 (the
#                   server resets it), N more DATA frames on it; then a GET on stream 3
#   normal          a normal client's few control frames (3 PING, 2 SETTINGS, 3 WINDOW_UPDATE,
#                   2 PRIORITY), then N GETs to PATH one after the other
# Prints one line of key=value:
#   mode=M goaway=CODE|none last=ID|- closed=fin|rst|no rst=COUNT rst_codes=C,C|- ok=COUNT
#   statuses=S,S|- refused=COUNT elapsed=SECONDS sent=all|BYTES error=TEXT|- debug=GOAWAY'S_DEBUG_DATA|-
# (ok: responses with a :status; refused: RST_STREAM with REFUSED_STREAM.)
import argparse
import errno
import select
import socket
import ssl
import struct
import sys
import time

import hpack

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype, flags, sid, payload=b''):
    n = len(payload)
    return struct.pack('>BHBBI', (n >> 16) & 0xff, n & 0xffff, ftype, flags, sid & 0x7fffffff) + payload


def hpack_int(value, prefix_bits, first_byte):
    """An HPACK integer with a prefix of prefix_bits bits; first_byte holds the pattern bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = [first_byte | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class Peer:
    def __init__(self, a):
        self.a = a
        self.sock = socket.create_connection(('127.0.0.1', a.port), timeout=a.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if a.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(['h2'])
            self.sock = ctx.wrap_socket(self.sock, server_hostname='localhost')
        self.sock.setblocking(False)
        self.rbuf = b''
        self.wbuf = b''
        self.sent = 0
        self.closed = 'no'
        self.goaway = None
        self.rst = []            # (stream id, code)
        self.status = {}         # stream id -> :status
        self.ended = set()       # streams that ended (END_STREAM seen or reset)
        self.dec = hpack.Decoder()
        self.enc = hpack.Encoder()
        self.error = None
        self.start = time.time()
        self.deadline = self.start + a.timeout
        self.remote_settings = {}
        self.goaway_debug = ''

    def block(self, headers, huffman=False):
        return self.enc.encode(headers, huffman=huffman)

    def get_headers(self, path=None, method='GET', extra=()):
        return [(':method', method), (':scheme', 'https' if self.a.tls else 'http'),
                (':authority', self.a.authority), (':path', path or self.a.path)] + list(extra)

    def send(self, data):
        self.wbuf += data

    def run(self, until=None, deadline=None):
        """Writes what is queued while reading; returns when the connection is gone, until()
        holds (and nothing is left to write), or the deadline passes."""
        deadline = deadline or self.deadline
        while True:
            if self.closed != 'no':
                return
            if until and not self.wbuf and until():
                return
            now = time.time()
            if now >= deadline:
                return
            tls_pending = self.a.tls and self.sock.pending()
            if tls_pending:
                rl, wl = [self.sock], []
            else:
                rl, wl, _ = select.select([self.sock], [self.sock] if self.wbuf else [], [],
                                          min(0.5, deadline - now))
            if wl and self.wbuf:
                try:
                    n = self.sock.send(self.wbuf[:1 << 20])
                    self.wbuf = self.wbuf[n:]
                    self.sent += n
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except OSError as e:
                    # the server closed while we were still writing: keep reading what it said
                    self.error = self.error or 'send: %s' % errno.errorcode.get(e.errno, e)
                    self.wbuf = b''
            if rl:
                try:
                    data = self.sock.recv(262144)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                except OSError as e:
                    self.closed = 'rst' if e.errno == errno.ECONNRESET else 'error'
                    self.error = self.error or 'recv: %s' % errno.errorcode.get(e.errno, e)
                    return
                if not data:
                    self.closed = 'fin'
                    return
                self.rbuf += data
                self.parse()

    def parse(self):
        while len(self.rbuf) >= 9:
            hi, lo, ftype, flags, sid = struct.unpack('>BHBBI', self.rbuf[:9])
            n = (hi << 16) | lo
            if len(self.rbuf) < 9 + n:
                return
            payload = self.rbuf[9:9 + n]
            self.rbuf = self.rbuf[9 + n:]
            sid &= 0x7fffffff
            if ftype == SETTINGS and not flags & ACK:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack('>HI', payload[i:i + 6])
                    self.remote_settings[k] = v
                self.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                last, code = struct.unpack('>II', payload[:8])
                self.goaway = (code, last & 0x7fffffff)
                self.goaway_debug = payload[8:].decode('latin-1')
            elif ftype == RST_STREAM:
                self.rst.append((sid, struct.unpack('>I', payload[:4])[0]))
                self.ended.add(sid)
            elif ftype in (HEADERS, CONTINUATION):
                # responses are single blocks here (the gateway's heads are small)
                frag = payload
                if ftype == HEADERS:
                    pad = 0
                    if flags & PADDED:
                        pad = frag[0]
                        frag = frag[1:]
                    if flags & PRIO:
                        frag = frag[5:]
                    if pad:
                        frag = frag[:-pad]
                try:
                    for name, value in self.dec.decode(frag):
                        if name in (':status', b':status'):
                            st = int(value)
                            if st >= 200:
                                self.status.setdefault(sid, st)
                except Exception as e:  # noqa: BLE001
                    self.error = self.error or 'hpack: %s' % e
                if flags & END_STREAM:
                    self.ended.add(sid)
            elif ftype == DATA:
                if flags & END_STREAM:
                    self.ended.add(sid)
                if n:
                    # give the window back so that responses keep flowing
                    self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', n)) +
                              frame(WINDOW_UPDATE, 0, sid, struct.pack('>I', n)))

    def after_goaway(self, grace=3.0):
        """After a GOAWAY the server should close: wait a little for it."""
        if self.goaway and self.closed == 'no':
            self.run(deadline=min(self.deadline, time.time() + grace))

    def report(self, mode):
        codes = sorted(set(c for _, c in self.rst))
        sts = [self.status[s] for s in sorted(self.status)]
        refused = sum(1 for _, c in self.rst if c == 7)
        print('mode=%s goaway=%s last=%s closed=%s rst=%d rst_codes=%s ok=%d statuses=%s refused=%d '
              'elapsed=%.3f sent=%s error=%s debug=%s' % (
                  mode, self.goaway[0] if self.goaway else 'none',
                  self.goaway[1] if self.goaway else '-', self.closed, len(self.rst),
                  ','.join(str(c) for c in codes) or '-', len(sts),
                  ','.join(str(s) for s in sorted(set(sts))) or '-', refused,
                  time.time() - self.start, 'all' if not self.wbuf else str(self.sent),
                  (self.error or '-').replace(' ', '_'),
                  ''.join(c if 32 < ord(c) < 127 else '_' for c in self.goaway_debug[:200]) or '-'))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--mode', required=True)
    ap.add_argument('--n', type=int, default=100)
    ap.add_argument('--size', type=int, default=65536)
    ap.add_argument('--path', default='/')
    ap.add_argument('--authority', default='h2.test')
    ap.add_argument('--tls', action='store_true')
    ap.add_argument('--timeout', type=float, default=15)
    ap.add_argument('--wait', type=float, default=10)
    a = ap.parse_args()
    try:
        p = Peer(a)
    except OSError as e:
        print('mode=%s goaway=none last=- closed=connect rst=0 rst_codes=- ok=0 statuses=- refused=0 '
              'elapsed=0 sent=0 error=connect:_%s' % (a.mode, str(e).replace(' ', '_')))
        return
    p.send(PREFACE + frame(SETTINGS, 0, 0))
    p.run(until=lambda: 0 in p.remote_settings or bool(p.remote_settings) or p.goaway,
          deadline=time.time() + 5)
    m = a.mode
    if m == 'rapid_reset':
        buf = []
        for i in range(a.n):
            sid = 1 + 2 * i
            buf.append(frame(HEADERS, END_STREAM | END_HEADERS, sid, p.block(p.get_headers())))
            buf.append(frame(RST_STREAM, 0, sid, struct.pack('>I', 8)))
        p.send(b''.join(buf))
        p.run()
    elif m == 'continuation':
        blk = p.block(p.get_headers(extra=[('x-pad', 'p' * 200)]))
        pieces = a.n + 1
        step = max(1, len(blk) // pieces)
        parts = [blk[i * step:(i + 1) * step] for i in range(pieces - 1)]
        parts.append(blk[(pieces - 1) * step:])
        buf = [frame(HEADERS, END_STREAM, 1, parts[0])]
        for i, part in enumerate(parts[1:]):
            buf.append(frame(CONTINUATION, END_HEADERS if i == len(parts) - 2 else 0, 1, part))
        p.send(b''.join(buf))
        p.run()
    elif m == 'header_count':
        extra = [('x-h%d' % i, str(i)) for i in range(a.n)]
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, p.block(p.get_headers(extra=extra))))
        p.run()
    elif m == 'header_size':
        extra = [('x-big-%d' % i, 'v' * 1000) for i in range((a.size + 999) // 1000)]
        blk = p.block(p.get_headers(extra=extra))
        if len(blk) <= 16384:
            p.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, blk))
        else:
            parts = [blk[i:i + 16384] for i in range(0, len(blk), 16384)]
            buf = [frame(HEADERS, END_STREAM, 1, parts[0])]
            for i, part in enumerate(parts[1:]):
                buf.append(frame(CONTINUATION, END_HEADERS if i == len(parts) - 2 else 0, 1, part))
            p.send(b''.join(buf))
        p.run()
    elif m == 'ping':
        p.send(b''.join(frame(PING, 0, 0, struct.pack('>Q', i)) for i in range(a.n)))
        p.run()
    elif m == 'settings':
        p.send(frame(SETTINGS, 0, 0) * a.n)
        p.run()
    elif m == 'window_update':
        p.send(frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', 1)) * a.n)
        p.run()
    elif m == 'priority':
        p.send(b''.join(frame(PRIORITY, 0, 1 + 2 * (i % 1000000), struct.pack('>IB', 0, 15))
                        for i in range(a.n)))
        p.run()
    elif m == 'empty_data':
        p.send(frame(HEADERS, END_HEADERS, 1, p.block(p.get_headers(method='POST'))))
        p.send(frame(DATA, 0, 1) * a.n)
        p.run()
    elif m == 'hpack_table_size':
        blk = hpack_int(a.size, 5, 0x20) + p.block(p.get_headers())
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, blk))
        p.run()
    elif m == 'hpack_huge':
        # literal without indexing, new name "x-huge", value of SIZE bytes (not Huffman)
        head = p.block(p.get_headers()) + b'\x00' + hpack_int(6, 7, 0) + b'x-huge' + hpack_int(a.size, 7, 0)
        frames = [frame(HEADERS, END_STREAM, 1, head + b'h' * (16384 - len(head)))]
        left = a.size - (16384 - len(head))
        for i in range(a.n):
            k = min(16384, left)
            last = i == a.n - 1 or left - k <= 0
            frames.append(frame(CONTINUATION, END_HEADERS if last and left - k <= 0 else 0, 1, b'h' * k))
            left -= k
            if last:
                break
        p.send(b''.join(frames))
        p.run()
    elif m == 'concurrent':
        buf = []
        for i in range(a.n):
            buf.append(frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * i, p.block(p.get_headers())))
        p.send(b''.join(buf))
        ids = set(1 + 2 * i for i in range(a.n))
        p.run(until=lambda: ids <= p.ended)
    elif m == 'idle':
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, p.block(p.get_headers())))
        p.run(until=lambda: 1 in p.ended)
        p.run(until=lambda: p.goaway is not None, deadline=time.time() + a.wait)
    elif m == 'priority_zero':
        p.send(frame(PRIORITY, 0, 0, struct.pack('>IB', 0, 15)))
        p.run()
    elif m == 'priority_self':
        p.send(frame(PRIORITY, 0, 1, struct.pack('>IB', 1, 15)))
        p.run()
    elif m == 'data_after_reset':
        p.send(frame(HEADERS, END_HEADERS, 1, p.block(p.get_headers(method='POST'))))
        p.send(frame(RST_STREAM, 0, 1, struct.pack('>I', 8)))
        p.send(frame(DATA, END_STREAM, 1, b'test'))
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, p.block(p.get_headers())))
        p.run(until=lambda: 3 in p.ended and any(sid == 1 for sid, _ in p.rst))
    elif m == 'data_after_close':
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, p.block(p.get_headers())))
        p.run(until=lambda: 1 in p.ended)
        p.send(frame(DATA, END_STREAM, 1, b'test'))
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, p.block(p.get_headers())))
        p.run(until=lambda: 3 in p.ended and any(sid == 1 for sid, _ in p.rst))
    elif m == 'data_after_server_reset':
        p.send(frame(HEADERS, END_HEADERS, 1, p.block(p.get_headers(method='POST', extra=[('content-length', '2')]))))
        p.send(frame(DATA, 0, 1, b'12345'))
        p.run(until=lambda: any(sid == 1 for sid, _ in p.rst))
        p.send(b''.join(frame(DATA, 0, 1, b'more') for _ in range(a.n)))
        p.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, p.block(p.get_headers())))
        p.run(until=lambda: 3 in p.ended)
        p.run(deadline=time.time() + 0.3)  # (an RST_STREAM that should not come)
    elif m == 'normal':
        p.send(b''.join(frame(PING, 0, 0, struct.pack('>Q', i)) for i in range(3)))
        p.send(frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 1 << 20)) + frame(SETTINGS, 0, 0))
        p.send(frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', 1 << 20)) * 3)
        p.send(frame(PRIORITY, 0, 1, struct.pack('>IB', 0, 200)) + frame(PRIORITY, 0, 3, struct.pack('>IB', 0, 100)))
        for i in range(a.n):
            sid = 1 + 2 * i
            p.send(frame(HEADERS, END_STREAM | END_HEADERS, sid, p.block(p.get_headers())))
            p.run(until=lambda: sid in p.ended)
    else:
        print('unknown mode %s' % m, file=sys.stderr)
        sys.exit(2)
    p.after_goaway()
    p.report(m)


if __name__ == '__main__':
    main()
