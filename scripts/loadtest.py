"""Load test: many concurrent sessions clicking through IAF Explorer on loopback.

Starts ``streamlit run app.py`` on a free port (output captured to
``artifacts/loadtest/streamlit.log``) and warms it once in a real browser (the first analysis of
the demo data takes several seconds). Then one session clicks alone for a short while, and then
``--sessions`` sessions click at once for ``--duration`` seconds: ``--browsers`` of them in
headless Debian chromium (Playwright's async API, one browser context each) and the rest through
Streamlit's own websocket protocol, the messages the browser sends — the server runs the real
page scripts and sends every element and chart; the client reads them but does not draw. (One
heavy page costs a browser many seconds of CPU to draw, so twenty browsers on a small machine
would measure the browsers, not the server.)

Every session follows the same kind of journey, with random choices and a short pause between
actions: open the Overview, pick a period, go to the Indicator explorer, pick an indicator and a
period in the sidebar, open an area's profile by a shared link (sometimes a CCG that has since
merged), pick another area, go to Trends and to Compare, open a shared explorer link, click a
point on its funnel plot.

A page time runs from the click (or the start of the navigation) until the page is done: for a
protocol session, until the script's "finished" message has arrived with every element; for a
browser, until the script has finished, no spinner shows, the page is drawn (a chart is on
screen) and its title and "Link to this view" (written by the last line of every page script)
show the new state. An action fails on an exception, an error alert (the app's "Something went
wrong … error id …" or any ``st.error``), a browser console error or uncaught page error, a
crashed page, a lost connection, a page that does not show what was asked for, or a timeout;
tracebacks in the server log count as errors too. The server's resident memory (VmRSS of its
process tree, from /proc) is sampled every second.

Prints a table (actions, errors, p50/p95/max page time per action and overall, server memory and
CPU) and writes it to ``docs/LOADTEST.md``. Exits 1 if there was any error.

Run it with ``./scripts/loadtest.sh`` (installs the test tools and chromium first) or
``.venv/bin/python -m scripts.loadtest --sessions 20 --duration 90``; ``--ref HEAD`` tests a clean
copy of a commit instead of the working tree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # ``python scripts/loadtest.py`` as well as ``-m scripts.loadtest``
    sys.path.insert(0, str(REPO))

import websockets  # noqa: E402
from playwright.async_api import Browser, Page, async_playwright  # noqa: E402
from playwright.async_api import Error as PlaywrightError  # noqa: E402
from playwright.async_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, run_streamlit  # noqa: E402

OUT = REPO / "artifacts" / "loadtest"
REPORT = REPO / "docs" / "LOADTEST.md"
STARTUP_S = 60
WARM_S = 240  # the first visit generates and analyses the demo data
VIEWPORT = {"width": 1400, "height": 900}
SIDEBAR = '[data-testid="stSidebar"]'
ERROR_ID = re.compile(r"error id ([0-9a-f]{8})")

# Console errors that are not the app's: resources from other hosts (this machine is offline; the
# page icon is a Material Symbol that Streamlit fetches from fonts.gstatic.com) and Streamlit's
# own probes of a deep link's path as a base URL (``/explorer/_stcore/health`` and
# ``…/host-config`` answer 404 before the frontend falls back to ``/``). Counted, reported, not
# errors.
PROBE_404 = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")
IGNORED: Counter[str] = Counter()

# Evaluated in the page until it returns a string: "ok" once the page is idle and shows what the
# action expects, or a description of an error on screen. Checked every 100 ms.
IDLE_JS = """
(exp) => {
  const text = (el, n) => (el.innerText || el.textContent || '').trim().slice(0, n);
  const exc = document.querySelector('[data-testid="stException"]');
  if (exc) return 'error: Streamlit exception box: ' + text(exc, 600);
  for (const a of document.querySelectorAll('[data-testid="stAlertContentError"]')) {
    return 'error: error alert: ' + text(a, 400);
  }
  for (const d of document.querySelectorAll('[role="dialog"], [data-testid="stDialog"]')) {
    const t = text(d, 300);
    if (/connection error|is streamlit still running/i.test(t)) return 'error: ' + t;
  }
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stSpinner"]')) return false;
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  if (exp.h1 && ![...main.querySelectorAll('h1')].some(e => e.textContent.includes(exp.h1))) {
    return false;
  }
  const links = [...main.querySelectorAll('[data-testid="stCode"]')].map(e => e.textContent);
  for (const part of exp.link) if (!links.some(t => t.includes(part))) return false;
  if (exp.chart && !main.querySelector(
      '[data-testid="stVegaLiteChart"] svg, [data-testid="stVegaLiteChart"] canvas')) {
    return false;
  }
  return 'ok';
}
"""


# ── what the sessions click ──────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Catalogue:
    """Areas, indicators and periods of the demo data, to pick realistic clicks from."""

    areas: list[str]  # codes with data in the latest period
    merged: dict[str, str]  # predecessor code -> successor code (a link to it opens the successor)
    indicators: list[str]
    counted: set[str]  # indicators with counts: the explorer opens on their funnel plot
    periods: dict[str, list[str]]  # indicator -> its period labels, oldest first
    report_periods: list[str]  # the Overview's "Reporting period" options (quarters)


def demo_catalogue() -> Catalogue:
    """What the app shows on the demo data (the same calls as ui.demo_dataset)."""
    from iaf import demo, sources

    raw = demo.generate()
    ds = sources.on_current_structure(raw)
    values = ds.values
    merged = {str(r["from"]): str(r["to"]) for _, r in raw.mergers.iterrows()}
    areas = sorted(set(values["area_code"].astype(str)) - set(merged))
    periods = {}
    for code, rows in values.groupby(values["indicator"].astype(str), observed=True):
        labels = rows.drop_duplicates("period").sort_values("period_end")["period"]
        periods[str(code)] = [str(p) for p in labels]
    inds = [i.code for i in ds.indicators() if i.code in periods]
    quarters = sorted(
        {str(p) for p in values["period"].astype(str) if re.fullmatch(r"\d{4}/\d\d Q\d", p)}
    )
    counted = {i.code for i in ds.indicators() if i.code in periods and i.has_counts}
    return Catalogue(areas, merged, inds, counted, periods, quarters)


def exact(text: str) -> str:
    """An option whose whole text is ``text`` (a period label is a prefix of its windows)."""
    return rf"^\s*{re.escape(text)}\s*$"


@dataclass(frozen=True)
class Step:
    """One user action and what the page must show afterwards."""

    kind: str  # the row of the report
    op: str  # open (a link, a fresh page load) | nav (sidebar link) | pick (selectbox) | chart
    target: str = ""  # open: path?query; nav: url path; pick: the box's label; chart: its key
    option: str = ""  # pick: regex of the option's text; chart: the area code clicked
    typed: str = ""  # pick: what a person types into the box
    h1: str = ""
    link: tuple[str, ...] = ()
    chart: bool = True


def journey(cat: Catalogue, rng: random.Random, *, anywhere: bool = False):
    """Rounds of realistic clicks, forever; after an error the caller starts a new round.

    With ``anywhere`` the first round starts at a random one of its three page loads (the
    Overview, a shared profile link, a shared explorer link): people arrive by shared links too,
    and the sessions do not all queue for the same page at the start.
    """
    first = True
    while True:
        steps = list(_round(cat, rng))
        if first and anywhere:
            starts = [i for i, step in enumerate(steps) if step.op == "open"]
            steps = steps[rng.choice(starts) :]
        first = False
        yield from steps


def _round(cat: Catalogue, rng: random.Random):
    """One round of the journey."""
    yield Step("open /", "open", "/", h1="Overview", link=("/overview?",))
    p = rng.choice(cat.report_periods[-8:-1])
    yield Step(
        "overview: pick period",
        "pick",
        "Reporting period",
        exact(p),
        p,
        h1="Overview",
        link=(f"period={p}&",),
    )
    yield Step("nav: explorer", "nav", "explorer", h1="Indicator explorer", link=("/explorer?",))
    ind = rng.choice(cat.indicators)
    yield Step(
        "explorer: pick indicator",
        "pick",
        "Indicator",
        rf"^{ind}\b",
        ind,
        h1="Indicator explorer",
        link=(f"/explorer?ind={ind}&",),
        # A score or milestone has no funnel plot: the open tab says so and draws nothing.
        chart=ind in cat.counted,
    )
    options = cat.periods[ind]
    p = rng.choice(options[:-1]) if len(options) > 1 else options[0]
    yield Step(
        "explorer: pick period",
        "pick",
        "Period",
        exact(p),
        p,
        h1="Indicator explorer",
        link=(f"ind={ind}&iperiod={p}&",),
        chart=ind in cat.counted,
    )
    if rng.random() < 0.15 and cat.merged:  # a shared link to a CCG that has since merged
        area = rng.choice(sorted(cat.merged))
        shown = cat.merged[area]
    else:
        area = shown = rng.choice(cat.areas)
    yield Step(
        "link: /profile?area=…",
        "open",
        f"/profile?area={area}",
        h1="CCG profile",
        link=(f"/profile?area={shown}&",),
    )
    other = rng.choice([a for a in cat.areas if a != shown])
    yield Step(
        "profile: pick area",
        "pick",
        "Area (type a name or code)",
        rf"\({other}\)\s*$",
        other,
        h1="CCG profile",
        link=(f"/profile?area={other}&",),
    )
    yield Step("nav: trends", "nav", "trends", h1="Trends", link=("/trends?",))
    yield Step("nav: compare", "nav", "compare", h1="Compare with peers", link=("/compare?",))
    code, area, cmp = rng.choice([("123a", "Z07", "region"), ("127c", "Z18", "stp")])
    latest = cat.periods[code][-1]
    yield Step(
        "link: /explorer?ind=…&cmp=…",
        "open",
        f"/explorer?ind={code}&cmp={cmp}&iperiod={quote(latest, safe='')}",
        h1="Indicator explorer",
        link=(f"/explorer?ind={code}&", f"cmp={cmp}&"),
    )
    yield Step(
        "funnel: click a point",
        "chart",
        "funnel",
        area,
        h1="CCG profile",
        link=(f"/profile?area={area}&",),
    )


@dataclass
class Result:
    session: int
    client: str  # browser | protocol
    phase: str
    kind: str
    seconds: float
    error: str = ""
    url: str = ""


class Session:
    """One simulated person, clicking in a loop until a deadline."""

    client = "?"

    def __init__(self, number: int, url: str, cat: Catalogue, args, phase: str):
        self.n, self.url, self.cat, self.args, self.phase = number, url, cat, args, phase
        self.rng = random.Random(f"{args.seed}-{phase}-{number}")
        self.results: list[Result] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def perform(self, step: Step) -> str:
        """Do ``step`` and wait until the page is done; return "" or an error."""
        raise NotImplementedError

    def where(self) -> str:
        return ""

    async def act(self, step: Step) -> bool:
        t0 = time.perf_counter()
        try:
            error = await asyncio.wait_for(self.perform(step), self.args.timeout)
        except TimeoutError:
            error = f"timeout: not done after {self.args.timeout:g} s"
        seconds = time.perf_counter() - t0
        self.results.append(
            Result(self.n, self.client, self.phase, step.kind, seconds, error, self.where())
        )
        if error:
            await self.failed(step, error)
        return not error

    async def failed(self, step: Step, error: str) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        stamp = f"{self.phase}_s{self.n:02d}_{len(self.results):03d}_{step.kind}"
        stamp = re.sub(r"[^\w.-]+", "_", stamp).strip("_")
        (OUT / f"{stamp}.txt").write_text(f"{self.client} {self.where()}\n{error}\n")

    async def think(self) -> None:
        mean = self.args.think
        await asyncio.sleep(self.rng.uniform(0.5 * mean, 1.5 * mean) if mean > 0 else 0)

    async def run_until(self, deadline: float) -> None:
        steps = journey(self.cat, self.rng, anywhere=True)
        while time.monotonic() < deadline:
            if not await self.act(next(steps)):
                steps = journey(self.cat, self.rng)  # start afresh on the Overview
            if time.monotonic() < deadline:
                await self.think()


class BrowserSession(Session):
    """A browser context in the shared chromium: a real page, drawn, with its console watched."""

    client = "browser"

    def __init__(self, number, url, cat, args, phase, browser: Browser):
        super().__init__(number, url, cat, args, phase)
        self.browser = browser
        self.page: Page | None = None
        self.problems: list[str] = []

    async def open(self) -> None:
        context = await self.browser.new_context(viewport=VIEWPORT, base_url=self.url)
        context.set_default_timeout(self.args.timeout * 1000)
        self.page = await context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("crash", lambda _: self.problems.append("page crashed"))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and (
            not where.startswith(self.url) or PROBE_404.match(where[len(self.url) :])
        ):
            shown = re.sub(r"[?#].*", "", where).removeprefix(self.url) or where
            IGNORED[f"{msg.text[:80]} {shown}"] += 1
            return
        self.problems.append(f"console error: {msg.text[:300]} {where}".rstrip())

    async def close(self) -> None:
        if self.page is not None:
            with contextlib.suppress(PlaywrightError):
                await self.page.context.close()

    def where(self) -> str:
        return self.page.url if self.page and not self.page.is_closed() else ""

    async def perform(self, step: Step) -> str:
        self.problems.clear()
        page = self.page
        try:
            if step.op == "open":
                await page.goto(step.target)
            elif step.op == "nav":
                await page.locator(
                    f"{SIDEBAR} [data-testid='stSidebarNav'] a[href$='/{step.target}']"
                ).first.click()
            elif step.op == "pick":
                box = page.locator(f'{SIDEBAR} input[role="combobox"][aria-label="{step.target}"]')
                await box.click()
                await box.fill(step.typed)
                pick = page.get_by_role("option").filter(has_text=re.compile(step.option)).first
                await pick.click()  # the page time starts here in a person's eyes, but the
                # typing is the browser's alone: it costs the server nothing
            elif step.op == "chart":
                chart = page.locator("[data-testid='stVegaLiteChart']")
                mark = chart.locator(
                    f"[role='graphics-symbol'][aria-label*='Code: {step.option};']"
                ).first
                await mark.scroll_into_view_if_needed()
                await mark.click()
            handle = await page.wait_for_function(
                IDLE_JS,
                arg={"h1": step.h1, "link": list(step.link), "chart": step.chart},
                polling=100,
                timeout=self.args.timeout * 1000,
            )
            state = await handle.json_value()
        except PlaywrightTimeout:
            return f"timeout: not done after {self.args.timeout:g} s"
        except PlaywrightError as exc:
            return f"browser: {str(exc).splitlines()[0][:300]}"
        if state != "ok":
            return state.removeprefix("error: ")
        return "; ".join(dict.fromkeys(self.problems))

    async def failed(self, step: Step, error: str) -> None:
        await super().failed(step, error)
        stamp = f"{self.phase}_s{self.n:02d}_{len(self.results):03d}_{step.kind}"
        stamp = re.sub(r"[^\w.-]+", "_", stamp).strip("_")
        with contextlib.suppress(PlaywrightError):
            await self.page.screenshot(path=str(OUT / f"{stamp}.png"))
        if self.page.is_closed() or "crashed" in error:
            await self.close()
            await self.open()


class ProtocolSession(Session):
    """Streamlit's websocket protocol, as the browser speaks it, without drawing.

    Sends the browser's messages (a rerun with the page, its query string and the changed
    widget's value) and reads every message back: headings, the "Link to this view" code block,
    charts, alerts, exceptions, the page's new query string and the widgets (id and options) it
    may change next.
    """

    client = "protocol"

    def __init__(self, number, url, cat, args, phase):
        super().__init__(number, url, cat, args, phase)
        self.ws = None
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self.path = "/"
        self.query = ""
        self.widgets: dict[str, tuple[str, list[str]]] = {}  # label or chart key -> id, options

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None

    def where(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    async def connect(self) -> None:
        await self.close()
        ws_url = "ws" + self.url.removeprefix("http") + "/_stcore/stream"
        self.ws = await websockets.connect(
            ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.args.timeout
        )

    async def perform(self, step: Step) -> str:
        msg = BackMsg()
        rerun = msg.rerun_script
        try:
            if step.op == "open":  # a pasted link or a reload: a new page, so a new session
                await self.connect()
                split = urlsplit(step.target)
                self.path, self.query = split.path, split.query
                rerun.page_name = split.path.strip("/")
                rerun.query_string = split.query
            elif step.op == "nav":
                self.page_hash = self.pages[step.target]
                self.path, self.query = f"/{step.target}", ""
                rerun.page_script_hash = self.page_hash
            else:
                rerun.page_script_hash = self.page_hash
                rerun.query_string = self.query
                wid, options = self.widgets[step.target]
                state = rerun.widget_states.widgets.add()
                state.id = wid
                if step.op == "pick":
                    match = [o for o in options if re.search(step.option, o)]
                    if not match:
                        return f"no option matching {step.option!r} in {step.target!r}"
                    state.string_value = match[0]
                else:  # a click on a chart point, as the browser reports it
                    pick = {"selection": {"pick": [{"area_code": step.option}]}}
                    state.string_value = json.dumps(pick)
            await self.ws.send(msg.SerializeToString())
            return await self.receive(step)
        except KeyError as exc:
            return f"the page showed no {exc} to click"
        except websockets.ConnectionClosed as exc:
            self.ws = None
            return f"connection lost: {exc}"
        except OSError as exc:
            return f"connection failed: {exc}"

    async def receive(self, step: Step) -> str:
        headings, links, charts, errors = [], [], 0, []
        widgets: dict[str, tuple[str, list[str]]] = {}
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await self.ws.recv())
            kind = fm.WhichOneof("type")
            if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                what = el.WhichOneof("type")
                if what == "heading" and el.heading.tag == "h1":
                    headings.append(el.heading.body)
                elif what == "code":
                    links.append(el.code.code_text)
                elif what == "vega_lite_chart":
                    charts += 1
                    widgets[el.vega_lite_chart.id.rsplit("-", 1)[-1]] = (el.vega_lite_chart.id, [])
                elif what in ("selectbox", "radio"):
                    w = getattr(el, what)
                    widgets[w.label] = (w.id, list(w.options))
                elif what == "alert" and el.alert.format == el.alert.ERROR:
                    errors.append(f"error alert: {el.alert.body[:400]}")
                elif what == "exception":
                    errors.append(
                        f"Streamlit exception: {el.exception.type} {el.exception.message[:300]}"
                    )
            elif kind == "page_info_changed":
                self.query = fm.page_info_changed.query_string
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fm.navigation.app_pages}
                self.page_hash = fm.navigation.page_script_hash
                path = next(
                    (p for p, h in self.pages.items() if h == self.page_hash), self.path[1:]
                )
                self.path = f"/{path}"
            elif kind == "page_not_found":
                errors.append(f"page not found: {fm.page_not_found.page_name}")
            elif kind == "script_finished":
                if fm.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    errors.append("script compile error")
                if fm.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
        self.widgets = widgets
        if errors:
            return "; ".join(errors)
        missing = []
        if step.h1 and not any(step.h1 in h for h in headings):
            missing.append(f"title {step.h1!r} (got {headings})")
        missing += [f"link part {p!r}" for p in step.link if not any(p in t for t in links)]
        if step.chart and not charts:
            missing.append("a chart")
        return f"page lacks {', '.join(missing)} (links: {links})" if missing else ""


# ── the server and its memory ────────────────────────────────────────────────────────────
def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc/<pid>/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    todo += [
                        int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()
                    ]
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children in MB (VmRSS from /proc)."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in _tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Sampler:
    """Samples the server's RSS every second; ``mark`` names the phase the samples belong to."""

    def __init__(self, pid: int):
        self.pid, self.phase, self.samples = pid, "idle", []
        self._task: asyncio.Task | None = None

    async def _loop(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.phase, rss_mb(self.pid)))
            await asyncio.sleep(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def peak(self, phase: str) -> float:
        values = [m for _, p, m in self.samples if p == phase]
        return max(values) if values else float("nan")

    def last(self, phase: str) -> float:
        values = [m for _, p, m in self.samples if p == phase]
        return values[-1] if values else float("nan")


@contextlib.contextmanager
def server(root: Path, workdir: Path):
    """``streamlit run app.py`` in ``root`` on a free port; yields (url, process, log path)."""
    log_path = OUT / "streamlit.log"
    with run_streamlit(
        store=workdir / "store", log_path=log_path, cwd=root, startup_s=STARTUP_S
    ) as (url, proc, _):
        yield url, proc, log_path


def server_errors(log_path: Path) -> list[str]:
    """Tracebacks and logged errors in the server log (each with its error id, if any)."""
    blocks: list[list[str]] = [[]]
    for line in log_path.read_text(errors="replace").splitlines():
        if re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|unexpected error)", line):
            blocks.append([])
        blocks[-1].append(line)
    return [
        "\n".join(b).strip()
        for b in blocks
        if any("Traceback" in x or "unexpected error" in x or " ERROR " in x for x in b)
    ]


