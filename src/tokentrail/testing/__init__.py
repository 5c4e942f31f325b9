"""The store contract suite: the tests every tokentrail store backend passes, ours and yours.

A backend (see `tokentrail.store.registry`) proves itself by running the same tests as memory, JSONL, SQLite and
PostgreSQL. In the backend's test folder:

```python
import pytest
from tokentrail.testing import MetaStoreContract, StoreContract

class TestToyStore(StoreContract, MetaStoreContract):  # drop MetaStoreContract for a calls-only backend
    @pytest.fixture
    def store_url(self, tmp_path):
        return f"toy://{tmp_path}"  # an empty store, opened through tokentrail.store.open_store
```

Instead of `store_url`, a `store` fixture may yield an open store directly. Each test writes its own calls into
the empty store and checks every answer against values computed by hand from those calls. Importing this module
imports pytest (tokentrail itself never imports this module).
"""

from __future__ import annotations

import pytest

# Before the parts are imported, so that a failing assert shows its values as in the author's own tests.
pytest.register_assert_rewrite(
    "tokentrail.testing._aggregates", "tokentrail.testing._expect", "tokentrail.testing._meta",
    "tokentrail.testing._reads",
)  # fmt: skip

from ._aggregates import AggregateContract  # noqa: E402
from ._expect import call, varied, workload  # noqa: E402
from ._meta import MetaStoreContract  # noqa: E402
from ._reads import ReadContract  # noqa: E402

__all__ = ["AggregateContract", "MetaStoreContract", "ReadContract", "StoreContract", "call", "varied", "workload"]


class StoreContract(ReadContract, AggregateContract):
    """Every test a `CallStore` passes: writes, reads, filters, streaming, delete, aggregates and percentiles."""
