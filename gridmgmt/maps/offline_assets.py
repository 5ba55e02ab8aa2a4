"""Vendored JavaScript and CSS for offline maps: fetched once at set-up, read at render time.

Folium's HTML loads Leaflet and its plugins from CDNs, so a map opened without internet is
blank. :func:`ensure_assets` downloads pinned npm tarballs once (``python -m gridmgmt.maps``,
run by the set-up scripts after ``pip install``), checks each against the sha512 integrity
pinned here *and* the one the registry publishes, and keeps only the files a map needs plus
their licences under ``gridmgmt/maps/vendor/``. Folium's own wheel carries the Leaflet.heat
plugin, which is copied from there. Rendering never touches the network: :func:`load_assets`
raises :class:`~gridmgmt._errors.GridMgmtError` with the command to run when files are missing.

The folder can be moved with the ``GRIDMGMT_ASSETS_DIR`` environment variable (for example a
read-only install shared by several users).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import os
import sys
import tarfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gridmgmt._errors import GridMgmtError
from gridmgmt.io import write_bytes, write_json

logger = logging.getLogger(__name__)

REGISTRY_URL = "https://registry.npmjs.org"
FETCH_COMMAND = "python -m gridmgmt.maps"
_MANIFEST = "manifest.json"
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package and the files a map needs from it.

    ``files`` and ``license`` are paths inside the tarball's ``package/`` folder;
    ``integrity`` is the npm ``dist.integrity`` (``sha512-<base64>``) of the tarball.
    """

    name: str
    version: str
    integrity: str
    files: tuple[str, ...]
    license: str

    @property
    def folder(self) -> str:
        """Folder of this package under the vendor folder, e.g. ``leaflet@1.9.4``."""
        return f"{self.name}@{self.version}"


PACKAGES: tuple[NpmPackage, ...] = (
    NpmPackage(
        "leaflet",
        "1.9.4",
        "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        (
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
        ),
        "LICENSE",
    ),
    NpmPackage(
        "leaflet.markercluster",
        "1.5.3",
        "sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA==",
        ("dist/leaflet.markercluster.js", "dist/MarkerCluster.css", "dist/MarkerCluster.Default.css"),
        "MIT-LICENCE.txt",
    ),
    NpmPackage(
        "leaflet.fullscreen",
        "3.0.0",
        "sha512-81wWSUXz1ZtdneR0v5eJDWXUSx+Zo5J50WXWeydG/UcILfIEAgz/iOjZSi3p00Z9MJ/FC/P5i3CgdYuEAos0yQ==",
        ("Control.FullScreen.js", "Control.FullScreen.css", "icon-fullscreen.svg"),
        "LICENSE",
    ),
    # Only for folium.Popup, whose template calls $(...); maps.py inlines it only when used.
    NpmPackage(
        "jquery",
        "3.7.1",
        "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
        ("dist/jquery.min.js",),
        "LICENSE.txt",
    ),
)

# Leaflet.heat as patched by folium, shipped inside folium's wheel (MIT, folium contributors;
# Leaflet.heat and simpleheat are BSD-2-Clause, Vladimir Agafonkin).
_FOLIUM_HEAT = ("folium", "templates/leaflet_heat.min.js")
HEAT_FOLDER = "folium-heat"


