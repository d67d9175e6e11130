"""App latency in a real browser: headless Debian chromium driven by Playwright.

The server is started as the browser tests start it (``streamlit run`` on a free port, file
watcher off, a throwaway store, no ``IAF_DATA``), but here the clock starts when the process is
launched. Chromium is started first, so its own start-up is not counted.

*Cold start to first chart*: from launching ``streamlit run`` to the first Vega chart on the
page with its marks drawn and the script finished (a fresh server, so the demo data are
generated and analysed on this first visit, as a user's first visit after a restart does).

*Indicator change*: the sidebar "Indicator" combobox is driven as a user drives it (click, type
the code, click the option). The clock starts at the option's ``pointerdown`` event in the page
and stops at the first animation frame after the last DOM change of the rerun, once the script
has run (the script state showed "running" or a chart changed: React may batch a fast rerun's
two state changes into one render) and finished, no spinner or status widget shows, and the
page has then been quiet for :data:`QUIET_MS` (the quiet wait is not counted). Only
indicators that draw a funnel plot are picked, and each change reports whether a chart was
redrawn. Both clocks are the page's ``performance.now()``, so Playwright's own round trips
are not counted either.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.measure import REPO, app_picks, peak_bytes
from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, run_streamlit

VIEWPORT = {"width": 1600, "height": 1000}
QUIET_MS = 300
CHANGE_TIMEOUT_MS = 300_000
SHOTS = REPO / "artifacts" / "bench"
CHART = '[data-testid="stVegaLiteChart"]'

_FIRST_CHART_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"]'))
    return false;
  for (const c of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    if (c.offsetParent === null) continue;
    // SVG: count the point marks (one path per item of a symbol mark; legend symbols are
    // role-legend-symbol). Streamlit draws large charts on a canvas instead, which has no
    // marks to count: then take the number of areas from the explorer's caption ("6,412
    // areas plotted"; the chart's own description names no number, so that its spec stays
    // the same from one indicator to the next).
    const marks = c.querySelectorAll('g.mark-symbol.role-mark path').length;
    if (c.querySelector('svg') && marks > 0) return {marks: marks, renderer: 'svg'};
    const canvas = c.querySelector('canvas');
    if (canvas && canvas.width > 0) {
      const main = document.querySelector('[data-testid="stMain"]');
      const m = ((main && main.innerText) || '').match(/([0-9][0-9,]*) areas plotted/);
      return {marks: m ? Number(m[1].replace(/,/g, '')) : -1, renderer: 'canvas'};
    }
  }
  return false;
}"""

_ARM_JS = """() => {
  const b = window.__bench = {t0: null, seq: 0, last: null, painted: null, paintedSeq: -1,
                              ran: false, chart: false};
  const start = (e) => { if (b.t0 === null) b.t0 = e.timeStamp; };
  document.addEventListener('pointerdown', start, {capture: true, once: true});
  document.addEventListener('keydown', start, {capture: true, once: true});
  const inChart = (node) => node && node.nodeType === 1 &&
    (node.closest('[data-testid="stVegaLiteChart"]') ||
     node.querySelector('[data-testid="stVegaLiteChart"]'));
  b.obs = new MutationObserver((records) => {
    if (b.t0 === null) return;
    b.last = performance.now();
    const seq = ++b.seq;
    for (const r of records) {
      if (r.attributeName === 'data-test-script-state' &&
          r.target.getAttribute('data-test-script-state') === 'running') b.ran = true;
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (el && el.closest('[data-testid="stVegaLiteChart"]') &&
          (r.type === 'childList' || el instanceof SVGElement)) b.chart = true;
      if (r.type === 'childList' &&
          [...r.addedNodes, ...r.removedNodes].some(inChart)) b.chart = true;
      // New text in the main area (the app's header, the floor's caption) means the rerun's
      // output has arrived, even when it was too quick to show "running" and the chart is a
      // canvas (whose redraw changes no DOM): without this such a change never counted as done.
      if ((r.type === 'childList' || r.type === 'characterData') && el &&
          el.closest('[data-testid="stMain"]')) b.ran = true;
    }
    // The first frame after this change has been painted when a task queued from its rAF runs.
    requestAnimationFrame(() => setTimeout(() => {
      if (seq === b.seq) { b.painted = performance.now(); b.paintedSeq = seq; }
    }, 0));
  });
  b.obs.observe(document.body, {subtree: true, childList: true, attributes: true,
                                characterData: true});
}"""

