#!/usr/bin/python3
"""An h2c server (python3-h2) that sends GOAWAY while streams are in flight, for t/66.

  /usr/bin/python3 h2_goaway_server.py PORT

Each connection answers "conn N stream S" (N counts connections from 1). When two or more
requests are waiting on a connection, it answers the first, sends GOAWAY with that stream as
the last one processed (the others were not processed: a client may retry them anywhere), and
closes the connection a moment later. A lone request is answered after 300 ms of quiet. A request for a path that ends with /echo is
answered at once with its fields, one "name: value" line each, as they arrived; one for a path
that ends with /s503 with a 503, and /hints with a 103 Early Hints before its 200.
"""
import socket, sys, threading, time
import h2.config, h2.connection, h2.events

count = 0
lock = threading.Lock()


def respond(conn, sid, n, body=None, status="200"):
    if body is None:
        body = ("conn %d stream %d\n" % (n, sid)).encode()
    conn.send_headers(sid, [(":status", status), ("content-length", str(len(body)))])
    conn.send_data(sid, body, end_stream=True)


def handle(sock, n):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sock.settimeout(0.3)
    pending = []
    fields = {}
    try:
        while True:
            try:
                data = sock.recv(65536)
                if not data:
                    break
            except socket.timeout:
                data = None
            if data:
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        fields[ev.stream_id] = ev.headers
                    if isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        hs = fields.pop(ev.stream_id, [])
                        path = dict(hs).get(b":path", b"")
                        if path.split(b"?")[0].endswith(b"/echo"):
                            respond(conn, ev.stream_id, n, b"".join(k + b": " + v + b"\n" for k, v in hs))
                        elif path.split(b"?")[0].endswith(b"/hints"):
                            conn.send_headers(ev.stream_id, [(":status", "103"), ("link", "</a.css>; rel=preload")])
                            respond(conn, ev.stream_id, n, b"hinted\n")
                        elif path.split(b"?")[0].endswith(b"/s503"):
                            respond(conn, ev.stream_id, n, b"busy\n", "503")
                        else:
                            pending.append(ev.stream_id)
            if len(pending) >= 2:
                respond(conn, pending[0], n)
                conn.close_connection(last_stream_id=pending[0])
                sock.sendall(conn.data_to_send())
                time.sleep(0.3)
                break
            if pending and data is None:
                for sid in pending:
                    respond(conn, sid, n)
                pending = []
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except OSError:
        pass
    sock.close()


def main(port):
    global count
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    print("listening on 127.0.0.1:%d" % port, flush=True)
    while True:
        s, _ = ls.accept()
        with lock:
            count += 1
            n = count
        threading.Thread(target=handle, args=(s, n), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
