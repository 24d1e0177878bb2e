"""Queueing formulas for staffing: Erlang C (M/M/N) and Erlang A (M/M/N+M), from DOMAIN.md.

Erlang C, with offered load A = λ·AHT and N servers: Erlang B by the recurrence B0 = 1,
Bk = A·Bk−1 / (k + A·Bk−1); P(wait) C = N·B / (N − A·(1 − B)); SL(t) = 1 − C·e^(−(N−A)·t/AHT);
ASA = C·AHT / (N − A); occupancy = A / N; rostered staff = ⌈N / (1 − shrinkage)⌉.

Erlang A: visitors abandon after an exponential patience with mean 1/θ. The number in the system
is a birth-death chain with birth rate λ and death rate min(n,N)·μ + max(n−N,0)·θ in state n
(μ = 1/AHT). We sum its stationary distribution πn until the terms are below 1e-16 of the total:
P(wait) = Σ_{n≥N} πn, E[queue] = Σ_{n>N} (n−N)·πn, P(abandon) = θ·E[queue]/λ. Unlike Erlang C it
stays finite when N ≤ A.

Erlang A service level = P(answered within t) for an arrival (PASTA): arriving to find n < N it is
answered at once; finding j = n − N already queued, it moves up one place at rate N·μ + i·θ while i
are ahead of it (a service ends or someone ahead gives up), is answered at rate N·μ at the head,
and gives up itself at rate θ all along. P(answered by t) for each j is computed exactly by
uniformisation of that absorbing chain (Poisson weights truncated at 1e-15).

Chat: an operator holding c chats at once is c seats. Seats are staffed with the handling time
measured at concurrency c (a chat handled alongside others takes longer), then operators =
⌈seats / c⌉, then rostered after shrinkage. Dividing the one-at-a-time answer by c overstates what c
chats at once deliver, so callers pass the AHT measured at the chosen concurrency.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

# Beyond this many servers the plan is not a staffing question any more but a typo in the inputs.
MAX_AGENTS = 10_000
# Stationary-distribution terms smaller than this share of the running total are dropped.
_TAIL = 1e-16

T = TypeVar("T")


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability by the stable recurrence B0 = 1, Bk = A·Bk−1 / (k + A·Bk−1)."""
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability a contact waits: C = N·B / (N − A·(1 − B)); 1 when agents ≤ traffic."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1 - b))


def erlang_c_service_level(
    traffic: float, agents: int, *, aht_seconds: float, target_seconds: float
) -> float:
    """SL(t) = 1 − C·e^(−(N−A)·t/AHT); 0 when agents ≤ traffic (the queue grows without end)."""
    if agents <= traffic:
        return 0.0
    return 1 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * target_seconds / aht_seconds)


@dataclass(frozen=True)
class ErlangA:
    agents: int
    p_wait: float  # Σ_{n≥N} πn
    p_abandon: float  # θ·E[queue]/λ
    expected_queue: float  # E[queue] = Σ (n−N)·πn
    service_level: float  # P(answered within the target time)
    asa_seconds: float  # mean wait of those answered (those who gave up not counted)
    occupancy: float  # busy servers ÷ N


def _stationary(lam: float, mu: float, theta: float, agents: int) -> list[float]:
    """Normalised πn of the Erlang A chain, n = 0.. until the tail is negligible."""
    weights = [1.0]
    total = 1.0
    n = 0
    while True:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        w = weights[-1] * lam / death
        weights.append(w)
        total += w
        if n > agents and (w < _TAIL * total or n > agents + 1_000_000):
            break
        if w == 0.0 and n > agents:
            break
    return [w / total for w in weights]


