"""Evidence uploads: checking, storing and opening files the public attach to a report.

Guarantees
----------
- A file's type is decided by its content (magic bytes, via `filetype`), never by its name or the
  browser's Content-Type; the extension must also agree with the content.
- Size and count limits come from settings (`upload_max_bytes`, `upload_max_files`).
- Files are stored under `data_dir/uploads/` with a random server-generated name and no extension,
  outside any web root; nothing serves that directory. Staff read a file only through
  `open_evidence` (the console's download route checks sign-in and access first).
- While a form is in progress an upload belongs to its form session; on submission it is attached
  to the report. Files of a form session that ends unsubmitted are deleted with their rows.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype
from sqlalchemy import update
from sqlmodel import Session, col, select

from contact_store.errors import NotFound, ValidationFailed
from contact_store.models import Evidence

logger = logging.getLogger(__name__)

# Accepted content types and the file name extensions each may carry.
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/heic": ("heic", "heif"),
    "application/pdf": ("pdf",),
    "video/mp4": ("mp4", "m4v"),
    "video/quicktime": ("mov", "qt"),
}
ALLOWED_EXTENSIONS = sorted({ext for exts in ALLOWED_TYPES.values() for ext in exts})
# filetype needs the first few kilobytes to recognise a container format.
SNIFF_BYTES = 8192
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence row with the path of its stored file (for the staff download route)."""

    evidence: Evidence
    path: Path

    def open(self) -> BinaryIO:
        return self.path.open("rb")


def _safe_original_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:255] or "upload"


def check_upload(*, original_name: str, head: bytes) -> str:
    """The content type of an upload whose first bytes are `head`; ValidationFailed if not allowed."""
    kind = filetype.guess(head)
    ext = original_name.rsplit(".", 1)[-1].lower() if "." in original_name else ""
    allowed = ", ".join(e.upper() for e in ("jpg", "png", "heic", "pdf", "mp4", "mov"))
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise ValidationFailed(f"The selected file must be a {allowed}", code="file_type")
    if ext not in ALLOWED_TYPES[kind.mime]:
        raise ValidationFailed(
            f"The selected file's name does not match its contents. It must be a {allowed}",
            code="file_type",
        )
    return str(kind.mime)


def store_upload(
    *,
    session: Session,
    upload_dir: Path,
    stream: BinaryIO,
    original_name: str,
    form_session_id: str,
    max_bytes: int,
    max_files: int,
) -> Evidence:
    """Check and store one uploaded file for a form session; ValidationFailed with a clear message."""
    name = _safe_original_name(original_name)
    existing = count_for_form_session(session=session, form_session_id=form_session_id)
    if existing >= max_files:
        raise ValidationFailed(f"You can upload up to {max_files} files", code="file_count")
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise ValidationFailed("The selected file is empty", code="file_empty")
    content_type = check_upload(original_name=name, head=head)
    upload_dir.mkdir(parents=True, exist_ok=True)
    stored_name = secrets.token_hex(24)
    path = upload_dir / stored_name
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("xb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise ValidationFailed(
                        f"The selected file must be smaller than {max_bytes // (1024 * 1024)}MB",
                        code="file_size",
                    )
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(CHUNK)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    evidence = Evidence(
        form_session_id=form_session_id,
        stored_name=stored_name,
        original_name=name,
        content_type=content_type,
        size_bytes=size,
        sha256=digest.hexdigest(),
    )
    session.add(evidence)
    session.flush()
    return evidence


def count_for_form_session(*, session: Session, form_session_id: str) -> int:
    """How many files a form session holds."""
    return len(list_for_form_session(session=session, form_session_id=form_session_id))


def list_for_form_session(*, session: Session, form_session_id: str) -> list[Evidence]:
    """The files uploaded in a form session, oldest first."""
    return list(
        session.exec(
            select(Evidence)
            .where(Evidence.form_session_id == form_session_id, col(Evidence.report_id).is_(None))
            .order_by(col(Evidence.id))
        ).all()
    )


def list_for_report(*, session: Session, report_id: int) -> list[Evidence]:
    """The files attached to a report, oldest first."""
    return list(
        session.exec(select(Evidence).where(Evidence.report_id == report_id).order_by(col(Evidence.id))).all()
    )


def remove_upload(*, session: Session, upload_dir: Path, form_session_id: str, evidence_id: int) -> bool:
    """Delete one not-yet-submitted file of this form session; False if it is not theirs."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.form_session_id != form_session_id or evidence.report_id is not None:
        return False
    session.delete(evidence)
    session.flush()
    (upload_dir / evidence.stored_name).unlink(missing_ok=True)
    return True


def discard_for_form_session(*, session: Session, upload_dir: Path, form_session_id: str) -> int:
    """Delete every unsubmitted file of a form session (quick exit, abandoned journeys)."""
    removed = 0
    for evidence in list_for_form_session(session=session, form_session_id=form_session_id):
        session.delete(evidence)
        (upload_dir / evidence.stored_name).unlink(missing_ok=True)
        removed += 1
    session.flush()
    return removed


def attach_to_report(*, session: Session, form_session_id: str, report_id: int) -> int:
    """Move a form session's files onto the report it became (one UPDATE); how many moved."""
    session.flush()
    moved = session.execute(
        update(Evidence)
        .where(col(Evidence.form_session_id) == form_session_id, col(Evidence.report_id).is_(None))
        .values(report_id=report_id)
    )
    return int(getattr(moved, "rowcount", 0) or 0)


def open_evidence(*, session: Session, evidence_id: int, upload_dir: Path | None = None) -> EvidenceFile:
    """The stored file of an evidence row, for staff; NotFound if the row or its file is missing.

    `upload_dir` defaults to the process settings' (pass `settings.upload_dir` from the app's own).

    Access control is the caller's: only call this after checking the member of staff may see
    the report the evidence belongs to. Files not yet attached to a report are never served.
    """
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.report_id is None:
        raise NotFound("No such evidence")
    if upload_dir is None:
        from contact_store.settings import get_settings

        upload_dir = get_settings().upload_dir
    path = upload_dir / evidence.stored_name
    if not path.is_file():
        logger.error("evidence %s has no stored file", evidence_id)
        raise NotFound("The file for this evidence is missing")
    return EvidenceFile(evidence=evidence, path=path)
