"""End to end in a real headless Chromium: a coder codes a chart in the web page and finds it again."""

from __future__ import annotations

import re

import pytest
from api_support import make_app, new_token
from browser_support import VIEWPORT, chromium, needs_chromium, served, watch

pytestmark = needs_chromium

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
    app = make_app(tmp_path, small_model)
    token = new_token(app, "coder", "casey")
    with served(app) as base:
        yield base, token


@pytest.fixture()
def page():
    with chromium() as (browser, errors):
        yield watch(browser.new_page(viewport=VIEWPORT), errors)
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
    # the tab first lists the recent charts: wait for the search's own list before taking its row
    expect(page.locator("#find-summary")).to_contain_text("1 chart ·")
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


# ----------------------------------------------------------------------------- the defects of issue #12's page
def _sign_in(page, base, token):
    from playwright.sync_api import expect

    page.goto(f"{base}/?token={token}")
    expect(page.locator("#who")).to_have_text("casey (coder)")


def _suggest(page, text=CHART):
    from playwright.sync_api import expect

    page.fill("#chart-text", text)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status")).to_contain_text("suggestions from")


def _save_chart(page, base, token, **fields):
    body = {"patient_id": "PT-1", "text": CHART, "codes": ["I10"], "document_type": "progress_note", **fields}
    response = page.request.post(f"{base}/v1/charts", data=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 201, response.text()
    return response.json()["id"]


def test_find_charts_hides_the_coding_screen_and_lists_recent_charts(server, page):
    from playwright.sync_api import expect

    base, token = server
    chart_id = _save_chart(page, base, token)
    _sign_in(page, base, token)
    page.click("#tab-find")
    # hidden wins over .grid's display: grid
    expect(page.locator("#view-code")).to_be_hidden()
    assert page.locator("#view-code").evaluate("e => getComputedStyle(e).display") == "none"
    expect(page.locator("#view-find")).to_be_visible()
    # recent charts without a search, with readable document types; one page: no paging
    row = page.locator(f"#find-results tr[data-id='{chart_id}']")
    expect(row).to_contain_text("PT-1")
    expect(row).to_contain_text("Progress / clinic note")
    assert "progress_note" not in row.inner_text()
    expect(page.locator("#find-summary")).to_contain_text("Recent charts")
    expect(page.locator("#find-prev")).to_be_disabled()
    expect(page.locator("#find-next")).to_be_disabled()
    # a failed search clears the old results
    page.fill("#s-code", "not a code!")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Search failed")
    expect(page.locator("#find-results tr")).to_have_count(0)
    expect(page.locator("#find-summary")).to_have_text("")
    # and back: the search form goes away
    page.click("#tab-code")
    expect(page.locator("#view-find")).to_be_hidden()
    expect(page.locator("#view-code")).to_be_visible()


def test_every_suggestion_shows_model_selected_first_with_its_confidence(server, page):
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    _suggest(page)
    items = page.locator("li.sugg")
    rows = items.evaluate_all("""items => items.map(li => ({
        code: li.dataset.code, pick: li.querySelector('.pick').textContent, conf: li.querySelector('.conf').textContent,
        accept: li.querySelector('button.accept').textContent, label: li.querySelector('button.accept').getAttribute('aria-label'),
        visible: li.getBoundingClientRect().height > 0}))""")
    assert len(rows) == 20 and all(r["visible"] for r in rows)
    # no scroll box: the list is as tall as its rows
    box = page.locator("#suggestions").evaluate("e => [e.scrollHeight, e.clientHeight, getComputedStyle(e).overflowY]")
    assert box[0] <= box[1] and box[2] == "visible"
    picks = [r["pick"] == "★" for r in rows]
    assert any(picks) and picks == sorted(picks, reverse=True)  # model-selected first
    assert all(re.fullmatch(r"[01]\.\d\d", r["conf"]) for r in rows)
    for group in (True, False):  # best first within each group
        confs = [float(r["conf"]) for r, p in zip(rows, picks, strict=True) if p is group]
        assert confs == sorted(confs, reverse=True)
    # the model-selected mark and the accept button do not share a symbol; the buttons name their code
    assert {r["accept"] for r in rows} == {"Accept"}
    assert all(r["label"] == f"Accept {r['code']}" for r in rows)
    expect(items.first).to_have_attribute("aria-label", re.compile(r"confidence [01]\.\d\d, selected by the model"))


def test_suggest_after_edit_text_clears_text_changed(server, page):
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    _suggest(page)
    page.click("#btn-edit")
    page.locator("#chart-text").press("End")
    page.keyboard.type(" Asthma.")
    expect(page.locator("#chart-state")).to_contain_text("Text changed")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status")).to_contain_text("suggestions from")
    expect(page.locator("#chart-state")).not_to_contain_text("Text changed")


def _add_code(page, code):
    from playwright.sync_api import expect

    page.locator("#code-search").focus()
    page.keyboard.type(code)
    expect(page.locator("#code-results li").first).to_have_attribute("data-code", code)
    page.keyboard.press("Enter")
    expect(page.locator(f"#chosen > li[data-code='{code}']")).to_be_visible()


def test_code_search_tolerates_misspellings_and_ranks_common_terms(server, page):
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    search = page.locator("#code-search")
    search.focus()
    page.keyboard.type("diabtes")
    expect(page.locator("#code-results li").first).to_have_attribute("data-code", re.compile(r"^E1[01]"))
    search.fill("")
    page.keyboard.type("community acquired pneumonia")
    expect(page.locator("#code-results li").first).to_have_attribute("data-code", "J18.9")


def test_accept_all_model_selected_shows_the_code_edits_first(server, page):
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    _suggest(page)
    selected = page.locator("li.sugg").evaluate_all(
        "items => items.filter(li => li.querySelector('.pick').textContent).map(li => li.dataset.code)")
    assert "E11.9" in selected and "I10" in selected
    _add_code(page, "E10.9")  # E11.9 with E10.9: Excludes1
    page.click("#btn-accept-selected")
    dialog = page.locator("#bulk-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("should not be coded together")
    expect(dialog.locator("input[value='E11.9']")).not_to_be_checked()  # an error: left unticked
    expect(dialog.locator("input[value='I10']")).to_be_checked()
    # keyboard: Escape cancels and accepts nothing
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#chosen > li")).to_have_count(1)
    page.click("#btn-accept-selected")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Accept ticked codes").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("Accepted")
    chosen = set(page.locator("#chosen > li").evaluate_all("items => items.map(i => i.dataset.code)"))
    assert "I10" in chosen and "E10.9" in chosen and "E11.9" not in chosen
    # accepted one by one anyway: the finding shows beside the code it concerns
    page.locator("li.sugg[data-code='E11.9']").focus()
    page.keyboard.press("a")
    expect(page.locator("#chosen > li[data-code='E10.9'] .code-findings")).to_contain_text("should not be coded together")


def test_a_finding_with_a_position_shows_beside_its_code_and_highlights_its_span(server, page):
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    _suggest(page)
    _add_code(page, "J45.909")  # "She denies asthma."
    beside = page.locator("#chosen > li[data-code='J45.909'] .code-findings")
    expect(beside).to_contain_text("negates it")
    beside.get_by_role("button", name=re.compile("Show in the text")).click()
    expect(page.locator("#chart-view mark.finding-error")).to_have_text("asthma")


def test_a_save_refused_for_error_findings_asks_and_resends_with_confirm_findings(server, page):
    """The page against the save contract (409 with findings; confirm_findings: true saves), request by request:
    every save that does not confirm is answered with the contract's 409, the confirmed one reaches the server."""
    import json

    from playwright.sync_api import expect

    base, token = server
    sent = []
    finding = {"rule": "excludes1", "severity": "error", "code": "E10.9",
               "message": "E10.9 and E11.9 should not be coded together"}

    def contract(route):
        body = json.loads(route.request.post_data)
        sent.append(dict(body))
        if not body.get("confirm_findings"):
            route.fulfill(status=409, json={"error": "the chart has error findings", "field": "codes",
                                            "findings": [finding]})
            return
        route.continue_()

    page.route("**/v1/charts", contract)
    _sign_in(page, base, token)
    page.fill("#chart-text", CHART)
    page.fill("#f-patient", "PT-7")
    page.keyboard.press("Control+s")
    dialog = page.locator("#save-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("should not be coded together")
    page.keyboard.press("Escape")  # go back: not saved
    expect(page.locator("#status")).to_contain_text("Not saved")
    page.keyboard.press("Control+s")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Save anyway")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Saved chart #")
    assert [b.get("confirm_findings") for b in sent] == [None, None, True]


def test_a_save_with_error_findings_is_confirmed_against_the_server(server, page):
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    page.fill("#chart-text", CHART)
    page.fill("#f-patient", "PT-8")
    _add_code(page, "E10.9")
    _add_code(page, "E11.9")
    page.keyboard.press("Control+s")
    dialog = page.locator("#save-dialog")
    expect(dialog).to_contain_text("E10.9")
    dialog.get_by_role("button", name="Save anyway").click()
    expect(page.locator("#status")).to_contain_text("Saved chart #")


def test_the_check_takes_the_forms_patient_id_and_date(server, page):
    """A chart without a date or a record number in its text: the form's fields satisfy those checks."""
    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    _suggest(page, CHART.replace("Date of service: 03/14/2026\n", "").replace("   MRN: 00123456", "")
             .replace(" on 03/14/2026", ""))
    findings = page.locator("#findings")
    expect(findings.locator("[data-rule='document_date']")).to_have_count(1)
    expect(findings.locator("[data-rule='patient_mrn']")).to_have_count(1)
    page.fill("#f-patient", "PT-9")
    page.fill("#f-date", "2026-03-14")
    page.locator("#f-date").dispatch_event("change")
    expect(findings.locator("[data-rule='document_date']")).to_have_count(0)
    expect(findings.locator("[data-rule='patient_mrn']")).to_have_count(0)


def test_the_model_line_shows_the_registry_version_and_code_set(tmp_path, small_model, page):
    import copy

    from playwright.sync_api import expect

    registered = copy.copy(small_model)
    registered.card_ = small_model.card_.with_registry("1", "models:/icd10cm-suggester/1")
    app = make_app(tmp_path, registered)
    token = new_token(app, "coder", "casey")
    with served(app) as base:
        _sign_in(page, base, token)
        line = page.locator("#model-line")
        expect(line).to_contain_text("version 1")
        expect(line).to_contain_text(f"code set {small_model.card_.codeset_release}")
        assert "local" not in line.inner_text()


def test_the_page_opens_a_fhir_document_reference_file(server, page, tmp_path):
    """A DocumentReference file fills the text and the form (the authenticator signs it: no signature finding)."""
    import base64
    import json as jsonlib

    from playwright.sync_api import expect

    base, token = server
    _sign_in(page, base, token)
    note = CHART.replace("Electronically signed by John Smith, MD on 03/14/2026\n", "")
    document = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/p1"},
                "date": "2026-03-14T10:30:00Z", "author": [{"display": "Dr Jane Roe"}],
                "authenticator": {"display": "Dr Jane Roe"},
                "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
                "content": [{"attachment": {"contentType": "text/plain",
                                            "data": base64.b64encode(note.encode()).decode()}}]}
    path = tmp_path / "note.json"
    path.write_text(jsonlib.dumps(document), encoding="utf-8")
    page.set_input_files("#file-input", str(path))
    expect(page.locator("#status")).to_contain_text("Opened the FHIR document note.json")
    expect(page.locator("#chart-text")).to_have_value(note)
    expect(page.locator("#f-patient")).to_have_value("Patient/p1")
    expect(page.locator("#f-signed")).to_have_value("Dr Jane Roe")
    expect(page.locator("#f-date")).to_have_value("2026-03-14")
    expect(page.locator("#f-doctype")).to_have_value("progress_note")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status")).to_contain_text("suggestions from")
    expect(page.locator("#findings [data-rule='patient_name']")).to_have_count(0)
    expect(page.locator("#findings [data-rule='signature']")).to_have_count(0)

    path.write_text(jsonlib.dumps({**document, "status": "entered-in-error"}), encoding="utf-8")
    page.set_input_files("#file-input", str(path))
    expect(page.locator("#status")).to_contain_text("DocumentReference.status")
