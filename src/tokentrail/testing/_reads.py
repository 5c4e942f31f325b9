"""The contract's reads: round trips, deduplication, filters, streaming, delete, and hostile input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ..errors import ValidationError
from ..model import Call
from ..store.base import DIMENSIONS, CallStore, Filter
from ._expect import T0, UTC, actual_groups, call, dimension, everything, expected_groups
from ._fixtures import ContractFixtures

__all__ = ["ReadContract"]


class ReadContract(ContractFixtures):
    """What every backend's `write`, `calls` and `delete` do (part of `StoreContract`)."""

    # --- round trip and deduplication ---------------------------------------------------------------

    def test_every_field_round_trips_exactly(self, store: CallStore) -> None:
        full = Call(
            id="0190a1b2-c3d4-7e5f-8a9b-0123456789ab",
            started_at=datetime(2025, 6, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
            model="claude-sonnet-4",
            provider="anthropic",
            response_model="claude-sonnet-4-20250514",
            operation="chat",
            duration_ms=1234.5678901234,
            ttft_ms=0.1,
            finish_reason="end_turn",
            streamed=True,
            response_id="msg_01ABC",
            input_tokens=12_345,
            output_tokens=678,
            cache_read_tokens=10_000,
            cache_write_tokens=2_000,
            cache_write_1h_tokens=500,
            reasoning_tokens=100,
            tokens_estimated=True,
            cost_usd=Decimal("0.0123456789012345678901234"),
            input_cost_usd=Decimal("0.000123"),
            output_cost_usd=Decimal("1E-20"),
            cache_read_cost_usd=Decimal("0"),
            cache_write_cost_usd=Decimal("123456789.5"),
            currency="EUR",
            price_source="genai-prices 0.2.3",
            agent="router",
            user="ünïcødé user 🙂",
            session="sess-1",
            project="webapp",
            environment="prod",
            git_branch="feature/quotes-'\"",
            trace_id="a" * 32,
            span_id="b" * 16,
            parent_span_id="c" * 16,
            labels={"team": "search", "quote": 'it\'s "fine"', "dotted.key": "v", "empty": "", "nul": "a\x00b"},
            success=False,
            error_type="RateLimitError",
            error_message="429: slow down\nnewline",
            retries=3,
            prompt_hash="d" * 64,
            response_hash="e" * 64,
            prompt="Hello, 世界",
            response="",
        )
        minimal = call(1, started_at=datetime(2025, 6, 1, 9, tzinfo=UTC))
        assert store.write([full, minimal]) == 2
        got = everything(store)
        assert got == [full, minimal]
        assert got[0].labels == full.labels and got[0].cost_usd == full.cost_usd
        assert got[1].cost_usd is None and got[1].labels == {} and got[1].duration_ms is None

    def test_write_skips_known_ids_within_and_across_batches(self, store: CallStore) -> None:
        first = [call(1), call(2), call(1, model="other"), call(3)]
        assert store.write(first) == 3
        assert store.write([call(2), call(3), call(4)]) == 1
        assert store.write([]) == 0
        got = everything(store)
        assert [c.id for c in got] == ["call-000001", "call-000002", "call-000003", "call-000004"]
        assert got[0].model == "gpt-4o"  # the first of the duplicates is the one kept

    def test_write_skips_known_response_ids_within_and_across_batches(self, store: CallStore) -> None:
        assert store.write([call(1, response_id="r1"), call(2, response_id="r1"), call(3), call(4)]) == 3
        far_later = T0 + timedelta(days=200)
        assert store.write([call(5, response_id="r1", started_at=far_later), call(6, response_id="r2"), call(7)]) == 2
        assert [c.id for c in everything(store)] == [
            "call-000001",
            "call-000003",
            "call-000004",
            "call-000006",
            "call-000007",
        ]

    # --- filters ------------------------------------------------------------------------------------

    @pytest.mark.parametrize("dim", [*DIMENSIONS, "label:team", "label:tier", "label:missing"])
    def test_where_on_each_dimension(self, store: CallStore, mixed: list[Call], dim: str) -> None:
        values = sorted({v for c in mixed if (v := dimension(c, dim)) is not None})
        wanted = tuple(values[:2]) if values else ("nothing",)
        expected = [c.id for c in mixed if dimension(c, dim) in wanted]
        assert [c.id for c in everything(store, where={dim: wanted})] == expected
        groups = store.aggregate(Filter(where={dim: wanted}), by=(dim,))
        assert [(g.key, g.totals.calls) for g in groups] == [
            ((v,), sum(1 for c in mixed if dimension(c, dim) == v)) for v in sorted(wanted) if v in values
        ]

    def test_where_combines_dimensions_and_values(self, store: CallStore, mixed: list[Call]) -> None:
        where = {"model": ("gpt-4o", "gemini-2.0-flash"), "agent": ("coder",), "label:tier": ("1",)}
        expected = [
            c.id for c in mixed if c.model in where["model"] and c.agent == "coder" and c.labels.get("tier") == "1"
        ]
        assert expected and [c.id for c in everything(store, where=where)] == expected
        assert everything(store, where={"model": ()}) == []

    def test_since_is_inclusive_and_until_exclusive(self, store: CallStore, mixed: list[Call]) -> None:
        since, until = mixed[10].started_at, mixed[50].started_at
        got = everything(store, since=since, until=until)
        assert [c.id for c in got] == [c.id for c in mixed[10:50]]
        assert store.aggregate(Filter(since=since, until=until))[0].totals.calls == 40
        one_us = timedelta(microseconds=1)
        assert [c.id for c in everything(store, since=since + one_us, until=until + one_us)] == [
            c.id for c in mixed[11:51]
        ]
        assert everything(store, since=since, until=since) == []

    def test_success_filter(self, store: CallStore, mixed: list[Call]) -> None:
        failed = [c.id for c in mixed if not c.success]
        assert failed and [c.id for c in everything(store, success=False)] == failed
        assert [c.id for c in everything(store, success=True)] == [c.id for c in mixed if c.success]
        (group,) = store.aggregate(Filter(success=False))
        assert group.totals.errors == group.totals.calls == len(failed)

    # --- streaming ----------------------------------------------------------------------------------

    def test_calls_stream_in_order_with_limit(self, store: CallStore) -> None:
        same_time = T0 + timedelta(hours=1)
        calls = [call(i, started_at=T0 + timedelta(seconds=i)) for i in range(2_500)]
        ties = [call(9_000 + i, id=f"tie-{i}", started_at=same_time) for i in (3, 1, 2)]
        for i in range(0, len(calls), 700):
            store.write(calls[i : i + 700])
        store.write(ties)
        oldest = sorted(calls + ties, key=lambda c: (c.started_at, c.id))
        assert [c.id for c in store.calls(Filter(), newest_first=False)] == [c.id for c in oldest]
        assert [c.id for c in store.calls(Filter(), limit=2_100)] == [c.id for c in oldest[::-1][:2_100]]
        assert [c.id for c in store.calls(Filter(), limit=3, newest_first=False)] == [c.id for c in oldest[:3]]
        assert list(store.calls(Filter(), limit=0)) == []
        stream = store.calls(Filter(since=same_time), newest_first=False)
        assert [next(stream).id for _ in range(3)] == ["tie-1", "tie-2", "tie-3"]

    # --- delete -------------------------------------------------------------------------------------

    def test_delete_removes_matching_calls_and_their_totals(self, store: CallStore, mixed: list[Call]) -> None:
        flt = Filter(where={"agent": ("coder",)}, since=mixed[30].started_at)
        doomed = [c for c in mixed if flt.matches(c)]
        assert store.delete(flt, batch_size=7) == len(doomed) > 7
        kept = [c for c in mixed if not flt.matches(c)]
        assert [c.id for c in everything(store)] == [c.id for c in kept]
        assert actual_groups(store.aggregate(Filter(), by=("agent",))) == expected_groups(kept, ("agent",))
        assert actual_groups(store.aggregate(Filter(), bucket="day")) == expected_groups(
            kept, (), lambda at: datetime(at.year, at.month, at.day, tzinfo=UTC)
        )
        assert store.delete(flt) == 0
        # a deleted call may be stored again, response id and all
        assert store.write(doomed[:3]) == 3

    def test_delete_everything(self, store: CallStore, mixed: list[Call]) -> None:
        assert store.delete(Filter()) == len(mixed)
        assert everything(store) == [] and store.aggregate(Filter()) == [] and store.percentiles(Filter()) == []

    # --- hostile input ------------------------------------------------------------------------------

    @pytest.mark.parametrize("key", ["x') or 1=1 --", 'a"b', "a b", "", "k" * 65, "x';DROP TABLE calls;--"])
    def test_label_keys_that_could_inject_are_rejected(self, store: CallStore, key: str) -> None:
        with pytest.raises(ValidationError):
            Filter(where={f"label:{key}": ("v",)})
        with pytest.raises(ValidationError):
            store.aggregate(Filter(), by=(f"label:{key}",))
        with pytest.raises(ValidationError):
            store.aggregate(Filter(), by=("model; DROP TABLE calls",))

    def test_label_keys_and_values_with_sql_characters_are_data(self, store: CallStore) -> None:
        nasty = ["x' OR '1'='1", 'it\'s "quoted"', "--", "%", "_", "\\", "' ; DROP TABLE calls; --"]
        keys = ["a.b", "k8s/ns", "x:y", "with-dash", "UPPER_1"]
        calls = [call(i, labels={k: v for k in keys}) for i, v in enumerate(nasty)]
        store.write(calls)
        for k in keys:
            for i, v in enumerate(nasty):
                assert [c.id for c in everything(store, where={f"label:{k}": (v,)})] == [calls[i].id]
        groups = store.aggregate(Filter(), by=("label:a.b",))
        assert sorted(g.key[0] or "" for g in groups) == sorted(nasty)
        assert everything(store, where={"model": ("gpt-4o' OR '1'='1",)}) == []
        assert len(everything(store)) == len(nasty)

    def test_label_values_holding_nul_are_whole_values_in_every_read(self, store: CallStore) -> None:
        # SQLite's json_extract() ends a text at NUL: 'a\x00b' used to be grouped and filtered as 'a'.
        values = ["a\x00b", "a", "a", "\x00", "a\x00b\x00c"]
        calls = [call(i, labels={"team": v, "other": "x"}, duration_ms=100.0 * (i + 1)) for i, v in enumerate(values)]
        assert store.write(calls) == len(values)
        groups = store.aggregate(Filter(), by=("label:team",))
        assert sorted((g.key, g.totals.calls) for g in groups) == [
            (("\x00",), 1), (("a",), 2), (("a\x00b",), 1), (("a\x00b\x00c",), 1)
        ]  # fmt: skip
        for v in set(values):
            assert [c.id for c in everything(store, where={"label:team": (v,)})] == [
                c.id for c in calls if c.labels["team"] == v
            ], repr(v)
        rows = store.percentiles(Filter(where={"label:team": ("a\x00b", "a")}), by=("label:team",), quantiles=(1.0,))
        assert sorted((r.key, r.count, r.values) for r in rows) == [(("a",), 2, (300.0,)), (("a\x00b",), 1, (100.0,))]
        assert store.aggregate(Filter(where={"label:other": ("x",)}), by=("label:team",))[0].totals.calls >= 1
