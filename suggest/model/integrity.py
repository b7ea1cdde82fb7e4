"""Model file integrity: a model file is a pickle, and unpickling runs code, so it is read only once its sha256 is
known to be one this installation signed.

Signing: :func:`sign` writes ``model.joblib.sig`` beside the model file, JSON holding the file's sha256, an
HMAC-SHA256 of that digest, the algorithm and the time. The key (:func:`model_signing_key`) is derived from the
server secret (:mod:`suggest.secret`), which lives outside the models folder with mode 0600: whoever can write the
models folder (or the MLflow artifact store) but cannot read the secret cannot sign a file of their own. A registry
adds a second record: the ``model_sha256`` tag of each MLflow model version (set when the version is registered),
checked as ``expected_sha256``, which also holds where MLflow's store is out of reach of the models' writers.

Policy: every load verifies, before a byte is unpickled (:meth:`suggest.Suggester.load`), in the library, the
command line and the server alike; a missing signature, one made under another key, or a file whose sha256
differs from the signed one (or from the registry's) raises :class:`~suggest.errors.ModelIntegrityError`. There is
no switch that skips it. ``Suggester.save`` signs what it writes, so ``suggest train`` and the default model are
signed; a folder from elsewhere that the operator vouches for is signed with ``suggest model sign DIR``, which prints
its sha256 first (to compare with the one its author gives). The server refuses to start on a model that fails, and
``POST /v1/model/reload`` answers 422; a registry champion that fails is passed over for the default model, with a
warning; ``suggest serve`` rebuilds a default model that has no signature (one saved before models were signed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from suggest.errors import ModelIntegrityError
from suggest.secret import SecretMissing, derived_key

MODEL_FILE = "model.joblib"
SIGNATURE_FILE = MODEL_FILE + ".sig"
ALGORITHM = "hmac-sha256"
#: The name of the MLflow model-version tag holding the model file's sha256.
SHA256_TAG = "model_sha256"
_PURPOSE = b"model-signing"
_BLOCK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Signature:
    """The content of ``model.joblib.sig``: the file's sha256 and an HMAC of it (hex), how, and when."""

    sha256: str
    hmac: str
    algorithm: str
    created: str


def model_signing_key(*, create: bool = True) -> bytes:
    """The key models are signed under, derived from the server secret (created on first use if ``create``;
    otherwise a missing secret is a ModelIntegrityError, since no signature can then be checked)."""
    try:
        return derived_key(_PURPOSE, create=create)
    except SecretMissing as exc:
        raise ModelIntegrityError(f"{exc} ($SUGGEST_SECRET_FILE): model signatures are checked with a key derived "
                                  "from it, so no model can be loaded; run from the folder that holds var/, or "
                                  "set SUGGEST_SECRET_FILE") from None


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sign(folder: str | Path, key: bytes, expected_sha256: str | None = None) -> Signature:
    """Sign ``folder/model.joblib`` under ``key``: writes ``folder/model.joblib.sig`` and returns what it holds.
    With ``expected_sha256`` (the digest its author gives), a file with another digest is refused, not signed."""
    folder = Path(folder)
    digest = file_sha256(folder / MODEL_FILE)
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise ModelIntegrityError(f"{folder}: {MODEL_FILE} has sha256 {digest}, not {expected_sha256}: not signed")
    signature = Signature(digest, _mac(key, digest), ALGORITHM,
                          datetime.now(UTC).isoformat(timespec="seconds"))
    tmp = folder / (SIGNATURE_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(signature), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SIGNATURE_FILE)
    return signature


def verify(folder: str | Path, key: bytes, expected_sha256: str | None = None) -> str:
    """Check ``folder/model.joblib`` against its signature under ``key`` (and ``expected_sha256``, when given);
    returns its sha256.

    Raises
    ------
    ModelIntegrityError
        No signature, a signature not made under ``key``, or a file whose sha256 differs from the signed one or from
        ``expected_sha256``.
    """
    folder = Path(folder)
    signature = _signature_under(folder, key)
    return _checked(folder, file_sha256(folder / MODEL_FILE), signature, expected_sha256)


def read_verified(folder: str | Path, key: bytes, expected_sha256: str | None = None) -> bytes:
    """The bytes of ``folder/model.joblib``, once :func:`verify`'s checks pass on those very bytes (read once, so a
    file replaced between the check and the unpickling changes nothing)."""
    folder = Path(folder)
    signature = _signature_under(folder, key)
    data = (folder / MODEL_FILE).read_bytes()
    _checked(folder, hashlib.sha256(data).hexdigest(), signature, expected_sha256)
    return data


def read_pinned(folder: str | Path, sha256: str) -> bytes:
    """The bytes of ``folder/model.joblib`` if their sha256 is ``sha256``, a digest a trusted process has verified
    (:func:`verify`) and handed over: a Spark executor, which holds no signing key, loads the copy of the model the
    driver verified this way.

    Raises
    ------
    ModelIntegrityError
        ``sha256`` is not a digest, or the file is not the one it names.
    """
    folder = Path(folder)
    if not _HEX64.fullmatch(sha256 or ""):
        raise ModelIntegrityError(f"{folder}: {sha256!r} is not a sha256 digest")
    data = (folder / MODEL_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(digest, sha256):
        raise ModelIntegrityError(f"{folder}: {MODEL_FILE} is not the file that was verified (sha256 {digest}, "
                                  f"verified {sha256}); refusing to load it")
    return data


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def _signature_under(folder: Path, key: bytes) -> Signature:
    path = folder / SIGNATURE_FILE
    if not path.is_file():
        raise ModelIntegrityError(
            f"{folder}: {MODEL_FILE} has no signature ({SIGNATURE_FILE}): it was not saved here, or was saved before "
            f"models were signed. A model file runs code when loaded: if you trust it, sign it with "
            f"'suggest model sign {folder}'")
    try:
        signature = Signature(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        signature = None
    if signature is None or not all(isinstance(v, str) and _HEX64.fullmatch(v)
                                    for v in (signature.sha256, signature.hmac)):
        raise ModelIntegrityError(f"{path}: not a model signature")
    if signature.algorithm != ALGORITHM or not hmac.compare_digest(_mac(key, signature.sha256), signature.hmac):
        raise ModelIntegrityError(
            f"{folder}: the signature of {MODEL_FILE} was not made with this installation's key (derived from the "
            f"server secret, $SUGGEST_SECRET_FILE); if you trust the folder, sign it with "
            f"'suggest model sign {folder}'")
    return signature


def _checked(folder: Path, digest: str, signature: Signature, expected_sha256: str | None) -> str:
    if digest != signature.sha256:
        raise ModelIntegrityError(f"{folder}: {MODEL_FILE} changed since it was signed (sha256 {digest}, signed "
                                  f"{signature.sha256}); refusing to load it")
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise ModelIntegrityError(f"{folder}: {MODEL_FILE} is not the file the registry recorded (sha256 {digest}, "
                                  f"registered {expected_sha256}); refusing to load it")
    return digest
