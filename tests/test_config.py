"""Settings: arguments > environment > config file > defaults, and clear errors naming the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentrail import ConfigError
from tokentrail.config import resolve, settings_table


def test_defaults_put_the_store_in_tokentrail_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENTRAIL_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    s = resolve()
    assert s.store == f"sqlite://{tmp_path / 'usage.db'}"  # sqlite:///abs/usage.db: the path follows sqlite://
    assert s.sources["store"] == "default"
    assert (s.store_prompts, s.store_responses, s.batch_size, s.flush_interval) == (False, False, 1000, 1.0)


def test_precedence_argument_environment_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tokentrail.toml").write_text('batch_size = 10\nflush_interval = 2.5\nstore = "memory://"\n')
    monkeypatch.setenv("TOKENTRAIL_BATCH_SIZE", "20")
    s = resolve(store="jsonl:///tmp/x")
    assert (s.store, s.sources["store"]) == ("jsonl:///tmp/x", "argument")
    assert (s.batch_size, s.sources["batch_size"]) == (20, "environment (TOKENTRAIL_BATCH_SIZE)")
    assert (s.flush_interval, s.sources["flush_interval"]) == (2.5, f"file ({tmp_path / 'tokentrail.toml'})")
    assert s.sources["queue_size"] == "default"


def test_pyproject_tool_table_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.tokentrail]\nstore_prompts = true\n')
    sub = tmp_path / "pkg"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert resolve().store_prompts is True


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENTRAIL_BATCH_SIZE", "")
    assert resolve().sources["batch_size"] == "default"


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        (
            "TOKENTRAIL_FLUSH_INTERVAL",
            "abc",
            r"^TOKENTRAIL_FLUSH_INTERVAL='abc' \(from environment\) is not a number of seconds$",
        ),
        ("TOKENTRAIL_BATCH_SIZE", "-3", r"TOKENTRAIL_BATCH_SIZE='-3' .* is not a whole number"),
        ("TOKENTRAIL_STORE_PROMPTS", "maybe", r"TOKENTRAIL_STORE_PROMPTS='maybe' .* is not true or false"),
        ("TOKENTRAIL_STORE", " ", r"TOKENTRAIL_STORE=' ' .* is not a store URL"),  # a plain path is a store
        ("TOKENTRAIL_TZ", "Mars/Olympus", r"TOKENTRAIL_TZ='Mars/Olympus' .* is not a known IANA time zone"),
        ("LLM_RETENTION_DAYS", "soon", r"LLM_RETENTION_DAYS='soon' .* is not a whole number of days"),
    ],
)
def test_bad_values_name_their_source(monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=message):
        resolve()


def test_bad_file_value_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tokentrail.toml").write_text("queue_size = 0\n")
    with pytest.raises(ConfigError, match=r"queue_size=0 \(from file \(.*tokentrail.toml\)\)"):
        resolve()
    (tmp_path / "tokentrail.toml").write_text("queue_sise = 10\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'queue_sise' in config file"):
        resolve()
    (tmp_path / "tokentrail.toml").write_text("queue_size = \n")
    with pytest.raises(ConfigError, match=r"cannot be read"):
        resolve()


def test_unknown_argument() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'stroe'"):
        resolve(stroe="memory://")


def test_legacy_telemetry_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TELEMETRY_DIR", str(tmp_path / "telemetry"))
    monkeypatch.setenv("LLM_STORE_RESPONSES", "1")
    monkeypatch.setenv("LLM_RETENTION_DAYS", "14")
    monkeypatch.setenv("LLM_STORAGE_MAX_SIZE_MB", "50")
    s = resolve()
    assert s.store == f"jsonl://{tmp_path / 'telemetry'}"
    assert (s.store_responses, s.retention_days, s.max_size_mb) == (True, 14, 50.0)
    monkeypatch.setenv("LLM_TELEMETRY_STORAGE_ENABLED", "false")
    assert resolve().store == "memory://"
    monkeypatch.setenv("TOKENTRAIL_STORE", "sqlite:///x.db")
    assert resolve().store == "sqlite:///x.db"  # the new name wins over the legacy ones


def test_settings_table_documents_every_variable() -> None:
    names = [row[0] for row in settings_table()]
    assert "TOKENTRAIL_STORE" in names[0]
    assert any("LLM_STORE_PROMPTS" in n for n in names)


def test_budgets_from_the_config_file_are_enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tokentrail import BudgetExceededError, Tracker
    from tokentrail.context import current_scope
    from tokentrail.tracker import PendingCall

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tokentrail.toml").write_text('[budgets.tiny]\nlimit_usd = 0.01\nperiod = "day"\nenforce = true\n')
    with Tracker("memory://") as t:
        assert t.has_guards
        small = PendingCall("gpt-4o", "openai", 100, 100, current_scope())
        t.check_guards(small)  # $0.00125: allowed
        big = PendingCall("gpt-4o", "openai", 100_000, 1_000, current_scope())
        with pytest.raises(BudgetExceededError, match=r"budget 'tiny'.*refused a call to 'gpt-4o'"):
            t.check_guards(big)  # $0.26 would pass the $0.01 limit


def test_budgets_set_in_the_store_reach_a_new_process_tracker(tmp_path: Path) -> None:
    from tokentrail import BudgetExceededError, Tracker
    from tokentrail.budgets import BudgetSpec, set_budget
    from tokentrail.context import current_scope
    from tokentrail.tracker import PendingCall

    url = f"sqlite:///{tmp_path / 'usage.db'}"
    set_budget(BudgetSpec.create("cap", limit_usd=0.01, period="day", enforce=True), store=url)
    with Tracker(url) as t:  # defines nothing itself: the store's budget applies
        with pytest.raises(BudgetExceededError, match="budget 'cap'"):
            t.check_guards(PendingCall("gpt-4o", "openai", 100_000, 1_000, current_scope()))
