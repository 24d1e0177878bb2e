"""Static assets served to the public and the console: fingerprinted names, one manifest, and
pre-compressed siblings, so that a phone downloads each file once, compressed.

How it works:

- Every CSS, JS, font and image file the pages use is listed once below (`sources()`): a logical
  name (`app.css`, `govuk/govuk-frontend.min.js`, `console/workspace.js`, ...) and its source file.
  GOV.UK Frontend's files come from the repository's `node_modules` in a checkout.
- `build(out_dir)` writes each file as `<out_dir>/<name>.<hash>.<ext>` (hash: the first 12 hex
  digits of the SHA-256 of its content), beside it `.gz` (gzip -9) and `.br` (brotli, quality 11,
  when the `brotli` package is installed) siblings, and `manifest.json` mapping each logical name to
  its fingerprinted name. A stylesheet's `url("/assets/...")` references are rewritten to the
  fingerprinted names of those files first (so a changed image changes the stylesheet's name too).
  Files already there are kept (the names are content-addressed), so a rebuild is cheap, and every
  write is a rename of a finished temporary file, so processes building at once never see half a
  file.
- The release build (`scripts/build_release.sh`) runs the build into `contact_store/static/dist`,
  which the wheel carries; an installed package only reads its `manifest.json`. In a checkout (the
  sources are there) the server builds at start-up, so an edited file gets a new name without any
  manual step.
- Templates refer to a file only through `asset_url('app.css')`; the server answers a
  fingerprinted name with `Cache-Control: public, max-age=31536000, immutable`, the `.br` or `.gz`
  sibling when the client accepts it (`Content-Encoding`, `Vary: Accept-Encoding`), and an `ETag`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGES_ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "static"
# Where the release build writes; the wheel carries it (package data `static/**/*`).
DIST_DIR = STATIC_DIR / "dist"
MANIFEST = "manifest.json"
NODE_MODULES = PACKAGES_ROOT / "node_modules"
GOVUK_DIST = NODE_MODULES / "govuk-frontend" / "dist" / "govuk"
# 12 hex digits = 48 bits: no two versions of one file will ever share a name.
HASH_DIGITS = 12
# Files smaller than this gain nothing from compression (headers cost more than the bytes saved).
MIN_COMPRESS_BYTES = 256
COMPRESSIBLE = frozenset({".css", ".js", ".mjs", ".svg", ".json", ".map"})
# A year, never revalidated: the name changes whenever the content does.
IMMUTABLE = "public, max-age=31536000, immutable"
# Stable URLs (widget.js on forces' sites, /favicon.ico, unfingerprinted names): a few minutes,
# then a cheap revalidation by ETag (304).
SHORT = "public, max-age=300"
_CSS_ASSET_URL = re.compile(r"""url\(\s*(["']?)/assets/([^"')\s]+)\1\s*\)""")

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}


def sources(root: Path = PACKAGES_ROOT) -> dict[str, Path]:
    """Every asset the pages use: logical name -> source file (in a checkout)."""
    govuk = root / "node_modules" / "govuk-frontend" / "dist" / "govuk"
    found: dict[str, Path] = {
        "app.css": root / "contact_store/static/app.css",
        "favicon.ico": root / "contact_store/static/favicon.ico",
        "favicon.svg": root / "contact_store/static/favicon.svg",
        "console/wallboard.js": root / "contact_store/static/console/wallboard.js",
        "console/tables.js": root / "contact_store/static/console/tables.js",
        "console/workspace.js": root / "agent_console/workspace/static/workspace.js",
        "console/tools.js": root / "agent_console/workspace/static/tools.js",
        "console/workspace.css": root / "agent_console/workspace/static/workspace.css",
        "widget.js": root / "chat_server/widget/static/widget.js",
        "widget.css": root / "chat_server/widget/static/widget.css",
        "govuk/govuk-frontend.min.js": govuk / "govuk-frontend.min.js",
    }
    for sub in ("images", "fonts"):
        folder = govuk / "assets" / sub
        if folder.is_dir():
            for file in sorted(folder.iterdir()):
                found[f"govuk/assets/{sub}/{file.name}"] = file
    return found


def fingerprinted(name: str, digest: str) -> str:
    """`app.css` -> `app.<digest>.css` (the directory part kept)."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot else f"{name}.{digest}"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def brotli_bytes(data: bytes) -> bytes | None:
    """`data` compressed with brotli (quality 11), or None without the `brotli` package."""
    try:
        import brotli
    except ImportError:  # a checkout without the build extra: gzip only
        return None
    return bytes(brotli.compress(data, quality=11))


def _compressed_siblings(path: Path, data: bytes) -> None:
    if path.suffix not in COMPRESSIBLE or len(data) < MIN_COMPRESS_BYTES:
        return
    gz = path.with_name(path.name + ".gz")
    if not gz.exists():
        _write_atomic(gz, gzip.compress(data, compresslevel=9, mtime=0))
    br = path.with_name(path.name + ".br")
    if not br.exists():
        compressed = brotli_bytes(data)
        if compressed is not None:
            _write_atomic(br, compressed)


def build(out_dir: Path = DIST_DIR, *, root: Path = PACKAGES_ROOT) -> dict[str, str]:
    """Write every asset fingerprinted and pre-compressed into `out_dir`; return the manifest."""
    files = sources(root)
    missing = sorted(str(p) for p in files.values() if not p.is_file())
    if missing:
        raise FileNotFoundError(f"asset sources missing (run scripts/setup.sh): {', '.join(missing)}")
    manifest: dict[str, str] = {}
    # Stylesheets last: they refer to the fingerprinted names of images and fonts.
    for name in sorted(files, key=lambda n: n.endswith(".css")):
        data = files[name].read_bytes()
        if name.endswith(".css"):
            data = _rewrite_css(data, manifest)
        digest = hashlib.sha256(data).hexdigest()[:HASH_DIGITS]
        target = out_dir / fingerprinted(name, digest)
        if not target.exists():
            _write_atomic(target, data)
        _compressed_siblings(target, data)
        manifest[name] = target.relative_to(out_dir).as_posix()
    _write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return manifest


def _rewrite_css(data: bytes, manifest: dict[str, str]) -> bytes:
    def swap(match: re.Match[str]) -> str:
        name = f"govuk/assets/{match.group(2)}"
        return f'url("/static/{manifest[name]}")' if name in manifest else match.group(0)

    return _CSS_ASSET_URL.sub(swap, data.decode("utf-8")).encode("utf-8")


@dataclass(frozen=True)
class Asset:
    """One file to serve: its path on disk, media type and ETag (its content hash)."""

    path: Path
    media_type: str
    etag: str

    def sibling(self, encoding: str) -> Path | None:
        """The pre-compressed `.br` / `.gz` file, if the build made one."""
        suffix = {"br": ".br", "gzip": ".gz"}[encoding]
        candidate = self.path.with_name(self.path.name + suffix)
        return candidate if candidate.is_file() else None


class AssetManifest:
    """Logical names -> fingerprinted names, and the files behind both, for one directory."""

    def __init__(self, directory: Path, manifest: dict[str, str]) -> None:
        self.directory = directory
        self.names = dict(manifest)
        self._by_fingerprint = {v: k for k, v in manifest.items()}

    @classmethod
    def load(cls, directory: Path) -> AssetManifest:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return cls(directory, data)

    def url(self, name: str) -> str:
        """The fingerprinted URL of a logical name (KeyError for an unknown name: a template typo)."""
        return f"/static/{self.names[name]}"

    def _asset(self, fingerprint: str) -> Asset:
        digest = fingerprint.rsplit(".", 2)[-2] if fingerprint.count(".") >= 2 else fingerprint
        suffix = Path(fingerprint).suffix
        return Asset(
            self.directory / fingerprint,
            MEDIA_TYPES.get(suffix, "application/octet-stream"),
            f'"{digest}"',
        )

    def immutable(self, path: str) -> Asset | None:
        """The asset at a fingerprinted path (`app.<hash>.css`), if there is one."""
        return self._asset(path) if path in self._by_fingerprint else None

    def current(self, name: str) -> Asset | None:
        """The current version of a logical name (`app.css`), for stable URLs."""
        fingerprint = self.names.get(name)
        return self._asset(fingerprint) if fingerprint is not None else None

    def logical_names(self) -> Iterable[str]:
        return self.names.keys()


def in_checkout(root: Path = PACKAGES_ROOT) -> bool:
    """True when the asset sources are here (a checkout), false in an installed package."""
    return (root / "node_modules" / "govuk-frontend").is_dir()


@cache
def current_manifest() -> AssetManifest:
    """This process's assets: built at start-up in a checkout, read from the wheel's build otherwise."""
    if in_checkout():
        build(DIST_DIR)
    elif not (DIST_DIR / MANIFEST).is_file():
        raise FileNotFoundError(
            f"{DIST_DIR / MANIFEST} is missing: build the release with scripts/build_release.sh"
        )
    return AssetManifest.load(DIST_DIR)


def main() -> None:
    """`python -m contact_store.assets [out_dir]`: build the assets (release build and setup)."""
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DIST_DIR
    manifest = build(out)
    sys.stdout.write(f"Built {len(manifest)} assets into {out}\n")


if __name__ == "__main__":
    main()
