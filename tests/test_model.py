"""The Call record: token semantics, validation, ids and round trips."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tokentrail import Call, ValidationError
from tokentrail.model import new_call_id, utc_from_ns, validate_call

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def make(**kw: object) -> Call:
    base: dict[str, object] = {
        "id": "c1",
        "started_at": NOW,
        "model": "gpt-4o",
        "input_tokens": 100,
        "output_tokens": 20,
    }
    base.update(kw)
    return Call(**base)  # type: ignore[arg-type]


def test_total_tokens_is_derived() -> None:
    call = make(cache_read_tokens=40, reasoning_tokens=5)
    assert call.total_tokens == 120


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"input_tokens": -1}, r"input_tokens=-1 is not valid"),
        ({"output_tokens": True}, r"output_tokens=True is not valid"),
        ({"input_tokens": 1.5}, r"input_tokens=1.5 is not valid"),
        ({"input_tokens": None}, r"input_tokens=None is not valid"),
        ({"input_tokens": "12"}, r"input_tokens='12' is not valid"),
        ({"cache_read_tokens": 80, "cache_write_tokens": 30}, r"cache_read_tokens=80 \+ cache_write_tokens=30 is more"),
        ({"reasoning_tokens": 21}, r"reasoning_tokens=21 is more than output_tokens=20"),
        ({"cache_write_tokens": 10, "cache_write_1h_tokens": 11}, r"cache_write_1h_tokens=11 is more"),
        ({"started_at": datetime(2026, 1, 1)}, r"started_at=.* timezone-aware"),  # noqa: DTZ001 - the point of the test
        ({"duration_ms": float("nan")}, r"duration_ms=nan is not valid"),
        ({"duration_ms": float("inf")}, r"duration_ms=inf is not valid"),
        ({"cost_usd": Decimal("-1")}, r"cost_usd=Decimal\('-1'\) is not valid"),
        ({"labels": {"team": 3}}, r"labels\['team'\]=3 is not valid"),
        ({"labels": {"": "x"}}, r"labels key '' is not valid"),
        ({"model": ""}, r"model='' is not valid"),
        ({"agent": 5}, r"agent=5 is not valid"),
        ({"success": 1}, r"success=1 is not valid"),
    ],
)
def test_impossible_records_are_rejected(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_call(make(**changes))


def test_round_trip_through_dict_is_exact() -> None:
    call = make(
        cost_usd=Decimal("0.000123456789"),
        labels={"team": "search"},
        duration_ms=12.5,
        prompt_hash="ab" * 32,
        started_at=NOW + timedelta(microseconds=7),
    )
    assert Call.from_dict(call.to_dict()) == call


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="unknown Call field 'tokens'"):
        Call.from_dict({**make().to_dict(), "tokens": 3})


def test_ids_are_uuid7_and_sort_by_time() -> None:
    a = new_call_id(1_700_000_000_000_000_000)
    b = new_call_id(1_700_000_000_001_000_000)
    assert a[14] == "7" and a[19] in "89ab"
    assert a < b
    assert len({new_call_id() for _ in range(1000)}) == 1000


def test_utc_from_ns_keeps_microseconds() -> None:
    assert utc_from_ns(1_700_000_000_123_456_789) == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
