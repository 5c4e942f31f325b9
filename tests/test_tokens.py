"""tokentrail.tokens: exact counts against tiktoken's own encodings, the chat formula, mapping, truncation, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

import tokentrail.tokens
from tokentrail.errors import TokentrailError, ValidationError
from tokentrail.tokens import (
    ENCODING_NAMES,
    EncodingFileError,
    TokenCount,
    count_message_tokens,
    count_tokens,
    encoding_for_model,
    get_encoding,
    truncate_to_tokens,
)

ENCODINGS_DIR = Path(tokentrail.tokens.__file__).parent / "encodings"
# From /work/shared/tiktoken/SHA256SUMS, equal to the expected_hash values in tiktoken_ext/openai_public.py.
SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
URLS = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken" for name in SHA256}

TEXTS = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.\n\n    Indented line\tand a tab.",
    "def f(x: int) -> int:\n    return x ** 2  # square\n",
    '{"id": "chatcmpl-9x", "usage": {"prompt_tokens": 812, "completion_tokens": 94}}',
    "缓存是提升系统性能最常用的手段之一。日本語のテキスト。한국어 텍스트입니다.",
    "Emoji 🎉👩‍👩‍👧 and accents: café, naïve, Ångström; Cyrillic: привет мир",
    "numbers 1234567890 3.14159 -42 1e10",
    "<|endoftext|> and <|endofprompt|> and <|fim_prefix|> are plain text here",
    "x" * 5000,
    " \n \n\n   \t ",
]


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tiktoken.Encoding]:
    """The encodings as tiktoken itself builds them (its own split pattern and special tokens).

    tiktoken reads them from its cache folder, where we put the shipped files under the names tiktoken gives them
    (SHA-1 of the download URL); tiktoken checks their SHA-256 itself. No network. This is the independent
    reference every exact count is compared with.
    """
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name, url in URLS.items():
        shutil.copy(ENCODINGS_DIR / f"{name}.tiktoken", cache / hashlib.sha1(url.encode()).hexdigest())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        return {name: tiktoken.get_encoding(name) for name in URLS}


# -- encodings ------------------------------------------------------------------------------------------------------


def test_shipped_files_have_the_published_sha256() -> None:
    assert ENCODING_NAMES == ("cl100k_base", "o200k_base")
    for name, digest in SHA256.items():
        assert hashlib.sha256((ENCODINGS_DIR / f"{name}.tiktoken").read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("name", sorted(SHA256))
def test_encoding_is_built_like_tiktoken_builds_it(name: str, reference: dict[str, tiktoken.Encoding]) -> None:
    ours, theirs = get_encoding(name), reference[name]
    assert ours.name == theirs.name
    assert ours._pat_str == theirs._pat_str
    assert ours._special_tokens == theirs._special_tokens
    assert ours.n_vocab == theirs.n_vocab
    assert ours._mergeable_ranks == theirs._mergeable_ranks


def test_encoding_loads_once_and_is_shared() -> None:
    assert get_encoding("o200k_base") is get_encoding("o200k_base")


def test_unknown_encoding_name_is_rejected() -> None:
    with pytest.raises(ValidationError, match=re.escape("name='p50k_base' is not a shipped encoding")):
        get_encoding("p50k_base")
    unhashable: Any = ["o200k_base"]
    with pytest.raises(ValidationError, match=re.escape("name=['o200k_base'] is not a shipped encoding")):
        get_encoding(unhashable)


def test_sha256_mismatch_is_detected(tmp_path: Path) -> None:
    corrupted = tmp_path / "cl100k_base.tiktoken"
    data = bytearray((ENCODINGS_DIR / "cl100k_base.tiktoken").read_bytes())
    data[1000] ^= 0x01  # one flipped bit, same size
    corrupted.write_bytes(bytes(data))
    with pytest.raises(EncodingFileError, match=r"has sha256='[0-9a-f]{64}', expected '223921b7") as info:
        get_encoding("cl100k_base", path=corrupted)
    assert isinstance(info.value, TokentrailError)


def test_an_intact_copy_loads_from_an_explicit_path(tmp_path: Path) -> None:
    copy = tmp_path / "o200k.tiktoken"
    shutil.copy(ENCODINGS_DIR / "o200k_base.tiktoken", copy)
    enc = get_encoding("o200k_base", path=copy)
    assert enc is not get_encoding("o200k_base")  # loaded from a path: not cached
    assert enc.encode_ordinary("hello world") == get_encoding("o200k_base").encode_ordinary("hello world")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EncodingFileError, match="cannot read encoding file .*nope.tiktoken"):
        get_encoding("o200k_base", path=tmp_path / "nope.tiktoken")


def _run_python(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_importing_does_not_import_tiktoken_and_estimates_never_need_it() -> None:
    _run_python(
        """
        import sys
        import tokentrail
        import tokentrail.tokens
        assert "tiktoken" not in sys.modules, "imported by 'import tokentrail'"
        tokentrail.tokens.count_tokens("hello", "claude-sonnet-4-5")
        tokentrail.tokens.encoding_for_model("gpt-4o")
        assert "tiktoken" not in sys.modules, "imported by an estimate"
        assert tokentrail.tokens.count_tokens("hello", "gpt-4o").exact
        assert "tiktoken" in sys.modules
        """
    )


def test_concurrent_first_use_builds_one_encoding() -> None:
    _run_python(
        """
        import threading
        from tokentrail.tokens import get_encoding
        barrier = threading.Barrier(8)
        seen = []
        def work():
            barrier.wait()
            seen.append(get_encoding("cl100k_base"))
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen) == 8 and len({id(enc) for enc in seen}) == 1, seen
        """
    )


# -- model -> encoding ----------------------------------------------------------------------------------------------

FAMILIES = {
    "o200k_base": [
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-realtime-preview",
        "chatgpt-4o-latest",
        "gpt-4.1",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano",
        "gpt-4.5-preview",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano-2025-08-07",
        "gpt-5.1",
        "gpt-5.2-codex",
        "o1",
        "o1-mini",
        "o1-preview-2024-09-12",
        "o3",
        "o3-mini",
        "o3-pro",
        "o4-mini",
        "o4-mini-2025-04-16",
        "gpt-oss-120b",
        "gpt-oss-20b",
        "codex-mini-latest",
        "openai/gpt-4o",
        "azure/gpt-4.1",
        "openrouter/openai/gpt-5-mini",
        "groq/openai/gpt-oss-20b",
        "bedrock/openai.gpt-oss-120b-1:0",
        "ft:gpt-4o-mini-2024-07-18:acme::9abcDEF",
        "GPT-4o",
        " gpt-4o ",
    ],
    "cl100k_base": [
        "gpt-4",
        "gpt-4-0613",
        "gpt-4-32k",
        "gpt-4-turbo",
        "gpt-4-turbo-2024-04-09",
        "gpt-4-1106-preview",
        "gpt-3.5-turbo",
        "gpt-3.5-turbo-0125",
        "gpt-3.5-turbo-0301",
        "gpt-3.5-turbo-instruct",
        "gpt-35-turbo",
        "azure/gpt-35-turbo-16k",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
        "openai/text-embedding-3-small",
        "ft:gpt-3.5-turbo-0125:acme::xyz",
        "davinci-002",
    ],
    None: [
        "claude-sonnet-4-5",
        "claude-3-5-haiku-20241022",
        "anthropic/claude-opus-4-1",
        "gemini-2.5-pro",
        "gemini/gemini-2.0-flash",
        "meta-llama/Llama-3.3-70B-Instruct",
        "llama3.1:8b",
        "mistral-large-latest",
        "deepseek-chat",
        "command-r-plus",
        "gpt-4.7",  # not a released family: no guess
        "o1x",
        "gpt4o",
        "my-azure-deployment",
    ],
}


@pytest.mark.parametrize(
    ("model", "encoding"), [(model, encoding) for encoding, models in FAMILIES.items() for model in models]
)
def test_family_maps_to_its_encoding(model: str, encoding: str | None) -> None:
    assert encoding_for_model(model) == encoding
    count = count_tokens("hello world", model)
    assert count.exact is (encoding is not None)
    assert count.method == (f"tiktoken:{encoding}" if encoding else "estimate:heuristic-v1")
    assert count.model == model


# -- counting text --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
@pytest.mark.parametrize(("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-4-turbo", "cl100k_base")])
def test_count_equals_tiktoken(text: str, model: str, encoding: str, reference: dict[str, tiktoken.Encoding]) -> None:
    expected = len(reference[encoding].encode(text, disallowed_special=()))
    assert count_tokens(text, model) == TokenCount(expected, True, f"tiktoken:{encoding}", model)


def test_special_token_strings_are_plain_text(reference: dict[str, tiktoken.Encoding]) -> None:
    text = "a<|endoftext|>b"
    count = count_tokens(text, "gpt-4o")
    assert count.tokens == len(reference["o200k_base"].encode_ordinary(text)) > 1
    with pytest.raises(ValueError, match="disallowed special token"):
        reference["o200k_base"].encode(text)  # what plain tiktoken does, and we must not


def test_lone_surrogates_are_counted() -> None:
    assert count_tokens("a\ud800b", "gpt-4o").tokens >= 2


def test_token_count_behaves_like_an_int() -> None:
    count = count_tokens("Hello, world!", "gpt-4o")
    assert int(count) == operator.index(count) == count.tokens == 4
    assert "abcdef"[count] == "e"
    assert count.to_dict() == {"tokens": 4, "exact": True, "method": "tiktoken:o200k_base", "model": "gpt-4o"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        count.tokens = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        count.exact = False  # type: ignore[misc]
    assert (count.exact, count.method, count.model) == (True, "tiktoken:o200k_base", "gpt-4o")


def test_hot_path_result_equals_the_public_constructor() -> None:
    from tokentrail.tokens._types import new_count

    made = new_count(3, False, "estimate:heuristic-v1", "m")
    assert made == TokenCount(3, False, "estimate:heuristic-v1", "m")
    assert made.to_dict() == {"tokens": 3, "exact": False, "method": "estimate:heuristic-v1", "model": "m"}
    assert type(made) is TokenCount and repr(made) == repr(TokenCount(3, False, "estimate:heuristic-v1", "m"))


def test_estimates_say_so() -> None:
    count = count_tokens("The quick brown fox jumps over the lazy dog.", "claude-sonnet-4-5")
    assert count == TokenCount(count.tokens, False, "estimate:heuristic-v1", "claude-sonnet-4-5")
    assert 9 <= count.tokens <= 12  # o200k_base: 10
    assert count_tokens("", "gemini-2.5-pro").tokens == 0
    assert count_tokens("中文字符", "gemini-2.5-pro").tokens == 4  # 0.95 per CJK character, rounded
    assert count_tokens("1234567", "gemini-2.5-pro").tokens == 3  # digits go in groups of three


# -- chat messages --------------------------------------------------------------------------------------------------


def cookbook_num_tokens(messages: list[dict[str, str]], enc: tiktoken.Encoding, per_message: int, per_name: int) -> int:
    """``num_tokens_from_messages`` from OpenAI's cookbook "How to count tokens with tiktoken", written out."""
    num_tokens = 0
    for message in messages:
        num_tokens += per_message
        for key, value in message.items():
            num_tokens += len(enc.encode(value))
            if key == "name":
                num_tokens += per_name
    num_tokens += 3  # every reply is primed with <|start|>assistant<|message|>
    return num_tokens


