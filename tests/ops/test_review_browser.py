"""The review page in headless Chromium, served from loopback with every CDN asset served locally
(npm packages fetched by ``make browser-deps``): the polygons render, one SVG path per inventory
row, coloured by age and status; the date filter and the popups work; a screenshot is saved.
Markup left in the inventory's text fields is shown as text and never runs.

Needs Debian's ``chromium`` and ``chromium-driver`` and the assets under ``.cache/browser-assets``;
``make test`` installs both. Without them the test is skipped and says what is missing.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from PIL import Image

from monitor.config import MonitorConfig
from monitor.ops.review import build_review_map, load_review_data, write_review_page
from tests.ops.browser_assets import ASSET_DIR, asset_urls, local_file

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT_DIR = Path(os.environ.get("REVIEW_SCREENSHOT_DIR", Path(__file__).parents[2] / "out"))

_URL = re.compile(r"""https?://[^\s"'<>()]+""")


def _content_type(suffix: str) -> str:
    return {
        ".js": "application/javascript",
        ".css": "text/css",
        ".png": "image/png",
        ".svg": "image/svg+xml",
        ".woff2": "font/woff2",
        ".ttf": "font/ttf",
    }.get(suffix, "application/octet-stream")


def _tile_png() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (256, 256), (236, 232, 222)).save(buffer, format="PNG")
    return buffer.getvalue()


