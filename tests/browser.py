"""Open an HTML file in headless Chromium (through Playwright) and report what a reader would
notice: console errors, images that did not load, sections without content, requests that
left the file (a self-contained report makes none)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """The Chromium binary ($DPSIM_CHROMIUM or on PATH); skip, or fail when CI requires it."""
    found = os.environ.get("DPSIM_CHROMIUM") or next(
        (path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None
    )
    if found:
        return found
    message = "no Chromium found (apt-get install chromium, or set DPSIM_CHROMIUM)"
    if os.environ.get("DPSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageReport:
    console_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    empty_sections: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    images: int = 0


_INSPECT = """() => {
  const images = [...document.images];
  const sections = [...document.querySelectorAll('section')];
  return {
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0)
                  .map(i => i.alt || i.src.slice(0, 60)),
    sections: sections.map(s => s.id),
    empty: sections.filter(s => {
      const heading = s.querySelector('h2');
      const text = s.innerText.replace(heading ? heading.innerText : '', '').trim();
      return text.length < 20 && s.querySelectorAll('img, table').length === 0;
    }).map(s => s.id),
  };
}"""


def inspect_page(html_path: Path, screenshot: Path) -> PageReport:
    """Load ``html_path`` from disk, wait for every image, and save a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    report = PageReport()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on(
            "console",
            lambda message: message.type == "error" and report.console_errors.append(message.text),
        )
        page.on("pageerror", lambda error: report.console_errors.append(str(error)))
        page.on(
            "request",
            lambda request: (
                not request.url.startswith(("file:", "data:"))
                and report.external_requests.append(request.url)
            ),
        )
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        found = page.evaluate(_INSPECT)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    report.images = found["images"]
    report.broken_images = found["broken"]
    report.sections = found["sections"]
    report.empty_sections = found["empty"]
    return report
