"""`tokentrail import llm-telemetry`: the earlier telemetry tool's folders become ordinary Calls, once."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokentrail.analysis import summary
from tokentrail.cli import build_app
from tokentrail.errors import ValidationError
from tokentrail.importers import call_from_record, import_llm_telemetry
from tokentrail.pricing import calculate_cost
from tokentrail.store import open_store
from tokentrail.store.base import Filter

# gpt-4o: $2.50 in / $10 out per million tokens, so 1,000 in + 100 out = $0.0025 + $0.001.
REPORTED = {
    "timestamp": "2024-05-01T12:00:00", "agent_name": "router", "operation": "classify",
    "tokens": {"input": 1200, "output": 300, "total": 1500}, "cost_usd": 0.0075, "success": True,
    "prompt_hash": "ab12", "metadata": {"project": "shop", "git_branch": "main", "error": None},
}  # fmt: skip
FAILED = {
    "timestamp": "2024-05-01T12:01:00", "agent_name": "router", "operation": "chat", "model": "gpt-4o",
    "tokens": {"input": 1000, "output": 100, "total": 1100}, "success": False, "prompt_hash": "cd34",
    "metadata": {"project": "shop", "git_branch": "main", "error": "RateLimitError: too many requests"},
}  # fmt: skip
BAD_TOTAL = {"timestamp": "2024-05-02T08:00:00+02:00", "tokens": {"input": 10, "output": 5, "total": 16}}
UNPRICED = {
    "timestamp": "2024-05-02T09:00:00Z", "agent_name": "writer", "tokens": {"input": 10, "output": 5, "total": 15},
    "success": True, "metadata": {"model_name": "no-such-model-xyz", "team": "a"},
}  # fmt: skip


def write_folder(root: Path) -> Path:
    folder = root / ".llm-telemetry"
    (folder / "2024-05-01").mkdir(parents=True)
    (folder / "2024-05-02").mkdir()
    (folder / "2024-05-01" / "telemetry.jsonl").write_text(f"{json.dumps(REPORTED)}\n{json.dumps(FAILED)}\nnot json\n")
    (folder / "2024-05-02" / "telemetry.jsonl").write_text(f"{json.dumps(BAD_TOTAL)}\n\n{json.dumps(UNPRICED)}\n")
    (folder / "summary.json").write_text("{}")  # the tool's other files are left alone
    return folder


def test_import_keeps_recorded_costs_prices_the_rest_and_is_idempotent(store_url: str, tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    store = open_store(store_url)
    try:
        first = import_llm_telemetry(folder, store)
        assert (first.files, first.read, first.imported, first.already_present, first.skipped) == (2, 5, 3, 0, 2)
        assert first.problems == [
            f"{folder}/2024-05-01/telemetry.jsonl:3: not JSON (Expecting value: line 1 column 1 (char 0))",
            f"{folder}/2024-05-02/telemetry.jsonl:1: tokens.total=16 is not tokens.input + tokens.output (10 + 5)",
        ]
        t = summary(period="all", store=store, tz="UTC").totals
        assert (t.calls, t.input_tokens, t.output_tokens, t.errors, t.unpriced_calls) == (3, 2210, 405, 1, 1)
        assert t.cost_usd == Decimal("0.0075") + Decimal("0.0035")

        calls = {c.prompt_hash: c for c in store.calls(Filter(), newest_first=False)}
        reported, failed = calls["ab12"], calls["cd34"]
        assert (reported.model, reported.cost_usd, reported.price_source) == ("unknown", Decimal("0.0075"), "reported")
        assert (reported.agent, reported.operation, reported.project, reported.git_branch) == (
            "router", "classify", "shop", "main"
        )  # fmt: skip
        assert reported.started_at == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
        at = datetime(2024, 5, 1, 12, 1, tzinfo=timezone.utc)
        assert failed.cost_usd == calculate_cost("gpt-4o", 1000, 100, at=at).total == Decimal("0.0035")
        assert (failed.success, failed.error_type, failed.error_message) == (
            False,
            "RateLimitError",
            "too many requests",
        )
        unpriced = calls[None]
        assert (unpriced.model, unpriced.cost_usd, dict(unpriced.labels)) == (
            "no-such-model-xyz", None, {"team": "a", "source": "llm-telemetry"}
        )  # fmt: skip

        again = import_llm_telemetry(folder, store)
        assert (again.read, again.imported, again.already_present, again.skipped) == (5, 0, 3, 2)
        assert summary(period="all", store=store, tz="UTC").totals.calls == 3

        # The tool kept appending: only the new line comes in.
        late = {**REPORTED, "timestamp": "2024-05-02T10:00:00", "prompt_hash": "ef56"}
        with open(folder / "2024-05-02" / "telemetry.jsonl", "a") as f:
            f.write(json.dumps(late) + "\n")
        appended = import_llm_telemetry(folder, store, batch_size=1)
        assert (appended.imported, appended.already_present) == (1, 3)
        t = summary(period="all", store=store, tz="UTC").totals
        assert (t.calls, t.input_tokens, t.cost_usd) == (4, 3410, Decimal("0.0185"))
    finally:
        store.close()


def test_dry_run_counts_what_is_new_and_writes_nothing(store_url: str, tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    store = open_store(store_url)
    try:
        dry = import_llm_telemetry(folder, store, dry_run=True)
        assert (dry.imported, dry.already_present, dry.skipped, dry.dry_run) == (3, 0, 2, True)
        assert summary(period="all", store=store, tz="UTC").totals.calls == 0
        import_llm_telemetry(folder, store)
        dry = import_llm_telemetry(folder, store, dry_run=True)
        assert (dry.imported, dry.already_present) == (0, 3)
    finally:
        store.close()


def test_same_record_twice_is_one_call_and_ids_do_not_depend_on_position(tmp_path: Path) -> None:
    a, b = call_from_record(REPORTED), call_from_record(json.loads(json.dumps(REPORTED, indent=2, sort_keys=True)))
    assert a.id == b.id and a.id[14] == "7"  # a UUIDv7, from the record's content, not its layout
    assert call_from_record({**REPORTED, "prompt_hash": "other"}).id != a.id
    folder = tmp_path / "t"
    (folder / "2024-05-01").mkdir(parents=True)
    (folder / "2024-05-01" / "telemetry.jsonl").write_text(json.dumps(REPORTED) + "\n" + json.dumps(REPORTED) + "\n")
    store = open_store("memory://")
    result = import_llm_telemetry(folder, store)
    assert (result.read, result.imported, result.already_present) == (2, 1, 1)


def test_lines_already_in_tokentrails_format_are_taken_as_they_are(tmp_path: Path) -> None:
    jsonl = open_store(f"jsonl://{tmp_path / 'mixed'}")
    own = call_from_record(FAILED).replace(id="0190aaaa-0000-7000-8000-000000000001", labels={})
    jsonl.write([own])
    jsonl.close()
    day = tmp_path / "mixed" / "2024-05-01" / "telemetry.jsonl"
    with open(day, "a") as f:
        f.write(json.dumps(REPORTED) + "\n")
    store = open_store("memory://")
    result = import_llm_telemetry(tmp_path / "mixed", store)
    assert (result.imported, result.skipped) == (2, 0)
    assert {c.id for c in store.calls(Filter())} == {own.id, call_from_record(REPORTED).id}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"tokens": {"input": 1}}, "no 'timestamp'"),
        ({**REPORTED, "timestamp": "yesterday"}, "timestamp='yesterday' is not an ISO date-time"),
        ({**REPORTED, "tokens": {"input": -1, "output": 0}}, "tokens.input=-1 is not a whole number"),
        ({**REPORTED, "cost_usd": "lots"}, "cost_usd='lots' is not an amount of USD"),
        ({**REPORTED, "success": "yes"}, "success='yes' is not true or false"),
        ({**REPORTED, "metadata": ["x"]}, "metadata=['x'] is not an object"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_a_bad_record_names_the_field_and_value(record: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        call_from_record(record)


def test_a_folder_that_is_not_one_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a folder"):
        import_llm_telemetry(tmp_path / "missing", open_store("memory://"))
    with pytest.raises(ValidationError, match="no YYYY-MM-DD/telemetry.jsonl under"):
        import_llm_telemetry(tmp_path, open_store("memory://"))


def test_jsonl_store_on_such_a_folder_says_to_import_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_folder(tmp_path)
    store = open_store(f"jsonl://{folder}")
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        assert list(store.calls(Filter())) == []
    assert store.corrupt_lines == 1  # the 'not json' line; the tool's records are not corrupt, only foreign
    store.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    hint = [w for w in warnings if "looks like an llm-telemetry folder" in w]
    assert len(hint) == 1, warnings  # once for the folder, not once a line
    assert f"run `tokentrail import llm-telemetry {folder}`" in hint[0]
    assert not any("corrupt" in w and "telemetry.jsonl:1 " in w for w in warnings)


def test_importing_into_a_jsonl_store_on_the_same_folder_reads_each_record_once(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)  # LLM_TELEMETRY_DIR makes this folder the default store
    store = open_store(f"jsonl://{folder}")
    try:
        first = import_llm_telemetry(folder, store, batch_size=1)
        assert (first.read, first.imported, first.skipped) == (5, 3, 2)
        again = import_llm_telemetry(folder, store)  # the store's own lines are read too: the same ids
        assert (again.read, again.imported, again.already_present, again.skipped) == (8, 0, 6, 2)
        assert summary(period="all", store=store, tz="UTC").totals.calls == 3
    finally:
        store.close()


def test_cli_prints_counts_and_imports_nothing_new_the_second_time(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    app = build_app()
    first = CliRunner().invoke(app, ["import", "llm-telemetry", str(folder), "--store", url])
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"read 5 record(s) from 2 file(s) in {folder}; imported 3 new into {url}; 0 already present; 2 skipped\n"
    )
    assert f"skipped {folder}/2024-05-01/telemetry.jsonl:3: not JSON" in first.stderr
    second = CliRunner().invoke(app, ["import", "llm-telemetry", str(folder), "--store", url, "-f", "json"])
    data = json.loads(second.stdout)
    assert (data["read"], data["imported"], data["already_present"], data["skipped"]) == (5, 0, 3, 2)
    missing = CliRunner().invoke(app, ["import", "llm-telemetry", str(tmp_path / "nope"), "--store", url])
    assert missing.exit_code == 1
    assert "is not a folder" in missing.stderr