def _answered_within(agents: int, mu: float, theta: float, t: float, max_ahead: int) -> list[float]:
    """P(answered within t | j already queued ahead) for j = 0..max_ahead, by uniformisation.

    States: i = number ahead (0..max_ahead), plus absorbing answered / gave up. From i ≥ 1 move to
    i − 1 at rate N·μ + i·θ; from 0 answered at rate N·μ; gave up at rate θ from every state.
    """
    rate = agents * mu + max_ahead * theta + theta  # the largest exit rate
    if t <= 0:
        return [0.0] * (max_ahead + 1)
    # v_k[i] = P(answered within k uniformised steps | start i); iterate k while Poisson mass remains.
    stay = [1 - (agents * mu + i * theta + theta) / rate for i in range(max_ahead + 1)]
    move = [(agents * mu + i * theta) / rate for i in range(max_ahead + 1)]
    v = [0.0] * (max_ahead + 1)
    result = [0.0] * (max_ahead + 1)
    lt = rate * t
    log_p = -lt  # log Poisson(0; lt)
    cumulative = 0.0
    k = 0
    while True:
        weight = math.exp(log_p)
        for i in range(max_ahead + 1):
            result[i] += weight * v[i]
        cumulative += weight
        if 1 - cumulative < 1e-15 and k > lt:
            break
        if k > lt + 50 * math.sqrt(lt + 1) + 100:
            break
        # one uniformised step: v_{k+1}[i] = stay·v_k[i] + move·(v_k[i−1] or 1 at the head)
        v = [stay[i] * v[i] + move[i] * (v[i - 1] if i else 1.0) for i in range(max_ahead + 1)]
        k += 1
        log_p += math.log(lt) - math.log(k)
    return result