# The cookbook's example conversation. For it the cookbook shows the OpenAI API reporting 129 prompt tokens
# (gpt-3.5-turbo, gpt-4, gpt-4-0613) and 124 (gpt-4o, gpt-4o-mini).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain "
        "English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased "
        "leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize(
    ("model", "api_count"),
    [("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_cookbook_example_matches_the_published_api_count(model: str, api_count: int) -> None:
    assert count_message_tokens(COOKBOOK_MESSAGES, model) == TokenCount(
        api_count, True, f"tiktoken:{encoding_for_model(model)}", model
    )


CONVERSATIONS = [
    [],
    [{"role": "user", "content": "Hello!"}],
    COOKBOOK_MESSAGES,
    [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "name": "Ana", "content": "What is 2+2? Also: 你好"},
        {"role": "assistant", "content": "Quatre."},
        {"role": "user", "content": ""},
    ],
]


@pytest.mark.parametrize("messages", CONVERSATIONS, ids=range(len(CONVERSATIONS)))
@pytest.mark.parametrize(
    ("model", "encoding", "per_message", "per_name"),
    [
        ("gpt-4o-2024-08-06", "o200k_base", 3, 1),
        ("gpt-5-mini", "o200k_base", 3, 1),
        ("gpt-4-0613", "cl100k_base", 3, 1),
        ("gpt-3.5-turbo-0301", "cl100k_base", 4, -1),
    ],
)
def test_messages_follow_the_cookbook_formula(
    messages: list[dict[str, str]],
    model: str,
    encoding: str,
    per_message: int,
    per_name: int,
    reference: dict[str, tiktoken.Encoding],
) -> None:
    expected = cookbook_num_tokens(messages, reference[encoding], per_message, per_name)
    assert count_message_tokens(messages, model) == TokenCount(expected, True, f"tiktoken:{encoding}", model)


def test_text_parts_count_as_their_texts(reference: dict[str, tiktoken.Encoding]) -> None:
    enc = reference["o200k_base"]
    parts = [{"type": "text", "text": "Describe this picture."}, {"type": "text", "text": " Be brief."}]
    expected = 3 + len(enc.encode("user")) + sum(len(enc.encode(p["text"])) for p in parts) + 3
    assert count_message_tokens([{"role": "user", "content": parts}], "gpt-4o") == TokenCount(
        expected, True, "tiktoken:o200k_base", "gpt-4o"
    )


def test_image_parts_are_not_counted_and_make_the_count_inexact() -> None:
    text_only = count_message_tokens(
        [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}], "gpt-4o"
    )
    with_image = count_message_tokens(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ],
        "gpt-4o",
    )
    assert (with_image.tokens, with_image.exact, text_only.exact) == (text_only.tokens, False, True)


