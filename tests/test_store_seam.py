"""The store seam from outside: a backend in another package, found through the `tokentrail.stores` entry points.

`tests/toy_store` is written from scratch against the protocol (it imports neither `tokentrail.store` nor our
backends). Here it is "installed" the way pip would: the package and a `*.dist-info` folder with an
`entry_points.txt` in a folder put on `sys.path`, where `importlib.metadata` finds it. Then `open_store("toy://…")`
opens it and the contract suite we ship (`tokentrail.testing`) runs on it unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tokentrail as tt
from tokentrail.errors import ConfigError, StoreError
from tokentrail.store import CallStore, MetaStore, Store, known_schemes, open_store, register_store, require_meta
from tokentrail.testing import MetaStoreContract, StoreContract, call

TOY_SOURCE = Path(__file__).parent / "toy_store"


def install(site: Path, dist: str, entry_points: dict[str, str]) -> None:
    """Write what `pip install` leaves for a distribution `dist` that declares `entry_points` (scheme → object)."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[tokentrail.stores]\n{lines}")


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A site-packages folder holding the toy backend's package and its dist-info, put on sys.path."""
    site = tmp_path_factory.mktemp("site-packages")
    shutil.copytree(TOY_SOURCE, site / "toy_store", ignore=shutil.ignore_patterns("__pycache__"))
    install(site, "toy-store", {"toy": "toy_store:open_toy_store", "toycalls": "toy_store:open_toy_calls_store"})
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(site))
        mp.delitem(sys.modules, "toy_store", raising=False)  # --doctest-modules imports tests/toy_store as toy_store
        yield site


class TestToyStore(StoreContract, MetaStoreContract):
    """The toy backend with metadata passes every test our four stores pass."""

    @pytest.fixture
    def store_url(self, toy_site: Path) -> str:
        return f"toy://{uuid.uuid4().hex}"


class TestToyCallsOnlyStore(StoreContract):
    """A backend without metadata passes the calls contract: metadata is a separate protocol."""

    @pytest.fixture
    def store_url(self, toy_site: Path) -> str:
        return f"toycalls://{uuid.uuid4().hex}"


def test_the_toy_backend_comes_from_the_entry_point_and_not_from_tokentrail_store(toy_site: Path) -> None:
    store = open_store(f"toy://{uuid.uuid4().hex}")
    assert type(store).__module__ == "toy_store" and type(store).__name__ == "ToyStore"
    assert sys.modules["toy_store"].__file__ == str(toy_site / "toy_store" / "__init__.py")
    assert isinstance(store, Store) and {"toy", "toycalls", "memory", "sqlite"} <= set(known_schemes())
    code = "import sys, toy_store; print(sorted(m for m in sys.modules if m.startswith('tokentrail.store')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=toy_site)
    assert out.stdout.strip() == "[]"


def test_create_false_reaches_the_backend(toy_site: Path) -> None:
    name = uuid.uuid4().hex
    with pytest.raises(StoreError, match=f"no toy store named '{name}'"):
        open_store(f"toy://{name}", create=False)
    writer = open_store(f"toy://{name}")
    assert writer.write([call(1)]) == 1
    reader = open_store(f"toy://{name}", create=False)
    assert [c.id for c in reader.calls(tt.store.Filter())] == ["call-000001"]


def test_an_unknown_scheme_lists_the_known_ones_with_the_installed_backends(toy_site: Path) -> None:
    with pytest.raises(ConfigError) as error:
        open_store("nosuch://x")
    message = str(error.value)
    assert "'nosuch://x' has unknown scheme 'nosuch'" in message
    assert "jsonl, memory, postgres, postgresql, sqlite" in message.replace("toy, toycalls, ", "")
    assert "toy, toycalls" in message and "tokentrail.stores" in message


def test_an_entry_point_that_cannot_load_names_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scheme = f"broken{uuid.uuid4().hex[:8]}"
    install(tmp_path, "broken-backend", {scheme: "no_such_module_here:open_it"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as error:
        open_store(f"{scheme}://x")
    message = str(error.value)
    assert f"{scheme} = 'no_such_module_here:open_it'" in message and "package 'broken-backend'" in message
    assert "No module named 'no_such_module_here'" in message
    assert open_store("memory://").url == "memory://"  # one broken plugin breaks only its own scheme


def test_register_store_in_code_and_its_checks() -> None:
    scheme = f"code{uuid.uuid4().hex[:8]}"
    seen: list[tuple[str, bool, dict[str, object]]] = []

    def factory(url: str, *, create: bool, **options: object) -> CallStore:
        seen.append((url, create, options))
        return open_store("memory://")

    register_store(scheme.upper(), factory)
    assert open_store(f"{scheme}://db", create=False, region="eu").url == "memory://"
    assert seen == [(f"{scheme}://db", False, {"region": "eu"})]
    with pytest.raises(ConfigError, match="store scheme 'no/slash' is not valid"):
        register_store("no/slash", factory)
    with pytest.raises(ConfigError, match="is 'text', not a callable"):
        register_store(scheme, "text")  # type: ignore[arg-type]


def test_a_backend_that_returns_no_store_is_refused() -> None:
    scheme = f"bad{uuid.uuid4().hex[:8]}"
    register_store(scheme, lambda url, *, create, **options: object())
    with pytest.raises(ConfigError, match=rf"'{scheme}' store backend returned object, which is not a store: it lacks "
                       "url, write, calls, aggregate, percentiles, delete, close"):  # fmt: skip
        open_store(f"{scheme}://x")


def test_a_calls_only_store_records_and_reports_but_budgets_say_they_need_metadata(toy_site: Path) -> None:
    url = f"toycalls://{uuid.uuid4().hex}"
    tracker = tt.Tracker(url)
    try:
        tracker.record("gpt-4o", input_tokens=10, output_tokens=5)
        assert tracker.flush()
        store = tracker.store
        assert isinstance(store, CallStore) and not isinstance(store, MetaStore)
        (group,) = store.aggregate(tt.store.Filter())
        assert (group.totals.calls, group.totals.input_tokens, group.totals.output_tokens) == (1, 10, 5)
        with pytest.raises(StoreError) as error:
            tt.budget("daily", limit_usd=5, period="day", tz="UTC", tracker=tracker)
    finally:
        tracker.close()
    assert str(error.value).startswith(f"budgets need a store that keeps metadata, and store {url!r} (ToyCallStore)")
    assert "implement tokentrail.store.MetaStore" in str(error.value)
    assert require_meta(open_store(f"toy://{uuid.uuid4().hex}"), needed_by="alerts").url.startswith("toy://")


def test_importing_tokentrail_and_opening_built_in_stores_reads_no_entry_points_nor_pytest(tmp_path: Path) -> None:
    code = (
        "import sys, tokentrail; from tokentrail.store import open_store;"
        f"open_store('memory://').close(); open_store('sqlite:///{tmp_path}/x.db').close();"
        "print([m for m in ('importlib.metadata', 'pytest', 'tokentrail.testing') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
