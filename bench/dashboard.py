"""Page weight and speed of the dashboard's map page on loopback: the 10 real stations and 500 synthetic ones.

    .venv/bin/python bench/dashboard.py [--data ../shared/data/real] [--n 500] [--requests 30] [--loads 5]
                                        [--target-s 1.0]

For each case: prepares a home in a temporary folder (real: ingests the station-CSV folder; synthetic: a registry
of `--n` stations over Kazakhstan), publishes a synthetic forecast with risk, serves the app with uvicorn on
127.0.0.1 at a free port (in a thread), then measures
- the server: `--requests` sequential GET / over one keep-alive connection (median, p95);
- the page weight: the HTML and everything it loads (stylesheets, scripts, the offline map layers), each fetched
  with `Accept-Encoding: gzip` as a browser would, counted as sent (gzipped where the server compresses) and raw;
- the browser (if /usr/bin/chromium exists): Playwright opens the page `--loads` times in a fresh context (no
  cache) and reads when the interactive map is ready: `#map-app[data-ready-ms]` (performance.now() when every layer
  has answered and the 500 stations are on the map, clustered) and the Navigation Timing `loadEventEnd`.
Prints one line per case and exits 1 if the map's readiness p95 (or, without chromium, the server p95) exceeds
--target-s. Bounded: a few dozen requests, loopback only; the server stops by itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def page_assets(html: str) -> list[str]:
    """The stylesheets, scripts and preloaded layers a dashboard page loads (same-origin paths)."""
    paths = re.findall(r'<link rel="stylesheet" href="(/[^"]+)"', html)
    paths += re.findall(r'<link rel="preload" href="(/[^"]+)"', html)
    paths += re.findall(r'<script src="(/[^"]+)"', html)
    return list(dict.fromkeys(paths))


def weight(client, html: str) -> dict[str, tuple[int, int]]:
    """{kind: (bytes sent, raw bytes)} of the page's assets by kind (css, js, layers), fetched with gzip."""
    out: dict[str, list[int]] = {}
    for path in page_assets(html):
        r = client.get(path, headers={"Accept-Encoding": "gzip"})
        r.raise_for_status()
        kind = "layers" if path.endswith(".geojson") else "js" if path.endswith(".js") else "css"
        acc = out.setdefault(kind, [0, 0])
        acc[0] += r.num_bytes_downloaded
        acc[1] += len(r.content)
    return {k: (v[0], v[1]) for k, v in out.items()}


def measure(settings, requests: int, loads: int) -> dict[str, float]:
    import httpx

    from tests.dashboard_support import LiveServer

    out: dict[str, float] = {}
    with LiveServer(settings) as srv:
        with httpx.Client(base_url=srv.url, timeout=30, headers={"Accept-Encoding": "gzip"}) as c:
            c.get("/")  # warm caches (metadata, outline, basins)
            times = []
            size = wire = 0
            html = ""
            for _ in range(requests):
                t0 = time.perf_counter()
                r = c.get("/")
                times.append(time.perf_counter() - t0)
                r.raise_for_status()
                size, wire, html = len(r.content), r.num_bytes_downloaded, r.text
            parts = weight(c, html)
        out.update(server_median=statistics.median(times), server_p95=_p95(times), html_kb=size / 1024,
                   wire_kb=wire / 1024)  # fmt: skip
        for kind in ("css", "js", "layers"):
            sent, raw = parts.get(kind, (0, 0))
            out[f"{kind}_kb"], out[f"{kind}_raw_kb"] = sent / 1024, raw / 1024
        out["total_kb"] = out["wire_kb"] + sum(out[f"{k}_kb"] for k in ("css", "js", "layers"))
        if Path(CHROMIUM).exists() and loads > 0:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                ready, lt = [], []
                for k in range(loads + 1):
                    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = ctx.new_page()
                    page.goto(srv.url + "/", wait_until="load")
                    page.wait_for_selector("#map-app[data-ready='1']", timeout=30000)
                    nav = page.evaluate(
                        "() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.loadEventEnd, Number(document.getElementById('map-app').dataset.readyMs),"
                        " Object.keys(window.TasqynMap.markers).length,"
                        " document.querySelectorAll('path.tq-basin').length]; }"
                    )
                    if k > 0:  # the first load warms the browser up
                        lt.append(nav[0] / 1000.0)
                        ready.append(nav[1] / 1000.0)
                    out["markers"], out["basin_paths"] = nav[2], nav[3]
                    ctx.close()
                browser.close()
            out.update(browser_median=statistics.median(lt), browser_p95=_p95(lt),
                       ready_median=statistics.median(ready), ready_p95=_p95(ready))  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    ap.add_argument("--n", type=int, default=500, help="synthetic stations")
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--loads", type=int, default=5, help="browser page loads per case (0: none)")
    ap.add_argument("--target-s", type=float, default=1.0)
    args = ap.parse_args()

    from forecasting.home import Home
    from tests import dashboard_support as ds

    failed = False
    with tempfile.TemporaryDirectory(prefix="tasqyn-bench-dash-") as tmp:
        cases = []
        if (args.data / "stations.csv").exists():
            h = ds.ingest_real(Home(Path(tmp) / "real"), args.data)
            st = ds.settings_for(h)
            ds.publish_synthetic(h, st)
            cases.append((f"real ({args.data.name}, 10 stations)", st))
        else:
            print(f"real data not found at {args.data}: skipping that case")
        h = ds.synthetic_registry(Home(Path(tmp) / "syn"), args.n)
        st = ds.settings_for(h)
        growth = {f"SYN{i:04d}": 1.05 for i in range(0, args.n, 7)}
        ds.publish_synthetic(h, st, issue_date=dt.date(2024, 3, 20), growth=growth)
        cases.append((f"synthetic ({args.n} stations)", st))
        for name, st in cases:
            m = measure(st, args.requests, args.loads)
            line = (
                f"{name:32s} server GET / median {m['server_median'] * 1000:6.1f} ms p95 "
                f"{m['server_p95'] * 1000:6.1f} ms | weight {m['total_kb']:.0f} KiB sent (gzip): HTML "
                f"{m['wire_kb']:.1f} ({m['html_kb']:.0f} raw), JS {m['js_kb']:.1f} ({m['js_raw_kb']:.0f}), CSS "
                f"{m['css_kb']:.1f} ({m['css_raw_kb']:.0f}), layers {m['layers_kb']:.1f} ({m['layers_raw_kb']:.0f})"
            )
            worst = m["server_p95"]
            if "browser_median" in m:
                line += (
                    f" | map ready median {m['ready_median']:.3f} s p95 {m['ready_p95']:.3f} s "
                    f"({m['markers']:.0f} stations, {m['basin_paths']:.0f} basins); load event median "
                    f"{m['browser_median']:.3f} s"
                )
                worst = m["ready_p95"]
            ok = worst < args.target_s
            failed |= not ok
            print(line + ("" if ok else f"  > target {args.target_s} s"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
