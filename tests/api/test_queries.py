"""Provider queries: asked by a coder, answered by the provider they are addressed to (who sees nothing else), an
answer amending the chart with its history kept, the chart on hold meanwhile."""

from __future__ import annotations

import pytest
from api_support import bearer, new_token

TEXT = "Assessment: congestive heart failure, on furosemide. Knee pain.\nSigned by Dr Quinn."


@pytest.fixture()
def provider(app) -> dict[str, str]:
    return bearer(new_token(app, "provider", "dr-quinn"))


@pytest.fixture()
def chart(client, coder) -> dict:
    saved = client.post("/v1/charts", json={"patient_id": "P-7", "text": TEXT, "codes": ["I50.9"]}, headers=coder)
    taken = client.post(f"/v1/charts/{saved.get_json()['id']}/status",
                        json={"status": "in_progress", "version": 1}, headers=coder)
    assert taken.status_code == 200
    return taken.get_json()


def ask(client, coder, chart, **body):
    start = TEXT.index("congestive")
    payload = {"provider": "dr-quinn", "template": "heart_failure_type", "start": start,
               "end": start + len("congestive heart failure"), **body}
    return client.post(f"/v1/charts/{chart['id']}/queries", json=payload, headers=coder)


def test_templates_are_compliant_multiple_choice(client, coder):
    data = client.get("/v1/query-templates", headers=coder).get_json()
    assert len(data["templates"]) >= 10
    for template in data["templates"]:
        assert "Unable to determine" in template["options"] or "Organism not determined" in template["options"]
        assert any(option.startswith("Other") for option in template["options"]), template["id"]


def test_a_query_puts_the_chart_on_hold_and_shows_the_provider_only_its_span(client, coder, provider, chart):
    asked = ask(client, coder, chart)
    assert asked.status_code == 201, asked.get_json()
    query = asked.get_json()["query"]
    assert asked.get_json()["chart_status"] == "on_hold"
    assert query["excerpt"] == "congestive heart failure" and query["status"] == "open"
    assert "(congestive heart failure)" in query["question"] and "Unable to determine" in query["options"]
    assert client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()["status"] == "on_hold"

    seen = client.get(f"/v1/queries/{query['id']}", headers=provider).get_json()
    assert seen["excerpt"] == "congestive heart failure" and "Knee" not in str(seen)
    assert [q["id"] for q in client.get("/v1/queries", headers=provider).get_json()["items"]] == [query["id"]]
    for forbidden in (f"/v1/charts/{chart['id']}", f"/v1/charts/{chart['id']}/history", "/v1/worklist"):
        response = client.get(forbidden, headers=provider)
        assert response.status_code == 403 and "provider" in response.get_json()["error"], forbidden
    assert client.post("/v1/suggest", json={"text": "asthma"}, headers=provider).status_code == 403


def test_a_provider_sees_only_the_queries_addressed_to_them(app, client, coder, provider, chart):
    other = bearer(new_token(app, "provider", "dr-ross"))
    query = ask(client, coder, chart).get_json()["query"]
    assert client.get(f"/v1/queries/{query['id']}", headers=other).status_code == 404
    assert client.get("/v1/queries", headers=other).get_json()["items"] == []
    asked_for = client.get("/v1/queries", query_string={"provider": "dr-quinn"}, headers=other)
    assert asked_for.status_code == 403 and asked_for.get_json()["field"] == "provider"
    answer = client.post(f"/v1/queries/{query['id']}/answer", json={"answer": "x", "version": 1}, headers=other)
    assert answer.status_code == 404
    by_coder = client.post(f"/v1/queries/{query['id']}/answer", json={"answer": "x", "version": 1}, headers=coder)
    assert by_coder.status_code == 403