_DONE_JS = """(quiet) => {
  const b = window.__bench;
  if (!b || b.t0 === null || !(b.ran || b.chart) || b.paintedSeq !== b.seq) return false;
  const app = document.querySelector('[data-testid="stApp"]');
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"]'))
    return false;
  if (performance.now() - b.last < quiet) return false;
  b.obs.disconnect();
  return {ms: b.painted - b.t0, chart: b.chart};
}"""


@contextlib.contextmanager
def server(script: str, workdir: Path, env: dict[str, str]) -> Iterator[tuple[str, Any, float]]:
    """``streamlit run script``; yield (url, process, launch time on the perf_counter clock)."""
    with run_streamlit(
        store=workdir / "store",
        log_path=workdir / "streamlit.log",
        script=script,
        env=env,
        startup_s=120,
        poll_s=0.05,
    ) as served:
        yield served


def _choose(page, typed: str) -> tuple[float, bool]:
    """Pick the first "Indicator" option matching ``typed``: milliseconds to the redrawn page,
    and whether a chart was redrawn."""
    box = page.locator('[data-testid="stSidebar"] input[role="combobox"][aria-label="Indicator"]')
    box.click()
    box.fill(typed)
    option = page.get_by_role("option").filter(has_text=typed).first
    option.wait_for(state="visible")
    page.evaluate(_ARM_JS)
    option.click()
    done = page.wait_for_function(_DONE_JS, arg=QUIET_MS, polling=50, timeout=CHANGE_TIMEOUT_MS)
    value = done.json_value()
    return float(value["ms"]), bool(value["chart"])


def measure(
    *,
    target: str,
    data: str,
    points: int,
    codes: list[str],
    changes: int,
    cold_timeout: float,
) -> dict[str, Any]:
    """Cold start and ``changes`` indicator changes for the app (or the floor page)."""
    from playwright.sync_api import sync_playwright

    if target == "app":
        script = "app.py"
        query = f"?ind={codes[0]}" + (f"&data={data}" if data != "demo" else "")
        first_path = f"/explorer{query}"
        picks = app_picks(codes, changes)
        env: dict[str, str] = {}
    else:
        script = "bench/floor_app.py"
        first_path = "/"
        picks = [f"option {1 + i % 59:02d}" for i in range(changes)]
        env = {"BENCH_FLOOR_POINTS": str(points)}
    name = f"{target}-{data}" if target == "app" else f"floor-{points}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="iaf-bench-") as tmp:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = chromium.new_context(viewport=VIEWPORT)
            page = context.new_page()
            with server(script, Path(tmp), env) as (url, proc, launched):
                healthy = time.perf_counter() - launched
                page.goto(url + first_path, timeout=int(cold_timeout * 1000))
                first = page.wait_for_function(
                    _FIRST_CHART_JS, polling="raf", timeout=int(cold_timeout * 1000)
                ).json_value()
                cold = time.perf_counter() - launched
                page.screenshot(path=str(SHOTS / f"{name}-first.png"))
                page.wait_for_timeout(1000)  # let the first page settle before timing changes
                timed = [_choose(page, typed) for typed in picks]
                page.screenshot(path=str(SHOTS / f"{name}-last.png"))
                server_peak = peak_bytes(proc.pid)
                log_text = (Path(tmp) / "streamlit.log").read_text(errors="replace")
        finally:
            chromium.close()
    return {
        "cold_start_s": cold,
        "server_ready_s": healthy,
        # The floor names no count (its chart may be a canvas, with no marks to count): it drew
        # ``points``.
        "marks": int(first["marks"]) if target == "app" else points,
        "renderer": first["renderer"],
        "changes_ms": [ms for ms, _ in timed],
        "charts_redrawn": sum(chart for _, chart in timed),
        "picks": picks,
        "server_peak_bytes": server_peak,
        "server_errors": log_text.count("Traceback"),
    }
