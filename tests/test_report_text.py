"""How reports write values: one money text on every store, `null` for unknown cost, no exponents, and stored
text that cannot drive the terminal or a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from test_cli_helpers import run
from tokentrail import Call
from tokentrail.analysis import breakdown
from tokentrail.cli.render import to_json
from tokentrail.formatting import csv_cell, money_text, number_text, safe_text
from tokentrail.model import new_call_id
from tokentrail.store import open_store
from tokentrail.store.base import Filter

UTC = timezone.utc
AT = datetime(2025, 3, 10, 12, tzinfo=UTC)
WINDOW = ["--since", "2025-03-01", "--until", "2025-03-31", "--tz", "UTC"]
EXPONENT = re.compile(r"\d[eE][-+]?\d")


def call(model: str, cost: str | None, minutes: int, **dims: str) -> Call:
    return Call(id=new_call_id(), started_at=AT + timedelta(minutes=minutes), model=model, input_tokens=1000,
                output_tokens=100, duration_ms=1000.0, cost_usd=None if cost is None else Decimal(cost),
                **dims)  # type: ignore[arg-type]  # fmt: skip


MONEY_CALLS = [
    call("gpt-4o", "27.000000", 0),
    call("gpt-4o", "0.43116", 1),  # gpt-4o: $27.43116, printed 27.431160000000 by SQLite and 27.431160 by PostgreSQL
    call("text-embedding-3-small", "0.0021664", 2),  # a share of 7.9e-05 as a float
    call("gpt-4o-mini", "0.0000000000001", 3),  # finer than a pico-dollar: kept exactly as text by SQLite
    call("gpt-4o-mini", "0.00000036", 4),  # str(Decimal) of this is 3.6E-7
    call("local-llama", None, 5),
    call("local-llama", None, 6),  # a group with no priced call: its cost is unknown
]


def _outputs(url: str) -> dict[str, str]:
    out = {}
    for name, args in {
        "costs.json": ["costs", "--by", "model", "--format", "json"],
        "costs.csv": ["costs", "--by", "model", "--format", "csv"],
        "costs.txt": ["costs", "--by", "model"],
        "stats.json": ["stats", "--format", "json"],
        "daily.csv": ["costs", "--by", "model", "--daily", "--format", "csv"],
    }.items():
        r = run(*args, "--store", url, *WINDOW)
        assert r.exit_code == 0, r.output
        out[name] = r.stdout
    return out


@pytest.fixture
def urls(tmp_path: Path, pg_url: str) -> dict[str, str]:
    found = {"jsonl": f"jsonl://{tmp_path / 'j'}", "sqlite": f"sqlite:///{tmp_path / 's.db'}", "postgres": pg_url}
    for url in found.values():
        s = open_store(url)
        try:
            s.write(MONEY_CALLS)
        finally:
            s.close()
    return found


def test_money_text_is_the_same_on_every_store(urls: dict[str, str]) -> None:
    outputs = {kind: _outputs(url) for kind, url in urls.items()}
    assert outputs["sqlite"] == outputs["postgres"] == outputs["jsonl"]
    data = json.loads(outputs["sqlite"]["costs.json"])
    costs = {r["model"]: r["cost_usd"] for r in data["rows"]}
    assert costs == {"gpt-4o": "27.431160", "text-embedding-3-small": "0.0021664",
                     "gpt-4o-mini": "0.0000003600001", "local-llama": None}  # fmt: skip
    assert data["totals"]["cost_usd"] == "27.4333267600001"  # exact: the sum of the rows
    memory = open_store("memory://")
    memory.write(MONEY_CALLS)
    same = breakdown("model", since="2025-03-01", until="2025-03-31", tz="UTC", store=memory).to_dict()
    assert to_json(same) + "\n" == outputs["sqlite"]["costs.json"]  # the in-memory store too


def test_no_exponent_anywhere(urls: dict[str, str]) -> None:
    out = _outputs(urls["sqlite"])
    for name, text in out.items():
        assert not EXPONENT.search(text), (name, EXPONENT.search(text))
    share = {r["model"]: r["cost_share"] for r in json.loads(out["costs.json"])["rows"]}
    assert share["text-embedding-3-small"] == pytest.approx(0.000079) and '"cost_share": 0.000079' in out["costs.json"]
    assert "$0.00000036" in out["costs.txt"]  # was $3.60e-7
    calls = run("calls", "--store", urls["sqlite"], *WINDOW, "--format", "json").stdout
    money = [v for line in calls.splitlines() for k, v in json.loads(line).items() if k.endswith("_usd") and v]
    assert "0.00000036" in money and not any(EXPONENT.search(v) for v in money)


def test_an_unpriced_group_costs_null_not_zero(urls: dict[str, str]) -> None:
    out = _outputs(urls["postgres"])
    row = next(r for r in json.loads(out["costs.json"])["rows"] if r["model"] == "local-llama")
    assert row["cost_usd"] is None and row["unpriced_calls"] == 2
    cells = {r["model"]: r for r in csv.DictReader(io.StringIO(out["costs.csv"]))}
    assert cells["local-llama"]["cost_usd"] == "" and cells["gpt-4o"]["cost_usd"] == "27.431160"
    assert "unpriced" in next(line for line in out["costs.txt"].splitlines() if line.startswith("local-llama"))


def test_money_and_number_text() -> None:
    assert money_text(Decimal("27.431160000000")) == money_text(Decimal("27.431160")) == "27.431160"
    assert money_text(Decimal("3.6E-7")) == "0.00000036" and money_text(Decimal("3E+2")) == "300.000000"
    assert money_text(Decimal("-0E-12")) == "0.000000" and money_text(None) is None
    assert number_text(7.9e-05) == "0.000079" and number_text(165600.0) == "165600.0"
    assert to_json({"a": [1.5e-07, float("inf"), Decimal("1E-7"), None, True]}) == (
        '{\n  "a": [\n    0.00000015,\n    null,\n    "0.0000001",\n    null,\n    true\n  ]\n}'
    )


# -- untrusted text ---------------------------------------------------------------------------------

OSC52 = "u-1\x1b]52;c;aGVsbG8=\x07"  # sets the clipboard of whoever runs the report
SPOOF = "ok\r\x1b[2Kall good\nfake line"  # rewrites the line it is on and starts a new one
OUR_SGR = re.compile(r"\x1b\[(?:0|1|2|3[1-6]|1;31|1;36)m")


@pytest.fixture
def hostile(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    s = open_store(url)
    s.write([
        call("gpt-4o", "1.0", 0, user=OSC52, agent=SPOOF, session="s\x9b31m"),
        call("gpt-4o", "2.0", 1, user="=HYPERLINK(\"http://evil\",\"x\")", agent="-5"),
        call("gpt-4o", "3.0", 2, user="+1-800", agent="@SUM(A1)"),
        call("gpt-4o", "4.0", 3, user="\tcmd", agent="-1.5e3"),
    ])  # fmt: skip
    s.close()
    return url


REPORTS = [["costs", "--by", "user,agent"], ["users"], ["agents"], ["sessions"], ["calls"], ["stats"],
           ["costs", "--by", "user", "--format", "csv"], ["calls", "--format", "csv"]]  # fmt: skip


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: " ".join(a))
@pytest.mark.parametrize("color", [False, True], ids=["plain", "color"])
def test_control_characters_never_reach_the_terminal(hostile: str, args: list[str], color: bool) -> None:
    r = run(*args, "--store", hostile, *WINDOW, env={"FORCE_COLOR": "1"} if color else {"NO_COLOR": "1"})
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert not re.search("[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f-\x9f]", out)  # BEL, CR, C1 … (newline apart)
    assert OUR_SGR.sub("", out).count("\x1b") == 0  # ESC only in tokentrail's own colours
    assert not any(line.startswith("fake line") for line in out.splitlines())  # no line of its own
    if args[0] in ("users", "calls") or "user" in args or "user,agent" in args:
        assert "u-1\\x1b]52;" in out  # shown, visibly escaped


def test_stored_values_are_untouched(hostile: str) -> None:
    s = open_store(hostile)
    try:
        users = {c.user for c in s.calls(Filter())}
    finally:
        s.close()
    assert OSC52 in users


def test_csv_cells_cannot_start_a_formula(hostile: str) -> None:
    out = run("costs", "--by", "user,agent", "--store", hostile, *WINDOW, "--format", "csv").stdout
    rows = {(r["user"], r["agent"]) for r in csv.DictReader(io.StringIO(out))}
    assert ('\'=HYPERLINK("http://evil","x")', "-5") in rows  # a number stays a number
    assert ("'+1-800", "'@SUM(A1)") in rows and ("'\\tcmd", "-1.5e3") in rows
    exported = run("export", "--format", "csv", "--store", hostile).stdout
    cells = {(r["user"], r["agent"]) for r in csv.DictReader(io.StringIO(exported))}
    assert ('\'=HYPERLINK("http://evil","x")', "-5") in cells and ("'+1-800", "'@SUM(A1)") in cells
    assert (OSC52, SPOOF) in cells  # an export is the faithful copy: only formulas are defused


def test_safe_text_and_csv_cell() -> None:
    assert safe_text(OSC52) == "u-1\\x1b]52;c;aGVsbG8=\\x07"
    assert safe_text("a\u202eb") == "a\\u202eb"  # a bidi override cannot reverse what follows
    assert safe_text("\x1b[31mred\x1b[0m", keep_color=True) == "\x1b[31mred\x1b[0m"
    assert safe_text("\x1b[5mblink\x1b]8;;x\x1b\\", keep_color=True) == "\\x1b[5mblink\\x1b]8;;x\\x1b\\"
    assert [csv_cell(v) for v in ("-5", "+3.5", "-", "=1", 5, -5.5, Decimal("-2"), None)] == [
        "-5", "+3.5", "'-", "'=1", 5, "-5.5", "-2.000000", ""
    ]  # fmt: skip
