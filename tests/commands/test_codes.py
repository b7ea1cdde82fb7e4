"""``suggest codes``: show, search and validate from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from suggest.cli import main


def test_show_prints_hierarchy_and_notes(capsys):
    assert main(["codes", "show", "e1122"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("E11.22  Type 2 diabetes mellitus with diabetic chronic kidney disease")
    assert "Billable:  yes" in out
    assert "Chapter:   4  Endocrine, nutritional and metabolic diseases" in out
    assert "Block:     E08-E13  Diabetes mellitus" in out
    assert "E11.2  Type 2 diabetes mellitus with kidney complications" in out
    assert "Use additional code:" in out and "(N18.1-N18.6)" in out


def test_show_seventh_characters_and_children(capsys):
    assert main(["codes", "show", "S72.001"]) == 0
    out = capsys.readouterr().out
    assert "Billable:  no" in out
    assert "S72.001A  Fracture of unspecified part of neck of right femur, initial encounter for closed fracture" in out
    assert "7th characters:" in out and "    S  sequela" in out
    assert "Excludes1:" in out or "Notes:" in out


def test_show_json(capsys):
    assert main(["codes", "show", "S06.0X0A", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["code"] == "S06.0X0A" and data["billable"] is True
    assert data["seventh_character_stem"] == "S06.0X0"
    assert [a["code"] for a in data["ancestors"]] == ["S06.0X0", "S06.0X", "S06.0", "S06"]
    assert data["seventh_characters"]["A"] == "initial encounter"
    assert data["release"].startswith("ICD-10-CM FY2026")


def test_unknown_code_is_a_one_line_error_with_near_matches(capsys):
    assert main(["codes", "show", "E11.99"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and "E11.99" in err and "E11.9" in err


def test_search_prints_a_ranked_table(capsys):
    assert main(["codes", "search", "heart failure", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "CODE", "SCORE", "BILL", "DESCRIPTION"]
    assert len(lines) == 6
    assert lines[1].split()[1].startswith("I50")


def test_search_json_billable_only(capsys):
    assert main(["codes", "search", "fracture of neck of right femur", "--billable-only", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["hits"]) == 10 and all(len(h["code"]) == 8 and h["billable"] for h in data["hits"])


def test_search_rejects_a_bad_limit(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["codes", "search", "asthma", "--limit", "0"])
    assert exc.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_validate_reports_each_code_and_fails_on_invalid(capsys):
    assert main(["codes", "validate", "E11.22", "E11", "E11.99"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["E11.22", "billable"]
    assert lines[1].split()[:3] == ["E11", "not", "billable"] and "E11.00" in lines[1]
    assert lines[2].split()[:2] == ["E11.99", "invalid"] and "E11.9" in lines[2]
    assert main(["codes", "validate", "I10", "j189"]) == 0
    capsys.readouterr()


def test_validate_json(capsys):
    assert main(["codes", "validate", "--json", "S06.1X7D"]) == 1
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] == "invalid" and "S06.1X7A" in result["near_matches"]


def test_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "suggest", "codes", "show", "I10"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("I10  Essential (primary) hypertension")
    assert "high blood pressure" in out.stdout
