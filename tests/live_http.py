"""A real served process and a thin HTTP/1.1 client for the flood and timeout tests (loopback only, bounded).

`ServedProcess` runs `tasqyn serve` (flows.cli) on 127.0.0.1 in a subprocess of its own session, so the tests can
read its resident memory and kill it; `Conn` is a keep-alive asyncio connection with `request()` returning
(status, headers, body), cheap enough that 40 of them in one test process measure the server, not the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedProcess:
    """`tasqyn serve --home HOME --port PORT` in a subprocess; `env` adds TASQYN_* settings."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, database_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = Path(home)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        if database_url:
            self.env["TASQYN_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen | None = None
        self.log = self.home.parent / f"serve-{self.port}.log"

    def __enter__(self) -> ServedProcess:
        cmd = [sys.executable, "-c", "from flows.cli import main; main()", "serve", "--home", str(self.home)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        self._log = open(self.log, "wb")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(
            cmd, env=self.env, cwd=str(ROOT), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("the server did not listen within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def rss_mb(self) -> float:
        """The server process's resident memory (MB, /proc/<pid>/status VmRSS)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")


class Conn:
    """One keep-alive HTTP/1.1 connection (reconnects after the server closed it)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        body = urlencode(form).encode() if form is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if form is not None:
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in range(2):
            if self.writer is None:
                await self._open()
            try:
                self.writer.write(raw)
                await self.writer.drain()
                return await self._response()
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                headers[k] = f"{headers[k]}, {v.strip()}" if k in headers and k != "set-cookie" else v.strip()
                if k == "set-cookie":
                    headers.setdefault("set-cookies", "")
                    headers["set-cookies"] += v.strip() + "\n"
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                body += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body


def cookie_value(headers: dict[str, str], name: str) -> str | None:
    """The value a response sets for cookie `name` (None if it sets none)."""
    for line in headers.get("set-cookies", "").splitlines():
        k, _, rest = line.partition("=")
        if k.strip() == name:
            return rest.split(";", 1)[0]
    return None
