"""Open an HTML file in headless Chromium (through Playwright) and report what a reader would
notice: console errors, images that did not load, sections without content, requests that
left the file (a self-contained report makes none), and what the first screen of a typical
window holds (the answer table?) beside the tallest table cell."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@contextmanager
def browser_page(width: int, height: int) -> Iterator[Any]:
    """A page of headless Chromium in a ``width`` x ``height`` window, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


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
    report = PageReport()
    with browser_page(1200, 900) as page:
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
    report.images = found["images"]
    report.broken_images = found["broken"]
    report.sections = found["sections"]
    report.empty_sections = found["empty"]
    return report


@dataclass
class FirstScreen:
    """Where the report's answer table sits in the window, and the page's tallest table cell."""

    window_height: int
    answer_top: float | None = None  # px from the window's top edge; None: no answer table
    answer_bottom: float | None = None
    answer_rows: int = 0
    tallest_cell: float = 0.0  # px, measured with every <details> opened
    tallest_text: str = ""  # the first characters of that cell, and its section


_FIRST_SCREEN = """() => {
  const answer = document.querySelector('table.answer');
  const box = answer ? answer.getBoundingClientRect() : null;
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  let tallest = 0, text = '';
  for (const cell of document.querySelectorAll('td, th')) {
    const height = cell.getBoundingClientRect().height;
    if (height > tallest) {
      const section = cell.closest('section');
      tallest = height;
      text = (section ? section.id + ': ' : '') + cell.innerText.slice(0, 80);
    }
  }
  return {
    top: box ? box.top : null, bottom: box ? box.bottom : null,
    rows: answer ? answer.querySelectorAll('tbody tr').length : 0, tallest: tallest, text: text,
  };
}"""


def first_screen(html_path: Path, width: int = 1280, height: int = 800) -> FirstScreen:
    """Open ``html_path`` in a ``width`` x ``height`` window (a typical laptop screen), find the
    answer table (``table.answer``) on the first screen, then open every folded ``<details>``
    and measure the tallest table cell."""
    with browser_page(width, height) as page:
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        found = page.evaluate(_FIRST_SCREEN)
    return FirstScreen(
        window_height=height,
        answer_top=found["top"],
        answer_bottom=found["bottom"],
        answer_rows=found["rows"],
        tallest_cell=found["tallest"],
        tallest_text=found["text"],
    )
