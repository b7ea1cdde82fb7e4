"""Vendor the page's front-end libraries from the npm registry at build time (``make install`` runs it): each
package is fetched with ``npm pack`` at a pinned version, its tarball checked against the registry's sha512
integrity, and the files the page needs copied into ``api/static/vendor/``. The service then works offline: the page
never loads a script from a CDN.

    python -m api.vendor           # fetch what is missing
    python -m api.vendor --force   # fetch again
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity (sha512, base64)
    files: dict[str, str]  # path in the tarball -> file name in VENDOR_DIR


PACKAGES = (
    NpmPackage("chart.js", "4.5.1",
               "sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw==",
               {"package/dist/chart.umd.min.js": "chart.umd.min.js", "package/LICENSE.md": "chart.js-LICENSE.md"}),
)


def _stamp(package: NpmPackage) -> str:
    return f"{package.name}@{package.version}"


def installed() -> dict[str, str]:
    manifest = VENDOR_DIR / "manifest.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else {}


def vendor(force: bool = False) -> list[str]:
    """Fetch the packages not yet vendored at their pinned version; returns what was fetched."""
    have = installed()
    fetched = []
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        complete = all((VENDOR_DIR / name).is_file() for name in package.files.values())
        if not force and complete and have.get(package.name) == package.version:
            continue
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: it fetches the page's plotting library (apt-get install npm)")
        with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
            subprocess.run([npm, "pack", _stamp(package), "--silent", "--pack-destination", tmp], check=True,
                           stdout=subprocess.DEVNULL)
            tarball = next(Path(tmp).glob("*.tgz"))
            digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
            if digest != package.integrity:
                raise RuntimeError(f"{_stamp(package)}: the tarball's sha512 is not the pinned integrity")
            with tarfile.open(tarball) as archive:
                for member, name in package.files.items():
                    data = archive.extractfile(member)
                    if data is None:
                        raise RuntimeError(f"{_stamp(package)} has no {member}")
                    (VENDOR_DIR / name).write_bytes(data.read())
        have[package.name] = package.version
        fetched.append(_stamp(package))
    (VENDOR_DIR / "manifest.json").write_text(json.dumps(have, indent=1, sort_keys=True) + "\n")
    return fetched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.vendor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="fetch again even when vendored")
    args = parser.parse_args(argv)
    try:
        fetched = vendor(args.force)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"api.vendor: {exc}", file=sys.stderr)
        return 1
    print("vendored " + ", ".join(fetched) if fetched else "front-end libraries already vendored")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