class _LoopbackSite:
    """Serves the review page with CDN URLs rewritten to ``/vendor/...`` and tile URLs to
    ``/tiles/...``; records every request."""

    def __init__(self, page: Path) -> None:
        text = page.read_text(encoding="utf-8")
        self.unmapped: list[str] = []
        self.asset_paths: list[str] = []
        for url in asset_urls(text):
            file = local_file(url)
            if file is None:  # no npm counterpart (browser_assets.py says which): empty
                self.unmapped.append(url)
                local = f"/empty/{len(self.unmapped)}{Path(url).suffix}"
            else:  # keep the package layout so that relative URLs in CSS resolve
                local = "/vendor/" + file.relative_to(ASSET_DIR).as_posix()
            self.asset_paths.append(local)
            text = text.replace(url, local)
        # whatever is left (tile templates, attributions' links) must not leave the machine
        text = _URL.sub(lambda m: "/tiles/" + m[0].split("://", 1)[1], text)
        self.page = text.encode("utf-8")
        self.requests: list[str] = []
        self.tile = _tile_png()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                if self.path == "/review.html":
                    body, kind = site.page, "text/html; charset=utf-8"
                elif self.path.startswith("/vendor/"):
                    file = (ASSET_DIR / self.path.removeprefix("/vendor/")).resolve()
                    if not file.is_file() or ASSET_DIR.resolve() not in file.parents:
                        self.send_error(404)
                        return
                    body, kind = file.read_bytes(), _content_type(file.suffix)
                elif self.path.startswith("/empty/"):
                    body, kind = b"", _content_type(Path(self.path).suffix)
                elif self.path.startswith("/tiles/"):
                    body, kind = site.tile, "image/png"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/review.html"

    def __enter__(self) -> _LoopbackSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chromium() -> Iterator[WebDriver]:
    missing = [
        what
        for what, ok in (
            ("chromium (apt-get install chromium)", CHROMIUM),
            ("chromedriver (apt-get install chromium-driver)", CHROMEDRIVER),
            (f"browser assets in {ASSET_DIR} (make browser-deps)", ASSET_DIR.is_dir()),
        )
        if not ok
    ]
    if missing:
        pytest.skip("headless browser test needs " + ", ".join(missing))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM is not None and CHROMEDRIVER is not None  # else skipped above
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        # nothing but loopback resolves: a URL the server did not rewrite fails at once
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_review_page_draws_every_landslide_in_headless_chromium(
    populated_config: tuple[MonitorConfig, int], chromium: WebDriver, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    config, n_rows = populated_config
    page = write_review_page(config, tmp_path / "review.html")
    assert page.n_landslides == n_rows == 6

    with _LoopbackSite(page.path) as site:
        driver.get(site.url)
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return !!(window.landslideReview)")
        )
        paths = driver.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path.landslide")
        assert len(paths) == n_rows
        assert driver.execute_script("return window.landslideReview.items.length") == n_rows
        assert driver.find_element(By.ID, "ls-shown").text == f"{n_rows} of {n_rows} shown"
        # the watched regions' outlines are drawn too, as their own layer
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.watched-region")) == 2

        # fill = age as of the last run (2024-09-14), outline = status (conftest.populate)
        fills = Counter(p.get_attribute("fill") for p in paths)
        assert fills == {"#fecc5c": 2, "#fd8d3c": 2, "#e31a1c": 1, "#bdbdbd": 1}
        strokes = Counter(p.get_attribute("stroke") for p in paths)
        assert strokes == {"#b10026": 4, "#54278f": 1, "#636363": 1}
        assert sum(p.get_attribute("stroke-dasharray") == "5 5" for p in paths) == 1

        # layer control: basemaps + regions + one layer per status
        labels = [
            cast(str, e.get_attribute("textContent")).strip()
            for e in driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label")
        ]
        assert labels == [
            "Watched regions",
            "Candidates (4)",
            "Confirmed landslides (1)",
            "Dismissed (1)",
        ]

        screenshot = SCREENSHOT_DIR / "review_page.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(screenshot))
        with Image.open(screenshot) as shot:
            assert shot.size[0] >= 1000 and shot.size[1] >= 700

        # zoomed to one region (the two lie continents apart), the polygons are visible
        driver.execute_script(
            "const z = document.getElementById('ls-zoom'); z.value = 'emilia-hills';"
            "z.dispatchEvent(new Event('change'));"
        )
        WebDriverWait(driver, 5).until(
            lambda d: d.execute_script("return window.landslideReview.map.getZoom()") >= 12
        )
        widths = [p.size["width"] for p in paths]
        assert sorted(widths)[-3:] > [5, 5, 5]  # emilia's three polygons are drawn, not dots
        zoomed = SCREENSHOT_DIR / "review_page_emilia.png"
        assert driver.save_screenshot(str(zoomed))

        # the date filter: first seen from 2024-09-01 keeps the 3 + 1 landslides of September
        driver.execute_script(
            "const i = document.getElementById('ls-from'); i.value = '2024-09-01';"
            "i.dispatchEvent(new Event('change'));"
        )
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.landslide")) == 4
        assert driver.find_element(By.ID, "ls-shown").text == f"4 of {n_rows} shown"
        driver.execute_script(
            "const f = document.getElementById('ls-field'); f.value = 'last_seen';"
            "f.dispatchEvent(new Event('change'));"
        )  # the landslide of August seen again on 2024-09-01 comes back
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.landslide")) == 5
        driver.find_element(By.ID, "ls-reset").click()
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.landslide")) == n_rows
        # the count is of the landslides drawn: the Dismissed layer switched off in the layer
        # control takes its one away (it counted 6 of 6 with 5 drawn)
        driver.execute_script(
            "document.querySelectorAll('.leaflet-control-layers-overlays input')[3].click()"
        )
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.landslide")) == n_rows - 1
        assert driver.find_element(By.ID, "ls-shown").text == f"{n_rows - 1} of {n_rows} shown"
        driver.execute_script(
            "document.querySelectorAll('.leaflet-control-layers-overlays input')[3].click()"
        )
        assert driver.find_element(By.ID, "ls-shown").text == f"{n_rows} of {n_rows} shown"

        # a popup: attributes and the embedded quicklook, decoded by the browser
        driver.execute_script(
            "const it = window.landslideReview.items[0];"
            "it.layer.openPopup(it.layer.getBounds().getCenter());"
        )
        popup = WebDriverWait(driver, 5).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".leaflet-popup-content .ls-popup")
        )
        popup_text = popup.get_attribute("textContent")
        assert popup_text is not None
        assert "Landslide" in popup_text and "Event between" in popup_text
        assert "2024-08-16 and 2024-08-21" in popup_text  # the event bracket
        image_width = driver.execute_script(
            "return document.querySelector('.leaflet-popup-content img.ls-ql').naturalWidth"
        )
        assert image_width == 96  # the quicklook PNG of conftest, 96 px wide
        screenshot_popup = SCREENSHOT_DIR / "review_page_popup.png"
        assert driver.save_screenshot(str(screenshot_popup))
        # the legend (fixed above the map's panes) steps aside while a popup is open: it hid
        # the popup's confirm/dismiss commands where the popup opened near the map's corner
        legend = driver.find_element(By.ID, "ls-legend")
        assert not legend.is_displayed()
        driver.execute_script("window.landslideReview.map.closePopup()")
        assert legend.is_displayed()

        # the map drew: no note that its library failed to load
        assert not driver.find_elements(By.ID, "ls-offline")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]

    # everything the page asked for came from the loopback server
    assert "/review.html" in site.requests
    assert set(site.asset_paths) <= set(site.requests)
    assert all(
        r.startswith(("/review.html", "/vendor/", "/empty/", "/tiles/", "/favicon.ico"))
        for r in site.requests
    ), site.requests
    assert not [e for e in errors if "favicon" not in e["message"]], errors
    # the PNG is real (not blank): the map tiles, polygons and legend differ in colour
    png = base64.b64encode(screenshot.read_bytes())
    assert len(png) > 10_000


