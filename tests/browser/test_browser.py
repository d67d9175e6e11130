"""What a user sees in a real browser: pages, chart clicks, deep links, downloads, uploads,
accessibility and presentation mode (Playwright + Debian chromium against ``streamlit run``).

Every test opens a fresh browser context (a new Streamlit session) on the shared server, which
runs on the synthetic demo data; the planted features of :data:`iaf.demo.PLANTED` give known
answers (Z18 is far above the funnel on 127c, Z07 far below on 123a).
"""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, quote, urlparse

import pytest
from playwright.sync_api import Page, expect

from iaf import demo
from tests.browser.conftest import new_page, open_app, shot, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PLANTED = {p.kind + ":" + p.indicator: p for p in demo.PLANTED}
HIGH_127C = PLANTED["outlier_high:127c"]
LOW_123A = PLANTED["outlier_low:123a"]
CHART = '[data-testid="stVegaLiteChart"]'
SIDEBAR = '[data-testid="stSidebar"]'


@pytest.fixture(scope="module")
def area_names() -> dict[str, str]:
    ds = demo.generate()
    return dict(zip(ds.areas["code"].astype(str), ds.areas["name"].astype(str), strict=True))


# ── helpers ──────────────────────────────────────────────────────────────────────────────
def main(page: Page):
    return page.locator('[data-testid="stMain"]')


def heading(page: Page, level: int):
    return main(page).locator(f"h{level}")


def sidebar_box(page: Page, label: str):
    """The text input of a sidebar selectbox (a combobox named by its label)."""
    return page.locator(f'{SIDEBAR} input[role="combobox"][aria-label="{label}"]')


def choose(page: Page, label: str, typed: str) -> None:
    """Pick the first option of a sidebar selectbox matching ``typed``, as a user would."""
    box = sidebar_box(page, label)
    box.click()
    box.fill(typed)
    page.get_by_role("option").filter(has_text=typed).first.click()
    wait_idle(page)


def chart_with_mark(page: Page, aria_fragment: str):
    """The chart holding a mark whose ARIA label contains ``aria_fragment``."""
    return page.locator(CHART).filter(
        has=page.locator(f"[role='graphics-symbol'][aria-label*='{aria_fragment}']")
    )


def url_params(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def download(page: Page, button: str) -> tuple[str, bytes]:
    """Click a visible download button; return the file's suggested name and bytes."""
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=button).click()
    dl = info.value
    path = dl.path()
    return dl.suggested_filename, path.read_bytes()


# ── 1. the app opens ─────────────────────────────────────────────────────────────────────
def test_app_opens_on_overview_with_demo_banner_and_chart(page: Page):
    open_app(page, "/")
    expect(heading(page, 1).filter(has_text="Overview")).to_be_visible()
    banner = main(page).locator('[data-testid="stAlert"]').filter(has_text="Synthetic demo data")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Not real NHS data")
    chart = page.locator(CHART).first
    expect(chart.locator("svg, canvas").first).to_be_visible()
    expect(page.locator(SIDEBAR)).to_contain_text("Synthetic demo data (fictional CCGs)")
    assert "IAF Explorer" in page.title() or "Overview" in page.title(), page.title()
    shot(page, "test_app_opens_on_overview_with_demo_banner_and_chart")


# ── 2. click a funnel point, land on the area's profile ──────────────────────────────────
def _click_funnel_point_and_land_on_profile(page: Page, code: str, name: str, test: str) -> None:
    fragment = f"Code: {code};"
    funnel = chart_with_mark(page, fragment)
    expect(funnel).to_have_count(1)
    mark = funnel.locator(f"[role='graphics-symbol'][aria-label*='{fragment}']")
    expect(mark).to_have_count(1)
    label = mark.get_attribute("aria-label") or ""
    assert f"Area: {name};" in label, label
    assert "Above" in label or "▲" in label or "High" in label or "higher" in label.lower(), (
        f"the planted high outlier should be outside the upper limit: {label}"
    )
    mark.scroll_into_view_if_needed()
    shot(page, test + "_funnel")
    mark.click()
    wait_idle(page)
    page.wait_for_url("**/profile**", timeout=60_000)
    wait_idle(page)
    shot(page, test)
    assert urlparse(page.url).path == "/profile", page.url
    expect(heading(page, 2).first).to_contain_text(name)
    expect(heading(page, 2).first).to_contain_text(f"({code})")


