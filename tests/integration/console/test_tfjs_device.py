"""The try-it tab's "run on this device" toggle in a real browser (Debian's chromium driven by Playwright):
the digits model converted to TF.js, served by ``modelserve serve --ui``, run in the page with the TF.js
runtime this server hands out, and the same class as the server's answer for every digits PNG."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from servers import ServerProcess
from tfjs_conversions import digits_tfjs

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--no-first-run"]  # fmt: skip
_ANSWER = re.compile(r"On this device: class (\d+) \(server: class (\d+), (same|DIFFERENT)\)")

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gradio")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Iterator[ServerProcess]:
    landed = digits_tfjs(tmp_path_factory, examples_dir)
    tmp = tmp_path_factory.mktemp("tfjs_page")
    model = tmp / "models" / "digits_tfjs"
    shutil.copytree(landed.path.parent, model)
    shutil.copytree(examples_dir / "digits_png", model / "examples")
    process = ServerProcess(f"--model_repository={tmp / 'models'}", "--ui", log_path=tmp / "server.log")
    try:
        process.wait_ready(timeout=120)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def page(server: ServerProcess) -> Iterator:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            opened = browser.new_page(viewport={"width": 1400, "height": 1000})
            requested: list[str] = []
            opened.on("request", lambda request: requested.append(request.url))
            opened.goto(server.url + "/ui/")
            opened.wait_for_selector("#tryit-model", timeout=60_000)
            yield opened
            outside = [u for u in requested if urlsplit(u).hostname not in (None, "127.0.0.1")
                       and urlsplit(u).scheme in ("http", "https", "ws", "wss")]  # fmt: skip
            assert outside == [], "the page asked for something beyond 127.0.0.1 (a CDN?)"
            assert any(u.endswith("/ui/tfjs-runtime/tf.min.js") for u in requested)
        finally:
            browser.close()


def _device_answer(page, previous: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.locator("#tryit-device-answer").inner_text()
        if "On this device" in text and text != previous:
            return text
        time.sleep(0.2)
    raise AssertionError(f"no new answer from the browser: {text!r}")


def test_every_digit_gets_the_servers_class_in_the_browser(page, examples_dir: Path):
    box = page.locator("#tryit-model input")
    box.click()
    box.fill("digits_tfjs")
    page.locator("ul[role=listbox] li", has_text="digits_tfjs").first.click()
    page.wait_for_function("() => document.querySelectorAll('#tryit-send').length === 1", timeout=30_000)
    page.wait_for_timeout(300)
    toggle = page.locator("#tryit-device input[type=checkbox]")
    toggle.check()
    previous = ""
    pngs = sorted((examples_dir / "digits_png").glob("*.png"))
    assert len(pngs) == 10
    for png in pngs:
        page.locator("input[type=file]").first.set_input_files(str(png))
        page.wait_for_timeout(500)
        page.click("#tryit-send")
        previous = _device_answer(page, previous)
        found = _ANSWER.search(previous)
        assert found, previous
        device, served, verdict = found.groups()
        assert device == served and verdict == "same", (png.name, previous)
        page.wait_for_function(  # the drawn answer re-renders just after; wait for this one, not the last
            "c => [...document.querySelectorAll('.output-class')].some(e => e.innerText.trim() === c)",
            arg=served, timeout=30_000,
        )  # fmt: skip
        assert device == png.name.split("_")[1], png.name  # the file names carry the true digit
