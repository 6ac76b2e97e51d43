"""Fault injection for `switchboard local`: throttling, errors and vanishing clients on demand.

Only the local gateway knows about faults. They are switched on with `--inject-fault NAME=VALUE`
(repeatable) or `SWITCHBOARD_LOCAL_FAULTS="NAME=VALUE,..."`, applied by the embedded DynamoDB
and the gateway themselves, and never reach the functions' environment: the deployed code
under test sees only what AWS would answer (a 400 throttle, a 500, a 410, a 429).

- `dynamodb.throttle=SHARE`: DynamoDB requests answered 400
  `ProvisionedThroughputExceededException` (a transaction: `TransactionCanceledException`
  with the reason `ThrottlingError`, as DynamoDB cancels one it lacks the capacity for);
  not applied.
- `dynamodb.error=SHARE`: answered 500 `InternalServerError`; not applied.
- `dynamodb.lost_reply=SHARE`: applied, then answered 500 `InternalServerError`.
- `dynamodb.fail_matching=TEXT`: every request whose body contains the text is answered 400
  `ValidationException`, an error no handler expects (so the handler raises).
- `connections.gone=SHARE` of connection ids: `@connections` answers 410 and the client is
  dropped without `$disconnect`, as a client that vanished.
- `connections.throttle=SHARE`: `@connections` calls answered 429 `LimitExceededException`.
- `gateway.skip_disconnect=SHARE` of connection ids: `$disconnect` is never invoked for them.
- `seed=INT`: seeds every choice (default 0), so that a run can be repeated.

DynamoDB faults apply to the item reads and writes (GetItem, Query, TransactWriteItems, ...),
not to Scan, which only people and tests inspecting the table use, nor to table management.
A share is a number from 0 to 1 (or a percentage, `20%`). "Of connection ids" means the
choice is made once per id (a hash of the seed and the id), so an id that is gone stays gone;
every other share is drawn per request from a seeded random generator.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

ENVIRONMENT_VARIABLE = "SWITCHBOARD_LOCAL_FAULTS"
log = logging.getLogger("switchboard.local.faults")

#: Spec name -> field of FaultPlan.
_NAMES = {
    "dynamodb.throttle": "dynamodb_throttle",
    "dynamodb.error": "dynamodb_error",
    "dynamodb.lost_reply": "dynamodb_lost_reply",
    "dynamodb.fail_matching": "dynamodb_fail_matching",
    "connections.gone": "connections_gone",
    "connections.throttle": "connections_throttle",
    "gateway.skip_disconnect": "skip_disconnect",
    "seed": "seed",
}
_DYNAMODB_NAMES = ("dynamodb.throttle", "dynamodb.error", "dynamodb.lost_reply")


class FaultSpecError(ValueError):
    """A fault spec that names no known fault or gives it a value it cannot take."""


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject, and how often; all off by default."""

    dynamodb_throttle: float = 0.0
    dynamodb_error: float = 0.0
    dynamodb_lost_reply: float = 0.0
    dynamodb_fail_matching: str = ""
    connections_gone: float = 0.0
    connections_throttle: float = 0.0
    skip_disconnect: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, items: Iterable[str]) -> FaultPlan:
        """`NAME=VALUE` items (each may hold several, comma-separated); later ones win."""
        plan = cls()
        for item in items:
            for part in item.replace(",", " ").split():
                name, sep, value = part.partition("=")
                if not sep:
                    raise FaultSpecError(f"a fault is NAME=VALUE, got {part!r}")
                changes: dict[str, Any] = {_field(name.strip()): _value(name.strip(), value)}
                plan = replace(plan, **changes)
        if plan.dynamodb_throttle + plan.dynamodb_error + plan.dynamodb_lost_reply > 1:
            raise FaultSpecError(
                "the shares of " + ", ".join(_DYNAMODB_NAMES) + " add up to more than 1"
            )
        return plan

    @classmethod
    def from_sources(cls, flags: Iterable[str], environment: str | None) -> FaultPlan:
        """The environment variable first, then the flags (which win)."""
        return cls.parse([*([environment] if environment else []), *flags])

    @property
    def active(self) -> bool:
        return self != FaultPlan(seed=self.seed)

    @property
    def dynamodb_active(self) -> bool:
        return bool(
            self.dynamodb_throttle
            or self.dynamodb_error
            or self.dynamodb_lost_reply
            or self.dynamodb_fail_matching
        )

    def spec(self) -> str:
        """The plan as `NAME=VALUE,...` (what the embedded DynamoDB is started with)."""
        default = FaultPlan()
        parts = [
            f"{name}={getattr(self, attribute)}"
            for name, attribute in _NAMES.items()
            if getattr(self, attribute) != getattr(default, attribute) or name == "seed"
        ]
        return ",".join(parts)


def _field(name: str) -> str:
    try:
        return _NAMES[name]
    except KeyError:
        raise FaultSpecError(
            f"unknown fault {name!r}; known: {', '.join(sorted(_NAMES))}"
        ) from None


def _value(name: str, text: str) -> float | int | str:
    attribute = _NAMES[name]
    kind = next(f.type for f in fields(FaultPlan) if f.name == attribute)
    text = text.strip()
    if kind == "str":
        if not text:
            raise FaultSpecError(f"{name} needs a text to match")
        return text
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise FaultSpecError(f"{name} must be a whole number, got {text!r}") from None
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise FaultSpecError(
            f"{name} must be a share from 0 to 1 (or 0%-100%), got {text!r}"
        ) from None
    if not 0 <= share <= 1:
        raise FaultSpecError(f"{name} must be a share from 0 to 1 (or 0%-100%), got {text!r}")
    return share


class FaultInjector:
    """Makes the plan's choices and logs each fault it injects (one WARNING line each)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        # Not for security: a seeded generator, so that a run can be repeated.
        self._random = random.Random(plan.seed)  # noqa: S311

    def draw(self, share: float) -> bool:
        """True for about `share` of the calls."""
        return share > 0 and self._random.random() < share

    def chosen(self, share: float, key: str) -> bool:
        """True for about `share` of the keys, always the same answer for one key."""
        if share <= 0:
            return False
        digest = hashlib.sha256(f"{self.plan.seed}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < share * 2**64

    def dynamodb_fault(self) -> str | None:
        """`throttle`, `error`, `lost_reply` or None, drawn once per request."""
        point = self._random.random()
        for kind, share in (
            ("throttle", self.plan.dynamodb_throttle),
            ("error", self.plan.dynamodb_error),
            ("lost_reply", self.plan.dynamodb_lost_reply),
        ):
            if point < share:
                return kind
            point -= share
        return None

    @staticmethod
    def note(fault: str, detail: str) -> None:
        log.warning("injected %s: %s", fault, detail)
