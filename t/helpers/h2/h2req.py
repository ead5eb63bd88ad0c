#!/usr/bin/python3
# An HTTP/2 client for the tests (t/65-http2.t): one connection (h2c with prior knowledge, or TLS
# with ALPN), many requests on it as concurrent streams, every response summed up as JSON.
# Run with /usr/bin/python3 (Debian's python3-h2; the pyenv python3 on PATH lacks it).
#
#   h2req.py SPEC.json      (or - for stdin)
#
# SPEC: {"port": N, "host": "127.0.0.1", "tls": false, "alpn": ["h2"], "sni": "name",
#        "authority": "h2.test", "timeout": 20, "window": 65535 (our stream window),
#        "conn_window": 0 (extra connection window), "max_open": N (streams open at once, at
#        most the server's SETTINGS_MAX_CONCURRENT_STREAMS), "wait_settings": true (open streams
#        only once the server's SETTINGS arrived; false: at once, as many as asked),
#        "requests": [{"method": "GET", "path": "/x", "headers": [[name, value], ...],
#                      "body": "text" | "body_pattern": N, "content_length": true|false,
#                      "trailers": [[name, value], ...], "sha256": true, "keep_body": 4096}]}
# Body bytes of body_pattern are the test pattern of t/lib/Backend.pm (a-z A-Z 0-8, repeated).
# Output (one JSON object on stdout): {"alpn": ..., "responses": [{"stream_id", "status",
# "headers": [[n, v], ...] (all HEADERS blocks before the body, 1xx included in "informational"),
# "trailers": [[n, v], ...] or null, "body_len", "sha256", "body" (first keep_body bytes,
# latin-1), "reset": error code or null, "refused": bool, "ended": bool}],
# "goaway": {"error_code", "last_stream_id"} or null, "error": text or null, "closed": bool,
# "remote_settings": {"3": max concurrent streams, "4": initial window size, ...}}
import hashlib
import json
import select
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

PAT = ''.join([chr(c) for c in range(ord('a'), ord('z') + 1)] +
              [chr(c) for c in range(ord('A'), ord('Z') + 1)] +
              [chr(c) for c in range(ord('0'), ord('8') + 1)]).encode()


def pattern(n, off=0):
    reps = (n + off) // len(PAT) + 2
    return (PAT * reps)[off:off + n]


class Body:
    """A request body produced in pieces (a 10 MB pattern is never held whole)."""

    def __init__(self, spec):
        if 'body_pattern' in spec:
            self.total = int(spec['body_pattern'])
            self.pat = True
            self.data = b''
        else:
            self.data = spec.get('body', '').encode('latin-1')
            self.total = len(self.data)
            self.pat = False
        self.sent = 0

    def left(self):
        return self.total - self.sent

    def take(self, n):
        n = min(n, self.left())
        if self.pat:
            piece = pattern(n, self.sent % len(PAT))
        else:
            piece = self.data[self.sent:self.sent + n]
        self.sent += n
        return piece


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else '-'
    spec = json.load(sys.stdin if src == '-' else open(src))
    out = {'alpn': None, 'responses': [], 'goaway': None, 'error': None, 'closed': False}
    try:
        run(spec, out)
    except Exception as e:  # noqa: BLE001 - the test wants every failure as data
        out['error'] = '%s: %s' % (type(e).__name__, e)
    for r in out['responses']:
        r.pop('_h', None)
    print(json.dumps(out))


