"""Several `firstcontact serve` processes behind a real nginx, as a force would run them.

- The workers: tests/support/serve.py's `WorkerProcess`, each on its own port; `stop()` sends
  SIGTERM and waits (a graceful shutdown), `start()` brings it back on the same port.
- `Nginx`: the shipped `deploy/nginx/firstcontact.conf` with the test's ports substituted (the
  upstream's `server` lines, the `listen` line; TLS and the HTTP redirect left out; every path in a
  temp prefix), run in the foreground as a child process (`daemon off`), never with root paths.

Used by the proxy and rolling-restart tests; they skip unless nginx, PostgreSQL and Redis are there.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from tests.conftest import free_port
from tests.support.serve import REPO, wait_until_up

SHIPPED_CONF = REPO / "deploy" / "nginx" / "firstcontact.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")


def nginx_conf(*, listen_port: int, upstreams: list[int], prefix: Path) -> str:
    """The shipped site configuration, made runnable here: ports substituted, no TLS, temp paths."""
    site = SHIPPED_CONF.read_text()
    site = re.sub(r"# --- begin http redirect ---.*?# --- end http redirect ---\n", "", site, flags=re.S)
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n" for port in upstreams)
    site, n = re.subn(
        r"(upstream firstcontact_app \{\n(?:\s*#.*\n)*\s*least_conn;\n)(?:\s*server .*;\n)+",
        rf"\g<1>{servers}",
        site,
    )
    assert n == 1, "the upstream block of deploy/nginx/firstcontact.conf changed shape"
    site, n = re.subn(
        r"\n\s*listen 443 ssl http2;\n\s*listen \[::\]:443 ssl http2;",
        f"\n    listen 127.0.0.1:{listen_port};",
        site,
    )
    assert n == 1, "the listen lines of deploy/nginx/firstcontact.conf changed shape"
    site = re.sub(r"\n\s*ssl_[a-z_]+ .*;", "", site)
    site = site.replace("/var/cache/nginx/firstcontact", str(prefix / "cache"))
    site = site.replace("/var/log/nginx/", f"{prefix}/")
    assert "/var/" not in site and "/etc/" not in site.split("server {", 1)[1]
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n{temp}    access_log {prefix / 'access.log'};\n{site}\n}}\n"
    )


class Nginx:
    """nginx in the foreground with a generated configuration under `prefix`."""

    def __init__(self, prefix: Path, upstreams: list[int]) -> None:
        assert NGINX, "nginx is not installed: scripts/setup.sh installs Debian's nginx"
        self.prefix = prefix
        self.port = free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(nginx_conf(listen_port=self.port, upstreams=upstreams, prefix=prefix))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _args(self) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log")]

    def start(self) -> None:
        check = subprocess.run([*self._args(), "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(self.base_url + "/healthz", self.proc, timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""
