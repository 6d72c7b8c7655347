"""The web page in a real browser: Debian's chromium driven by Playwright (never a downloaded browser), against
a real ``modelserve serve --ui`` on 127.0.0.1 over copies of the example models.

Screenshots land in ``$MODELSERVE_TEST_ARTIFACTS`` (default ``.artifacts/console`` in the checkout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from servers import ServerProcess

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("MODELSERVE_TEST_ARTIFACTS", Path(__file__).parents[3] / ".artifacts")) / "console"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--no-first-run"]  # fmt: skip

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gradio")


def _repository(tmp: Path, examples_dir: Path) -> Path:
    root = tmp / "models"
    for name in ("digits_onnx", "half_plus_two", "multiply_five"):
        shutil.copytree(examples_dir / name, root / name)
    if not (root / "digits_onnx" / "examples").is_dir():  # models built before examples/ existed
        shutil.copytree(examples_dir / "digits_png", root / "digits_onnx" / "examples")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("console")
    root = _repository(tmp, examples_dir)
    process = ServerProcess(
        f"--model_repository={root}", "--file_system_poll_wait_seconds=1", "--ui", log_path=tmp / "server.log"
    )
    process.root = root  # type: ignore[attr-defined]
    try:
        process.wait_ready(timeout=120)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


class Visit:
    """One page, recording every URL it asks for (to prove that nothing leaves 127.0.0.1)."""

    def __init__(self, browser, url: str) -> None:
        self.requested: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("request", lambda request: self.requested.append(request.url))
        self.page.goto(url)

    def outside(self) -> list[str]:
        return [u for u in self.requested if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                and urlsplit(u).hostname != "127.0.0.1"]  # fmt: skip

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def visit(browser, server: ServerProcess) -> Iterator[Visit]:
    page = Visit(browser, server.url + "/")  # "/" leads to the page
    page.page.wait_for_selector("#tryit-model", timeout=60_000)
    yield page
    assert page.outside() == [], "the page asked for something beyond 127.0.0.1"
    page.page.close()


def _choose(page, element_id: str, value: str) -> None:
    box = page.locator(f"#{element_id} input")
    box.click()
    box.fill(value)
    page.locator("ul[role=listbox] li", has_text=value).first.click()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).last.click()


def _form_for(page, text: str) -> None:
    """Wait until the generated form is the one whose description has ``text``, drawn once (a choice
    re-draws it: for a moment the old and the new form are both in the page)."""
    page.wait_for_function(
        "text => document.querySelectorAll('#tryit-send').length === 1 && document.body.innerText.includes(text)",
        arg=text, timeout=30_000,
    )  # fmt: skip
    page.wait_for_timeout(300)


def _wait_for_text(page, selector: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    found = ""
    while time.monotonic() < deadline:
        found = page.locator(selector).inner_text()
        if text in found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared in {selector}: {found!r}")


def test_upload_a_digit_and_read_the_class_and_the_snippet_repeats_it(visit: Visit, examples_dir: Path):
    page = visit.page
    _choose(page, "tryit-model", "digits_onnx")
    _form_for(page, "images float32 [-1, 8, 8, 1]")
    page.locator("input[type=file]").first.set_input_files(str(examples_dir / "digits_png" / "digit_7_0.png"))
    page.wait_for_timeout(1000)
    page.click("#tryit-send")
    _wait_for_text(page, "#tryit-status", "OK")
    page.locator(".output-class").first.wait_for(timeout=30_000)  # the answer is drawn just after the status
    assert page.locator(".output-class").first.inner_text().strip() == "7"
    visit.shot("try-digit")
    page.get_by_text("Copy this request").click()
    curl = page.locator("#snippet-curl .cm-content").inner_text()
    assert "/v1/models/digits_onnx:predict" in curl
    answer = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True)
    probabilities = json.loads(answer.stdout)["outputs"]["probabilities"][0]
    assert probabilities.index(max(probabilities)) == 7  # the snippet is the request the page made


def _send_json_to_half_plus_two(page, body: str) -> None:
    _choose(page, "tryit-model", "half_plus_two")
    _form_for(page, "x float32 [-1, 1]")
    _tab(page, "JSON")
    editor = page.locator("#tryit-json .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.type(body)
    page.click("#tryit-send-json")


def test_type_json_for_half_plus_two_and_read_2_5(visit: Visit):
    page = visit.page
    _send_json_to_half_plus_two(page, '{"instances": [[1.0]]}')
    _wait_for_text(page, "#tryit-status", "OK")
    page.locator("#answer-y").wait_for(timeout=30_000)  # the answer is drawn just after the status
    assert _rows(page, "answer-y") == [["2.5"]]
    visit.shot("try-json")


def test_a_malformed_request_shows_the_error(visit: Visit):
    page = visit.page
    _send_json_to_half_plus_two(page, '{"instances": [["not a number"]]}')
    status = _wait_for_text(page, "#tryit-status", "INVALID_ARGUMENT")
    assert "HTTP 400" in status


def _rows(page, element_id: str) -> list[list[str]]:
    """The cells of a Gradio table (a virtual grid: rows and grid cells, not <td>s)."""
    return page.eval_on_selector_all(
        f"#{element_id} [role=row].virtual-row",
        "rows => rows.map(r => Array.from(r.querySelectorAll('[role=gridcell]')).map(c => c.innerText.trim()))",
    )


def test_a_new_version_appears_on_the_dashboard(visit: Visit, server: ServerProcess):
    page = visit.page
    _tab(page, "Dashboard")
    root: Path = server.root  # type: ignore[attr-defined]
    shutil.copytree(root / "multiply_five" / "1", root / "multiply_five" / "2")
    deadline = time.monotonic() + 45
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = _rows(page, "dashboard-models")
        if ["multiply_five", "2", "AVAILABLE"] in [row[:3] for row in rows]:
            break
        time.sleep(0.5)
    assert ["multiply_five", "2", "AVAILABLE"] in [row[:3] for row in rows], rows


def _rate_for(page, series: str) -> float:
    rows = _rows(page, "dashboard-now")
    return max((float(row[1] or 0) for row in rows if row and row[0] == series), default=0.0)


def test_the_request_rate_chart_moves_after_a_burst(visit: Visit, server: ServerProcess):
    page = visit.page
    _tab(page, "Dashboard")
    chart = page.locator("#chart-rate svg").first
    chart.wait_for(timeout=30_000)
    before = page.locator("#chart-rate svg").first.inner_html()
    session = requests.Session()
    deadline = time.monotonic() + 45
    rate = 0.0
    while time.monotonic() < deadline and rate <= 0:
        for _ in range(40):
            session.post(f"{server.url}/v1/models/half_plus_two:predict", json={"instances": [1.0]})
        rate = _rate_for(page, "half_plus_two:124")
    assert rate > 0
    deadline = time.monotonic() + 10
    while "half_plus_two:124" not in page.locator("#chart-rate").inner_text() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert "half_plus_two:124" in page.locator("#chart-rate").inner_text()  # the series is drawn, in the legend
    assert page.locator("#chart-rate svg").first.inner_html() != before
    visit.shot("dashboard")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Iterator[tuple[ServerProcess, dict]]:
    from modelserve.access.keys import add_entry
    from modelserve.access.scopes import Scopes

    tmp = tmp_path_factory.mktemp("console_keys")
    root = _repository(tmp, examples_dir)
    keys_file = tmp / "keys.json"
    keys = {name: add_entry(keys_file, name, Scopes.parse(scopes))
            for name, scopes in (("viewer", "predict:half*,read"), ("ops", "admin"))}  # fmt: skip
    process = ServerProcess(
        f"--model_repository={root}", f"--api_keys_file={keys_file}", f"--audit_log={tmp / 'audit.jsonl'}", "--ui",
        log_path=tmp / "server.log",
    )  # fmt: skip
    process.audit = tmp / "audit.jsonl"  # type: ignore[attr-defined]
    try:
        process.wait_ready(timeout=120)
        yield process, keys
    finally:
        process.stop()


def _sign_in(browser, server: ServerProcess, name: str, key: str) -> Visit:
    visit = Visit(browser, server.url + "/ui/")
    page = visit.page
    page.wait_for_selector("input[type=password]", timeout=60_000)
    page.locator("input[type=text]").first.fill(name)
    page.locator("input[type=password]").fill(key)
    page.get_by_role("button", name="Login").click()
    return visit


def test_with_keys_the_page_signs_in_and_each_action_needs_its_scope(browser, keyed):
    server, keys = keyed
    refused = _sign_in(browser, server, "viewer", "msk_000000000000_wrong")
    _wait_for_text(refused.page, "body", "Incorrect Credentials")
    refused.page.close()

    viewer = _sign_in(browser, server, "viewer", keys["viewer"])
    page = viewer.page
    page.wait_for_selector("#tryit-model", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#tryit-model input').value !== ''", timeout=30_000)
    box = page.locator("#tryit-model input")
    box.click()
    offered = page.locator("ul[role=listbox] li").all_inner_texts()
    assert [o.replace("✓", "").strip() for o in offered] == ["half_plus_two"]  # the models its predict glob allows
    page.keyboard.press("Escape")
    _tab(page, "Manage")
    page.click("#manage-reload")
    page.click("#manage-confirm")
    outcome = _wait_for_text(page, "#manage-outcome", "PERMISSION_DENIED")
    assert "'viewer' needs the 'admin' scope" in outcome
    viewer.shot("manage-denied")
    assert viewer.outside() == []
    page.close()

    ops = _sign_in(browser, server, "ops", keys["ops"])
    page = ops.page
    page.wait_for_selector("#tryit-model", timeout=60_000)
    _tab(page, "Manage")
    _choose(page, "manage-model", "multiply_five")
    page.click("#manage-unload")
    _wait_for_text(page, "#manage-question", "unload model multiply_five")
    page.click("#manage-confirm")
    _wait_for_text(page, "#manage-outcome", "multiply_five unloaded")
    headers = {"Authorization": f"Bearer {keys['ops']}"}
    assert requests.get(f"{server.url}/v1/models/multiply_five", headers=headers, timeout=10).status_code == 404
    page.click("#manage-load")
    page.click("#manage-confirm")
    _wait_for_text(page, "#manage-outcome", "multiply_five loaded")
    status = requests.get(f"{server.url}/v1/models/multiply_five", headers=headers, timeout=10).json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    ops.shot("manage")
    page.close()
    audit = [json.loads(line) for line in server.audit.read_text().splitlines()]  # type: ignore[attr-defined]
    ui_lines = [(a["who"], a["outcome"]) for a in audit if a.get("door") == "ui"]
    assert ("ops", "ok") in ui_lines and ("viewer", "denied") in ui_lines


def test_drift_shows_in_model_health(visit: Visit, server: ServerProcess, digits_test):
    page = visit.page
    _tab(page, "Dashboard")
    inverted = (1 - digits_test[0][:100]).tolist()
    for _ in range(5):  # one default window (500 rows) of inverted digits against the reference baseline
        answer = requests.post(f"{server.url}/v1/models/digits_onnx:predict", json={"instances": inverted}, timeout=30)
        assert answer.status_code == 200
    deadline = time.monotonic() + 45
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = _rows(page, "dashboard-health")
        if any(row[:3] == ["digits_onnx", "1", "DRIFT"] for row in rows):
            break
        time.sleep(0.5)
    found = [row for row in rows if row[:2] == ["digits_onnx", "1"]]
    assert found and found[0][2] == "DRIFT" and found[0][3].startswith("reference: "), rows
    assert found[0][5].startswith(("images:mean", "probabilities:max", "prediction")), found
