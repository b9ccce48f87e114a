"""The leaderboard in a real browser (Playwright driving Debian's Chromium, pages opened from file://):
sorting, filters and permalinks, the CSV of the visible rows, no network requests and no console
errors, dark mode, a phone-sized viewport, and an axe-core accessibility scan. Screenshots of the
pages are written to $STILTS_SCREENSHOT_DIR (default: the test's tmp_path).

Skipped when the playwright package or a chromium executable is missing (`pip install -e '.[test]'`,
`apt-get install chromium`); `playwright install` is not needed."""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

from harness.leaderboard import build_site  # noqa: E402
from harness.units import units  # noqa: E402
from tests.test_leaderboard import make_result, write_result  # noqa: E402

AXE = Path(__file__).parent / "assets" / "axe.min.js"
N = 40  # examples per language (make_result's n)
LANGS = {"xnli": ["en", "de", "fr", "ar", "zh"], "panx": ["en", "de", "hi", "sw"]}
TYPES = {"xnli": "pair_classification", "panx": "tagging"}
# Each row's score per target: the per-language scores are this plus a per-language offset.
ROWS = {
    ("tiny", "full", "none"): {"xnli": 60.0, "panx": 50.0},
    ("tiny", "full", "mnli"): {"xnli": 72.5, "panx": 52.5},
    ("tiny", "full", "squad"): {"xnli": 57.5, "panx": 55.0},
    ("tiny", "adapter", "none"): {"xnli": 55.0, "panx": 45.0},
    ("tiny", "adapter", "mnli"): {"xnli": 65.0, "panx": 42.5},
    ("tiny", "adapter", "squad"): {"xnli": 55.0, "panx": 50.0},
    ("tiny", "full", "paws"): {"xnli": 62.5},  # no panx: no rank, average or panx Δ ("–", sorted last)
}
OFFSETS = {"en": 15.0, "de": 5.0, "fr": 2.5, "ar": -10.0, "zh": -5.0, "hi": -7.5, "sw": -12.5}


def _result(model: str, method: str, intermediate: str, task: str, seed: int, base: float) -> dict[str, Any]:
    scores = {lang: base + OFFSETS[lang] + (2.5 if seed == 2 else 0.0) for lang in LANGS[task]}
    result = make_result(task, intermediate, seed, model, method, scores, validate=False)
    result["task"]["task_type"] = TYPES[task]
    result["units"] = {}
    for lang, value in scores.items():  # per-example statistics that reproduce the score: intervals
        right = round(value * N / 100)
        result["units"][lang] = units("mean", [[1.0]] * right + [[0.0]] * (N - right))
    return result


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo site: 7 rows (2 methods x intermediate none/mnli/squad, and one on xnli only), 2 targets, 2 seeds."""
    folder = tmp_path_factory.mktemp("browser")
    for (model, method, intermediate), targets in ROWS.items():
        for task, base in targets.items():
            for seed in (1, 2):
                write_result(folder / "results", _result(model, method, intermediate, task, seed, base))
    build_site(folder / "results", folder / "site")
    return folder / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium executable on PATH (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


class Watch:
    """A page's requests, console errors and uncaught exceptions."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context
    context.close()


def url(site: Path, name: str, hash: str = "") -> str:
    return (site / name).as_uri() + hash


def open_page(context: Any, site: Path, name: str, hash: str = "") -> tuple[Any, Watch]:
    page = context.new_page()
    watch = Watch(page)
    page.goto(url(site, name, hash))
    page.wait_for_selector("#theme-choice")  # app.js has run
    return page, watch


def task_page(site: Path) -> str:
    return next(p.name for p in sorted(site.glob("task-*.html")) if "xnli" in p.name)


def cell_page(site: Path) -> str:
    return sorted(p.name for p in site.glob("cell-*.html"))[0]


def row_keys(page: Any, table: str, visible_only: bool = True) -> list[str]:
    rows = f"#{table} tbody tr[data-model]" + (":not(.hidden-by-filter)" if visible_only else "")
    return page.eval_on_selector_all(rows, "rows => rows.map(r => r.dataset.method + '/' + r.dataset.intermediate)")


