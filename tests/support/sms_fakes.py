"""Local fake HTTP servers standing in for GOV.UK Notify and Twilio (no test calls the internet).

Each fake records what it received, checks the request shape the way the real API would
(Notify: a JWT signed with the API key's secret, issuer = service id; Twilio: HTTP basic auth with
the account SID and auth token), and can be told to fail the next requests.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

NOTIFY_SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
NOTIFY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
NOTIFY_API_KEY = f"test_key-{NOTIFY_SERVICE_ID}-{NOTIFY_SECRET}"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-auth-token"


@dataclass
class FakeState:
    sent: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer next
    delay_next: list[float] = field(default_factory=list)  # seconds to sleep after recording a send
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: FakeState
    kind: str

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if self.kind == "notify":
            if not auth.startswith("Bearer "):
                return False
            token = auth[7:]
            try:
                claims = jwt.decode(token, NOTIFY_SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                return False
            return claims.get("iss") == NOTIFY_SERVICE_ID and abs(time.time() - claims.get("iat", 0)) < 30
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        return auth == expected

    def _maybe_fail(self) -> bool:
        with self.state.lock:
            status = self.state.fail_next.pop(0) if self.state.fail_next else None
        if status is None:
            return False
        self._reply(
            status, {"errors": [{"error": "Fake", "message": f"fake {status}"}], "message": "fake", "code": 1}
        )
        return True

    def do_POST(self) -> None:
        raw = self._body()
        if not self._authorised():
            self.state.rejected.append(self.path)
            self._reply(403, {"errors": [{"error": "AuthError", "message": "bad auth"}]})
            return
        if self._maybe_fail():
            return
        if self.kind == "notify":
            if self.path != "/v2/notifications/sms":
                self._reply(404, {})
                return
            body = json.loads(raw)
            required = {"phone_number", "template_id"}
            if not required <= body.keys():
                self._reply(400, {"errors": [{"error": "ValidationError", "message": "missing"}]})
                return
            record = {"id": str(uuid.uuid4()), **body}
        else:
            if not self.path.endswith("/Messages.json"):
                self._reply(404, {})
                return
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if not {"To", "From", "Body"} <= form.keys():
                self._reply(400, {"message": "missing", "code": 21604, "status": 400})
                return
            record = {"sid": "SM" + uuid.uuid4().hex, **form}
        with self.state.lock:
            self.state.sent.append(record)
            delay = self.state.delay_next.pop(0) if self.state.delay_next else 0.0
        if delay:
            time.sleep(delay)  # recorded, but the client gives up first: the outcome is unknown to it
        if self.kind == "notify":
            self._reply(201, {"id": record["id"], "reference": record.get("reference"), "content": {}})
        else:
            self._reply(
                201,
                {
                    "sid": record["sid"],
                    "to": record["To"],
                    "from": record["From"],
                    "body": record["Body"],
                    "status": "queued",
                    "account_sid": TWILIO_SID,
                },
            )

    def do_GET(self) -> None:
        if not self._authorised():
            self._reply(403, {})
            return
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.state.lock:
            sent = list(self.state.sent)
        if self.kind == "notify":
            items = [
                {"id": r["id"], "reference": r.get("reference"), "type": "sms", "status": "sending"}
                for r in sent
                if "reference" not in query or r.get("reference") == query["reference"]
            ]
            self._reply(200, {"notifications": items, "links": {"current": self.path}})
        else:
            items = [
                {
                    "sid": r["sid"],
                    "to": r["To"],
                    "from": r["From"],
                    "body": r["Body"],
                    "status": "sent",
                    "account_sid": TWILIO_SID,
                }
                for r in sent
                if "To" not in query or r["To"] == query["To"]
            ]
            self._reply(
                200,
                {
                    "messages": items,
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": 50,
                    "uri": parts.path,
                    "first_page_uri": parts.path,
                },
            )


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out on purpose closes the socket mid-answer


class FakeServer:
    def __init__(self, kind: str) -> None:
        self.state = FakeState()
        handler = type(f"{kind}Handler", (_Handler,), {"state": self.state, "kind": kind})
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
