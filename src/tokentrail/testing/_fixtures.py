"""The fixtures every part of the contract uses: the store under test, and a mixed workload written into it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from ..model import Call
from ..store.base import CallStore
from ._expect import T0, workload

__all__ = ["ContractFixtures"]


class ContractFixtures:
    """Override `store_url` (the URL of an empty store, opened with `open_store`) or `store` (an open store)."""

    @pytest.fixture
    def store_url(self) -> str:
        pytest.fail(
            "the store contract needs the store under test: define a `store_url` fixture returning the URL of an "
            "empty store (e.g. 'toy://…'), or a `store` fixture yielding an open one, in your test class"
        )

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[CallStore]:
        from ..store import open_store

        opened = open_store(store_url)
        try:
            yield opened
        finally:
            opened.close()

    @pytest.fixture
    def mixed(self, store: CallStore) -> list[Call]:
        """240 varied calls, 17 minutes apart, written in two batches."""
        calls = workload(T0, 240, timedelta(minutes=17))
        assert store.write(calls[:100]) == 100
        assert store.write(calls[100:]) == 140
        return calls
