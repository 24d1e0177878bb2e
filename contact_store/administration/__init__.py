"""Administration: what a force's administrators change in the console, without a restart.

Protocol and guarantees
-----------------------
- The environment (`contact_store.settings.Settings`) holds the defaults of a new installation.
  A value an administrator saves is a `ConfigOverride` row; when present it wins. Removing it
  returns to the environment's value.
- Every change (a setting, a text-message template, a team, a POD, an operator, a canned answer, a
  synonym group) writes one `ChangeHistory` version — who, when, before and after — and one audit
  event, in the same transaction as the change itself. Versions are numbered per object from 1;
  the version in force at a time is the newest one written at or before it (`history.version_at`).
- After the commit, `CONFIG_CHANNEL` carries `{"type": "config.changed"}` on the event bus. Every
  worker runs `sync.follow_config` (started by the app): it re-reads the overrides into that
  worker's settings object and drops the worker's organisation cache (teams, PODs, postcodes), so
  the next chat on any worker sees the change. The worker that saves a setting also applies it
  itself as the transaction commits (`config.py`'s commit listeners: overrides read before the
  commit, applied after it), so the page it answers next already shows it. The follower
  subscribes before its first read, and re-reads on `bus.resync` too (pub/sub is at-most-once);
  the organisation cache's TTL bounds the delay if an event is lost anyway.
"""
