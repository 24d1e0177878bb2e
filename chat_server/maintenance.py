"""Periodic housekeeping: data retention and abandoned online-form journeys.

Schedule
--------
- `contact_store.retention.erase_expired` — once a day (erases the personal data of contacts
  closed more than `retention_days` ago).
- `web_forms.journey.service.purge_idle` — every hour (abandoned form journeys idle over 4 hours,
  with their unsubmitted uploaded files, and ended journeys older than a day).
- `contact_store.measures.refresh_facts` — every `facts_refresh_minutes` (the dashboards' daily
  fact tables: recent days and days changed since the last run, then any history not built yet,
  one chunk of days per transaction; idempotent).

Both run once at start, then whenever due; the loop wakes every `CHECK_EVERY` to look. Each job runs
in its own `store.session_scope()` (its own transaction) and logs how many rows it removed. A job
that raises is logged and retried after `RETRY_AFTER`; the loop itself never stops on an error.

Where it runs: a daemon thread in the web process when `settings.sms_worker_embedded` (next to the
SMS worker, `firstcontact serve`), and in `firstcontact worker`. Several processes may run it at
once: both jobs are idempotent (erasing erased data or deleting deleted journeys does nothing).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.measures.facts import backfill_facts, refresh_facts
from contact_store.retention import erase_expired
from contact_store.settings import Settings
from web_forms.journey.service import purge_idle

logger = logging.getLogger(__name__)

# Retention is measured in days (`retention_days`): running it more often than daily gains nothing.
RETENTION_EVERY = timedelta(days=1)
# Form journeys count as abandoned after 4 idle hours; hourly clean-up keeps files at most ~5 h.
PURGE_EVERY = timedelta(hours=1)
# A failed job is tried again this soon rather than waiting a whole period (a database blip).
RETRY_AFTER = timedelta(minutes=10)
# How often the thread wakes to see whether a job is due (jobs are hourly or daily).
CHECK_EVERY = timedelta(minutes=1)


@dataclass
class Maintenance:
    """The schedule's state for one process: when each job is next due."""

    store: Store
    settings: Settings
    next_due: dict[str, datetime] = field(default_factory=dict)

    def _jobs(self) -> list[tuple[str, timedelta, Callable[[], int]]]:
        return [
            ("retention", RETENTION_EVERY, self._erase_expired),
            ("form_purge", PURGE_EVERY, self._purge_forms),
            ("facts", timedelta(minutes=self.settings.facts_refresh_minutes), self._refresh_facts),
        ]

    def _erase_expired(self) -> int:
        with self.store.session_scope() as session:
            return erase_expired(session=session, settings=self.settings)

    def _purge_forms(self) -> int:
        with self.store.session_scope() as session:
            return purge_idle(session=session, upload_dir=self.settings.upload_dir)

    def _refresh_facts(self) -> int:
        with self.store.session_scope() as session:
            days = len(refresh_facts(session=session, settings=self.settings))
        while True:  # history not built yet: one chunk per transaction (short write locks)
            with self.store.session_scope() as session:
                chunk = backfill_facts(session=session, settings=self.settings)
            if not chunk:
                return days
            days += len(chunk)

    def tick(self, now: datetime | None = None) -> dict[str, int | None]:
        """Run every job that is due: {job: count removed, or None when it failed}. Never raises."""
        now = now or utcnow()
        ran: dict[str, int | None] = {}
        for name, every, job in self._jobs():
            if now < self.next_due.get(name, now):
                continue
            try:
                count = job()
            except Exception:
                logger.exception("maintenance job %s failed; retrying in %s", name, RETRY_AFTER)
                ran[name] = None
                self.next_due[name] = now + RETRY_AFTER
                continue
            logger.info("maintenance job %s removed %d", name, count)
            ran[name] = count
            self.next_due[name] = now + every
        return ran

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until `stop` is set (at once, then every CHECK_EVERY)."""
        logger.info("maintenance started (retention daily, form clean-up hourly)")
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # tick never raises; this only guards against a bug in it
                logger.exception("maintenance tick failed")
            stop.wait(CHECK_EVERY.total_seconds())
        logger.info("maintenance stopped")


def start_in_thread(*, store: Store, settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """Run the maintenance loop in a daemon thread; set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=Maintenance(store=store, settings=settings).run_forever,
        args=(stop,),
        name="maintenance",
        daemon=True,
    )
    thread.start()
    return thread, stop