def test_tool_calls_count_name_and_arguments_and_are_inexact(reference: dict[str, tiktoken.Encoding]) -> None:
    enc = reference["o200k_base"]
    arguments = '{"city": "Lisbon", "unit": "celsius"}'
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Lisbon?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21C, sunny"},
    ]

    def n(text: str) -> int:
        return len(enc.encode(text))

    expected = (
        (3 + n("user") + n("Weather in Lisbon?"))
        + (3 + n("assistant") + n("get_weather") + n(arguments))
        + (3 + n("tool") + n("call_1") + n("21C, sunny"))
        + 3
    )
    assert count_message_tokens(messages, "gpt-4o") == TokenCount(expected, False, "tiktoken:o200k_base", "gpt-4o")
    legacy = [{"role": "assistant", "function_call": {"name": "get_weather", "arguments": arguments}}]
    assert count_message_tokens(legacy, "gpt-4o").tokens == 3 + n("assistant") + n("get_weather") + n(arguments) + 3


def test_messages_for_other_models_are_estimates() -> None:
    count = count_message_tokens([{"role": "user", "content": "Hello there"}], "claude-sonnet-4-5")
    assert (count.exact, count.method) == (False, "estimate:heuristic-v1")
    assert count.tokens == 3 + 1 + 2 + 3  # per message, "user", "Hello there", reply priming


