"""How much does capture cost the caller? Instrumented vs bare OpenAI calls on a loopback server.

    python bench/bench_capture.py [--quick] [--json]

Prints, each as a median with the min–max over rounds:

1. overhead per non-streamed call (µs): the same `chat.completions.create` through an instrumented and
   a bare client, interleaved call by call against the fake OpenAI server on 127.0.0.1 (target < 50 µs)
   — once with the tracker's writer thread left out of the timing (what capture costs the caller's
   thread), once with it running alongside as in an application (its pricing, hashing and storing
   compete for the GIL);
2. overhead per streamed chunk (µs), end to end: a 2,000-chunk stream read through both clients, the
   difference divided by the chunk count (target < 1 µs; the SDK's own per-chunk parsing is in both);
3. the same two figures isolated from the network: the capture work of one call (guards skipped,
   response read, record queued) on an already parsed response, and the stream proxy plus the final
   record over 2,000 already parsed chunks — what the loopback figures measure, without their noise.

Loopback figures are medians of paired differences (instrumented − bare, order alternating); on a
busy machine their spread is wide, the isolated ones stay tight.

The tracker is a real `Tracker("memory://")`: its writer thread (pricing, hashing, storing) runs as it
would in an application.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import openai
from _timing import Report, parser, summarize
from openai import OpenAI
from openai.types.chat import ChatCompletionChunk

from providers.server import FakeProvider, Reply, fixture_json
from tokentrail import Tracker
from tokentrail.capture import instrument, uninstrument
from tokentrail.capture._common import _Capture
from tokentrail.capture._stream import SyncStream
from tokentrail.capture.openai import ChatEndpoint

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]
CHUNKS = 2000


def long_stream(n: int) -> list[bytes]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1744383325,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_bench",
    }
    events = []
    for i in range(n):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f" tok{i}"}
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}
        events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    done = {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}
    usage = {**base, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": n, "total_tokens": n + 20}}
    events += [b"data: " + json.dumps(done).encode() + b"\n\n", b"data: " + json.dumps(usage).encode() + b"\n\n"]
    events.append(b"data: [DONE]\n\n")
    return events


def paired(measure_bare: Any, measure_instrumented: Any, n: int) -> float:
    """Median of paired differences (instrumented − bare), alternating the order so drift cancels out."""
    diffs = []
    for i in range(n):
        if i % 2:
            b, m = measure_bare(), measure_instrumented()
        else:
            m, b = measure_instrumented(), measure_bare()
        diffs.append(m - b)
    return statistics.median(diffs)


def timed(fn: Any) -> Any:
    def run() -> float:
        start = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - start) / 1000

    return run


def bench_calls(
    server: FakeProvider, bare: OpenAI, instrumented: OpenAI, tracker: Tracker, calls: int, rounds: int
) -> tuple[list[float], list[float]]:
    """(writer thread running alongside, as in an application; writer's share left out of the timing)."""
    body = fixture_json("openai_chat.json")
    server.always(lambda request: Reply.json({**body, "id": f"chatcmpl-{len(server.requests)}"}))
    b = timed(lambda: bare.chat.completions.create(model="gpt-4o", messages=MESSAGES))
    m = timed(lambda: instrumented.chat.completions.create(model="gpt-4o", messages=MESSAGES))

    def m_alone() -> float:
        elapsed = float(m())
        tracker.flush()  # let the writer finish before the next timed call
        return elapsed

    paired(b, m, 50)  # warm up connections, imports, pricing caches
    alongside = [paired(b, m, calls) for _ in range(rounds)]
    alone = [paired(b, m_alone, calls) for _ in range(rounds)]
    server.always(None)
    return alongside, alone


def bench_stream_e2e(server: FakeProvider, bare: OpenAI, instrumented: OpenAI, reps: int, rounds: int) -> list[float]:
    events = long_stream(CHUNKS)
    server.always(lambda request: Reply.sse(events))
    options = {"include_usage": True}  # the same payload for both clients

    def read(client: OpenAI) -> Any:
        def run() -> None:
            for _ in client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, stream_options=options
            ):
                pass

        return timed(run)

    b, m = read(bare), read(instrumented)
    paired(b, m, 2)
    per_chunk = [paired(b, m, reps) / CHUNKS for _ in range(rounds)]
    server.always(None)
    return per_chunk