def analysis_footprint(root: Path) -> str:
    """RSS added by the demo dataset and its analysis in a fresh Python (the cached objects)."""
    code = (
        "import resource, pathlib\n"
        "def rss():\n"
        "    for l in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
        "        if l.startswith('VmRSS:'): return int(l.split()[1]) / 1024\n"
        "from iaf import analysis, demo, sources, views\n"
        "before = rss()\n"
        "ds = sources.on_current_structure(demo.generate())\n"
        "mid = rss()\n"
        "result = analysis.analyse(ds)\n"
        "print(round(before), round(mid - before), round(rss() - mid))\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600
        )
        before, data, result = (int(x) for x in out.stdout.split())
    except (subprocess.SubprocessError, ValueError) as exc:
        return f"n/a ({type(exc).__name__})"
    return f"{data + result} MB (dataset {data} MB + analysis {result} MB; imports {before} MB)"


# ── phases ───────────────────────────────────────────────────────────────────────────────
# ── phases ───────────────────────────────────────────────────────────────────────────────
def niced_chromium(into: Path) -> str:
    """A launcher that runs chromium at low priority: drawing is the users' machines' work, so
    on this shared machine the server should not wait for the browsers' rendering."""
    path = into / "chromium-nice"
    path.write_text(f'#!/bin/sh\nexec nice -n 10 {shlex.quote(CHROMIUM)} "$@"\n')
    path.chmod(0o755)
    return str(path)


