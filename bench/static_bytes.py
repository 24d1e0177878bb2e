"""Bytes on the wire for a public page's CSS + JS and for widget.js, as a phone's browser fetches them.

Compares, in the same run: the body bytes without compression (what every page shipped before
issue 12: no gzip or brotli) against what a browser sending `Accept-Encoding: gzip, deflate, br`
gets now, and what a repeat visit costs (fingerprinted files: nothing, they are immutable; widget.js:
a 304 after five minutes). Body bytes only (Content-Length); headers are the same either way.

Usage: python -m bench.static_bytes   (writes bench/results/static_bytes.json)
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from chat_server.app import create_app
from contact_store.migrate import upgrade_database
from contact_store.settings import Settings

BROWSER = "gzip, deflate, br"


def main() -> None:
    data = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=data, env="development")
    upgrade_database(settings.effective_database_url)
    results: dict[str, object] = {"load_average": os.getloadavg()}
    with TestClient(create_app(settings)) as client:
        page = client.get("/report").text
        urls = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page)
        urls += re.findall(r"from '(/static/[^']+\.js)'", page)
        rows = []
        for url in urls:
            plain = client.get(url, headers={"Accept-Encoding": "identity"})
            packed = client.get(url, headers={"Accept-Encoding": BROWSER})
            rows.append(
                {
                    "url": url,
                    "uncompressed": int(plain.headers["content-length"]),
                    "sent": int(packed.headers["content-length"]),
                    "encoding": packed.headers.get("content-encoding"),
                    "cache_control": packed.headers["cache-control"],
                }
            )
        widget_plain = client.get("/chat/widget.js", headers={"Accept-Encoding": "identity"})
        widget = client.get("/chat/widget.js", headers={"Accept-Encoding": BROWSER})
        revalidate = client.get(
            "/chat/widget.js", headers={"Accept-Encoding": BROWSER, "If-None-Match": widget.headers["etag"]}
        )
    results["page_assets"] = rows
    results["page_css_js_uncompressed"] = sum(int(r["uncompressed"]) for r in rows)  # type: ignore[call-overload]
    results["page_css_js_sent"] = sum(int(r["sent"]) for r in rows)  # type: ignore[call-overload]
    results["page_css_js_repeat_visit"] = 0  # immutable: the browser does not even ask
    results["widget_uncompressed"] = int(widget_plain.headers["content-length"])
    results["widget_sent"] = int(widget.headers["content-length"])
    results["widget_encoding"] = widget.headers.get("content-encoding")
    results["widget_revalidation_status"] = revalidate.status_code
    for row in rows:
        print(f"{row['url']:60} {row['uncompressed']:>8} -> {row['sent']:>7} ({row['encoding']})")
    print(
        f"page CSS+JS: {results['page_css_js_uncompressed']} bytes uncompressed -> "
        f"{results['page_css_js_sent']} sent; repeat visit 0 (immutable)"
    )
    print(
        f"widget.js: {results['widget_uncompressed']} -> {results['widget_sent']} "
        f"({results['widget_encoding']}); after max-age: {results['widget_revalidation_status']}, empty body"
    )
    print(f"load average: {results['load_average']}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "static_bytes.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