# Opens every tooltip (landslides and watched regions) and every popup in turn, which is when
# Leaflet sets their HTML, and returns their text. Then it waits for a probe image's 404 from the
# loopback server: an <img src=x> the page had created would have been requested and failed by
# then, and its onerror run.
_OPEN_EVERYTHING_JS = """
const done = arguments[arguments.length - 1];
const texts = {tooltips: [], popups: []};
window.landslideReview.map.eachLayer(function (layer) {
  if (!(layer instanceof L.Polygon)) { return; }
  const center = layer.getBounds().getCenter();
  if (layer.getTooltip()) {
    layer.openTooltip(center);
    texts.tooltips.push(layer.getTooltip().getElement().textContent.trim());
  }
  if (layer.getPopup()) {
    layer.openPopup(center);
    texts.popups.push(layer.getPopup().getElement().textContent);
  }
});
const probe = new Image();
probe.onerror = function () { setTimeout(function () { done(texts); }, 200); };
probe.src = '/probe-after-everything-opened.png';
"""


def test_markup_in_the_inventory_is_inert_in_headless_chromium(
    populated_config: tuple[MonitorConfig, int], chromium: WebDriver, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.ops.ops_fixtures import HOSTILE_REGION, HOSTILE_TEXT, edit_inventory_by_hand

    driver = chromium
    config, n_rows = populated_config
    assert edit_inventory_by_hand(config, HOSTILE_TEXT) == n_rows == 6
    data = load_review_data(config)  # the page of this inventory, plus a hostile region name
    data.regions[HOSTILE_REGION] = data.regions.pop("emilia-hills")
    page = tmp_path / "hostile.html"
    build_review_map(data, page_dir=tmp_path).save(str(page))

    with _LoopbackSite(page) as site:
        driver.get(site.url)
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return !!(window.landslideReview)")
        )
        title = driver.title
        driver.set_script_timeout(10)
        texts = driver.execute_async_script(_OPEN_EVERYTHING_JS)
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert  # noqa: B018 (the property raises when no dialog is open)
        ran = driver.execute_script("return window.xss === undefined ? null : String(window.xss)")
        assert ran is None, f"the page ran markup of the field {ran!r}"
        assert driver.title == title
        assert (
            driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
        )

        # the markup is shown as text, where it was put
        region = HOSTILE_TEXT["region"]
        landslide_tips = [t for t in texts["tooltips"] if not t.startswith("watched region")]
        assert len(landslide_tips) == n_rows
        assert all(t.startswith("#") and f" {region} · " in t for t in landslide_tips)
        assert sorted(t for t in texts["tooltips"] if t.startswith("watched region")) == sorted(
            f"watched region {name}" for name in ("wayanad-hills", HOSTILE_REGION)
        )
        assert len(texts["popups"]) == n_rows
        for popup in texts["popups"]:
            assert f"Region{region}" in popup and f"Setting{HOSTILE_TEXT['setting']}" in popup
            assert f"{HOSTILE_TEXT['event_after']} and {HOSTILE_TEXT['event_before']}" in popup
            assert f"quicklook missing: {HOSTILE_TEXT['quicklook']}" in popup
        options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#ls-zoom option")]
        assert options[0] == "all regions"
        assert sorted(options[1:]) == sorted(["wayanad-hills", HOSTILE_REGION])
        driver.execute_script(
            "const z = document.getElementById('ls-zoom'); z.value = arguments[0];"
            "z.dispatchEvent(new Event('change'));",
            HOSTILE_REGION,
        )  # the picker still zooms to the region of that name
        WebDriverWait(driver, 5).until(
            lambda d: d.execute_script("return window.landslideReview.map.getZoom()") >= 12
        )
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]

    assert "/x" not in site.requests  # no image of the data was ever requested
    assert "/probe-after-everything-opened.png" in site.requests
    assert not [e for e in errors if "favicon" not in e["message"] and "probe" not in e["message"]]