async def warm(browser: Browser, url: str, cat: Catalogue, args) -> list[Result]:
    """One visit to every page in a browser, so the shared caches hold the analysis."""
    slow = argparse.Namespace(**{**vars(args), "timeout": WARM_S})
    s = BrowserSession(0, url, cat, slow, "warm-up", browser)
    await s.open()
    steps = [
        Step("warm: /", "open", "/", h1="Overview", link=("/overview?",)),
        Step("warm: profile", "open", f"/profile?area={cat.areas[0]}", h1="CCG profile"),
        Step("warm: explorer", "open", "/explorer?ind=123a", h1="Indicator explorer"),
        Step("warm: trends", "open", "/trends", h1="Trends"),
        Step("warm: compare", "open", "/compare", h1="Compare with peers"),
    ]
    try:
        for step in steps:
            await s.act(step)
    finally:
        await s.close()
    return s.results


async def phase(
    browser, url, cat, args, sampler, name: str, n_browsers: int, n_protocol: int, seconds: float
):
    """``n_browsers`` + ``n_protocol`` sessions clicking at once for ``seconds``."""
    sampler.phase = name
    sessions: list[Session] = [
        BrowserSession(i + 1, url, cat, args, name, browser) for i in range(n_browsers)
    ]
    sessions += [
        ProtocolSession(n_browsers + i + 1, url, cat, args, name) for i in range(n_protocol)
    ]
    await asyncio.gather(*(s.open() for s in sessions))
    cpu0, t0 = cpu_seconds(sampler.pid), time.monotonic()
    deadline = t0 + seconds

    async def run(s: Session) -> None:
        await asyncio.sleep(s.rng.uniform(0, min(5.0, seconds / 4)))  # not all at one instant
        await s.run_until(deadline)

    await asyncio.gather(*(run(s) for s in sessions))
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(sampler.pid) - cpu0
    sampler.phase = name + " (closing)"
    await asyncio.gather(*(s.close() for s in sessions))
    return [r for s in sessions for r in s.results], elapsed, cpu