def test_funnel_click_from_deep_link_opens_that_areas_profile(page: Page, area_names):
    """/explorer?ind=127c → click Z18's point (planted high outlier) → Z18's profile."""
    code, name = HIGH_127C.area_code, area_names[HIGH_127C.area_code]
    open_app(page, "/explorer?ind=127c")
    expect(heading(page, 2).first).to_contain_text("127c", timeout=5_000)
    _click_funnel_point_and_land_on_profile(
        page, code, name, "test_funnel_click_from_deep_link_opens_that_areas_profile"
    )


def test_funnel_click_after_choosing_indicator_opens_that_areas_profile(page: Page, area_names):
    """The same drill-down with the indicator chosen in the sidebar instead of by the URL."""
    code, name = HIGH_127C.area_code, area_names[HIGH_127C.area_code]
    open_app(page, "/explorer")
    choose(page, "Indicator", "127c")
    expect(heading(page, 2).first).to_contain_text("127c")
    _click_funnel_point_and_land_on_profile(
        page, code, name, "test_funnel_click_after_choosing_indicator_opens_that_areas_profile"
    )


# ── 3. deep links ────────────────────────────────────────────────────────────────────────
def test_deep_link_opens_profile_of_area_and_period(page: Page, area_names):
    code, name = LOW_123A.area_code, area_names[LOW_123A.area_code]
    open_app(page, f"/profile?area={code}&period={quote('2019/20 Q4', safe='')}")
    shot(page, "test_deep_link_opens_profile_of_area_and_period")
    expect(heading(page, 1).filter(has_text="CCG profile")).to_be_visible()
    expect(sidebar_box(page, "Reporting period")).to_have_value("2019/20 Q4")
    expect(heading(page, 2).first).to_have_text(f"{name} ({code})")
    expect(sidebar_box(page, "Area (type a name or code)")).to_have_value(f"{name} ({code})")


def test_deep_link_opens_explorer_on_indicator_period_and_comparator(page: Page):
    open_app(page, f"/explorer?ind=123a&iperiod={quote('2020/21 Q4', safe='')}&cmp=region")
    shot(page, "test_deep_link_opens_explorer_on_indicator_period_and_comparator")
    expect(heading(page, 1).filter(has_text="Indicator explorer")).to_be_visible()
    expect(sidebar_box(page, "Period")).to_have_value("2020/21 Q4")
    expect(heading(page, 2).first).to_contain_text("123a")
    expect(sidebar_box(page, "Compare with")).to_have_value("its region")


def test_period_box_follows_an_indicator_with_other_periods(page: Page):
    """A quarter chosen for a quarterly indicator is not a period of an annual one: the box
    then shows the annual indicator's latest year, the period the page draws."""
    open_app(page, f"/explorer?ind=123a&iperiod={quote('2020/21 Q4', safe='')}")
    expect(sidebar_box(page, "Period")).to_have_value("2020/21 Q4")
    choose(page, "Indicator", "103b")
    expect(heading(page, 2).first).to_contain_text("103b")
    expect(sidebar_box(page, "Period")).to_have_value("2020/21")
    assert url_params(page).get("iperiod") == "2020/21"


# ── 4. downloads ─────────────────────────────────────────────────────────────────────────
def test_download_outlier_table_csv_and_funnel_png(page: Page):
    open_app(page, "/explorer")
    choose(page, "Indicator", "123a")  # chosen by hand: the ?ind= deep link is tested above
    expect(heading(page, 2).first).to_contain_text("123a")

    page.get_by_role("tab", name="Outlier table").click()
    wait_idle(page)
    table = main(page).locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible()
    shot(page, "test_download_outlier_table_csv_and_funnel_png")
    name, data = download(page, "Download CSV")
    assert name.endswith(".csv") and "123a" in name, name
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    header = list(rows[0])
    for column in ("area_code", "area_name", "value", "lower_95", "upper_95", "numerator",
                   "denominator", "sig", "funnel_z", "outlier"):  # fmt: skip
        assert column in header, header
    planted = [r for r in rows if r["area_code"] == LOW_123A.area_code]
    assert len(planted) == 1, f"{LOW_123A.area_code} missing from {name}"
    assert planted[0]["outlier"] == "low", planted[0]
    assert float(planted[0]["funnel_z"]) == min(float(r["funnel_z"] or 0) for r in rows)

    page.get_by_role("tab", name="Funnel plot").click()
    wait_idle(page)
    name, png = download(page, "Chart as PNG")
    assert name.endswith(".png"), name
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:16]
    assert len(png) > 10_000, len(png)


