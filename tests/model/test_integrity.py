"""Model files are pickles: only a file whose sha256 this installation signed is ever unpickled."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil

import joblib
import pytest

import suggest
from suggest import Suggester
from suggest.errors import ModelIntegrityError
from suggest.model import integrity


class TouchesMarker:
    """A pickle that creates a file when it is loaded: what an attacker would put in a model file."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def plant(folder: pathlib.Path, marker: pathlib.Path) -> None:
    """Replace the folder's model file with one that runs code, leaving the rest (its signature too) in place."""
    joblib.dump(TouchesMarker(marker), folder / integrity.MODEL_FILE)


@pytest.fixture()
def model_copy(small_model_dir, tmp_path) -> pathlib.Path:
    return pathlib.Path(shutil.copytree(small_model_dir, tmp_path / "model"))


def test_a_saved_model_is_signed_and_loads(model_copy):
    signature = json.loads((model_copy / integrity.SIGNATURE_FILE).read_text())
    digest = hashlib.sha256((model_copy / integrity.MODEL_FILE).read_bytes()).hexdigest()
    assert signature["sha256"] == digest and signature["algorithm"] == "hmac-sha256" and signature["created"]
    assert integrity.verify(model_copy, integrity.model_signing_key()) == digest
    assert Suggester.load(model_copy).suggest("Essential hypertension.").suggestions


def test_a_tampered_model_file_is_refused_without_being_unpickled(model_copy, tmp_path):
    marker = tmp_path / "code-ran"
    plant(model_copy, marker)
    for load in (Suggester.load, suggest.load_model, Suggester.check_loadable):
        with pytest.raises(ModelIntegrityError, match="changed since it was signed"):
            load(model_copy)
    assert not marker.exists()


def test_an_unsigned_model_is_refused_with_the_way_to_vouch_for_it(model_copy, tmp_path):
    marker = tmp_path / "code-ran"
    plant(model_copy, marker)
    (model_copy / integrity.SIGNATURE_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match=f"no signature.*suggest model sign {model_copy}"):
        suggest.load_model(model_copy)
    assert not marker.exists()


def test_a_signature_made_with_another_key_is_refused(model_copy, tmp_path):
    marker = tmp_path / "code-ran"
    plant(model_copy, marker)
    integrity.sign(model_copy, b"a key the attacker chose, not the server's")  # matches the planted file's sha256
    with pytest.raises(ModelIntegrityError, match="not made with this installation's key"):
        Suggester.load(model_copy)
    assert not marker.exists()


def test_a_model_signed_under_another_server_secret_is_refused(small_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_SECRET_FILE", str(tmp_path / "other-secret"))
    integrity.model_signing_key()  # another installation's secret
    with pytest.raises(ModelIntegrityError, match="not made with this installation's key"):
        Suggester.load(small_model_dir)


def test_a_signature_under_the_token_key_is_refused(model_copy):
    """Token digests are HMACs under the server secret itself: models are signed under a key derived from it."""
    from suggest.secret import server_secret

    integrity.sign(model_copy, server_secret())
    with pytest.raises(ModelIntegrityError, match="not made with this installation's key"):
        Suggester.load(model_copy)


def test_without_a_server_secret_nothing_loads_and_none_is_created(small_model_dir, tmp_path, monkeypatch):
    missing = tmp_path / "var" / "server-secret"
    monkeypatch.setenv("SUGGEST_SECRET_FILE", str(missing))
    with pytest.raises(ModelIntegrityError, match="no server secret"):
        Suggester.load(small_model_dir)
    assert not missing.exists()


def test_a_digest_other_than_the_expected_one_is_refused(model_copy):
    key = integrity.model_signing_key()
    with pytest.raises(ModelIntegrityError, match="not the file the registry recorded"):
        integrity.verify(model_copy, key, expected_sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="not the file the registry recorded"):
        Suggester.load(model_copy, expected_sha256="0" * 64)
    digest = integrity.file_sha256(model_copy / integrity.MODEL_FILE)
    assert integrity.verify(model_copy, key, expected_sha256=digest.upper()) == digest


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"sha256": 1, "hmac": "x", "algorithm": "a",
                                                                      "created": ""})])
def test_a_malformed_signature_is_refused(model_copy, content):
    (model_copy / integrity.SIGNATURE_FILE).write_text(content)
    with pytest.raises(ModelIntegrityError, match="not a model signature"):
        Suggester.load(model_copy)


def test_signing_with_an_expected_digest_refuses_another_file(model_copy):
    before = (model_copy / integrity.SIGNATURE_FILE).read_bytes()
    with pytest.raises(ModelIntegrityError, match="not signed"):
        integrity.sign(model_copy, integrity.model_signing_key(), expected_sha256="0" * 64)
    assert (model_copy / integrity.SIGNATURE_FILE).read_bytes() == before


def test_a_pinned_copy_loads_without_the_key_and_any_other_file_is_refused(model_copy, tmp_path, monkeypatch):
    """What a Spark executor does: the driver verifies the signature and hands over the digest; the executor, which
    has no server secret, loads a copy only if it is that very file."""
    digest = Suggester.check_loadable(model_copy)
    copy = pathlib.Path(shutil.copytree(model_copy, tmp_path / "shipped"))
    (copy / integrity.SIGNATURE_FILE).unlink()
    monkeypatch.setenv("SUGGEST_SECRET_FILE", str(tmp_path / "no-secret-here"))
    assert Suggester.load_pinned(copy, digest).suggest("Essential hypertension.").suggestions
    marker = tmp_path / "code-ran"
    plant(copy, marker)
    with pytest.raises(ModelIntegrityError, match="not the file that was verified"):
        Suggester.load_pinned(copy, digest)
    with pytest.raises(ModelIntegrityError, match="not a sha256 digest"):
        Suggester.load_pinned(copy, "")
    assert not marker.exists()
