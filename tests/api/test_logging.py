"""Chart text never reaches the logs, not even on errors."""

from __future__ import annotations

import logging

SECRET = "Zebulon Quackenbush has zyxomatosis of the left elbow"


def test_chart_text_is_not_logged(client, coder, caplog):
    caplog.set_level(logging.DEBUG)
    text = f"HPI: {SECRET}. Assessment: asthma."
    client.post("/v1/suggest", json={"text": text}, headers=coder)
    saved = client.post("/v1/charts", json={"patient_id": "P1", "text": text, "codes": ["J45.909"]}, headers=coder)
    chart_id = saved.get_json()["id"]
    client.patch(f"/v1/charts/{chart_id}", json={"text": text + " Updated."}, headers=coder)
    client.get(f"/v1/charts?q={SECRET.split()[0]}", headers=coder)
    client.post("/v1/charts/check", json={"text": text, "codes": ["J45.909"]}, headers=coder)
    # errors: a wrong type next to the text, an unknown field, broken JSON holding the text
    client.post("/v1/charts", json={"patient_id": 5, "text": text, "codes": []}, headers=coder)
    client.post("/v1/suggest", json={"text": text, "extra": text}, headers=coder)
    client.post("/v1/suggest", data='{"text": "' + SECRET, headers={**coder, "Content-Type": "application/json"})
    logged = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records)
    assert "POST /v1/suggest" in logged  # requests are logged ...
    assert "Zebulon" not in logged and "zyxomatosis" not in logged  # ... their text is not


def test_error_messages_do_not_echo_the_input(client, coder):
    body = client.post("/v1/suggest", json={"text": ["Zebulon"]}, headers=coder).get_json()
    assert "Zebulon" not in str(body)