# ── 5. a bad upload is reported and changes nothing ──────────────────────────────────────
BAD_CSV = (
    b"area_code,indicator,period,numerator,denominator\n"
    b"Z01,123a,2020/21 Q4,50,100\n"
    b"Z02,123a,2020/21 Q4,150,100\n"  # row 3: numerator exceeds denominator
    b"Z03,123a,2020/21 Q4,abc,100\n"  # row 4: text in a number column
    b"Z04,123a,2020/21 Q4,40,90\n"
)


def upload(page: Page, name: str, data: bytes, mime: str = "text/csv") -> None:
    file_input = page.locator('[data-testid="stFileUploaderDropzone"] input[type=file]')
    if not file_input.count():
        file_input = page.locator("input[type=file]")
    file_input.set_input_files({"name": name, "mimeType": mime, "buffer": data})
    wait_idle(page)


def test_bad_upload_is_reported_row_by_row_and_loaded_data_stay(page: Page):
    open_app(page, "/data")
    expect(heading(page, 1).filter(has_text="Data")).to_be_visible()
    upload(page, "bad_rows.csv", BAD_CSV)
    expect(main(page).get_by_text("Validation report")).to_be_visible()
    errors = main(page).locator('[data-testid="stAlert"]')
    expect(errors.filter(has_text="numerator exceeds denominator in 1 row: row 3")).to_be_visible()
    expect(
        errors.filter(has_text="text where a number belongs in column numerator in 1 row: row 4")
    ).to_be_visible()
    expect(main(page)).to_contain_text("2 of 4 rows loaded")
    expect(main(page)).to_contain_text("2 rejected")
    shot(page, "test_bad_upload_is_reported_row_by_row_and_loaded_data_stay")

    upload(page, "empty.csv", b"")
    shot(page, "test_bad_upload_is_reported_row_by_row_and_loaded_data_stay_empty")
    expect(
        errors.filter(has_text="This file was not loaded").filter(has_text="empty")
    ).to_be_visible()
    expect(main(page)).to_contain_text("Nothing already loaded has changed")

    # Same session: the data in use are still the demo data.
    page.locator(SIDEBAR).get_by_role("link", name="Overview").click()
    wait_idle(page)
    expect(heading(page, 1).filter(has_text="Overview")).to_be_visible()
    expect(
        main(page).locator('[data-testid="stAlert"]').filter(has_text="Synthetic demo data")
    ).to_be_visible()
    expect(page.locator(CHART).first.locator("svg, canvas").first).to_be_visible()
    expect(page.locator(SIDEBAR)).to_contain_text("Synthetic demo data (fictional CCGs)")


# ── 6. a good upload is saved and survives a reload ──────────────────────────────────────
QUARTERS = ["2019/20 Q3", "2019/20 Q4", "2020/21 Q1", "2020/21 Q2", "2020/21 Q3", "2020/21 Q4"]


def good_csv() -> bytes:
    lines = ["area_code,indicator,period,numerator,denominator"]
    for a in range(1, 11):
        for j, period in enumerate(QUARTERS):
            den = 200 + 37 * a + 11 * j
            lines.append(f"T{a:02d},123a,{period},{den // 2 + a - j},{den}")
    return ("\n".join(lines) + "\n").encode()


