"""A fake LLM provider on 127.0.0.1: the real SDKs talk to it with `base_url=` and get wire-exact replies.

Tests queue what the next request should get (`server.queue(...)`); a queued reply may be a function of
the request (OpenAI only sends a usage chunk when the request asked for it). Every request is logged
with its JSON body and its headers, auth headers removed. Pure standard library: a
`ThreadingHTTPServer` in a daemon thread, HTTP/1.1 keep-alive, SSE bodies sent chunked — and a stream
can be cut off half-way by closing the socket before the final chunk.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"})


def fixture(name: str) -> bytes:
    """The bytes of a recorded wire-format fixture."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture(name))


@dataclass
class Request:
    """One request as the server saw it (auth headers stripped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """What to answer: a status, a body, and for streams the body's pieces (each flushed on its own)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    chunks: list[bytes] | None = None
    """SSE pieces, sent with chunked transfer encoding."""
    cut_after: int | None = None
    """Close the connection after this many pieces, without finishing the body."""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Reply:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return cls(status=status, body=body, headers=headers)

    @classmethod
    def sse(cls, data: bytes | list[bytes], cut_after: int | None = None) -> Reply:
        """An SSE stream: raw fixture bytes (split into events) or a list of already-split events."""
        chunks = split_events(data) if isinstance(data, bytes) else data
        return cls(content_type="text/event-stream", chunks=chunks, cut_after=cut_after)


Answer = Reply | Callable[[Request], Reply]


def split_events(data: bytes) -> list[bytes]:
    """Split an SSE body into its events (keeping the blank-line separators, `\\n` or `\\r\\n`)."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in data else b"\n\n"
    return [part + sep for part in data.split(sep) if part.strip()]


def sse_event(data: Any, event: str | None = None, sep: str = "\n") -> bytes:
    text = (f"event: {event}{sep}" if event else "") + f"data: {json.dumps(data, separators=(',', ':'))}{sep}{sep}"
    return text.encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes early (a stream abandoned, a cut-off test) is normal here; anything else is not.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeProvider:
    """The server. Use as a context manager (or `start()` / `close()`)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._queue: deque[Answer] = deque()
        self._default: Answer | None = None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def queue(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._queue.extend(answers)

    def always(self, answer: Answer | None) -> None:
        """Answer every request with this once the queue is empty (benchmarks)."""
        self._default = answer

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self._default = None

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            answer = self._queue.popleft() if self._queue else self._default
        if answer is None:
            return Reply.json({"error": {"message": f"fake provider: no reply queued for {request.path}"}}, 599)
        return answer(request) if callable(answer) else answer


def _make_handler(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between headers and body

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in SECRET_HEADERS}
            reply = provider._next(Request(self.command, parts.path, parse_qs(parts.query), headers, body))
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.chunks is None:
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("transfer-encoding", "chunked")
            self.send_header("cache-control", "no-cache")
            self.end_headers()
            for i, piece in enumerate(reply.chunks):
                if reply.cut_after is not None and i >= reply.cut_after:
                    self.wfile.flush()
                    self.close_connection = True
                    return  # no terminating chunk: the client sees a body cut off mid-way
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
