"""The `firstcontact` command: serve, worker, db upgrade/check, operator, retention, canned, demo, check,
backup, restore."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from chat_server.log_format import configure_logging, json_line
from chat_server.log_redaction import redact_root_handlers, uvicorn_log_config
from contact_store.db import Store, make_engine
from contact_store.migrate import upgrade_database
from contact_store.settings import Settings, get_settings

logger = logging.getLogger("firstcontact")


# FIRSTCONTACT_LOG_FORMAT=json: the command's own output lines are JSON objects too, so a log
# collector reading the server's output finds nothing but JSON (`main` sets this).
_JSON_OUTPUT = {"on": False}


def _out(line: str = "") -> None:
    if _JSON_OUTPUT["on"]:
        if not line.strip():
            return
        line = json_line(line, logger="firstcontact")
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _store(settings: Settings) -> Store:
    from chat_server.app import build_store

    return build_store(settings)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.effective_database_url)
    _out("Database is at the latest schema.")
    return 0


def cmd_db_check(args: argparse.Namespace, settings: Settings) -> int:
    from contact_store.invariants import check_store

    store = _store(settings)
    with store.session_scope() as session:
        result = check_store(session=session)
    _out(result.describe())
    _out("The store's invariants hold." if result.ok else f"{len(result.failures)} invariant(s) broken.")
    return 0 if result.ok else 1


def demo_refused(settings: Settings) -> bool:
    """Demo data (known staff usernames, invented people) never goes into a production store."""
    if settings.env != "production":
        return False
    _out("Demo data is refused with FIRSTCONTACT_ENV=production: it adds staff accounts anyone can guess.")
    return True


def cmd_check(args: argparse.Namespace, settings: Settings | None) -> int:
    """List every setting unsafe for production; exit 1 if there is any, 0 when there is none."""
    from chat_server.production_check import load_settings, production_problems

    loaded, problems = load_settings()
    if loaded is not None:
        problems += production_problems(loaded, workers=args.workers)
    for problem in problems:
        _out(f"UNSAFE  {problem}")
    if problems:
        _out(f"{len(problems)} unsafe production setting{'' if len(problems) == 1 else 's'}.")
        return 1
    _out("No unsafe production settings found.")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings, *, only_if_empty: bool = False) -> int:
    from contact_store.demo import seed_demo, store_is_empty

    if demo_refused(settings):
        return 2

    store = _store(settings)
    with store.session_scope() as session:
        if not store_is_empty(session=session):
            if not only_if_empty:
                _out("The store already has staff; demo data not added.")
            return 0 if only_if_empty else 1
        creds = seed_demo(session=session)
    _out("Demo data added. Staff accounts (passwords are shown only this once):")
    for c in creds:
        _out(f"  {c.username:<12} {c.role:<11} {c.password}")
    return 0


def cmd_operator_add(args: argparse.Namespace, settings: Settings) -> int:
    from contact_store.errors import AppError
    from contact_store.staff import create_operator

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            _out("Passwords did not match.")
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    store = _store(settings)
    try:
        with store.session_scope() as session:
            op = create_operator(
                session=session,
                username=args.username,
                password=password,
                role=args.role,
                display_name=args.display_name,
                team_name=args.team,
                max_concurrent_chats=args.max_chats,
            )
            _out(f"Added {op.username} ({op.role}).")
    except AppError as exc:
        _out(f"Could not add the operator: {exc.message}")
        return 2
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the SMS outbox worker (and survey dispatch) and housekeeping until interrupted."""
    import signal
    import threading

    from contact_store.sms.worker import run_forever

    cmd_db_upgrade(args, settings)
    store = _store(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _out(f"SMS worker running (provider: {settings.sms_provider}). Ctrl+C to stop.")
    from chat_server.maintenance import start_in_thread as start_maintenance
    from contact_store.administration.sync import poll_in_thread

    poll_in_thread(store=store, settings=settings, stop=stop)  # console settings (issue #15)

    housekeeping, housekeeping_stop = start_maintenance(store=store, settings=settings)
    try:
        run_forever(store=store, settings=settings, stop=stop, poll_seconds=args.poll)
    finally:
        housekeeping_stop.set()
        housekeeping.join(timeout=15)
    return 0


def cmd_retention_run(args: argparse.Namespace, settings: Settings) -> int:
    from contact_store.retention import erase_expired

    store = _store(settings)
    with store.session_scope() as session:
        erased = erase_expired(session=session, settings=settings)
    _out(
        f"Erased the personal data of {erased} contacts closed more than {settings.retention_days} days ago."
    )
    return 0


def cmd_facts(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the dashboards' fact tables up to date, history included (or rebuild them all)."""
    from contact_store.measures.facts import backfill_facts, rebuild_all, refresh_facts

    store = _store(settings)
    with store.session_scope() as session:
        build = rebuild_all if args.facts_command == "rebuild" else refresh_facts
        days = len(build(session=session, settings=settings))
    while True:  # history not built yet: one chunk of days per transaction
        with store.session_scope() as session:
            chunk = backfill_facts(session=session, settings=settings)
        if not chunk:
            break
        days += len(chunk)
    _out(f"Built the dashboard facts of {days} local days.")
    return 0


def cmd_canned_load(args: argparse.Namespace, settings: Settings) -> int:
    """Add the shipped canned responses not there yet (matched by title; running it again adds none)."""
    from contact_store.canned import load_shipped_canned_responses

    cmd_db_upgrade(args, settings)
    store = _store(settings)
    with store.session_scope() as session:
        added = load_shipped_canned_responses(session=session)
    _out(f"Added {added} canned response{'' if added == 1 else 's'}.")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import os

    import uvicorn

    from chat_server.chat.protocol import MAX_TRANSPORT_FRAME_BYTES

    if args.demo and demo_refused(settings):
        return 2
    if args.workers > 1 and not settings.redis_url:
        # The in-process bus cannot carry a chat message from one worker to another.
        _out("Several workers need FIRSTCONTACT_REDIS_URL (the event bus between workers).")
        return 2
    # The SMS outbox worker runs inside each web worker process (claims are atomic, so several
    # processes are safe); `--no-sms-worker` leaves it to a separate `firstcontact worker`.
    if not args.no_sms_worker:
        os.environ["FIRSTCONTACT_SMS_WORKER_EMBEDDED"] = "true"
        settings.sms_worker_embedded = True
    cmd_db_upgrade(args, settings)
    if args.demo:
        cmd_demo(args, settings, only_if_empty=True)
    if args.workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prepare_multiprocess_metrics(settings)
    base = f"http://{args.host}:{args.port}"
    _out(f"FirstContact for {settings.force_name}")
    _out(f"  Public site:   {base}/")
    _out(f"  Widget demo:   {base}/chat/demo")
    _out(f"  Staff console: {base}/console")
    _out(f"  API docs:      {base}/api/docs")
    uvicorn.run(
        "chat_server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # Off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default. The client's
        # address comes from contact_store.web.client_address, which trusts only the configured
        # FIRSTCONTACT_TRUSTED_PROXIES (docs/readme/proxy-and-restarts.md).
        proxy_headers=False,
        # Chat frames are small JSON: no per-message deflate (a zlib state per socket costs tens of
        # KB each) and a 64 KB frame cap (the protocol refuses frames over 16 KB anyway).
        ws_per_message_deflate=False,
        ws_max_size=MAX_TRANSPORT_FRAME_BYTES,
        # After a restart every waiting visitor reconnects within the widget's 3 s back-off: past
        # a full accept queue (uvicorn's default 2,048) the kernel drops the handshake and the
        # client's TCP retries it 1 s, then 3 s later, which held the 5,000-visitor storm's median
        # resume at 7 s while the worker sat partly idle.
        backlog=args.backlog,
        # The visitor's chat token and survey tokens appear in request lines: never log them.
        log_config=uvicorn_log_config(settings.log_format),
    )
    return 0


def prepare_multiprocess_metrics(settings: Settings) -> Path:
    """Several workers: every one writes its Prometheus figures to one directory, emptied now
    (figures of a previous run would otherwise be added in). PROMETHEUS_MULTIPROC_DIR if set, else
    data_dir/prometheus. Set before the workers start, so they import prometheus-client with it."""
    import os
    import shutil

    from contact_store.telemetry import MULTIPROC_ENV  # the parent records no figures itself

    path = Path(os.environ.get(MULTIPROC_ENV) or settings.data_dir / "prometheus").resolve()
    if path.exists():
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firstcontact", description="FirstContact digital contact platform")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="upgrade the database and run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--backlog",
        type=int,
        default=8192,
        help="connections waiting to be accepted (the kernel caps it at net.core.somaxconn)",
    )
    serve.add_argument("--demo", action="store_true", help="seed demo data first if the store is empty")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-sms-worker", action="store_true", help="do not run the SMS worker in-process")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker",
        help="run the SMS outbox worker (texts, surveys) and housekeeping (retention, form clean-up)",
    )
    worker.add_argument("--poll", type=float, default=2.0, help="seconds between polls when idle")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the latest schema").set_defaults(func=cmd_db_upgrade)
    db_sub.add_parser("check", help="verify the store's invariants (exit 1 if any is broken)").set_defaults(
        func=cmd_db_check
    )

    operator = sub.add_parser("operator", help="staff accounts")
    op_sub = operator.add_subparsers(dest="operator_command", required=True)
    add = op_sub.add_parser("add", help="add a member of staff (password from a prompt or stdin)")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=["operator", "supervisor", "manager", "admin"])
    add.add_argument("--team")
    add.add_argument("--display-name")
    add.add_argument("--max-chats", type=int)
    add.set_defaults(func=cmd_operator_add)

    retention = sub.add_parser("retention", help="data protection")
    ret_sub = retention.add_subparsers(dest="retention_command", required=True)
    ret_sub.add_parser(
        "run", help="erase personal data of contacts closed longer than FIRSTCONTACT_RETENTION_DAYS"
    ).set_defaults(func=cmd_retention_run)

    facts = sub.add_parser("facts", help="the dashboards' daily fact tables")
    facts_sub = facts.add_subparsers(dest="facts_command", required=True)
    facts_sub.add_parser("refresh", help="rebuild recent days and changed days").set_defaults(func=cmd_facts)
    facts_sub.add_parser("rebuild", help="rebuild every day (after changing a measure setting)").set_defaults(
        func=cmd_facts
    )

    canned = sub.add_parser("canned", help="canned responses for chat operators")
    canned_sub = canned.add_subparsers(dest="canned_command", required=True)
    canned_sub.add_parser(
        "load", help="add the shipped canned responses that are not there yet"
    ).set_defaults(func=cmd_canned_load)

    check = sub.add_parser(
        "check", help="list every setting unsafe for production (exit 1 if any, 0 when none)"
    )
    check.add_argument(
        "--workers", type=int, default=1, help="the number of workers you will serve with (SQLite, Redis)"
    )
    check.set_defaults(func=cmd_check, needs_settings=False)

    demo = sub.add_parser("demo", help="seed demo data into an empty store")
    demo.set_defaults(func=cmd_demo)

    from chat_server import backup_cli

    backup_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    redact_root_handlers()
    args = build_parser().parse_args(argv)
    if not getattr(args, "needs_settings", True):
        return int(args.func(args, None) or 0)
    try:
        settings = get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            _out(f"Invalid setting: {str(error['msg']).removeprefix('Value error, ')}")
        _out("Run `firstcontact check` to list every unsafe setting.")
        return 2
    if settings.log_format == "json":  # the CLI's own lines too (uvicorn's get the same config)
        configure_logging("json")
        _JSON_OUTPUT["on"] = True
    return int(args.func(args, settings) or 0)


__all__ = ["main", "make_engine"]
