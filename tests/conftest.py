"""Shared fixtures: a clean TOKENTRAIL_* environment and a private TOKENTRAIL_HOME for every test."""

from __future__ import annotations

import os

import pytest

_ENV_PREFIXES = ("TOKENTRAIL_", "LLM_TELEMETRY_", "LLM_STORE_", "LLM_RETENTION_", "LLM_STORAGE_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TOKENTRAIL_HOME", str(tmp_path_factory.mktemp("tokentrail-home")))
