"""The stress report: one table of scenarios, what was injected or sent, and the outcome.

Tests record a row through the `stress_report` fixture; the table is printed at the end of
the run (and written as Markdown to `--stress-report PATH` when given), so a reader sees at
a glance what is proven. A row's outcome is one of `held`, `lost` or `crashed`; a test that
records `lost` or `crashed` must also fail, the table only shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

Outcome = Literal["held", "lost", "crashed"]
OUTCOMES: tuple[Outcome, ...] = ("held", "lost", "crashed")


@dataclass(frozen=True)
class ScenarioRow:
    scenario: str
    injected: str
    outcome: Outcome
    figures: str


_ROWS_KEY = pytest.StashKey[list[ScenarioRow]]()

Record = Callable[..., None]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stress-report",
        metavar="PATH",
        default=None,
        help="also write the stress report table as Markdown to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ROWS_KEY] = []


@pytest.fixture
def stress_report(request: pytest.FixtureRequest) -> Record:
    """`stress_report(scenario, injected, outcome, figures="")` adds one row to the table."""
    rows = request.config.stash[_ROWS_KEY]

    def record(scenario: str, injected: str, outcome: Outcome, figures: str = "") -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        rows.append(ScenarioRow(scenario, injected, outcome, figures))

    return record


def render(rows: list[ScenarioRow]) -> str:
    header = ("scenario", "injected or sent", "outcome", "figures")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in rows:
        cells = (row.scenario, row.injected, row.outcome, row.figures)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows = terminalreporter.config.stash.get(_ROWS_KEY, [])
    if not rows:
        return
    table = render(rows)
    terminalreporter.write_sep("=", "stress report")
    terminalreporter.write_line(table)
    path = terminalreporter.config.getoption("--stress-report")
    if path:
        Path(path).write_text(table + "\n", encoding="utf-8")