def erlang_a(
    *,
    arrivals_per_second: float,
    aht_seconds: float,
    patience_seconds: float,
    agents: int,
    target_seconds: float,
) -> ErlangA:
    """Erlang A figures for N servers (see the module docstring)."""
    if (
        arrivals_per_second < 0
        or aht_seconds <= 0
        or patience_seconds <= 0
        or agents < 1
        or target_seconds < 0
    ):
        raise ValueError("arrivals ≥ 0, AHT and patience > 0, at least one agent, target ≥ 0")
    lam, mu, theta = arrivals_per_second, 1 / aht_seconds, 1 / patience_seconds
    if lam == 0:
        return ErlangA(agents, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    pi = _stationary(lam, mu, theta, agents)
    p_wait = sum(pi[agents:])
    queue = sum((n - agents) * p for n, p in enumerate(pi) if n > agents)
    p_abandon = theta * queue / lam
    busy = sum(min(n, agents) * p for n, p in enumerate(pi))
    max_ahead = max(len(pi) - 1 - agents, 0)
    within = _answered_within(agents, mu, theta, target_seconds, max_ahead)
    sl = sum(pi[:agents]) + sum(pi[agents + j] * within[j] for j in range(max_ahead + 1))
    # Mean wait of the answered: finding j queued, each place i = j..0 lasts 1/(a_i + θ) on average
    # whatever ends it (competing exponentials), and it is answered with Π a_i/(a_i + θ).
    waited = 0.0
    answered = sum(pi[:agents])
    p_served = 1.0
    phase_time = 0.0
    for j in range(max_ahead + 1):
        a = agents * mu + j * theta
        p_served *= a / (a + theta)
        phase_time += 1 / (a + theta)
        answered += pi[agents + j] * p_served
        waited += pi[agents + j] * p_served * phase_time
    asa = waited / answered if answered > 0 else 0.0
    return ErlangA(agents, p_wait, p_abandon, queue, sl, asa, busy / agents)


@dataclass(frozen=True)
class Requirement:
    """Servers (seats) needed in one interval, and what they deliver."""

    traffic: float  # A = λ·AHT in Erlangs
    seats: int  # N servers at once (chat: seats, c per operator)
    operators: int  # ⌈seats / concurrency⌉
    rostered: int  # ⌈operators / (1 − shrinkage)⌉
    service_level: float
    p_wait: float
    asa_seconds: float
    occupancy: float
    p_abandon: float | None = None  # Erlang A only


def rostered(operators: int, shrinkage: float) -> int:
    """⌈operators / (1 − shrinkage)⌉ (a hair of tolerance so 14 / 0.7 stays 20)."""
    return math.ceil(operators / (1 - shrinkage) - 1e-9)


def _check(
    contacts: float, period_seconds: float, aht_seconds: float, shrinkage: float, concurrency: int
) -> None:
    if contacts < 0 or period_seconds <= 0 or aht_seconds <= 0 or not 0 <= shrinkage < 1:
        raise ValueError("contacts ≥ 0, period and AHT > 0, 0 ≤ shrinkage < 1")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")


def fewest_seats(first: int, figures_at: Callable[[int], T], meets: Callable[[T], bool]) -> tuple[int, T]:
    """The fewest seats N ≥ `first` whose figures meet the target, with those figures: the one
    search behind Erlang C and Erlang A. Service level rises with N, so counting up from a lower
    bound finds the smallest; the search stops at MAX_AGENTS (a typo in the inputs, not a plan)."""
    n = first
    while True:
        found = figures_at(n)
        if meets(found) or n >= MAX_AGENTS:
            return n, found
        n += 1


def required_erlang_c(
    *,
    contacts: float,
    period_seconds: float,
    aht_seconds: float,
    target_seconds: float,
    target_service_level: float,
    shrinkage: float = 0.0,
    concurrency: int = 1,
) -> Requirement:
    """The fewest seats meeting the service level by Erlang C, then operators and rostered staff.

    No contacts: nobody is needed (0 seats).
    """
    _check(contacts, period_seconds, aht_seconds, shrinkage, concurrency)
    traffic = contacts / period_seconds * aht_seconds
    if contacts == 0:
        return Requirement(0.0, 0, 0, 0, 1.0, 0.0, 0.0, 0.0)
    n, sl = fewest_seats(
        max(1, math.floor(traffic) + 1),  # N ≤ A never answers: the queue grows without end
        lambda k: erlang_c_service_level(traffic, k, aht_seconds=aht_seconds, target_seconds=target_seconds),
        lambda level: level >= target_service_level,
    )
    c = erlang_c(traffic, n)
    operators = math.ceil(n / concurrency)
    return Requirement(
        traffic=traffic,
        seats=n,
        operators=operators,
        rostered=rostered(operators, shrinkage),
        service_level=sl,
        p_wait=c,
        asa_seconds=c * aht_seconds / (n - traffic),
        occupancy=traffic / n,
    )


def required_erlang_a(
    *,
    contacts: float,
    period_seconds: float,
    aht_seconds: float,
    patience_seconds: float,
    target_seconds: float,
    target_service_level: float,
    shrinkage: float = 0.0,
    concurrency: int = 1,
) -> Requirement:
    """The fewest seats meeting the service level by Erlang A, then operators and rostered staff."""
    _check(contacts, period_seconds, aht_seconds, shrinkage, concurrency)
    if patience_seconds <= 0:
        raise ValueError("patience must be > 0")
    traffic = contacts / period_seconds * aht_seconds
    if contacts == 0:
        return Requirement(0.0, 0, 0, 0, 1.0, 0.0, 0.0, 0.0, 0.0)
    lam = contacts / period_seconds
    # Erlang A never needs more seats than Erlang C for the same target: search upwards from 1,
    # but start near the load to save work (fewer seats than A·(1 − target) cannot answer enough).
    n, figures = fewest_seats(
        max(1, math.floor(traffic * target_service_level)),
        lambda k: erlang_a(
            arrivals_per_second=lam,
            aht_seconds=aht_seconds,
            patience_seconds=patience_seconds,
            agents=k,
            target_seconds=target_seconds,
        ),
        lambda f: f.service_level >= target_service_level,
    )
    operators = math.ceil(n / concurrency)
    return Requirement(
        traffic=traffic,
        seats=n,
        operators=operators,
        rostered=rostered(operators, shrinkage),
        service_level=figures.service_level,
        p_wait=figures.p_wait,
        asa_seconds=figures.asa_seconds,
        occupancy=figures.occupancy,
        p_abandon=figures.p_abandon,
    )


@dataclass(frozen=True)
class StaffingPlan:
    """The one-interval calculator's answer (Erlang C), as the console's calculator shows it."""

    traffic: float  # A, in Erlangs
    agents: int  # operators needed at once (seats ÷ concurrency, rounded up)
    p_wait: float
    service_level: float
    asa_seconds: float
    occupancy: float
    rostered: int  # agents grossed up for shrinkage
    concurrency: int
    seats: int = 0  # N servers (chat: seats)


def staffing(
    *,
    contacts: float,
    period_seconds: float,
    aht_seconds: float,
    target_seconds: float,
    target_service_level: float,
    shrinkage: float = 0.0,
    concurrency: int = 1,
) -> StaffingPlan:
    """The fewest agents meeting the service-level target by Erlang C (pass the AHT measured at c)."""
    r = required_erlang_c(
        contacts=contacts,
        period_seconds=period_seconds,
        aht_seconds=aht_seconds,
        target_seconds=target_seconds,
        target_service_level=target_service_level,
        shrinkage=shrinkage,
        concurrency=concurrency,
    )
    return StaffingPlan(
        traffic=r.traffic,
        agents=r.operators,
        p_wait=r.p_wait,
        service_level=r.service_level,
        asa_seconds=r.asa_seconds,
        occupancy=r.occupancy,
        rostered=r.rostered,
        concurrency=concurrency,
        seats=r.seats,
    )