async def drive(url: str, pid: int, cat: Catalogue, args, fig: dict, tmp: Path):
    """Warm the server up; one session alone (protocol, then browser); then all at once."""
    sampler = Sampler(pid)
    fig["rss_idle"] = rss_mb(pid)
    sampler.start()
    runs: dict[str, list[Result]] = {}
    n_browsers = min(args.browsers, args.sessions)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=niced_chromium(tmp), args=CHROMIUM_ARGS, headless=True
            )
            try:
                print(f"Server {url} (pid {pid}); warming up (first analysis) …", flush=True)
                sampler.phase = "warm-up"
                runs["warm-up"] = await warm(browser, url, cat, args)
                print("  " + ", ".join(f"{r.kind} {r.seconds:.1f} s" for r in runs["warm-up"]))
                sampler.phase = "base"
                await asyncio.sleep(3)
                fig["rss_base"] = sampler.last("base")
                print(f"  baseline RSS {fig['rss_base']:.0f} MB", flush=True)
                alone = [("alone", 0, 1)] + ([("alone (browser)", 1, 0)] if n_browsers else [])
                for name, b, w in alone:
                    print(f"1 session ({'browser' if b else 'protocol'}) for "
                          f"{args.solo_duration:g} s …", flush=True)  # fmt: skip
                    runs[name], _, _ = await phase(
                        browser, url, cat, args, sampler, name, b, w, args.solo_duration
                    )
                    bad = sum(bool(r.error) for r in runs[name])
                    print(f"  {len(runs[name])} actions, {bad} errors", flush=True)
                print(f"{args.sessions} sessions ({n_browsers} in browsers) for "
                      f"{args.duration:g} s …", flush=True)  # fmt: skip
                runs["many"], elapsed, cpu = await phase(
                    browser, url, cat, args, sampler, "many", n_browsers,
                    args.sessions - n_browsers, args.duration,
                )  # fmt: skip
                bad = sum(bool(r.error) for r in runs["many"])
                print(f"  {len(runs['many'])} actions, {bad} errors", flush=True)
            finally:
                await browser.close()
        sampler.phase = "after"
        await asyncio.sleep(3)
        fig["rss_after"] = sampler.last("after")
    finally:
        await sampler.stop()
    fig["many_s"], fig["cpu_many"] = elapsed, 100 * cpu / elapsed
    fig["rss_solo"] = max(sampler.peak(name) for name in runs if name.startswith("alone"))
    fig["rss_many"] = max(sampler.peak("many"), sampler.peak("many (closing)"))
    fig["per_session"] = (fig["rss_many"] - fig["rss_base"]) / args.sessions
    fig["marginal"] = (fig["rss_many"] - fig["rss_solo"]) / max(args.sessions - 1, 1)
    return runs