def test_messages_may_be_a_tuple() -> None:
    assert count_message_tokens(({"role": "user", "content": "Hi"},), "gpt-4o").tokens > 0


# -- truncation -----------------------------------------------------------------------------------------------------

PARAGRAPH = (
    "Connection pooling keeps a small set of database connections open and hands them out to requests as they "
    "arrive. When a request finishes, its connection goes back to the pool instead of being closed."
)


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "claude-sonnet-4-5"])
def test_truncation_keeps_exactly_as_many_tokens_on_prose(model: str) -> None:
    total = count_tokens(PARAGRAPH, model).tokens
    for k in range(total + 2):
        cut = truncate_to_tokens(PARAGRAPH, k, model)
        assert PARAGRAPH.startswith(cut)
        assert count_tokens(cut, model).tokens == min(k, total)
    assert truncate_to_tokens(PARAGRAPH, total, model) is PARAGRAPH


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
    | st.lists(st.sampled_from(["a", " ", "中", "é", "🎉", "\n", "12", "<|endoftext|>", "👩‍👧", "xY"])).map("".join),
    max_tokens=st.integers(min_value=0, max_value=40),
    model=st.sampled_from(["gpt-4o", "gpt-3.5-turbo", "gemini-2.5-pro"]),
)
def test_truncation_round_trip(text: str, max_tokens: int, model: str) -> None:
    cut = truncate_to_tokens(text, max_tokens, model)
    assert text.startswith(cut)
    assert count_tokens(cut, model).tokens <= max_tokens
    if count_tokens(text, model).tokens <= max_tokens:
        assert cut == text


