"""The fast Query path measures items against the 1 MB page limit exactly as moto does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.dynamodb.models.dynamo_type import Item

from switchboard.local.fast_reads import _item_size

scalars = st.one_of(
    st.text(max_size=20).map(lambda s: {"S": s}),
    st.integers(-(10**12), 10**12).map(lambda n: {"N": str(n)}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3, unique=True).map(
        lambda values: {"SS": values}
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3).map(
            lambda fields: {"M": fields}
        ),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(attrs=st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=6))
def test_item_size_is_motos(attrs: dict[str, Any]) -> None:
    item = Item(
        hash_key=None,  # type: ignore[arg-type]
        range_key=None,
        attrs={"PK": {"S": "ROOM#lobby"}, "SK": {"S": "CONN#é"}, **attrs},
    )
    assert _item_size(item) == item.size()
