"""Demo data: teams, PODs, staff, canned responses and a few weeks of realistic history."""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, func, select

from contact_store.canned import load_shipped_canned_responses
from contact_store.clock import utcnow
from contact_store.models import (
    Area,
    Conversation,
    ConversationStatus,
    InvitationStatus,
    Message,
    Operator,
    OperatorArea,
    Person,
    Report,
    ReportStatus,
    Role,
    SenderKind,
    SurveyInvitation,
    SurveyResponse,
    Team,
)
from contact_store.staff import create_operator, token_hash

TEAMS = [("Digital Team", 3), ("FCR", 2), ("Resolution Centre", 2)]
AREAS = [("East", ["BB", "BL"]), ("South", ["PR", "WN"]), ("West", ["FY", "LA"])]
STAFF = [
    ("supervisor", "Sam Supervisor", Role.SUPERVISOR, "Digital Team"),
    ("manager", "Morgan Manager", Role.MANAGER, "Digital Team"),
    ("admin", "Alex Admin", Role.ADMIN, "Digital Team"),
    ("priya", "Priya Shah", Role.OPERATOR, "Digital Team"),
    ("tom", "Tom Evans", Role.OPERATOR, "Digital Team"),
    ("aisha", "Aisha Khan", Role.OPERATOR, "Digital Team"),
    ("gareth", "Gareth Jones", Role.OPERATOR, "FCR"),
    ("lucy", "Lucy Brown", Role.OPERATOR, "Resolution Centre"),
]

TOPICS = ["crime", "asb", "lost-property", "road-traffic", "fraud", "information", "other"]
FORMS = ["crime", "asb", "lost-property", "rtc", "vehicle", "fraud", "information"]


@dataclass(frozen=True)
class DemoCredentials:
    username: str
    role: str
    password: str


def store_is_empty(*, session: Session) -> bool:
    """True when there is no member of staff yet."""
    return (session.exec(select(func.count()).select_from(Operator)).one() or 0) == 0


