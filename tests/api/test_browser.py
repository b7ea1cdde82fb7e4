"""End to end in a real headless Chromium: a coder codes a chart in the web page and finds it again."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from api_support import make_app, new_token

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                       "(make test installs it: apt-get install chromium)"),
]

CHART = (
    "Date of service: 03/14/2026\nPatient: Jane Roe   DOB: 01/02/1960   MRN: 00123456\n\n"
    "CHIEF COMPLAINT\nFollow-up.\n\n"
    "HISTORY OF PRESENT ILLNESS\nShe has type 2 diabetes mellitus and essential hypertension. "
    "She denies asthma. Her mother had pneumonia.\n\n"
    "ASSESSMENT AND PLAN\nType 2 diabetes mellitus: continue metformin. Hypertension: continue lisinopril.\n\n"
    "Electronically signed by John Smith, MD on 03/14/2026\n"
)


@pytest.fixture()
def server(tmp_path, small_model):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):  # the request line carries ?token=
            pass

    app = make_app(tmp_path, small_model)
    token = new_token(app, "coder", "casey")
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", token
    httpd.shutdown()
    thread.join(5)


@pytest.fixture()
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        assert errors == [], f"JavaScript errors: {errors}"


def test_code_a_chart_end_to_end(server, page):
    from playwright.sync_api import expect

    base, token = server
    # sign in with the link; the token leaves the address bar
    page.goto(f"{base}/?token={token}")
    expect(page.locator("#who")).to_have_text("casey (coder)")
    assert "token" not in page.url

    # paste a chart and ask for suggestions with the keyboard
    page.fill("#chart-text", CHART)
    page.keyboard.press("Control+Enter")
    expect(page.locator("li.sugg").first).to_be_visible()
    expect(page.locator("#status")).to_contain_text("suggestions from")

    # click a suggestion with evidence: its spans are highlighted in the text
    with_evidence = page.locator("li.sugg:not([data-evidence='0'])").first
    code = with_evidence.get_attribute("data-code")
    with_evidence.locator(".desc").click()
    marks = page.locator("#chart-view mark.ev")
    expect(marks.first).to_be_visible()
    assert marks.count() >= 1
    assert marks.first.inner_text().strip() and marks.first.inner_text() in CHART

    # accept it from the keyboard
    page.keyboard.press("a")
    expect(page.locator(f"#chosen li[data-code='{code}']")).to_be_visible()
    expect(page.locator(f"li.sugg[data-code='{code}']")).to_have_class(re.compile(r"\baccepted\b"))

    # move to the next suggestion and reject it, all from the keyboard
    page.locator(f"li.sugg[data-code='{code}']").focus()
    page.keyboard.press("ArrowDown")
    below = page.locator("li.sugg:focus")
    rejected = below.get_attribute("data-code")
    assert rejected != code
    page.keyboard.press("r")
    expect(page.locator(f"li.sugg[data-code='{rejected}']")).to_have_class(re.compile(r"\brejected\b"))
    expect(page.locator(f"#chosen li[data-code='{rejected}']")).to_have_count(0)

    # add a code through the search box (not asthma: the chart denies it, and a save with a negated code needs
    # confirming)
    page.keyboard.press("/")
    expect(page.locator("#code-search")).to_be_focused()
    page.keyboard.type("Z79.84")
    expect(page.locator("#code-results li").first).to_have_attribute("data-code", "Z79.84")
    page.keyboard.press("Enter")
    expect(page.locator("#chosen li[data-code='Z79.84']")).to_be_visible()

    # completeness panel is filled (this chart is signed, dated and identified)
    expect(page.locator("#findings li").first).to_be_visible()
    assert "No provider signature" not in page.locator("#findings").inner_text()

    # save with patient details
    page.fill("#f-patient", "PT-4242")
    page.fill("#f-encounter", "ENC-1")
    page.keyboard.press("Control+s")
    expect(page.locator("#status")).to_contain_text("Saved chart #")

    # find it again by the added code and reopen it
    page.click("#tab-find")
    page.fill("#s-code", "Z79.84")
    page.keyboard.press("Enter")
    row = page.locator("#find-results tr").first
    expect(row).to_contain_text("PT-4242")
    row.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Opened chart #")
    expect(page.locator("#f-patient")).to_have_value("PT-4242")
    chosen = page.locator("#chosen li").evaluate_all("items => items.map(i => i.dataset.code)")
    assert set(chosen) == {code, "Z79.84"}
    expect(page.locator("#chosen li[data-code='Z79.84'] .desc")).to_contain_text("hypoglycemic")


def test_bad_token_shows_the_sign_in_form(server, page):
    from playwright.sync_api import expect

    base, _token = server
    page.goto(f"{base}/?token=sgt_wrong")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("not accepted")


def test_api_reference_page_renders(server, page):
    from playwright.sync_api import expect

    base, _token = server
    page.goto(f"{base}/docs")
    expect(page.locator("#post-v1-suggest")).to_be_visible()
    assert page.locator(".op").count() >= 18
