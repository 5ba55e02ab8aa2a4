"""Open an HTML file in headless Chromium and report what really happened.

Used by the map tests: console and page errors, every request the page made (anything but
the page's own file:// URL and data: URIs is reported, and blocked, so tests never touch the
network), counts of DOM elements, whether script injected through data ran, and load time.

Needs the ``playwright`` Python package and a Chromium binary (``apt-get install chromium``);
playwright's own browser download is not used. ``GRIDMGMT_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
DEFAULT_COUNTS = {
    "markers": ".leaflet-marker-icon",
    "clusters": ".marker-cluster",
    "paths": "path.leaflet-interactive",
    "layer_control": ".leaflet-control-layers",
    "layer_control_entries": ".leaflet-control-layers-overlays label",
    "legend": ".gm-legend",
    "heat_canvas": "canvas.leaflet-heatmap-layer",
    "tooltips": ".leaflet-tooltip",
    "popups": ".leaflet-popup",
}
# Installed before any page script: records calls that injected markup would make.
_XSS_HOOKS = """
window.__xss = [];
for (const name of ['alert', 'confirm', 'prompt']) {
    window[name] = function (msg) { window.__xss.push(name + ':' + msg); };
}
"""


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    env = os.environ.get("GRIDMGMT_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_unavailable_reason() -> str | None:
    """Why browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; no `playwright install`)"
    if find_chromium() is None:
        return "no Chromium found (apt-get install -y chromium, or set GRIDMGMT_CHROMIUM)"
    return None


@dataclass
class PageFacts:
    """What a page did when opened."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    xss_calls: list[str] = field(default_factory=list)
    counts_before: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    result: object = None
    load_s: float = float("nan")


def _is_local(url: str, page_url: str) -> bool:
    return url.startswith("data:") or url.split("#", 1)[0] == page_url


class Chromium:
    """One headless Chromium for many pages; each page gets a fresh, isolated browser context.

    Playwright launches the browser with a new temporary profile (user-data-dir) and deletes
    it on close. Use as a context manager::

        with Chromium() as browser:
            facts = browser.open("map.html", wait_for=".marker-cluster")
    """

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or find_chromium()
        self._playwright = None
        self._browser = None

    def __enter__(self) -> Chromium:
        from playwright.sync_api import sync_playwright

        if self.executable is None:
            raise RuntimeError(browser_unavailable_reason() or "no Chromium")
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=self.executable, headless=True, args=CHROMIUM_ARGS
        )
        return self

    @property
    def browser(self):
        """The running Playwright browser, for tests that drive pages themselves (one per session:
        a second sync Playwright in the same thread is refused)."""
        return self._browser

    def __exit__(self, *exc_info: object) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()
        self._browser = self._playwright = None

    def open(
        self,
        path: str | os.PathLike,
        *,
        wait_for: str = ".leaflet-container",
        action: str | None = None,
        counts: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        viewport: tuple[int, int] = (1200, 800),
    ) -> PageFacts:
        """Open ``path`` and collect :class:`PageFacts`.

        Parameters
        ----------
        path
            HTML file.
        wait_for
            CSS selector whose appearance ends loading; ``load_s`` is the time from the
            start of navigation until then, in seconds.
        action
            JavaScript expression evaluated after loading (may return a Promise); its value
            is ``PageFacts.result``. Use it to open popups or zoom.
        counts
            ``{name: CSS selector}`` counted after loading (``counts_before``) and after
            ``action`` (``counts``); default :data:`DEFAULT_COUNTS`.
        """
        if self._browser is None:
            raise RuntimeError("use Chromium() as a context manager")
        page_url = Path(path).resolve().as_uri()
        facts = PageFacts(url=page_url)
        selectors = counts or DEFAULT_COUNTS
        context = self._browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, service_workers="block"
        )
        try:

            def route(route_obj) -> None:
                if _is_local(route_obj.request.url, page_url):
                    route_obj.continue_()
                else:
                    route_obj.abort()  # recorded by the request listener; never leaves the machine

            def on_dialog(dialog) -> None:
                facts.dialogs.append(f"{dialog.type}:{dialog.message}")
                dialog.dismiss()

            context.route("**/*", route)
            context.add_init_script(_XSS_HOOKS)
            page = context.new_page()
            page.on("console", lambda msg: msg.type == "error" and facts.console_errors.append(msg.text))
            page.on("pageerror", lambda exc: facts.page_errors.append(str(exc)))
            page.on("request", lambda req: facts.requests.append(req.url))
            page.on("dialog", on_dialog)
            start = time.perf_counter()
            page.goto(page_url, wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_selector(wait_for, state="attached", timeout=timeout_s * 1000)
            facts.load_s = time.perf_counter() - start
            facts.counts_before = {name: page.locator(sel).count() for name, sel in selectors.items()}
            if action:
                facts.result = page.evaluate(action)
                page.wait_for_timeout(50)  # let handlers triggered by the action settle
            facts.counts = {name: page.locator(sel).count() for name, sel in selectors.items()}
            facts.xss_calls = list(page.evaluate("window.__xss || []"))
        finally:
            context.close()
        facts.external_requests = [u for u in facts.requests if not _is_local(u, page_url)]
        return facts


def open_html(path: str | os.PathLike, **options: object) -> PageFacts:
    """Open one page in a browser started for it; see :meth:`Chromium.open` for ``options``."""
    with Chromium() as browser:
        return browser.open(path, **options)
