"""One path rule for every file store, plain paths, and readers that never create a store (issue 10 §3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli_helpers import KNOWN, run, seed
from tokentrail.errors import ConfigError, StoreError
from tokentrail.store import Filter, locate, open_store, shown_location
from tokentrail.store.jsonl import JsonlStore
from tokentrail.store.sqlite import SQLiteStore

FILE_KINDS = ("sqlite", "jsonl")


def _name(kind: str) -> str:
    return "x.db" if kind == "sqlite" else "x"


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_one_rule_for_every_file_scheme(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    name = _name(kind)
    absolute = tmp_path / "data" / name
    expected = {
        f"{kind}://{absolute}": absolute,  # kind:///tmp/…/data/x: three slashes, an absolute path
        f"{kind}:///{absolute}": absolute,  # four slashes (SQLAlchemy's absolute form): the same place
        f"{kind}://data/{name}": tmp_path / "data" / name,  # relative to the current folder
        f"{kind}://./data/{name}": tmp_path / "data" / name,
        f"{kind}://~/{name}": tmp_path / "home" / name,
        f"{kind}:///~/{name}": tmp_path / "home" / name,  # the form the docs used for the home folder
    }
    for url, path in expected.items():
        where = locate(url)
        assert (where.scheme, where.path, where.url) == (kind, path, f"{kind}://{path}"), url


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_three_slashes_land_at_the_absolute_path_not_under_the_current_folder(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The newcomer's case: sqlite:///data/x.db landed in ./data/x.db while jsonl:///data/x was /data/x.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    target = tmp_path / "data" / _name(kind)
    store = open_store(f"{kind}://{target}")  # e.g. sqlite:///tmp/pytest-…/data/x.db
    try:
        assert store.write(KNOWN[:2]) == 2
        assert store.url == f"{kind}://{target}"
    finally:
        store.close()
    assert target.exists() and list(work.iterdir()) == []


def test_a_copy_lands_at_the_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    source = seed(f"sqlite://{tmp_path / 'src.db'}")
    dest = tmp_path / "data" / "x.db"
    result = run("copy", "--from", source, "--to", f"sqlite://{dest}")
    assert result.exit_code == 0, result.output
    assert f"from sqlite://{tmp_path / 'src.db'}; " in result.stdout and f"to sqlite://{dest};" in result.stdout
    assert dest.is_file() and list(work.iterdir()) == []
    copied = open_store(str(dest))  # the plain path names the same store
    try:
        assert sum(1 for _ in copied.calls(Filter())) == len(KNOWN)
    finally:
        copied.close()


def test_plain_paths_are_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "existing").write_bytes(b"")
    cases = {
        "./usage.db": ("sqlite", tmp_path / "usage.db"),
        "usage.sqlite3": ("sqlite", tmp_path / "usage.sqlite3"),
        "~/x.db": ("sqlite", tmp_path / "home" / "x.db"),
        str(tmp_path / "abs.db"): ("sqlite", tmp_path / "abs.db"),
        "existing": ("sqlite", tmp_path / "existing"),  # an existing file is a SQLite file
        "folder": ("jsonl", tmp_path / "folder"),  # an existing folder is a JSONL store
        "new-folder/": ("jsonl", tmp_path / "new-folder"),  # so is a path that ends with '/'
    }
    for text, (scheme, path) in cases.items():
        where = locate(text)
        assert (where.scheme, where.path) == (scheme, path), text
    s1, s2 = open_store("./usage.db"), open_store("new-folder/")
    try:
        assert isinstance(s1, SQLiteStore) and isinstance(s2, JsonlStore)
        assert s2.path == tmp_path / "new-folder" and s2.url == f"jsonl://{tmp_path / 'new-folder'}"
    finally:
        s1.close()
        s2.close()


def test_a_path_that_names_no_kind_of_store_is_refused_with_its_absolute_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=f"store URL 'usage' has no scheme, and as a path \\('{tmp_path}/usage'\\)"):
        open_store("usage")
    with pytest.raises(ConfigError, match=r"'sqlite:x\.db' is not valid: write sqlite://"):
        open_store("sqlite:x.db")
    assert not (tmp_path / "usage").exists() and not (tmp_path / "sqlite:x.db").exists()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_readers_never_create_a_store(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir" / _name(kind)
    noun = "file" if kind == "sqlite" else "folder"
    for url in (f"{kind}://{missing}", f"{kind}:///{missing}", str(missing) + ("" if kind == "sqlite" else "/")):
        with pytest.raises(StoreError, match=f"no {'SQLite' if kind == 'sqlite' else 'JSONL'} store at '{missing}': "
                           f"the {noun} does not exist"):  # fmt: skip
            open_store(url, create=False)
    assert not (tmp_path / "nonexistent").exists()
    store = open_store(f"{kind}://{missing}")  # a writer creates it
    store.close()
    open_store(f"{kind}://{missing}", create=False).close()  # and then readers open it


def test_a_reader_refuses_a_folder_for_sqlite_and_a_file_for_jsonl(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="it is a folder, not a database file"):
        open_store(f"sqlite://{tmp_path}", create=False)
    with pytest.raises(StoreError, match="it is a file, not a folder"):
        open_store(f"jsonl://{tmp_path / 'file'}", create=False)


@pytest.mark.parametrize("command", [["stats"], ["costs", "--by", "model"], ["calls"], ["export"], ["doctor"]])
@pytest.mark.parametrize("kind", FILE_KINDS)
def test_read_commands_on_a_typod_store_exit_1_naming_the_path_and_create_nothing(
    kind: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*command, "--store", f"{kind}://./nonexistent/dir/{_name(kind)}")
    assert result.exit_code == 1, result.output
    assert f"store at '{tmp_path}/nonexistent/dir/{_name(kind)}'" in result.output
    assert "no calls" not in result.output.lower()
    assert not (tmp_path / "nonexistent").exists()


def test_doctor_shows_the_resolved_absolute_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seed(f"sqlite://{tmp_path / 'usage.db'}")
    result = run("doctor", "--store", "./usage.db", "--format", "json")
    assert result.exit_code == 0, result.output
    store = json.loads(result.stdout)["store"]
    assert (store["url"], store["opens"], store["calls"]) == (f"sqlite://{tmp_path / 'usage.db'}", True, len(KNOWN))


def test_demo_prints_the_absolute_location_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("demo", "--store", "sqlite://demo-here.db", "--no-tour")
    assert result.exit_code == 0, result.output
    assert f"demo calls over the last 7 days into sqlite://{tmp_path / 'demo-here.db'}\n" in result.stderr
    assert (tmp_path / "demo-here.db").is_file()


def test_demo_refuses_the_configured_store_however_it_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENTRAIL_STORE", f"sqlite:///{tmp_path / 'real.db'}")  # four slashes
    result = run("demo", "--store", "./real.db", "--no-tour")
    assert result.exit_code == 1 and "is your configured store" in result.stderr, result.output
    assert not (tmp_path / "real.db").exists()


def test_copy_onto_the_same_store_spelled_differently_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seed(f"sqlite://{tmp_path / 'a.db'}")
    result = run("copy", "--from", "a.db", "--to", f"sqlite://{tmp_path / 'a.db'}")
    assert result.exit_code == 1 and "are the same store" in result.stderr, result.output


def test_shown_location_masks_passwords_and_keeps_bad_urls_as_given() -> None:
    assert shown_location("postgresql://app:s3cret@db/x") == "postgresql://app:***@db/x"
    assert shown_location("memory://") == "memory://"
    assert shown_location("nothing-known") == "nothing-known"


def test_prune_on_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    result = run("prune", "--older-than", "30d", "--yes", "--store", f"sqlite://{tmp_path / 'gone' / 'x.db'}")
    assert result.exit_code == 1 and f"no SQLite store at '{tmp_path / 'gone' / 'x.db'}'" in result.stderr
    assert not (tmp_path / "gone").exists()


def test_the_fast_stats_path_refuses_a_missing_store_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tokentrail.cli import main

    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    assert main(["stats", "--store", f"sqlite:///{missing}"]) == 1  # the four-slash spelling
    err = capsys.readouterr().err
    assert err.startswith(f"Error: no SQLite store at '{missing}'") and err.count("\n") == 1
    assert not (tmp_path / "nonexistent").exists()
