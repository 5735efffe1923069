"""Servers the backend tests talk to: a real llama.cpp OpenAI-compatible server, an Ollama protocol
stand-in backed by the real bundled model, and a loopback server that refuses every key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from moot.backends.config import scripted_models
from tests.conftest import free_port

HERE = Path(__file__).resolve().parent


def model_config(**fields):
    """A ModelConfig named "m" as models.toml would give it (validated, defaults applied)."""
    return scripted_models({"m": fields}, source="test").get("m")


@pytest.fixture
def make_config():
    """``make_config(backend=..., model=..., ...)``: a ModelConfig named "m", as models.toml gives it."""
    return model_config


def _require_llama_cpp() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python is not installed in this venv: run `make test`, which builds it")


def _start(cmd: list[str], ready_url: str, log: Path, timeout: float = 60.0) -> subprocess.Popen:
    """Start a server process and wait until ``ready_url`` answers 200."""
    out = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:3]} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(ready_url, timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop(proc)
    raise RuntimeError(f"{cmd[:3]} did not answer at {ready_url} within {timeout:g} s:\n{log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def llama_server(bundled_model_path, tmp_path_factory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on loopback with the bundled model; yields its root URL
    (deliberately without ``/v1``, so the backend's URL normalisation is exercised)."""
    _require_llama_cpp()
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    proc = _start(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
        f"http://127.0.0.1:{port}/v1/models",
        log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def ollama_standin(bundled_model_path, tmp_path_factory) -> Iterator[str]:
    """The Ollama protocol stand-in (see ollama_standin.py) on loopback; yields its URL."""
    _require_llama_cpp()
    port = free_port()
    log = tmp_path_factory.mktemp("ollama-standin") / "server.log"
    proc = _start(
        [sys.executable, str(HERE / "ollama_standin.py"), "--model", str(bundled_model_path), "--port", str(port)],
        f"http://127.0.0.1:{port}/api/version",
        log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


Reply = tuple[int, str, bytes]  # status, content type, body


@pytest.fixture
def loopback_server() -> Iterator:
    """``loopback_server(answer)`` starts an HTTP server on loopback and returns its root URL.
    ``answer(method, path, headers, body) -> (status, content_type, body)`` makes each reply; it may
    sleep to play a slow server. Every server started is stopped when the test ends."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, kind, data = answer(self.command, self.path, self.headers, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout tests)

            do_GET = do_POST = _answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def refuse_and_echo_key(method: str, path: str, headers, body: bytes) -> Reply:
    """401 with an OpenAI-style error that quotes the key it got, as some servers do (so tests can
    prove moot never passes that text on)."""
    auth = headers.get("Authorization", "").removeprefix("Bearer ")
    error = {"error": {"message": f"Incorrect API key provided: {auth}", "type": "invalid_request_error",
                       "code": "invalid_api_key"}}
    return 401, "application/json", json.dumps(error).encode()


@pytest.fixture
def refusing_server(loopback_server) -> str:
    """A loopback server that answers 401 to everything, quoting the key; yields its root URL."""
    return loopback_server(refuse_and_echo_key)


@pytest.fixture
def dead_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


# The servers above are on loopback: never send their traffic through a proxy the machine may set.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
