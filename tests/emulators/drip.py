"""A hostile vendor that never finishes: it drips one byte at a time, for as long as the client stays.

It runs in a process of its own (`DripServer` starts it), so a test's thread and descriptor counts are the
client's alone. Modes:

- `headers`: the status line, then a header one byte at a time;
- `body`: complete headers (a 100 MB Content-Length), then the body one byte at a time;
- `body_until_close`: the same with `Connection: close` and no length (the body ends when the server closes);
- `handshake` (TLS only): the server's handshake flight one byte at a time, so the client is still in the
  TLS handshake.

With a certificate, every mode but `handshake` completes TLS first and then drips inside it. A connection
ends only when the client goes away (the server sees its FIN or reset) or the process is stopped.
"""

from __future__ import annotations

import argparse
import itertools
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

MODES = ("headers", "body", "body_until_close", "handshake")
ROOT = Path(__file__).resolve().parents[2]


class DripServer:
    """The drip server in a child process; `url` is where it listens."""

    def __init__(self, mode: str, *, interval: float = 2.0, cert_pem: str | None = None):
        if mode == "handshake" and not cert_pem:
            raise ValueError("the handshake mode needs a certificate")
        self.mode, self.interval, self.cert_pem = mode, interval, cert_pem
        self._process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> DripServer:
        command = [sys.executable, "-m", "tests.emulators.drip", self.mode, "--interval", str(self.interval)]
        if self.cert_pem:
            command += ["--cert", self.cert_pem]
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        port = int(self._process.stdout.readline())
        self.url = f"{'https' if self.cert_pem else 'http'}://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self._process.kill()
        self._process.wait(timeout=5)
        self._process.stdout.close()


def serve(mode: str, interval: float, cert_pem: str | None) -> None:
    context = None
    if cert_pem:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_pem)
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(conn, mode, interval, context), daemon=True).start()


def _serve(conn: socket.socket, mode: str, interval: float, context: ssl.SSLContext | None) -> None:
    try:
        if mode == "handshake":
            flight = _handshake_flight(conn, context)
            _drip(conn, (flight[i : i + 1] for i in range(len(flight))), interval)
            return
        if context is not None:
            conn = context.wrap_socket(conn, server_side=True)
        while _read_head(conn).startswith(b"HEAD ") and mode != "headers":
            # a connectivity probe (HEAD) gets a plain answer, so the drip meets the request that reads a body
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        if mode == "headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            _drip(conn, itertools.repeat(b"a"), interval)
        elif mode == "body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            _drip(conn, itertools.repeat(b" "), interval)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            _drip(conn, itertools.repeat(b" "), interval)
    except OSError:
        pass  # the client went away
    finally:
        conn.close()


def _read_head(conn: socket.socket) -> bytes:
    """One request's head (these clients send small bodies with the head, or none)."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(65536)
        if not data:
            raise ConnectionResetError
        head += data
    return head


def _handshake_flight(conn: socket.socket, context: ssl.SSLContext) -> bytes:
    """The bytes a TLS server answers a ClientHello with (ServerHello to Finished), made in memory."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=True)
    while True:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            if outgoing.pending:
                return outgoing.read()
            data = conn.recv(65536)
            if not data:
                raise ConnectionResetError from None
            incoming.write(data)


def _drip(conn: socket.socket, data: Iterable[bytes], interval: float) -> None:
    """One byte of `data` per `interval`, until the client closes its end."""
    for byte in data:
        conn.sendall(byte)
        if _client_gone(conn, time.monotonic() + interval):
            return
    _client_gone(conn, None)


def _client_gone(conn: socket.socket, until: float | None) -> bool:
    """Wait until `until` (None: for ever); True as soon as the client closes. What else it sends (the rest
    of a request body) is read and dropped."""
    while True:
        left = None if until is None else until - time.monotonic()
        if left is not None and left <= 0:
            return False
        readable, _, _ = select.select([conn], [], [], left)
        if readable and not conn.recv(65536):
            return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--cert", help="a PEM file with the private key and certificate chain: serve TLS")
    arguments = parser.parse_args()
    serve(arguments.mode, arguments.interval, arguments.cert)