def column_values(page: Any, table: str, index: int) -> list[float | None]:
    """A column's data-sort values, top to bottom (None for a cell without a number)."""
    return page.eval_on_selector_all(
        f"#{table} tbody tr[data-model]",
        f"rows => rows.map(r => r.cells[{index}].dataset.sort ? parseFloat(r.cells[{index}].dataset.sort) : null)",
    )


def sorted_numbers_then_blanks(values: list[float | None], descending: bool) -> bool:
    numbers = [v for v in values if v is not None]
    return numbers == sorted(numbers, reverse=descending) and values == numbers + [None] * (len(values) - len(numbers))


def header(page: Any, table: str, index: int) -> Any:
    return page.locator(f"#{table} thead tr > :nth-child({index + 1})")


def test_sorting_reorders_rows_sets_aria_sort_and_works_from_the_keyboard(context: Any, site: Path) -> None:
    page, _ = open_page(context, site, "index.html")
    average = page.eval_on_selector_all("#summary thead th", "ths => ths.length") - 1
    before = row_keys(page, "summary")
    header(page, "summary", average).click()
    page.wait_for_function(
        f"document.querySelector('#summary thead th:nth-child({average + 1})').ariaSort === 'descending'"
    )
    page.wait_for_function("location.hash.includes('sort=summary')")
    values = column_values(page, "summary", average)
    assert None in values and sorted_numbers_then_blanks(values, descending=True)
    assert row_keys(page, "summary") != before
    assert header(page, "summary", average).get_attribute("aria-sort") == "descending"
    header(page, "summary", average).click()
    page.wait_for_function("location.hash.includes('%3Aasc')")
    assert sorted_numbers_then_blanks(column_values(page, "summary", average), descending=False)
    assert header(page, "summary", average).get_attribute("aria-sort") == "ascending"
    assert header(page, "summary", 1).get_attribute("aria-sort") is None
    # the keyboard: header cells are in the tab order; Enter (the library) and Space (app.js) sort
    assert page.eval_on_selector_all("#deltas thead th", "ths => ths.every(th => th.tabIndex === 0)")
    assert page.eval_on_selector_all("table.sortable tbody th", "ths => ths.every(th => !th.hasAttribute('tabindex'))")
    last = page.eval_on_selector_all("#deltas thead th", "ths => ths.length") - 1
    header(page, "deltas", last).focus()
    page.keyboard.press("Enter")
    page.wait_for_function("location.hash.includes('sort=deltas')")
    assert sorted_numbers_then_blanks(column_values(page, "deltas", last), descending=True)
    page.keyboard.press(" ")
    page.wait_for_function("location.hash.includes('%3Aasc')")
    assert sorted_numbers_then_blanks(column_values(page, "deltas", last), descending=False)
    assert header(page, "summary", average).get_attribute("aria-sort") == "ascending"  # its own table's