def test_without_the_internet_the_page_says_why_it_shows_no_map(
    populated_config: tuple[MonitorConfig, int], chromium: WebDriver, tmp_path: Path
) -> None:
    """Found on a review walk: opened where the CDNs cannot be reached (in the field, behind a
    proxy) the page was blank but for its legend, which still counted the landslides; nothing
    said that the map's library had not loaded, or how to see the inventory offline."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    config, _ = populated_config
    assert config.path is not None
    page = write_review_page(config, tmp_path / "review.html")
    driver.get(page.path.resolve().as_uri())  # nothing but loopback resolves (the fixture)
    note = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "ls-offline"))
    assert note.is_displayed()
    text = note.text
    assert "Leaflet" in text and "cdn.jsdelivr.net" in text
    assert f"landslide-monitor inventory export --config {config.path.resolve()}" in text
    assert driver.execute_script("return typeof L") == "undefined"


def test_a_popup_fits_a_phone_screen(
    populated_config: tuple[MonitorConfig, int], chromium: WebDriver, tmp_path: Path
) -> None:
    """Found on a review walk at 390 px (a phone): the popup kept its 300 px minimum plus the
    quicklook's 360 px, wider than the screen, so its values and the ends of its commands lay
    beyond the screen's edge."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    config, _ = populated_config
    page = write_review_page(config, tmp_path / "review.html")
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    with _LoopbackSite(page.path) as site:
        driver.get(site.url)
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return !!(window.landslideReview)")
        )
        assert driver.execute_script("return window.innerWidth") == 390
        WebDriverWait(driver, 5).until(  # the opening zoom is over, as when a person taps
            lambda d: d.execute_script("return !window.landslideReview.map._animatingZoom")
        )
        driver.execute_script(
            "const it = window.landslideReview.items[0];"
            "it.layer.openPopup(it.layer.getBounds().getCenter());"
        )
        WebDriverWait(driver, 5).until(
            lambda d: d.execute_script(
                "const i = document.querySelector('.leaflet-popup-content img.ls-ql');"
                "return i && i.complete"
            )
        )
        box_js = (
            "const r = document.querySelector('.leaflet-popup').getBoundingClientRect();"
            "return [r.left, r.right]"
        )
        try:  # once the map's pan to the popup (animated) is over, all of it is on the screen
            WebDriverWait(driver, 3).until(
                lambda d: (lambda b: b[0] >= 0 and b[1] <= 390)(d.execute_script(box_js))
            )
        finally:
            box = driver.execute_script(box_js)
            assert driver.save_screenshot(str(SCREENSHOT_DIR / "review_page_phone_popup.png"))
    assert box[0] >= 0 and box[1] <= 390, box
