"""Fixtures for the AutoGen 0.2 compatibility tests: a fresh model registry per test, the
environment as it was, and a loopback server standing in for OpenAI's chat completions API."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import moot.agents._models as models_module

# The stand-in is on loopback: never send its traffic through a proxy the machine may set.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _fresh_registry():
    saved = models_module._registry
    yield
    models_module._registry = saved


@pytest.fixture(autouse=True)
def _environment_restored():
    """Config-list keys are kept in variables of this process; each test leaves none behind."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@dataclass
class OpenAIStandIn:
    """A loopback HTTP server speaking OpenAI's streamed chat completions: it answers every
    request with the next of ``replies`` and records what it was sent."""

    url: str
    replies: list[str]
    requests: list[dict[str, Any]] = field(default_factory=list)


def _sse(model: str, text: str) -> bytes:
    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                 "choices": choices, **extra}
        return f"data: {json.dumps(chunk)}\n\n"

    parts = [event([{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]),
             event([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
             event([], usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}),
             "data: [DONE]\n\n"]
    return "".join(parts).encode()


@pytest.fixture
def openai_standin() -> Iterator:
    """``openai_standin(["reply", ...])`` starts the stand-in and returns it (``.url`` is its root
    with ``/v1``); every server started is stopped when the test ends."""
    servers: list[ThreadingHTTPServer] = []

    def start(replies: list[str]) -> OpenAIStandIn:
        standin = OpenAIStandIn("", list(replies))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                standin.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                         "api_key": self.headers.get("api-key"), "body": body})
                text = standin.replies.pop(0) if standin.replies else "TERMINATE"
                data = _sse(body.get("model", "?"), text)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        standin.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return standin

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
