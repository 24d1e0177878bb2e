"""Static assets (contact_store/assets.py, chat_server/static_assets.py): fingerprinted names from a
manifest through `asset_url`, pre-compressed answers, immutable caching, widget.js revalidation,
and the favicon."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import brotli
import pytest
from fastapi.testclient import TestClient

from chat_server.static_assets import accepted_encodings
from contact_store.assets import IMMUTABLE, SHORT, AssetManifest, build, current_manifest, sources
from contact_store.settings import Settings

BIG_CSS = ".a{color:red}\n" * 100 + '.crest{background:url("/assets/images/crest.svg")}\n'


@pytest.fixture
def source_root(tmp_path: Path) -> Path:
    """A stand-in checkout holding every source file `sources()` names."""
    root = tmp_path / "root"
    images = root / "node_modules/govuk-frontend/dist/govuk/assets/images"
    images.mkdir(parents=True)
    (images / "crest.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'>" + " " * 400 + "</svg>")
    for name, path in sources(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(BIG_CSS if name == "app.css" else f"/* {name} */")
    return root


def test_build_fingerprints_by_content_and_writes_a_manifest(source_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    manifest = build(out, root=source_root)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert re.fullmatch(r"app\.[0-9a-f]{12}\.css", manifest["app.css"])
    assert re.fullmatch(r"console/workspace\.[0-9a-f]{12}\.js", manifest["console/workspace.js"])
    for fingerprinted in manifest.values():
        assert (out / fingerprinted).is_file()
    # The same content keeps its name; a change gives a new one (and the old file stays for pages
    # still cached with it).
    assert build(out, root=source_root) == manifest
    (source_root / "agent_console/workspace/static/workspace.js").write_text("// changed")
    changed = build(out, root=source_root)
    assert changed["console/workspace.js"] != manifest["console/workspace.js"]
    assert changed["app.css"] == manifest["app.css"]
    assert (out / manifest["console/workspace.js"]).is_file()


def test_stylesheet_refers_to_fingerprinted_images(source_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    manifest = build(out, root=source_root)
    css = (out / manifest["app.css"]).read_text()
    assert f'url("/static/{manifest["govuk/assets/images/crest.svg"]}")' in css
    assert "/assets/images/crest.svg" not in css


def test_compressed_siblings_hold_the_same_bytes(source_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    manifest = build(out, root=source_root)
    css = out / manifest["app.css"]
    assert gzip.decompress((out / (manifest["app.css"] + ".gz")).read_bytes()) == css.read_bytes()
    assert brotli.decompress((out / (manifest["app.css"] + ".br")).read_bytes()) == css.read_bytes()
    # Tiny files are not worth compressing; images already compressed are never compressed.
    assert not (out / (manifest["console/tools.js"] + ".gz")).exists()
    png_like = [n for n in manifest if n.endswith((".png", ".woff2", ".ico"))]
    assert all(not (out / (manifest[n] + ".gz")).exists() for n in png_like)


def test_manifest_urls_and_lookups(source_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    build(out, root=source_root)
    assets = AssetManifest.load(out)
    url = assets.url("app.css")
    assert url == f"/static/{assets.names['app.css']}"
    with pytest.raises(KeyError):
        assets.url("no-such-file.css")
    immutable = assets.immutable(assets.names["app.css"])
    assert immutable is not None and immutable.media_type.startswith("text/css")
    assert immutable.etag.strip('"') in assets.names["app.css"]
    assert assets.immutable("app.css") is None  # a logical name is not a fingerprint
    assert assets.current("app.css") == immutable


def test_pages_refer_to_assets_only_by_fingerprinted_url(client: TestClient) -> None:
    page = client.get("/report").text
    manifest = current_manifest()
    assert manifest.url("app.css") in page
    assert manifest.url("govuk/govuk-frontend.min.js") in page
    assert 'rel="icon" href="/favicon.ico"' in page
    assert manifest.url("favicon.svg") in page
    assert "/static/app.css" not in page and "node_modules" not in page


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("br, gzip", "br"), ("gzip, deflate", "gzip"), ("br;q=0, gzip", "gzip"), ("", None), ("identity", None)],
)
def test_fingerprinted_assets_are_compressed_and_immutable(
    client: TestClient, accept: str, encoding: str | None
) -> None:
    url = current_manifest().url("app.css")
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    r = client.get(url, headers={"Accept-Encoding": accept})
    assert r.status_code == 200
    assert r.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["content-type"].startswith("text/css")
    assert r.headers.get("content-encoding") == encoding
    # httpx decodes br and gzip: the client sees the stylesheet whatever travelled.
    assert r.content == plain.content and len(plain.content) > 10_000
    if encoding is not None:
        assert int(r.headers["content-length"]) < len(plain.content) / 4


def test_unfingerprinted_names_and_unknown_files(client: TestClient) -> None:
    r = client.get("/static/app.css")
    assert r.status_code == 200 and r.headers["cache-control"] == SHORT
    assert client.get("/assets/images/favicon.svg").status_code == 200
    assert client.get("/static/nothing-here.css").status_code == 404
    assert client.get("/static/../pyproject.toml").status_code == 404
    head = client.head(current_manifest().url("app.css"))
    assert head.status_code == 200 and head.content == b""


def test_widget_js_keeps_its_url_with_a_short_cache_compression_and_304(client: TestClient) -> None:
    r = client.get("/chat/widget.js", headers={"Accept-Encoding": "br"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["content-encoding"] == "br"
    assert r.headers["vary"] == "Accept-Encoding"
    etag = r.headers["etag"]
    again = client.get("/chat/widget.js", headers={"If-None-Match": etag, "Accept-Encoding": "br"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/chat/widget.js", headers={"If-None-Match": '"stale"'}).status_code == 200
    css = client.get("/chat/widget.css", headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200 and css.headers["content-encoding"] == "gzip"


def test_widget_js_follows_a_changed_phone_number(client: TestClient, settings: Settings) -> None:
    """An administrator's new number reaches every worker's settings; the widget is made again."""
    first = client.get("/chat/widget.js", headers={"Accept-Encoding": "identity"})
    settings.force_phone_non_emergency = "01234 567890"
    second = client.get("/chat/widget.js", headers={"Accept-Encoding": "identity"})
    assert "01234 567890" in second.text and "01234 567890" not in first.text
    assert second.headers["etag"] != first.headers["etag"]


def test_favicon(client: TestClient) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "no-store" not in r.headers["cache-control"]
    svg = client.get(current_manifest().url("favicon.svg"))
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"


def test_accept_encoding_parsing() -> None:
    assert accepted_encodings("gzip, br") == {"gzip", "br"}
    assert accepted_encodings("br;q=0, gzip;q=0.5") == {"gzip"}
    assert accepted_encodings("*") >= {"br", "gzip"}
    assert accepted_encodings("gzip;q=nonsense") == set()
    assert accepted_encodings("") == set()
