"""A vendor that misbehaves below HTTP: drips bytes, never ends a body, speaks garbage, resets, floods headers.

A raw socket server on loopback, one short-lived thread per connection; each thread ends as soon as the
client goes away (its next send fails), so tests can count threads and sockets after the client stops.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

MODES = ("drip_headers", "drip_body", "endless_body", "garbage", "reset", "huge_headers", "many_headers")


class HostileServer:
    def __init__(self, mode: str, *, interval: float = 0.05):
        self.mode = mode
        self.interval = interval
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._accepting.join()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def idle(self) -> bool:
        """No connection is being served any more."""
        return not any(thread.is_alive() for thread in self._threads)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            head = conn.recv(65536)  # the request head (enough for these tests)
            if head.startswith(b"HEAD ") and self.mode == "endless_body":
                # the connectivity probe gets a plain answer: an endless body after it would be read as the
                # next answer on the reused socket
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            getattr(self, f"_{self.mode}")(conn)
        except OSError:
            pass  # the client went away: this connection is done
        finally:
            conn.close()

    def _drip(self, conn: socket.socket, byte: bytes) -> None:
        while not self._stopped.is_set():
            conn.sendall(byte)
            time.sleep(self.interval)

    def _drip_headers(self, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self._drip(conn, b"a")

    def _drip_body(self, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        self._drip(conn, b" ")

    def _endless_body(self, conn):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n")
        conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not self._stopped.is_set():
            conn.sendall(frame)

    def _garbage(self, conn):
        conn.sendall(b"SSH-2.0-OpenSSH_9.6 definitely not HTTP\r\n\r\n")

    def _reset(self, conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST

    def _huge_headers(self, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")

    def _many_headers(self, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n")