def seed_demo(*, session: Session, days: int = 28, seed: int = 2611) -> list[DemoCredentials]:
    """Fill an empty store with a demo force. Returns the staff passwords (shown once)."""
    rng = random.Random(seed)
    now = utcnow()
    teams = {}
    for name, max_chats in TEAMS:
        team = Team(name=name, default_max_chats=max_chats)
        session.add(team)
        teams[name] = team
    areas = []
    for name, prefixes in AREAS:
        area = Area(name=name, postcode_prefixes=prefixes)
        session.add(area)
        areas.append(area)
    session.flush()

    credentials = []
    operators = []
    for i, (username, display, role, team_name) in enumerate(STAFF):
        password = secrets.token_urlsafe(12)
        op = create_operator(
            session=session,
            username=username,
            password=password,
            role=role,
            display_name=display,
            team_name=team_name,
        )
        session.add(OperatorArea(operator_id=op.id or 0, area_id=areas[i % len(areas)].id or 0))
        credentials.append(DemoCredentials(username, role, password))
        if role == Role.OPERATOR:
            operators.append(op)

    load_shipped_canned_responses(session=session)

    people = []
    for i in range(60):
        person = Person(
            name=rng.choice(["Jo", "Sam", "Chris", "Alex", "Pat", "Ceri", "Dafydd", "Mina"]) + f" Demo{i}",
            phone_e164=f"+447700900{i:03d}",
            created_at=now - timedelta(days=days),
        )
        session.add(person)
        people.append(person)
    session.flush()

    ref_counter = 0
    for day in range(days, 0, -1):
        start = now - timedelta(days=day)
        for _ in range(rng.randint(6, 14)):
            ref_counter += 1
            received = start + timedelta(minutes=rng.randint(0, 24 * 60 - 1))
            person = rng.choice(people)
            status = ReportStatus.CLOSED if day > 3 else rng.choice(list(ReportStatus))
            report = Report(
                reference=f"FC-DEMO-{ref_counter:04d}",
                form_slug=rng.choice(FORMS),
                answers={"description": "Demo report"},
                summary="Demo report",
                status=status,
                grade=rng.choice([3, 4, 5]),
                person_id=person.id,
                area_id=rng.choice(areas).id,
                team_id=teams["Resolution Centre"].id,
                received_at=received,
                updated_at=received,
                first_response_at=received + timedelta(hours=rng.uniform(0.5, 30)) if day > 1 else None,
                resolved_at=received + timedelta(hours=rng.uniform(2, 72))
                if status == ReportStatus.CLOSED
                else None,
            )
            session.add(report)
        for _ in range(rng.randint(10, 25)):
            queued = start + timedelta(minutes=rng.randint(8 * 60, 22 * 60))
            wait = rng.expovariate(1 / 45)
            abandoned = rng.random() < 0.07
            operator = rng.choice(operators)
            person = rng.choice(people)
            conv = Conversation(
                id=str(uuid.UUID(int=rng.getrandbits(128))),
                token_hash=token_hash(secrets.token_urlsafe(16)),
                status=ConversationStatus.ABANDONED if abandoned else ConversationStatus.ENDED,
                person_id=person.id,
                visitor_name=person.name or "",
                topic=rng.choice(TOPICS),
                area_id=rng.choice(areas).id,
                team_id=teams["Digital Team"].id,
                queued_at=queued,
            )
            if abandoned:
                conv.abandoned_at = queued + timedelta(seconds=wait)
            else:
                handle = rng.uniform(240, 900)
                conv.assignee_id = operator.id
                conv.assigned_at = queued + timedelta(seconds=wait)
                conv.first_response_at = conv.assigned_at + timedelta(seconds=rng.uniform(5, 40))
                conv.ended_at = conv.assigned_at + timedelta(seconds=handle)
                conv.wrapped_up_at = conv.ended_at + timedelta(seconds=rng.uniform(20, 120))
                conv.ended_by = "operator"
                conv.outcome = rng.choice(["advice given", "report raised", "signposted", "resolved"])
                conv.grade = rng.choice([3, 4, 5])
                lines = [
                    (SenderKind.VISITOR, "Hello, I need some advice please."),
                    (SenderKind.OPERATOR, "Hello, you are through to the Digital Team. How can I help?"),
                    (SenderKind.VISITOR, "Someone has been trying car door handles on our street."),
                    (
                        SenderKind.OPERATOR,
                        "Thank you for telling us. I will log this and share prevention advice.",
                    ),
                ]
                for seq, (sender, body) in enumerate(lines, start=1):
                    session.add(
                        Message(
                            conversation_id=conv.id,
                            seq=seq,
                            client_id=f"demo-{seq}",
                            sender=sender,
                            operator_id=operator.id if sender == SenderKind.OPERATOR else None,
                            body=body,
                            created_at=conv.assigned_at + timedelta(seconds=30 * seq),
                        )
                    )
                conv.last_seq = len(lines)
                # Every ended chat is offered the survey (one invitation recording who and what it
                # is about); about 30% answer it. Every answer belongs to its invitation.
                session.add(conv)
                session.flush()
                answered = rng.random() < 0.3
                invitation = SurveyInvitation(
                    person_id=person.id,
                    to_e164=person.phone_e164,
                    channel="chat",
                    conversation_id=conv.id,
                    reference=conv.id[:8],
                    team_id=conv.team_id,
                    operator_id=operator.id,
                    area_id=conv.area_id,
                    topic=conv.topic,
                    contact_at=conv.queued_at,
                    status=InvitationStatus.COMPLETED if answered else InvitationStatus.EXPIRED,
                    next_question=4 if answered else 0,
                    due_at=conv.ended_at + timedelta(minutes=60),
                    sent_at=conv.ended_at + timedelta(minutes=60),
                    completed_at=conv.ended_at + timedelta(hours=2) if answered else None,
                    created_at=conv.ended_at,
                )
                session.add(invitation)
                session.flush()
                if answered:
                    scores = [min(5, max(1, round(rng.gauss(4.1, 1.0)))) for _ in range(3)]
                    session.add(
                        SurveyResponse(
                            invitation_id=invitation.id,
                            score_time=scores[0],
                            score_resolve=scores[1],
                            score_overall=scores[2],
                            comment=rng.choice(
                                [None, "Quick and helpful, thank you.", "Took a while to answer."]
                            ),
                            response_channel=rng.choice(["sms", "web"]),
                            channel="chat",
                            team_id=conv.team_id,
                            operator_id=operator.id,
                            area_id=conv.area_id,
                            topic=conv.topic,
                            reference=conv.id[:8],
                            submitted_at=conv.ended_at + timedelta(hours=2),
                        )
                    )
            session.add(conv)
    session.flush()
    return credentials