def bench_call_isolated(tracker: Tracker, calls: int, rounds: int) -> list[float]:
    """The capture work of one non-streamed call (request in, response recorded), without the network."""
    from openai.types.chat import ChatCompletion

    from tokentrail.capture._common import run_sync
    from tokentrail.capture._patch import _State

    response = ChatCompletion.model_validate(fixture_json("openai_chat.json"))
    endpoint = ChatEndpoint()

    class Resource:
        def create(self, **kwargs: Any) -> Any:
            return response

    resource = Resource()
    state = _State(resource, "create", lambda r: "openai", "openai", None)
    from tokentrail.capture._common import Config

    state.config = Config(tracker=tracker)
    kwargs = {"model": "gpt-4o", "messages": MESSAGES}
    b = timed(lambda: resource.create(**kwargs))
    m = timed(lambda: run_sync(state, endpoint, resource.create, resource, (), dict(kwargs)))
    paired(b, m, 200)
    out = []
    for _ in range(rounds):
        out.append(paired(b, m, calls))
        tracker.flush()
    return out


def bench_stream_isolated(tracker: Tracker, reps: int, rounds: int) -> list[float]:
    chunks = []
    for event in long_stream(CHUNKS)[:-1]:
        chunks.append(ChatCompletionChunk.model_validate(json.loads(event[len(b"data: ") :])))
    endpoint = ChatEndpoint()
    kwargs: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}

    def bare() -> float:
        start = time.perf_counter_ns()
        for _ in iter(chunks):
            pass
        return (time.perf_counter_ns() - start) / 1000

    def proxied() -> float:
        start = time.perf_counter_ns()
        capture = _Capture(tracker, endpoint, "openai", "gpt-4o", kwargs)
        capture.streamed = True
        for _ in SyncStream(iter(chunks), capture):
            pass
        return (time.perf_counter_ns() - start) / 1000

    bare(), proxied()
    per_chunk = []
    for _ in range(rounds):
        b = [bare() for _ in range(reps)]
        p = [proxied() for _ in range(reps)]
        tracker.flush()
        per_chunk.append((statistics.median(p) - statistics.median(b)) / CHUNKS)
    return per_chunk


def main() -> None:
    args = parser(__doc__).parse_args()
    report = Report(__file__, args)
    calls, rounds, reps = (150, 3, 5) if args.quick else (1000, 7, 15)
    report.note(
        f"capture overhead, instrumented vs bare openai {openai.__version__} client, fake OpenAI server on "
        f"127.0.0.1; {calls} paired calls and {reps} paired {CHUNKS:,}-chunk streams per round, {rounds} rounds"
    )

    tracker = Tracker("memory://")
    with FakeProvider() as server:
        with (
            OpenAI(api_key="sk-bench", base_url=server.url + "/v1", max_retries=0) as bare,
            OpenAI(api_key="sk-bench", base_url=server.url + "/v1", max_retries=0) as instrumented,
        ):
            instrument(instrumented, tracker=tracker, provider="openai")
            alongside, alone = bench_calls(server, bare, instrumented, tracker, calls, rounds)
            report.add(
                "instrumented_overhead_us", summarize(alone, "µs", "non-streamed call: overhead on the caller's thread")
            )
            report.add(
                "instrumented_overhead_with_writer_us",
                summarize(alongside, "µs", "non-streamed call: overhead, writer thread alongside"),
            )
            e2e = bench_stream_e2e(server, bare, instrumented, reps, rounds)
            report.add("stream_chunk_overhead_us", summarize(e2e, "µs", "streamed chunk: overhead, end to end"))
            uninstrument()
    report.add(
        "instrumented_overhead_isolated_us",
        summarize(bench_call_isolated(tracker, calls, rounds), "µs", "non-streamed call: capture work alone"),
    )
    report.add(
        "stream_chunk_overhead_isolated_us",
        summarize(bench_stream_isolated(tracker, reps * 4, rounds), "µs", "streamed chunk: proxy + final record alone"),
    )
    tracker.flush()
    report.note(f"internal errors during the run: {tracker.health.internal_errors}")
    tracker.close()
    report.finish()


if __name__ == "__main__":
    main()