def test_good_upload_is_saved_and_still_listed_after_reload(page: Page):
    # A name carrying markdown, a javascript: link, HTML and a Streamlit directive must show as
    # typed: names from users and files are text, never formatting or code.
    saved_name = "Test 123a **bold** [x](javascript:alert(1)) <b>h</b> :red[r]"
    open_app(page, "/data")
    upload(page, "ten_areas_123a.csv", good_csv())
    expect(main(page)).to_contain_text("60 of 60 rows loaded")
    box = main(page).get_by_label("Save as")
    box.fill(saved_name)
    box.press("Enter")
    wait_idle(page)
    main(page).get_by_role("button", name="Save dataset").click()
    wait_idle(page)
    listing = f"{saved_name} — 60 values, 10 areas"
    expect(main(page).get_by_text(listing).first).to_be_visible()
    shot(page, "test_good_upload_is_saved_and_still_listed_after_reload")
    # The app says "Saved … and switched to it": the sidebar should name the new dataset.
    # (Read now, asserted after the reload check so a failure here does not hide that one.)
    in_use = page.locator(f"{SIDEBAR} [data-testid='stCaptionContainer']").first.inner_text()

    page.reload()
    wait_idle(page, 180_000)
    expect(heading(page, 1).filter(has_text="Data")).to_be_visible()
    expect(main(page).get_by_text(listing).first).to_be_visible()
    shot(page, "test_good_upload_is_saved_and_still_listed_after_reload_reloaded")

    assert page.locator("a[href^='javascript']").count() == 0
    assert main(page).locator("strong", has_text="bold").count() == 0
    assert f"Dataset: {saved_name} (60 values)" in in_use, (
        f"after 'Save dataset' the app should switch to {saved_name!r}; the sidebar says {in_use!r}"
    )


# ── 7. accessibility ─────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "path",
    ["/", f"/profile?area={LOW_123A.area_code}", "/explorer"],
    ids=["overview", "profile", "explorer"],
)
def test_no_serious_or_critical_accessibility_violations(page: Page, path: str, request):
    from axe_playwright_python.sync_playwright import Axe

    open_app(page, path)
    shot(page, request.node.name)
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n"
        + "\n".join(
            f"    {n['target']} {n['html'][:160]}\n      {n.get('failureSummary', '')[:300]}"
            for n in v["nodes"][:8]
        )
        + (f"\n    … and {len(v['nodes']) - 8} more" if len(v["nodes"]) > 8 else "")
        for v in bad
    )
    print(report)
    assert not bad, f"{len(bad)} serious/critical axe violations on {path}:\n{report}"


# ── 8. presentation mode ─────────────────────────────────────────────────────────────────
def test_presentation_mode_hides_controls_and_can_be_left(page: Page):
    open_app(page, "/?present=1")
    expect(heading(page, 1).filter(has_text="Overview")).to_be_visible()
    leave = main(page).get_by_role("button", name="Leave presentation mode")
    expect(leave).to_be_visible()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_have_count(0)
    expect(page.get_by_role("button", name="Presentation mode", exact=True)).to_have_count(0)
    expect(page.get_by_role("combobox", name="Reporting period")).to_be_hidden()
    expect(
        main(page).locator('[data-testid="stExpander"]').filter(has_text="Controls")
    ).to_be_visible()
    expect(page.locator(CHART).first.locator("svg, canvas").first).to_be_visible()
    shot(page, "test_presentation_mode_hides_controls_and_can_be_left")

    leave.click()
    wait_idle(page)
    assert "present" not in url_params(page), page.url
    expect(page.locator(SIDEBAR)).to_be_visible()
    expect(sidebar_box(page, "Reporting period")).to_be_visible()


# ── 9. a shared link is the first visit after the server starts ──────────────────────────
def test_first_visit_by_deep_link_on_a_fresh_server(browser, tmp_path):
    """After a restart, the first person to arrive by a shared link (not "/") still gets the app.

    Streamlit 1.67 treats a ``pages/`` folder beside the main script as an old-style multipage
    app until some session has run ``st.navigation`` (so ours is ``app_pages/``): the page
    script would run on its own, with no frame (banner, dataset caption, presentation button)
    and a navigation of file names. This guards against that coming back.
    """
    with streamlit_server(tmp_path) as url:
        pg = new_page(browser, url)
        try:
            open_app(pg, "/data")
            shot(pg, "test_first_visit_by_deep_link_on_a_fresh_server")
            nav = pg.locator(f"{SIDEBAR} [data-testid='stSidebarNav']")
            expect(heading(pg, 1).filter(has_text="Data")).to_be_visible()
            expect(
                main(pg).locator('[data-testid="stAlert"]').filter(has_text="Synthetic demo data")
            ).to_be_visible()
            expect(nav.get_by_role("link", name="Indicator explorer")).to_be_visible()
            expect(nav.get_by_role("link", name="app", exact=True)).to_have_count(0)
        finally:
            pg.context.close()