# ── report ───────────────────────────────────────────────────────────────────────────────
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * q // 100)) - 1]


def times(results: list[Result]) -> str:
    t = [r.seconds for r in results if not r.error]
    top = max(t) if t else float("nan")
    return f"{pct(t, 50):.2f} | {pct(t, 95):.2f} | {top:.2f}"


def timing_table(results: list[Result]) -> list[str]:
    groups: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.client, r.kind)].append(r)
    lines = [
        "| client | action | done | errors | p50 s | p95 s | max s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (client, kind), rs in sorted(groups.items()):
        lines.append(f"| {client} | {kind} | {len(rs)} | {sum(bool(r.error) for r in rs)} | "
                     f"{times(rs)} |")  # fmt: skip
    for client in sorted({c for c, _ in groups}):
        rs = [r for r in results if r.client == client]
        lines.append(f"| {client} | **all actions** | {len(rs)} | "
                     f"{sum(bool(r.error) for r in rs)} | {times(rs)} |")  # fmt: skip
    return lines


def machine() -> str:
    def first(path: str, prefix: str) -> str:
        lines = Path(path).read_text().splitlines()
        return next((x.split(":", 1)[1].strip() for x in lines if x.startswith(prefix)), "")

    mem_gb = int(first("/proc/meminfo", "MemTotal:").split()[0]) / 1024 / 1024
    model = first("/proc/cpuinfo", "model name") or platform.machine()
    return (
        f"{os.cpu_count()} cores ({model}), {mem_gb:.1f} GB RAM, Python {platform.python_version()}"
    )


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def git_rev(ref: str) -> str:
    return _git("rev-parse", "--short", ref) or ref


def git_head() -> str:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return git_rev("HEAD") + (" plus uncommitted changes in the working tree" if dirty else "")


def report(args, fig: dict, runs: dict[str, list[Result]], errs: list[str]) -> str:
    n, f = args.sessions, fig
    many = runs["many"]
    alone = [r for name, rs in runs.items() if name.startswith("alone") for r in rs]
    failed = [r for rs in runs.values() for r in rs if r.error]
    n_browsers = min(args.browsers, n)

    def overall(results: list[Result], client: str) -> str:
        rs = [r for r in results if r.client == client]
        t = [r.seconds for r in rs if not r.error]
        if not rs:
            return "—"
        return f"{pct(t, 50):.2f} / {pct(t, 95):.2f} / {max(t, default=float('nan')):.2f} s"

    lines = [
        "# Load test",
        "",
        f"Run on {f['date']} · {machine()} · code: commit {f['commit']}.",
        "",
        f"Command: `{f['command']}`",
        "",
        f"{n} sessions at once for {f['many_s']:.0f} s on loopback, on the synthetic demo data: "
        f"{n_browsers} in headless Debian chromium (Playwright; a browser context each, run at "
        f"low priority) and {n - n_browsers} speaking Streamlit's websocket protocol (the server "
        "runs the real page scripts and sends every element; the client reads them without "
        "drawing). Each follows a journey of realistic clicks — Overview, a period, the "
        "Indicator explorer, an indicator and a period, a shared profile link, another area, "
        "Trends, Compare, a shared explorer link, a funnel point — pausing "
        f"{args.think / 2:g}–{args.think * 1.5:g} s between actions. Before that, one warm-up "
        f"visit to every page, then one session alone for {args.solo_duration:g} s (protocol"
        + (", then browser)." if n_browsers else ")."),
        "",
        "Page time: from the click (or the start of the navigation) until the page is done — "
        'for a protocol session, the script\'s "finished" message with every element received; '
        "for a browser, the script finished, no spinner, a chart drawn and the title and "
        '"Link to this view" showing the new state. The browsers, the protocol clients and the '
        "server share the machine's cores.",
        "",
        "## Summary",
        "",
        "| | value |",
        "|---|---:|",
        f"| concurrent sessions | {n} ({n_browsers} browsers, {n - n_browsers} protocol) |",
        f"| duration | {f['many_s']:.0f} s |",
        f"| actions done | {len(many)} ({len(many) / f['many_s'] * 60:.0f} a minute) |",
        f"| errors (sessions + server log, all phases) | {len(failed) + len(errs)} |",
        f"| page time p50 / p95 / max, protocol, {n} at once | {overall(many, 'protocol')} |",
        f"| page time p50 / p95 / max, protocol, alone | {overall(alone, 'protocol')} |",
        f"| page time p50 / p95 / max, browser, {n} at once | {overall(many, 'browser')} |",
        f"| page time p50 / p95 / max, browser, alone | {overall(alone, 'browser')} |",
        f"| server CPU with {n} sessions | {f['cpu_many']:.0f}% of one core |",
        f"| server RSS: idle, before any session | {f['rss_idle']:.0f} MB |",
        f"| server RSS: after warm-up (baseline) | {f['rss_base']:.0f} MB |",
        f"| server RSS: peak with 1 session | {f['rss_solo']:.0f} MB |",
        f"| server RSS: peak with {n} sessions | {f['rss_many']:.0f} MB |",
        f"| server RSS: (peak − baseline) / {n} sessions | {f['per_session']:.1f} MB |",
        f"| server RSS: ({n}-session peak − 1-session peak) / {max(n - 1, 1)} "
        f"| {f['marginal']:.1f} MB |",
        f"| server RSS: after the sessions closed | {f['rss_after']:.0f} MB |",
        f"| demo dataset + analysis, measured in a fresh Python | {f['footprint']} |",
        "",
        f"## Page times, {n} sessions at once",
        "",
        *timing_table(many),
        "",
        "## Page times, one session alone",
        "",
        *timing_table(alone),
        "",
        "## Warm-up (first visits, browser)",
        "",
        *timing_table(runs["warm-up"]),
        "",
        "## Errors",
        "",
    ]
    if not failed and not errs:
        lines.append(
            "None: no exception, error alert, console error, crash, lost connection, missing "
            "content, timeout or server traceback."
        )
    for r in failed:
        lines.append(f"- {r.phase}, {r.client} session {r.session}, {r.kind} ({r.url}): {r.error}")
    for e in errs:
        ids = ", ".join(ERROR_ID.findall(e)) or "none"
        lines += [f"- server log (error id {ids}):", "", "```", e[-4000:], "```"]
    if IGNORED:
        lines += [
            "",
            "Browser console messages not counted as errors (resources from other hosts on this "
            "offline machine; Streamlit probing a deep link's path for its base URL):",
            "",
            *(f"- {count} × {message}" for message, count in IGNORED.most_common()),
        ]
    lines += [
        "",
        "## Reading the memory figures",
        "",
        "The dataset and its analysis are cached once per process (`st.cache_resource`) and the "
        "per-view frames once per parameter set (`st.cache_data`, global scope), so an extra "
        "session should add only its session and widget state and the messages in flight: the "
        "per-session figures should be small beside the dataset and analysis. The baseline is "
        "taken after one visit to every page; the peaks include views first computed during "
        "the run (each new indicator × period a session picks is cached for all). CPython "
        "seldom returns freed memory to the system, so a peak stays after the sessions close.",
        "",
    ]
    return "\n".join(lines)


def snapshot(ref: str, into: Path) -> Path:
    """The files of commit ``ref`` (``git archive``), so edits in progress do not disturb a run."""
    root = into / "app"
    root.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


async def main_async(args) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in [*OUT.glob("*_s[0-9][0-9]_*.png"), *OUT.glob("*_s[0-9][0-9]_*.txt")]:
        old.unlink()
    IGNORED.clear()
    with tempfile.TemporaryDirectory() as tmp:
        if args.ref:
            root = snapshot(args.ref, Path(tmp))
            commit = git_rev(args.ref) + " (a clean `git archive` of it)"
        else:
            root = REPO
            commit = git_head()
        sys.path.insert(0, str(root))  # the demo catalogue from the code under test
        print("Listing the demo data's areas, indicators and periods …", flush=True)
        cat = demo_catalogue()
        footprint = analysis_footprint(root) if args.footprint else "not measured"
        print(f"Demo dataset + analysis in a fresh Python: {footprint}", flush=True)
        fig: dict = {
            "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "commit": commit,
            "command": args.command,
            "footprint": footprint,
        }
        with server(root, Path(tmp)) as (url, proc, log_path):
            runs = await drive(url, proc.pid, cat, args, fig, Path(tmp))
    errs = server_errors(log_path)
    text = report(args, fig, runs, errs)
    print()
    print(text)
    results = [r.__dict__ for rs in runs.values() for r in rs]
    (OUT / "results.json").write_text(json.dumps({"figures": fig, "results": results}, indent=1))
    if args.report:
        Path(args.report).write_text(text)
        print(f"Written to {args.report}; server log {log_path}; details in {OUT}")
    failed = sum(1 for rs in runs.values() for r in rs if r.error) + len(errs)
    return 1 if failed else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--sessions", type=int, default=20, help="sessions at once (default 20)")
    add("--browsers", type=int, default=2, help="how many of them in chromium (default 2)")
    add("--duration", type=float, default=90, help="seconds of clicking at once (default 90)")
    add("--solo-duration", type=float, default=30, help="seconds of one session alone (30)")
    add("--think", type=float, default=2.0, help="mean pause between actions, s (default 2)")
    add("--timeout", type=float, default=120, help="seconds before an action times out (120)")
    add("--seed", type=int, default=1, help="seed of the sessions' random choices (default 1)")
    add("--ref", help="test this commit (a clean `git archive`) instead of the working tree")
    add("--report", default=str(REPORT), help="markdown report to write ('' for none)")
    add("--no-footprint", dest="footprint", action="store_false", help="skip the size probe")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.browsers < 0:
        parser.error("--sessions must be at least 1 and --browsers at least 0")
    given = argv if argv is not None else sys.argv[1:]
    args.command = "./scripts/loadtest.sh" + "".join(" " + shlex.quote(a) for a in given)
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