def test_filters_hide_rows_and_a_permalink_restores_filters_and_sort(context: Any, site: Path) -> None:
    page, _ = open_page(context, site, "index.html")
    assert page.is_visible("#controls")
    assert page.eval_on_selector_all("#filter-intermediate option", "os => os.map(o => o.value)") == [
        "",
        "mnli",
        "none",
        "paws",
        "squad",
    ]
    page.select_option("#filter-intermediate", "mnli")
    assert sorted(row_keys(page, "summary")) == ["adapter/mnli", "full/mnli"]
    assert len(row_keys(page, "summary", visible_only=False)) == 7
    assert page.is_hidden("#summary tbody tr[data-intermediate=none]")
    assert "Showing 2 of 7 rows" in page.inner_text("#filter-status")
    assert "intermediate=mnli" in page.evaluate("location.hash")
    page.select_option("#filter-category", "structured_prediction")
    assert page.is_hidden("#summary thead th[data-category=classification]")
    assert page.is_visible("#summary thead th[data-category=structured_prediction]")
    xnli = page.eval_on_selector_all("#summary thead th", "ths => ths.findIndex(th => th.textContent.includes('xnli'))")
    assert page.eval_on_selector_all(
        "#summary tbody tr", f"rows => rows.every(r => r.cells[{xnli}].classList.contains('hidden-by-filter'))"
    )
    last = page.eval_on_selector_all("#deltas thead th", "ths => ths.length") - 1
    header(page, "deltas", last).click()
    header(page, "deltas", last).click()
    page.wait_for_function(f"location.hash.includes('sort=deltas%3A{last}%3Aasc')")
    permalink = page.url
    order = row_keys(page, "deltas")

    fresh, watch = open_page(context, site, "index.html", "#" + permalink.split("#", 1)[1])
    assert fresh.input_value("#filter-intermediate") == "mnli"
    assert fresh.input_value("#filter-category") == "structured_prediction"
    assert sorted(row_keys(fresh, "summary")) == ["adapter/mnli", "full/mnli"]
    assert fresh.is_hidden("#deltas thead th[data-category=classification]")
    assert header(fresh, "deltas", last).get_attribute("aria-sort") == "ascending"
    assert row_keys(fresh, "deltas") == order
    assert sorted_numbers_then_blanks(column_values(fresh, "deltas", last), descending=False)
    assert not watch.errors

    # a task page: the language group filter hides whole columns, headers and Δ cells alike
    page, _ = open_page(context, site, task_page(site))
    assert page.is_visible("#controls")
    page.select_option("#filter-languages", "family:Indo-European")
    page.select_option("#filter-method", "adapter")
    for lang in ("ar", "zh"):
        assert page.is_hidden(f"#languages thead th[data-lang={lang}]")
        assert page.eval_on_selector_all(
            f"td[data-lang={lang}]", "tds => tds.length > 0 && tds.every(td => !td.offsetParent)"
        )
    assert page.is_visible("#deltas thead th[data-lang=fr]")
    assert page.eval_on_selector_all("#deltas td[data-lang=de]", "tds => tds.length === 5")  # data-lang on Δ cells
    assert sorted(row_keys(page, "languages")) == ["adapter/mnli", "adapter/none", "adapter/squad"]
    hash = page.evaluate("location.hash")
    assert "languages=family%3AIndo-European" in hash and "method=adapter" in hash
    fresh, _ = open_page(context, site, task_page(site), hash)
    assert fresh.input_value("#filter-languages") == "family:Indo-European"
    assert fresh.is_hidden("#deltas thead th[data-lang=ar]") and fresh.is_visible("#deltas thead th[data-lang=en]")
    assert sorted(row_keys(fresh, "deltas")) == ["adapter/mnli", "adapter/squad"]
    fresh.click("#filter-reset")
    assert len(row_keys(fresh, "languages")) == 7 and fresh.is_visible("#deltas thead th[data-lang=ar]")
    assert fresh.evaluate("location.hash") == ""
    # a plain anchor leaves the view alone
    fresh.select_option("#filter-model", "tiny")
    fresh.select_option("#filter-method", "full")
    fresh.focus("a.skip")
    fresh.keyboard.press("Enter")
    fresh.wait_for_function("location.hash === '#main'")
    assert fresh.input_value("#filter-method") == "full"
    assert sorted(row_keys(fresh, "languages")) == ["full/mnli", "full/none", "full/paws", "full/squad"]


def test_csv_download_has_exactly_the_visible_rows_and_columns(context: Any, site: Path) -> None:
    page, _ = open_page(context, site, task_page(site))
    page.select_option("#filter-languages", "script:Latin")
    page.select_option("#filter-intermediate", "mnli")
    with page.expect_download() as info:
        page.click("button.download[data-table=deltas]")
    download = info.value
    assert download.suggested_filename.endswith("-deltas.csv")
    lines = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"), newline="")))
    assert lines[0] == ["model", "method", "intermediate", "de", "en", "fr", "average"]
    shown = page.eval_on_selector_all(
        "#deltas tbody tr:not(.hidden-by-filter)",
        "rows => rows.map(r => [...r.cells].filter(c => c.offsetParent).map(c => c.innerText.replace(/\\s+/g, ' ').trim()))",
    )
    assert lines[1:] == shown
    assert sorted(line[:3] for line in lines[1:]) == [["tiny", "adapter", "mnli"], ["tiny", "full", "mnli"]]
    assert lines[1][3].startswith("▲ +")  # the cell's text: arrow, Δ and interval
    with page.expect_download() as info:
        page.click("button.download[data-table=languages]")
    lines = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"), newline="")))
    assert len(lines) == 1 + 2 and "ar" not in lines[0] and "worst language" in lines[0]