def run(spec, out):
    host = spec.get('host', '127.0.0.1')
    timeout = float(spec.get('timeout', 20))
    deadline = time.time() + timeout
    sock = socket.create_connection((host, spec['port']), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if spec.get('tls'):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(spec.get('alpn', ['h2']))
        try:
            sock = ctx.wrap_socket(sock, server_hostname=spec.get('sni', 'localhost'))
        except (ssl.SSLError, OSError) as e:
            out['error'] = 'tls: %s' % e
            return
        out['alpn'] = sock.selected_alpn_protocol()
        if out['alpn'] != 'h2':
            out['error'] = 'alpn: the server chose %r' % out['alpn']
            return
    sock.setblocking(False)

    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding='latin-1', validate_inbound_headers=False))
    window = int(spec.get('window', 65535))
    conn.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
        h2.settings.SettingCodes.ENABLE_PUSH: 0,
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
    })
    conn.initiate_connection()
    if spec.get('conn_window'):
        conn.increment_flow_control_window(int(spec['conn_window']))
    authority = spec.get('authority', '%s:%d' % (host, spec['port']))
    scheme = 'https' if spec.get('tls') else 'http'

    pending = list(enumerate(spec.get('requests', [])))
    goaway_seen = [False]
    rbuf = b''
    streams = {}   # stream id -> state
    wbuf = b''

    got_settings = [not spec.get('wait_settings', True)]

    def open_streams():
        # streams are opened once the server's SETTINGS (its MAX_CONCURRENT_STREAMS) are known,
        # unless wait_settings is false
        if not got_settings[0] or goaway_seen[0]:
            return
        while pending:
            limit = min(conn.remote_settings.max_concurrent_streams, int(spec.get('max_open', 1 << 31)))
            if conn.open_outbound_streams >= limit:
                return
            idx, rq = pending.pop(0)
            sid = conn.get_next_available_stream_id()
            body = Body(rq) if ('body' in rq or 'body_pattern' in rq) else None
            hdrs = [(':method', rq.get('method', 'GET')), (':scheme', scheme),
                    (':authority', rq.get('authority', authority)), (':path', rq.get('path', '/'))]
            for n, v in rq.get('headers', []):
                hdrs.append((n.lower(), v))
            if body is not None and rq.get('content_length', True):
                hdrs.append(('content-length', str(body.total)))
            end = body is None and not rq.get('trailers')
            conn.send_headers(sid, hdrs, end_stream=end)
            r = {'index': idx, 'stream_id': sid, 'status': None, 'headers': [], 'informational': [],
                 'trailers': None, 'body_len': 0, 'sha256': None, 'body': '', 'reset': None,
                 'refused': False, 'ended': False}
            streams[sid] = {'r': r, 'body': body, 'req': rq, 'done_sending': end,
                            'h': hashlib.sha256(), 'keep': int(rq.get('keep_body', 4096))}
            out['responses'].append(r)

    def pump_bodies():
        for sid, st in streams.items():
            if st['done_sending'] or st['r']['reset'] is not None or st['r']['ended']:
                continue
            body = st['body']
            try:
                while body is not None and body.left() > 0:
                    w = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                    if w <= 0:
                        break
                    conn.send_data(sid, body.take(w))
                if body is None or body.left() == 0:
                    if st['req'].get('trailers'):
                        conn.send_headers(sid, [(n.lower(), v) for n, v in st['req']['trailers']],
                                          end_stream=True)
                    else:
                        conn.end_stream(sid)
                    st['done_sending'] = True
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                st['done_sending'] = True

    def all_done():
        if pending and not goaway_seen[0]:
            return False
        return all(st['r']['ended'] or st['r']['reset'] is not None for st in streams.values())

    open_streams()
    pump_bodies()
    wbuf += conn.data_to_send()
    closed = False
    while not all_done():
        now = time.time()
        if now > deadline:
            out['error'] = 'timeout (%d of %d streams done)' % (
                sum(1 for st in streams.values() if st['r']['ended'] or st['r']['reset'] is not None),
                len(streams) + len(pending))
            break
        if closed:
            break
        wl = [sock] if wbuf else []
        # TLS sockets may hold decrypted bytes that select() does not see
        if spec.get('tls') and sock.pending():
            rl = [sock]
        else:
            rl, wl, _ = select.select([sock], wl, [], min(1.0, deadline - now))
        if wl and wbuf:
            try:
                n = sock.send(wbuf)
                wbuf = wbuf[n:]
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
            except OSError as e:
                out['error'] = 'send: %s' % e
                closed = True
        if rl:
            try:
                data = sock.recv(262144)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None
            except OSError as e:
                data = b''
                out['error'] = out['error'] or 'recv: %s' % e
            if data == b'':
                closed = True
                out['closed'] = True
            elif data:
                # GOAWAY is taken out of the byte stream here: the h2 package closes the whole
                # connection on it, while the streams up to its last stream id go on
                rbuf += data
                data, rbuf = split_goaway(rbuf, out, streams)
                if out['goaway'] is not None:
                    goaway_seen[0] = True
                try:
                    events = conn.receive_data(data) if data else []
                except h2.exceptions.ProtocolError as e:
                    out['error'] = 'protocol: %s' % e
                    events = []
                    closed = True
                for ev in events:
                    if isinstance(ev, h2.events.RemoteSettingsChanged):
                        got_settings[0] = True
                    handle(conn, ev, streams, out)
        if not closed:
            open_streams()
            pump_bodies()
            wbuf += conn.data_to_send()
    if closed and not all_done() and not out['error']:
        out['error'] = 'the connection closed with %d streams unfinished' % (
            sum(1 for st in streams.values() if not (st['r']['ended'] or st['r']['reset'] is not None)) + len(pending))
    out['remote_settings'] = {str(int(k)): v for k, v in conn.remote_settings.items()}
    try:
        sock.setblocking(True)
        sock.settimeout(1)
        conn.close_connection()
        sock.sendall(wbuf + conn.data_to_send())
        sock.close()
    except Exception:  # noqa: BLE001
        pass


