"""The Store contract, run on every backend (memory, jsonl, sqlite, postgres) from the suite we ship.

The tests themselves live in `tokentrail.testing`, so that a backend in another package runs exactly the tests our
four stores pass (see tests/test_store_seam.py for one). Every expected value there is computed in the test from
the calls it wrote — plain sums, explicit bucket starts, exact quantiles by hand — never read back from a store.
"""

from __future__ import annotations

import pytest

from tokentrail.testing import MetaStoreContract, StoreContract


class TestEveryStore(StoreContract, MetaStoreContract):
    """Ours: the `store_url` of tests/conftest.py, parametrized over memory, jsonl, sqlite and postgres."""

    @pytest.fixture
    def store_url(self, store_url: str) -> str:
        return store_url