def test_an_answer_amends_the_chart_keeps_its_history_and_resumes_it(client, coder, provider, chart):
    query = ask(client, coder, chart).get_json()["query"]
    answered = client.post(f"/v1/queries/{query['id']}/answer", headers=provider, json={
        "answer": "Chronic diastolic heart failure.", "option": "Chronic diastolic (HFpEF)",
        "amendment": "Heart failure is chronic diastolic (HFpEF).", "version": 1})
    assert answered.status_code == 200, answered.get_json()
    body = answered.get_json()
    assert body["chart_status"] == "in_progress"
    assert (body["query"]["status"], body["query"]["option"]) == ("answered", "Chronic diastolic (HFpEF)")
    amended = client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()
    assert amended["text"].startswith(TEXT)
    assert "ADDENDUM (provider query" in amended["text"] and "electronically signed by dr-quinn" in amended["text"]
    assert amended["text"].rstrip().endswith("Heart failure is chronic diastolic (HFpEF).")
    assert (amended["status"], amended["assignee"]) == ("in_progress", "casey")
    history = client.get(f"/v1/charts/{chart['id']}/history", headers=coder).get_json()["history"]
    text_change = next(h for h in history if "text" in h["changes"])
    assert text_change["changes"]["text"][0] == TEXT and text_change["changed_by"] == "dr-quinn"
    again = client.post(f"/v1/queries/{query['id']}/answer", json={"answer": "again", "version": 2},
                        headers=provider)
    assert again.status_code == 409 and again.get_json()["field"] == "status"
    closed = client.post(f"/v1/queries/{query['id']}/close", json={"version": 2}, headers=coder)
    assert closed.status_code == 200 and closed.get_json()["query"]["status"] == "closed"


def test_the_chart_stays_on_hold_until_its_last_open_query_and_cannot_be_coded_meanwhile(client, coder, provider,
                                                                                          chart):
    first = ask(client, coder, chart).get_json()["query"]
    second = ask(client, coder, chart, template="laterality", start=TEXT.index("Knee"),
                 end=TEXT.index("Knee") + 9).get_json()
    assert second["chart_status"] == "on_hold" and second["query"]["excerpt"] == "Knee pain"
    answered = client.post(f"/v1/queries/{first['id']}/answer", json={"answer": "Acute on chronic systolic.",
                                                                       "version": 1}, headers=provider).get_json()
    assert answered["chart_status"] == "on_hold"
    withdrawn = client.post(f"/v1/queries/{second['query']['id']}/close", json={"version": 1}, headers=coder)
    assert withdrawn.get_json()["chart_status"] == "in_progress"
    listed = client.get("/v1/queries", query_string={"chart_id": chart["id"]}, headers=coder).get_json()
    assert {q["status"] for q in listed["items"]} == {"answered", "closed"} and listed["total"] == 2


def test_bad_queries_are_400s_naming_the_field(client, coder, provider, chart):
    cases = [({"provider": "nobody"}, "provider"), ({"provider": "casey"}, "provider"),
             ({"template": "no-such-template"}, "template"), ({"end": len(TEXT) + 5}, "end"),
             ({"start": None, "end": 5}, "start"), ({"template": None}, "question")]
    for change, field in cases:
        response = ask(client, coder, chart, **change)
        assert response.status_code == 400 and response.get_json()["field"] == field, (change, response.get_json())
    query = ask(client, coder, chart).get_json()["query"]
    bad_option = client.post(f"/v1/queries/{query['id']}/answer", json={"answer": "x", "option": "Maybe",
                                                                         "version": 1}, headers=provider)
    assert bad_option.status_code == 400 and bad_option.get_json()["field"] == "option"
    stale = client.post(f"/v1/queries/{query['id']}/answer", json={"answer": "x", "version": 3}, headers=provider)
    assert stale.status_code == 409 and stale.get_json()["field"] == "version"


def test_a_free_question_needs_no_template_and_a_completed_chart_takes_no_query(client, coder, provider, chart):
    free = ask(client, coder, chart, template=None, question="Is the knee pain post-traumatic?", start=None, end=None)
    assert free.status_code == 201 and free.get_json()["query"]["options"] == []
    assert free.get_json()["query"]["excerpt"] is None
    client.post(f"/v1/queries/{free.get_json()['query']['id']}/close", json={"version": 1}, headers=coder)
    current = client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()
    coded = client.post(f"/v1/charts/{chart['id']}/status", json={"status": "coded", "version": current["version"]},
                        headers=coder).get_json()
    done = client.post(f"/v1/charts/{chart['id']}/status", json={"status": "completed", "version": coded["version"]},
                       headers=coder).get_json()
    assert done["status"] == "completed"
    late = ask(client, coder, done)
    assert late.status_code == 409 and late.get_json()["field"] == "status"