def assets_dir() -> Path:
    """The vendor folder: ``$GRIDMGMT_ASSETS_DIR`` if set, else ``gridmgmt/maps/vendor``."""
    env = os.environ.get("GRIDMGMT_ASSETS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "vendor"


def _expected_files() -> list[str]:
    """Every vendored file as a path relative to the vendor folder."""
    out = [f"{p.folder}/{f}" for p in PACKAGES for f in (*p.files, p.license)]
    out.append(f"{HEAT_FOLDER}/leaflet_heat.min.js")
    return out


def missing_assets(folder: Path | None = None) -> list[str]:
    """Relative paths of vendored files that are absent (empty list when complete)."""
    folder = assets_dir() if folder is None else Path(folder)
    return [rel for rel in _expected_files() if not (folder / rel).is_file()]


def _sri_digest(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def _get(url: str) -> bytes:
    if not url.startswith("https://"):
        raise GridMgmtError(f"refusing to download {url!r}: only https URLs are fetched")
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*", "User-Agent": "gridmgmt"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            return response.read()
    except OSError as exc:
        raise GridMgmtError(
            f"cannot download {url}: {exc}. Map assets are fetched once at set-up; "
            f"run `{FETCH_COMMAND}` on a machine with access to {REGISTRY_URL}, "
            "or copy its gridmgmt/maps/vendor folder here"
        ) from None


def _fetch_package(package: NpmPackage, folder: Path) -> dict[str, str]:
    """Download, verify and extract one package; return {relative path: sha256}."""
    meta = json.loads(_get(f"{REGISTRY_URL}/{package.name}/{package.version}"))
    dist = meta.get("dist", {})
    if dist.get("integrity") != package.integrity:
        raise GridMgmtError(
            f"{package.folder}: the registry publishes integrity {dist.get('integrity')!r}, "
            f"gridmgmt pins {package.integrity!r}; refusing to install"
        )
    tarball = _get(dist["tarball"])
    if _sri_digest(tarball) != package.integrity:
        raise GridMgmtError(f"{package.folder}: the downloaded tarball does not match its sha512 integrity")
    written: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member_path in (*package.files, package.license):
            try:
                member = tar.getmember(f"package/{member_path}")
            except KeyError:
                raise GridMgmtError(f"{package.folder}: the tarball has no {member_path}") from None
            extracted = tar.extractfile(member)
            if extracted is None:
                raise GridMgmtError(f"{package.folder}: {member_path} is not a regular file")
            data = extracted.read()
            rel = f"{package.folder}/{member_path}"
            write_bytes(data, folder / rel)
            written[rel] = hashlib.sha256(data).hexdigest()
    logger.info("vendored %s (%d files)", package.folder, len(written))
    return written


def _copy_folium_heat(folder: Path) -> dict[str, str]:
    import importlib.metadata
    import importlib.resources

    source = importlib.resources.files(_FOLIUM_HEAT[0]).joinpath(_FOLIUM_HEAT[1])
    data = source.read_bytes()
    rel = f"{HEAT_FOLDER}/leaflet_heat.min.js"
    write_bytes(data, folder / rel)
    note = (
        f"leaflet_heat.min.js copied from the folium {importlib.metadata.version('folium')} wheel "
        f"({_FOLIUM_HEAT[1]}). Leaflet.heat and simpleheat: BSD-2-Clause, (c) Vladimir Agafonkin; "
        "folium: MIT, (c) folium contributors.\n"
    )
    write_bytes(note.encode("utf-8"), folder / HEAT_FOLDER / "NOTICE.txt")
    return {rel: hashlib.sha256(data).hexdigest()}


def _read_manifest(folder: Path) -> dict:
    path = folder / _MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def ensure_assets(folder: Path | None = None, *, force: bool = False) -> Path:
    """Download and verify every vendored asset unless already present; return the folder.

    Idempotent: packages whose pinned version is recorded in the manifest and whose files
    are all present are not downloaded again.

    Parameters
    ----------
    folder
        Target folder; default :func:`assets_dir`.
    force
        Download everything again.

    Raises
    ------
    GridMgmtError
        When the registry cannot be reached or a download fails its integrity check.
    """
    folder = assets_dir() if folder is None else Path(folder)
    manifest = {} if force else _read_manifest(folder)
    packages: dict[str, dict] = dict(manifest.get("packages", {}))
    for package in PACKAGES:
        recorded = packages.get(package.folder, {})
        complete = recorded.get("integrity") == package.integrity and all(
            (folder / rel).is_file() for rel in recorded.get("files", {})
        )
        if complete and len(recorded.get("files", {})) == len(package.files) + 1:
            continue
        files = _fetch_package(package, folder)
        packages[package.folder] = {"integrity": package.integrity, "files": files}
    packages[HEAT_FOLDER] = {"files": _copy_folium_heat(folder)}
    # Drop records of packages no longer pinned (their folders stay until deleted by hand).
    wanted = {p.folder for p in PACKAGES} | {HEAT_FOLDER}
    write_json({"packages": {k: v for k, v in packages.items() if k in wanted}}, folder / _MANIFEST)
    missing = missing_assets(folder)
    if missing:
        raise GridMgmtError(f"vendored assets still missing after download: {', '.join(missing)}")
    return folder


def load_assets(folder: Path | None = None) -> Mapping[str, bytes]:
    """Read every vendored file, keyed by its path relative to the vendor folder.

    Raises
    ------
    GridMgmtError
        When any file is missing, with the command that fetches them.
    """
    folder = assets_dir() if folder is None else Path(folder)
    missing = missing_assets(folder)
    if missing:
        raise GridMgmtError(
            f"offline map assets are missing from {folder} ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}); run `{FETCH_COMMAND}` once after installing gridmgmt"
        )
    return {rel: (folder / rel).read_bytes() for rel in _expected_files()}


def main(argv: list[str] | None = None) -> int:
    """Command line: fetch the assets (default) or only check them (``--check``)."""
    parser = argparse.ArgumentParser(prog=FETCH_COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report missing files; exit 1 if any")
    parser.add_argument("--force", action="store_true", help="download again even if present")
    parser.add_argument("--dir", type=Path, default=None, help="vendor folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = assets_dir() if args.dir is None else args.dir
    if args.check:
        missing = missing_assets(folder)
        for rel in missing:
            sys.stderr.write(f"missing: {folder / rel}\n")
        if not missing:
            sys.stdout.write(f"all map assets present in {folder}\n")
        return 1 if missing else 0
    try:
        ensure_assets(folder, force=args.force)
    except GridMgmtError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"map assets ready in {folder}\n")
    return 0
