"""The contract of the shared metadata (`MetaStore`) that budgets and alerts keep in a store."""

from __future__ import annotations

import threading

from ..store.base import Store
from ._fixtures import ContractFixtures

__all__ = ["MetaStoreContract"]


class MetaStoreContract(ContractFixtures):
    """What a backend that keeps metadata (`meta_*`) must do; run it beside `StoreContract`."""

    def test_meta(self, store: Store) -> None:
        assert store.meta_get("budgets", "daily") is None
        store.meta_put("budgets", "daily", "1")
        store.meta_put("budgets", "daily", "2")
        store.meta_put("alerts", "daily", "other namespace")
        assert store.meta_get("budgets", "daily") == "2"
        assert store.meta_put_if_absent("budgets", "daily", "3") is False
        assert store.meta_put_if_absent("budgets", "weekly", 'it\'s "quoted"') is True
        assert store.meta_items("budgets") == {"daily": "2", "weekly": 'it\'s "quoted"'}
        assert store.meta_delete("budgets", "daily") is True
        assert store.meta_delete("budgets", "daily") is False
        assert store.meta_items("budgets") == {"weekly": 'it\'s "quoted"'}
        assert store.meta_items("nothing") == {}
        assert store.meta_get("alerts", "daily") == "other namespace"

    def test_meta_put_if_absent_has_one_winner_across_threads(self, store: Store) -> None:
        results: dict[int, bool] = {}
        start = threading.Barrier(8)

        def claim(n: int) -> None:
            start.wait()
            results[n] = store.meta_put_if_absent("alerts", "fired", f"thread-{n}")

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [n for n, won in results.items() if won]
        assert len(results) == 8 and len(winners) == 1, results
        assert store.meta_get("alerts", "fired") == f"thread-{winners[0]}"
