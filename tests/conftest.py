"""Shared fixtures: a clean TOKENTRAIL_* environment and a private TOKENTRAIL_HOME for every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokentrail.store import Store, open_store

_ENV_PREFIXES = ("TOKENTRAIL_", "LLM_TELEMETRY_", "LLM_STORE_", "LLM_RETENTION_", "LLM_STORAGE_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TOKENTRAIL_HOME", str(tmp_path_factory.mktemp("tokentrail-home")))


# --- stores -------------------------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get("TOKENTRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STORE_KINDS = ("memory", "jsonl", "sqlite", "postgres")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database on the local server, dropped afterwards."""
    import psycopg

    name = f"tt_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "jsonl":
        return f"jsonl://{tmp_path / 'jsonl-store'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store of each kind (every store test runs on every backend)."""
    return make_store_url(request.param, tmp_path, request)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()
