"""Load benchmark of the JSON API: GET /api/v1/basins and a station forecast at 50 concurrent clients; with
`--profile mixed` the basins list, a station forecast (JSON), its CSV and the map page (`/`).

    .venv/bin/python bench/api.py [--data ../shared/data/real] [--clients 50] [--requests 400] [--duration 60]
    nice -n 5 .venv/bin/python bench/api.py --profile mixed --duration 20

Prepares a home in a temporary folder (ingests the real station-CSV data, derives thresholds, publishes a
synthetic forecast to a SQLite database), starts `uvicorn` on 127.0.0.1 at a free port in a subprocess, then runs
`--clients` keep-alive HTTP/1.1 clients (asyncio streams: a thin client so that the numbers measure the server,
not the client) that alternate the two requests, each client sending `--requests` requests or stopping after
`--duration` seconds. Prints p50/p95/p99 latency per endpoint and overall, throughput, errors; exits 1 on errors or
when p95 exceeds --target-ms (default 25). Stops the server by itself. `--url` benchmarks a running server instead.

The mixed profile prints the same per endpoint plus requests/s per endpoint, the server's resident memory (all its
processes, /proc) before and after the load, and checks the targets of issue 12: p95 under --target-ms (50) for
each API endpoint and under --page-target-ms (150) for the map page, no error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare_home(data: Path, root: Path) -> tuple[str, str]:
    """Ingest `data`, publish a synthetic forecast with risk; returns (home path, database URL)."""
    from flows.ingest import run_ingest
    from forecasting.home import Home
    from forecasting.risk import add_risk
    from forecasting.storage import open_store, write_netcdf_atomic
    from forecasting.thresholds import station_thresholds
    from records.db import init_db, make_engine, make_session_factory, session_scope
    from records.publication import publish_forecast, save_thresholds
    from tests.synthetic import synthetic_forecast

    home = Home(root / "home").ensure()
    run_ingest(data, "station-csv", home)
    store = open_store(home.observations)
    thresholds, _ = station_thresholds(store)
    url = f"sqlite:///{home.database}"
    engine = make_engine(url)
    init_db(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        version = save_thresholds(s, thresholds)
    fc = add_risk(synthetic_forecast(store), thresholds, 0.3, threshold_version=version)
    path = home.forecasts_dir / fc.attrs["issue_date"] / "forecast-bench.nc"
    write_netcdf_atomic(fc, path)
    with session_scope(factory) as s:
        publish_forecast(s, fc, "bench", review_status="unreviewed", publish=True, forecast_path=str(path))
    engine.dispose()
    return str(home.root), url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen | None, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not listen on port {port} within {timeout:.0f} s")


def server_rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process and its children (uvicorn workers), from /proc."""
    total = 0.0
    pids = [pid]
    try:
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(p.name))
                except (OSError, IndexError, ValueError):
                    continue
        for q in pids:
            for line in Path(f"/proc/{q}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024.0
    except OSError:
        return float("nan")
    return total


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> int:
    accept = "application/json" if path.startswith("/api/") else "text/html"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


async def client(
    host: str, port: int, paths: list[str], n: int, deadline: float, out: dict[str, list[float]], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for i in range(n):
            if time.monotonic() > deadline:
                break
            path = paths[i % len(paths)]
            t0 = time.perf_counter()
            try:
                status = await _request(reader, writer, f"{host}:{port}", path)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors.append(f"{path}: {type(exc).__name__} {exc}")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            out[path].append((time.perf_counter() - t0) * 1000.0)
            if status != 200:
                errors.append(f"{path}: HTTP {status}")
    finally:
        writer.close()


async def run_load(host: str, port: int, paths: list[str], clients: int, n: int, duration: float):
    out: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    # warm-up on as many connections as the run uses, so every worker process has loaded its caches
    warm: dict[str, list[float]] = {p: [] for p in paths}
    warm_errors: list[str] = []
    await asyncio.gather(
        *(client(host, port, paths, 2 * len(paths), time.monotonic() + 60, warm, warm_errors) for _ in range(clients))
    )
    deadline = time.monotonic() + duration
    t0 = time.perf_counter()
    # stagger the clients' first request so they do not all start in the same instant
    await asyncio.gather(
        *(
            client(host, port, paths[k % len(paths) :] + paths[: k % len(paths)], n, deadline, out, errors)
            for k in range(clients)
        )
    )
    return out, errors, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=400, help="requests per client")
    ap.add_argument("--duration", type=float, default=60.0, help="stop after this many seconds")
    ap.add_argument("--station", default=None, help="station of the forecast request (default: the first)")
    ap.add_argument("--profile", choices=("api", "mixed"), default="api", help="api or mixed (+ CSV, map)")
    ap.add_argument("--target-ms", type=float, default=None, help="p95 target of the API (25 ms; mixed: 50 ms)")
    ap.add_argument("--page-target-ms", type=float, default=150.0, help="p95 target of the map page (mixed)")
    ap.add_argument("--url", default=None, help="benchmark a running server (http://host:port) instead")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = ap.parse_args()

    proc = None
    tmp = None
    try:
        if args.url:
            hostport = args.url.split("://", 1)[-1].rstrip("/")
            host, port = hostport.split(":")[0], int(hostport.split(":")[1])
            station = args.station or "CH2232"
        else:
            tmp = tempfile.TemporaryDirectory(prefix="tasqyn-bench-")
            t0 = time.perf_counter()
            home, url = prepare_home(args.data, Path(tmp.name))
            print(f"prepared home {home} in {time.perf_counter() - t0:.1f} s", flush=True)
            host, port = "127.0.0.1", free_port()
            env = {**os.environ, "TASQYN_HOME": home, "TASQYN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
            cmd = [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app", "--host", host]
            cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(args.workers)]
            cmd += ["--no-server-header", "--no-date-header"]
            proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT))
            wait_ready(port, proc)
            from forecasting.storage import open_store

            station = args.station or str(open_store(Path(home) / "store" / "observations.nc")["station"].values[0])
        paths = ["/api/v1/basins", f"/api/v1/stations/{station}/forecast"]
        if args.profile == "mixed":
            paths += [f"/api/v1/stations/{station}/forecast.csv", "/"]
        rss_before = server_rss_mb(proc.pid) if proc is not None else float("nan")
        print(
            f"{args.clients} clients x {args.requests} requests (at most {args.duration:.0f} s) on http://{host}:{port}",
            flush=True,
        )
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        out, errors, wall = runner(run_load(host, port, paths, args.clients, args.requests, args.duration))
        rss_after = server_rss_mb(proc.pid) if proc is not None else float("nan")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp is not None:
            tmp.cleanup()

    total = sum(len(v) for v in out.values())
    target = args.target_ms if args.target_ms is not None else (50.0 if args.profile == "mixed" else 25.0)
    print(f"{'endpoint':45s} {'n':>7s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    p95 = {}
    for p, lat in [*out.items(), ("all", [x for v in out.values() for x in v])]:
        a = np.asarray(lat)
        if a.size:
            q = np.percentile(a, [50, 95, 99])
            p95[p] = q[1]
            print(f"{p:45s} {a.size:7d} {a.size / wall:7.0f} {q[0]:8.2f} {q[1]:8.2f} {q[2]:8.2f} {a.max():8.2f}")
    print(f"throughput {total / wall:.0f} requests/s over {wall:.1f} s; errors: {len(errors)}")
    for e in errors[:10]:
        print(f"  error {e}")
    if args.profile == "mixed":
        print(f"server memory: {rss_before:.0f} MB before, {rss_after:.0f} MB after the load")
        checks = [(p, p95.get(p, float("inf")), args.page_target_ms if p == "/" else target) for p in out]
    else:
        checks = [("all", p95.get("all", float("inf")), target)]
    ok = not errors
    for p, v, t in checks:
        print(f"p95 {p}: {v:.2f} ms vs target {t:.0f} ms: {'PASS' if v <= t else 'FAIL'}")
        ok = ok and v <= t
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