def test_truncation_never_splits_a_character() -> None:
    text = "🎉" * 10 + "中文" * 10  # each emoji is several tokens in o200k
    for k in range(12):
        cut = truncate_to_tokens(text, k, "gpt-4o")
        assert text.startswith(cut) and "\ufffd" not in cut


def test_truncation_keeps_lone_surrogates_as_they_are() -> None:
    text = "ab\ud800cd" * 20
    cut = truncate_to_tokens(text, 5, "gpt-4o")
    assert text.startswith(cut) and count_tokens(cut, "gpt-4o").tokens <= 5


# -- bad input ------------------------------------------------------------------------------------------------------


def _messages(*messages: object) -> tuple[object, str]:
    return list(messages), "gpt-4o"


MODEL_EMPTY = "model must be a non-empty model ID such as 'gpt-4o', got ''"
# (function, arguments, the message the ValidationError must contain)
BAD_CALLS: list[tuple[Any, tuple[object, ...], str]] = [
    (count_tokens, (b"abc", "gpt-4o"), "text must be a str, got b'abc' (bytes)"),
    (count_tokens, (None, "gpt-4o"), "text must be a str, got None (NoneType)"),
    (count_tokens, (42, "gpt-4o"), "text must be a str, got 42 (int)"),
    (count_tokens, ("hi", ""), MODEL_EMPTY),
    (count_tokens, ("hi", "   "), "model must be a non-empty model ID such as 'gpt-4o', got '   '"),
    (count_tokens, ("hi", "openai/"), "model must be a non-empty model ID such as 'gpt-4o', got 'openai/'"),
    (count_tokens, ("hi", None), "model must be a model ID string such as 'gpt-4o', got None"),
    (count_tokens, ("hi", ["gpt-4o"]), "model must be a model ID string such as 'gpt-4o', got ['gpt-4o']"),
    (encoding_for_model, ("",), MODEL_EMPTY),
    (truncate_to_tokens, (b"abc", 3, "gpt-4o"), "text must be a str, got b'abc' (bytes)"),
    (truncate_to_tokens, ("abc", -1, "gpt-4o"), "max_tokens must be an int of 0 or more, got -1"),
    (truncate_to_tokens, ("abc", True, "gpt-4o"), "max_tokens must be an int of 0 or more, got True"),
    (truncate_to_tokens, ("abc", 2.5, "gpt-4o"), "max_tokens must be an int of 0 or more, got 2.5"),
    (truncate_to_tokens, ("abc", "3", "gpt-4o"), "max_tokens must be an int of 0 or more, got '3'"),
    (truncate_to_tokens, ("abc", 3, ""), MODEL_EMPTY),
    (count_message_tokens, ("hello", "gpt-4o"), "messages must be a list of dicts, got 'hello'"),
    (count_message_tokens, ({"role": "user"}, "gpt-4o"), "messages must be a list of dicts, got {'role': 'user'}"),
    (count_message_tokens, (None, "gpt-4o"), "messages must be a list of dicts, got None"),
    (count_message_tokens, ([{"role": "user", "content": "hi"}], ""), MODEL_EMPTY),
    (
        count_message_tokens,
        _messages({"role": "user", "content": "hi"}, "oops"),
        "messages[1] must be a dict such as {'role': 'user', 'content': '...'}, got 'oops'",
    ),
    (
        count_message_tokens,
        _messages({"content": "hi"}),
        "messages[0]['role'] must be a string such as 'user', got None",
    ),
    (
        count_message_tokens,
        _messages({"role": 1, "content": "hi"}),
        "messages[0]['role'] must be a string such as 'user', got 1",
    ),
    (
        count_message_tokens,
        _messages({"role": "user", "content": 42}),
        "messages[0]['content'] must be a string, None or a list of parts, got 42",
    ),
    (
        count_message_tokens,
        _messages({"role": "user", "content": ["hi"]}),
        "messages[0]['content'][0] must be a dict such as {'type': 'text', 'text': '...'}, got 'hi'",
    ),
    (
        count_message_tokens,
        _messages({"role": "user", "content": [{"type": "text", "text": 5}]}),
        "messages[0]['content'][0]['text'] must be a string, got 5",
    ),
    (
        count_message_tokens,
        _messages({"role": "user", "name": 7, "content": "hi"}),
        "messages[0]['name'] must be a string, got 7",
    ),
    (
        count_message_tokens,
        _messages({"role": "assistant", "tool_calls": "get_weather"}),
        "messages[0]['tool_calls'] must be a list of tool calls, got 'get_weather'",
    ),
    (
        count_message_tokens,
        _messages({"role": "assistant", "tool_calls": ["get_weather"]}),
        "messages[0]['tool_calls'][0] must be a dict with a 'function', got 'get_weather'",
    ),
    (
        count_message_tokens,
        _messages({"role": "assistant", "tool_calls": [{"id": "c1"}]}),
        "messages[0]['tool_calls'][0]['function'] must be a dict with 'name' and 'arguments', got None",
    ),
    (
        count_message_tokens,
        _messages({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}),
        "messages[0]['tool_calls'][0]['function']['arguments'] must be a string, got {'a': 1}",
    ),
    (
        count_message_tokens,
        _messages({"role": "assistant", "function_call": {"name": 3}}),
        "messages[0]['function_call']['name'] must be a string, got 3",
    ),
]


@pytest.mark.parametrize(("function", "args", "message"), BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_input_is_rejected_with_field_and_value(function: Any, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        function(*args)
    assert isinstance(info.value, ValueError)


def test_long_bad_values_are_shortened_in_messages() -> None:
    long_string: Any = "x" * 10_000
    with pytest.raises(ValidationError) as info:
        count_message_tokens(long_string, "gpt-4o")
    assert len(str(info.value)) < 150 and "'xxxx" in str(info.value)


def test_public_names() -> None:
    assert tokentrail.tokens.__all__ == sorted(tokentrail.tokens.__all__)
    public = {name for name in vars(tokentrail.tokens) if not name.startswith("_")}
    assert public - {"annotations"} == set(tokentrail.tokens.__all__)