def test_no_network_requests_and_no_console_errors(context: Any, site: Path) -> None:
    for name in ("index.html", "about.html", task_page(site), cell_page(site)):
        page, watch = open_page(context, site, name)
        if page.query_selector("#filter-intermediate"):
            page.select_option("#filter-intermediate", "squad")
            page.click("table.sortable thead th:last-child")
        page.select_option("#theme-choice", "dark")
        page.wait_for_timeout(50)
        page.reload()
        page.wait_for_selector("#theme-choice")
        assert watch.requests and all(request.startswith("file://") for request in watch.requests), watch.requests
        assert not watch.errors, (name, watch.errors)
        page.close()


def background(page: Any) -> tuple[int, ...]:
    rgb = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return tuple(int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])


def test_dark_mode_follows_the_system_and_the_theme_switch(browser: Any, site: Path) -> None:
    dark = browser.new_context(color_scheme="dark")
    page, _ = open_page(dark, site, "index.html")
    assert max(background(page)) < 60  # dark
    assert page.input_value("#theme-choice") == ""  # "system"
    page.select_option("#theme-choice", "light")
    assert background(page) == (255, 255, 255)
    page.reload()
    page.wait_for_selector("#theme-choice")
    assert background(page) == (255, 255, 255) and page.input_value("#theme-choice") == "light"  # remembered
    page.select_option("#theme-choice", "")
    assert max(background(page)) < 60
    dark.close()
    light = browser.new_context(color_scheme="light")
    page, _ = open_page(light, site, task_page(site))
    assert background(page) == (255, 255, 255)
    page.select_option("#theme-choice", "dark")
    assert max(background(page)) < 60 and page.evaluate("document.documentElement.dataset.theme") == "dark"
    light.close()


def test_a_phone_viewport_scrolls_tables_not_the_page_and_keeps_the_first_column(browser: Any, site: Path) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    for name, table in (("index.html", "summary"), (task_page(site), "deltas"), (cell_page(site), "cell-scores")):
        page, _ = open_page(phone, site, name)
        widths = page.evaluate(
            "({page: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: innerWidth})"
        )
        assert widths["page"] <= widths["view"] and widths["body"] <= widths["view"], (name, widths)
        first = page.locator(f"#{table} tbody tr:first-child > :first-child")
        assert first.evaluate("cell => getComputedStyle(cell).position") == "sticky"
        wrapper = page.locator(f"#{table}").locator("xpath=..")
        assert "wide" in (wrapper.get_attribute("class") or "")
        if wrapper.evaluate("w => w.scrollWidth > w.clientWidth"):
            left = first.bounding_box()["x"]
            wrapper.evaluate("w => { w.scrollLeft = 200; }")
            assert wrapper.evaluate("w => w.scrollLeft") > 0
            assert abs(first.bounding_box()["x"] - left) < 1  # stuck
        page.close()
    phone.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violations(browser: Any, site: Path, scheme: str) -> None:
    context = browser.new_context(color_scheme=scheme)
    try:
        for name in ("index.html", task_page(site), cell_page(site)):
            page, _ = open_page(context, site, name)
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
            bad = [
                f"{v['id']} ({v['impact']}): {v['help']}: " + "; ".join(n["target"][0] for n in v["nodes"][:5])
                for v in violations
                if v["impact"] in ("serious", "critical")
            ]
            assert not bad, (name, scheme, bad)
            page.close()
    finally:
        context.close()


def test_screenshots(browser: Any, site: Path, tmp_path: Path) -> None:
    folder = Path(os.environ.get("STILTS_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for scheme, viewport in (("light", {"width": 1280, "height": 900}), ("dark", {"width": 390, "height": 844})):
        context = browser.new_context(color_scheme=scheme, viewport=viewport)
        for label, name in (("index", "index.html"), ("task", task_page(site)), ("cell", cell_page(site))):
            page, _ = open_page(context, site, name)
            shot = folder / f"{label}-{scheme}-{viewport['width']}.png"
            page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)
            page.close()
        context.close()
    assert all(shot.stat().st_size > 1000 for shot in shots)
