"""Test HTTP API for the ejabberd end-to-end test.

A small JSON API on 127.0.0.1 that speaks xmpp-extauth's JSON contract:
``POST /{endpoint}`` with ``{"username", "user", "server", "password"?}`` and an answer
``{"success": bool}``. It keeps users in memory, records every request (path, JSON body and,
when asked, the OS pid of the process that sent it) and can be switched "down" (socket closed:
connection refused), "503" (HTTP 503 to every request) or "slow" (sleeps before answering).

Standard library only, so it runs under Debian's /usr/bin/python3.

It is separate from the TypeScript tests' fake API (tests/helpers/api_server.ts) by design: the
e2e runs beside a real ejabberd as root and needs no Deno or Bun but the compiled binary under
test, and it answers questions only the e2e asks (which OS process sent a request, for the pool
cases).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def peer_pid(local_port: int, peer_port: int) -> int | None:
    """Return the pid of the local process owning the TCP socket 127.0.0.1:peer_port that is
    connected to 127.0.0.1:local_port (needs root or the same user to read /proc/PID/fd)."""
    inode = None
    try:
        with open("/proc/net/tcp", encoding="ascii") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, node = fields[1], fields[2], fields[9]
                if local == f"0100007F:{peer_port:04X}" and remote == f"0100007F:{local_port:04X}":
                    inode = node
                    break
    except OSError:
        return None
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") == target:
                        return int(entry)
                except OSError:
                    continue
        except OSError:
            continue
    return None


class TestApi:
    """In-memory user store behind an HTTP JSON API; see the module docstring."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.users: dict[str, str] = {}
        self.requests: list[dict] = []
        self.mode = "up"  # up | 503 | slow
        # setpass to one of these passwords is refused: {"success": false}
        self.refused_passwords: set[str] = set()
        self.slow_seconds = 10.0
        self.track_pids = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Listen on host:port (again after stop())."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with api._lock:
                    api._conns.add(self.connection)

            def finish(self) -> None:
                with api._lock:
                    api._conns.discard(self.connection)
                super().finish()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: request bodies carry passwords

            def do_POST(self) -> None:  # noqa: N802
                api._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                api._reply(self, 404, {"success": False, "message": "POST only"})

        deadline = time.monotonic() + 10
        while True:
            try:
                self._server = ThreadingHTTPServer((self.host, self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go down: close the listening socket (new connections are refused until start()) and
        every open (keep-alive) connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- bookkeeping -----------------------------------------------------------------------
    def mark(self) -> int:
        """Index to pass to since() to see only the requests that arrive after this call."""
        with self._lock:
            return len(self.requests)

    def since(self, mark: int) -> list[dict]:
        with self._lock:
            return list(self.requests[mark:])

    # --- HTTP ------------------------------------------------------------------------------
    def _reply(self, h: BaseHTTPRequestHandler, status: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the program gave up on this request (slow mode)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        entry = {
            "path": h.path,
            "body": body,
            "content_type": h.headers.get("Content-Type"),
            "mode": self.mode,
            "time": time.monotonic(),
            "pid": peer_pid(self.port, h.client_address[1]) if self.track_pids else None,
        }
        with self._lock:
            self.requests.append(entry)
        if self.mode == "503":
            self._reply(h, 503, {"success": False, "message": "maintenance"})
            return
        if self.mode == "slow":
            time.sleep(self.slow_seconds)
        if not isinstance(body, dict) or not isinstance(body.get("username"), str):
            self._reply(h, 400, {"success": False, "message": "bad request"})
            return
        endpoint = h.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        jid = body["username"]
        password = body.get("password")
        with self._lock:
            exists = jid in self.users
            if endpoint == "login":
                ok = exists and self.users[jid] == password
            elif endpoint == "exists":
                ok = exists
            elif endpoint == "setpass":
                ok = exists and isinstance(password, str) and password not in self.refused_passwords
                if ok:
                    self.users[jid] = password
            elif endpoint == "tryregister":
                ok = not exists and isinstance(password, str)
                if ok:
                    self.users[jid] = password
            elif endpoint == "removeuser":
                ok = exists
                if ok:
                    del self.users[jid]
            elif endpoint == "removeuser3":
                ok = exists and self.users[jid] == password
                if ok:
                    del self.users[jid]
            else:
                self._reply(h, 404, {"success": False, "message": "no such endpoint"})
                return
        self._reply(h, 200, {"success": ok})
