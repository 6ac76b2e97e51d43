"""One stress report row for a property-based run: what was tried, and whether it held.

Hypothesis calls the property once per example; the row is written once, after the last, with
the examples tallied by outcome. A failed guarantee is `lost`, anything else raised is
`crashed`; either way the test still fails, the row only shows it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.plugins.stress_report import Record


def recorded(
    stress_report: Record,
    scenario: str,
    injected: str,
    tried: Counter[str],
    run: Callable[[], None],
    extra: Callable[[], str] | None = None,
) -> None:
    try:
        run()
    except AssertionError as error:
        stress_report(scenario, injected, "lost", _figures(tried, extra, error))
        raise
    except Exception as error:
        stress_report(scenario, injected, "crashed", _figures(tried, extra, error))
        raise
    stress_report(scenario, injected, "held", _figures(tried, extra))


def _figures(
    tried: Counter[str], extra: Callable[[], str] | None, error: BaseException | None = None
) -> str:
    parts = [
        f"{sum(tried.values())} examples: "
        + ", ".join(f"{n} {kind}" for kind, n in tried.most_common())
    ]
    if extra is not None:
        parts.append(extra())
    return _text(parts, error)


@contextmanager
def scenario_row(stress_report: Record, scenario: str, injected: str) -> Iterator[list[str]]:
    """A row for a scenario that is not a property: figures are appended as it runs."""
    figures: list[str] = []
    try:
        yield figures
    except AssertionError as error:
        stress_report(scenario, injected, "lost", _text(figures, error))
        raise
    except Exception as error:
        stress_report(scenario, injected, "crashed", _text(figures, error))
        raise
    stress_report(scenario, injected, "held", _text(figures))


def _text(figures: list[str], error: BaseException | None = None) -> str:
    if error is None:
        return "; ".join(figures)
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return "; ".join([*figures, f"FAILED: {first}"])
