"""ClientRequestToken of TransactWriteItems: a retry is answered once, within ten minutes."""

from __future__ import annotations

from switchboard.local.transaction_tokens import WINDOW_SECONDS, Mismatch, TransactionTokens

REQUEST = {"TransactItems": [{"Put": {"TableName": "t", "Item": {"PK": {"S": "a"}}}}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_retry_with_the_same_token_gets_the_first_answer() -> None:
    tokens = TransactionTokens()
    request = {**REQUEST, "ClientRequestToken": "tok-1"}
    assert tokens.replay(request) is None
    tokens.remember(request, b"{}")
    assert tokens.replay(request) == b"{}"
    assert tokens.replay({**REQUEST, "ClientRequestToken": "tok-2"}) is None


def test_the_same_token_with_other_parameters_is_a_mismatch() -> None:
    tokens = TransactionTokens()
    tokens.remember({**REQUEST, "ClientRequestToken": "tok-1"}, b"{}")
    other = {"TransactItems": [], "ClientRequestToken": "tok-1"}
    answer = tokens.replay(other)
    assert isinstance(answer, Mismatch) and answer.token == "tok-1"


def test_requests_without_a_token_are_never_remembered() -> None:
    tokens = TransactionTokens()
    tokens.remember(REQUEST, b"{}")
    assert len(tokens) == 0 and tokens.replay(REQUEST) is None


def test_tokens_are_forgotten_after_the_window() -> None:
    clock = Clock()
    tokens = TransactionTokens(clock)
    tokens.remember({**REQUEST, "ClientRequestToken": "old"}, b"{}")
    clock.now += WINDOW_SECONDS / 2
    tokens.remember({**REQUEST, "ClientRequestToken": "new"}, b"{}")
    clock.now += WINDOW_SECONDS / 2 + 1
    assert tokens.replay({**REQUEST, "ClientRequestToken": "old"}) is None
    assert tokens.replay({**REQUEST, "ClientRequestToken": "new"}) == b"{}"
    assert len(tokens) == 1