def split_goaway(buf, out, streams):
    """Whole frames of buf without the GOAWAY frames (recorded in out), and the rest of buf."""
    keep = []
    off = 0
    while len(buf) - off >= 9:
        n = int.from_bytes(buf[off:off + 3], 'big')
        if len(buf) - off < 9 + n:
            break
        if buf[off + 3] == 7:
            payload = buf[off + 9:off + 9 + n]
            last = int.from_bytes(payload[0:4], 'big') & 0x7fffffff
            code = int.from_bytes(payload[4:8], 'big')
            out['goaway'] = {'error_code': code, 'last_stream_id': last}
            out.setdefault('goaways', []).append(dict(out['goaway']))
            # streams above last_stream_id were never processed: they end now (a client may retry)
            for s, x in streams.items():
                if s > last and not x['r']['ended'] and x['r']['reset'] is None:
                    x['r']['reset'] = 7
                    x['r']['refused'] = True
        else:
            keep.append(buf[off:off + 9 + n])
        off += 9 + n
    return b''.join(keep), buf[off:]


def handle(conn, ev, streams, out):
    sid = getattr(ev, 'stream_id', None)
    st = streams.get(sid) if sid else None
    r = st['r'] if st else None
    if isinstance(ev, h2.events.InformationalResponseReceived) and r:
        r['informational'].append([[n, v] for n, v in ev.headers])
    elif isinstance(ev, h2.events.ResponseReceived) and r:
        r['headers'] = [[n, v] for n, v in ev.headers]
        for n, v in ev.headers:
            if n == ':status':
                r['status'] = int(v)
    elif isinstance(ev, h2.events.DataReceived):
        if r:
            r['body_len'] += len(ev.data)
            st['h'].update(ev.data)
            if len(r['body']) < st['keep']:
                r['body'] += ev.data[:st['keep'] - len(r['body'])].decode('latin-1')
        try:
            conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
    elif isinstance(ev, h2.events.TrailersReceived) and r:
        r['trailers'] = [[n, v] for n, v in ev.headers]
    elif isinstance(ev, h2.events.StreamEnded) and r:
        r['ended'] = True
        r['sha256'] = st['h'].hexdigest()
    elif isinstance(ev, h2.events.StreamReset) and r:
        r['reset'] = ev.error_code
        r['refused'] = ev.error_code == 7
    elif isinstance(ev, h2.events.ConnectionTerminated):
        out['goaway'] = {'error_code': int(ev.error_code), 'last_stream_id': ev.last_stream_id}
        # streams above last_stream_id were never processed: they end now (the caller may retry)
        for s, x in streams.items():
            if s > ev.last_stream_id and not x['r']['ended'] and x['r']['reset'] is None:
                x['r']['reset'] = 7
                x['r']['refused'] = True


if __name__ == '__main__':
    main()
