"""Serving the static assets of `contact_store.assets` (see its docstring for the build).

- `/static/<name>.<hash>.<ext>`: `Cache-Control: public, max-age=31536000, immutable`.
- `/static/<name>` (the unfingerprinted logical name), `/assets/...` (GOV.UK Frontend's own asset
  path), `/favicon.ico` and the widget's stable URLs: `public, max-age=300` and revalidation.
- Every answer carries an `ETag` (the content hash); `If-None-Match` with it gets `304`.
- The body is the `.br` or `.gz` sibling made at build time when the client's `Accept-Encoding`
  allows it (brotli first), with `Content-Encoding` and `Vary: Accept-Encoding`; nothing is
  compressed per request.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from contact_store.assets import (
    COMPRESSIBLE,
    IMMUTABLE,
    SHORT,
    Asset,
    AssetManifest,
    brotli_bytes,
    current_manifest,
)

router = APIRouter(include_in_schema=False)
# Preferred first: brotli is ~15% smaller than gzip on CSS and JS.
ENCODINGS = ("br", "gzip")


def accepted_encodings(header: str) -> set[str]:
    """The content codings an `Accept-Encoding` header allows (q > 0)."""
    allowed: set[str] = set()
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if token.strip() and quality > 0:
            allowed.add(token.strip().lower())
    if "*" in allowed:
        allowed.update(ENCODINGS)
    return allowed


def _etag_matches(header: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def asset_response(request: Request, asset: Asset, cache_control: str) -> Response:
    """The asset (or a 304) for this request, pre-compressed when the client accepts it."""
    headers = {"Cache-Control": cache_control, "ETag": asset.etag}
    if asset.path.suffix in COMPRESSIBLE:
        headers["Vary"] = "Accept-Encoding"
    if _etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    path = asset.path
    allowed = accepted_encodings(request.headers.get("accept-encoding", ""))
    for encoding in ENCODINGS:
        sibling = asset.sibling(encoding) if encoding in allowed else None
        if sibling is not None:
            headers["Content-Encoding"] = encoding
            path = sibling
            break
    return FileResponse(path, media_type=asset.media_type, headers=headers)


def _manifest(request: Request) -> AssetManifest:
    manifest: AssetManifest | None = getattr(request.app.state, "assets", None)
    return manifest if manifest is not None else current_manifest()


def source_text(request: Request, name: str) -> str | None:
    """The current text of a logical asset (for a body made from it at start-up), or None."""
    asset = _manifest(request).current(name)
    return None if asset is None else asset.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class MadeAsset:
    """A body made once at start-up from an asset and the settings (the widget with its words and
    allowed origins), kept with its ETag and compressed forms in memory."""

    body: bytes
    media_type: str
    etag: str = ""
    encoded: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, body: bytes, media_type: str) -> MadeAsset:
        encoded = {"gzip": gzip.compress(body, compresslevel=9, mtime=0)}
        compressed = brotli_bytes(body)
        if compressed is not None:
            encoded["br"] = compressed
        return cls(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:20]}"', encoded)


def made_response(request: Request, asset: MadeAsset, cache_control: str = SHORT) -> Response:
    """Like `asset_response`, for a `MadeAsset`: 304 on a matching ETag, else the best encoding."""
    headers = {"Cache-Control": cache_control, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if _etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    allowed = accepted_encodings(request.headers.get("accept-encoding", ""))
    for encoding in ENCODINGS:
        if encoding in allowed and encoding in asset.encoded:
            headers["Content-Encoding"] = encoding
            return Response(asset.encoded[encoding], media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def stable(request: Request, name: str) -> Response:
    """A logical name at its stable URL (widget.js, favicon.ico): short cache, ETag, compressed."""
    asset = _manifest(request).current(name)
    if asset is None:
        return Response(status_code=404)
    return asset_response(request, asset, SHORT)


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static_file(request: Request, path: str) -> Response:
    manifest = _manifest(request)
    asset = manifest.immutable(path)
    if asset is not None:
        return asset_response(request, asset, IMMUTABLE)
    return stable(request, path)


@router.api_route("/assets/{path:path}", methods=["GET", "HEAD"])
def govuk_asset(request: Request, path: str) -> Response:
    """GOV.UK Frontend's `$govuk-assets-path` (`/assets/`), for anything still asking there."""
    return stable(request, f"govuk/assets/{path}")


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
def favicon(request: Request) -> Response:
    return stable(request, "favicon.ico")
