"""The fault spec of `switchboard local`: parsing, clear refusals, and repeatable choices."""

from __future__ import annotations

import pytest

from switchboard.cli import main
from switchboard.local.faults import FaultInjector, FaultPlan, FaultSpecError


def test_nothing_is_injected_by_default() -> None:
    plan = FaultPlan.from_sources([], None)
    assert plan == FaultPlan()
    assert not plan.active and not plan.dynamodb_active


def test_flags_and_the_environment_variable_combine_and_flags_win() -> None:
    plan = FaultPlan.from_sources(
        ["dynamodb.throttle=0.2", "connections.gone=25%"],
        "dynamodb.throttle=0.5, gateway.skip_disconnect=1 seed=9",
    )
    assert plan == FaultPlan(
        dynamodb_throttle=0.2, connections_gone=0.25, skip_disconnect=1.0, seed=9
    )
    assert plan.active and plan.dynamodb_active
    assert FaultPlan.parse([plan.spec()]) == plan


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("dynamodb.slow=0.1", "unknown fault 'dynamodb.slow'; known: connections.gone, "),
        ("connections.gone", "a fault is NAME=VALUE, got 'connections.gone'"),
        ("connections.gone=1.5", "connections.gone must be a share from 0 to 1"),
        ("connections.gone=nan", "connections.gone must be a share from 0 to 1"),
        ("connections.throttle=lots", "connections.throttle must be a share from 0 to 1"),
        ("seed=x", "seed must be a whole number, got 'x'"),
        ("dynamodb.fail_matching=", "dynamodb.fail_matching needs a text to match"),
        ("dynamodb.throttle=0.6,dynamodb.error=0.5", "add up to more than 1"),
    ],
)
def test_a_bad_spec_is_refused_with_what_is_wrong(item: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as refused:
        FaultPlan.parse([item])
    assert message in str(refused.value)


def test_the_command_refuses_a_bad_spec_before_starting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["local", "--inject-fault", "connections.gone=2"]) == 2
    assert "switchboard local: --inject-fault: connections.gone must be a share" in (
        capsys.readouterr().err
    )


def test_choices_by_key_are_stable_and_near_the_share() -> None:
    injector = FaultInjector(FaultPlan(seed=3))
    keys = [f"conn-{n}" for n in range(4000)]
    chosen = [k for k in keys if injector.chosen(0.25, k)]
    assert 0.22 < len(chosen) / len(keys) < 0.28
    again = FaultInjector(FaultPlan(seed=3))
    assert chosen == [k for k in keys if again.chosen(0.25, k)]
    other_seed = FaultInjector(FaultPlan(seed=4))
    assert chosen != [k for k in keys if other_seed.chosen(0.25, k)]
    assert not any(injector.chosen(0.0, k) for k in keys)
    assert all(injector.chosen(1.0, k) for k in keys)


def test_draws_repeat_with_the_seed_and_split_the_dynamodb_shares() -> None:
    plan = FaultPlan(dynamodb_throttle=0.2, dynamodb_error=0.1, dynamodb_lost_reply=0.1, seed=1)
    injector, again = FaultInjector(plan), FaultInjector(plan)
    drawn = [injector.dynamodb_fault() for _ in range(5000)]
    assert drawn == [again.dynamodb_fault() for _ in range(5000)]
    shares = {kind: drawn.count(kind) / len(drawn) for kind in ("throttle", "error", "lost_reply")}
    assert 0.17 < shares["throttle"] < 0.23
    assert 0.08 < shares["error"] < 0.12 and 0.08 < shares["lost_reply"] < 0.12
