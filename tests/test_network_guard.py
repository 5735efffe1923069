"""The network guard (tests/conftest.py): a unit test that reaches past loopback fails, naming the
test; loopback servers keep working; ``@pytest.mark.network`` opts out."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest

HERE = Path(__file__).resolve().parent


def test_a_real_model_endpoint_is_refused_and_named(network_guard, request):
    client = openai.OpenAI(base_url="https://api.openai.com/v1", api_key="sk-not-used", max_retries=0, timeout=5)
    with pytest.raises(openai.APIConnectionError) as info:
        client.models.list()
    cause = info.value.__cause__
    while cause is not None and not isinstance(cause, network_guard.error):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, network_guard.error), repr(info.value)
    assert request.node.nodeid in str(cause) and "api.openai.com" in str(cause)
    network_guard.violations.clear()  # seen and checked here; a violation left over fails the test


def test_sockets_names_and_asyncio_are_all_covered(network_guard):
    with pytest.raises(network_guard.error, match=r"192\.0\.2\.1:443"):
        with socket.socket() as s:
            s.connect(("192.0.2.1", 443))
    with pytest.raises(network_guard.error, match="name lookup"):
        socket.getaddrinfo("example.com", 80)
    with pytest.raises(network_guard.error):
        socket.create_connection(("2001:db8::1", 80), timeout=1)
    with pytest.raises(httpx.ConnectError, match="test_sockets_names_and_asyncio_are_all_covered tried to reach example.com"):
        httpx.get("http://example.com/")

    async def out():
        await asyncio.open_connection("203.0.113.7", 11434)

    with pytest.raises(network_guard.error, match=r"203\.0\.113\.7:11434"):
        asyncio.run(out())
    assert len(network_guard.violations) == 5
    network_guard.violations.clear()


def test_loopback_servers_keep_working(network_guard):
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "hello"
        assert httpx.get(f"http://localhost:{port}/").text == "hello"

        async def fetch() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await writer.drain()
            data = await reader.read()
            writer.close()
            return data

        assert asyncio.run(fetch()).endswith(b"hello")
    finally:
        server.shutdown()
        server.server_close()
    assert network_guard.violations == []


@pytest.mark.network
def test_a_marked_test_is_let_through(network_guard):
    assert socket.socket.connect is socket.socket.__mro__[1].connect  # the C method, not the guard
    assert socket.getaddrinfo.__module__ == "socket"


def test_a_test_that_swallows_the_refusal_still_fails(pytester):
    pytester.makeconftest((HERE / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_sneaky="""
        import socket

        def test_offline_fallback():
            try:
                socket.create_connection(("api.anthropic.com", 443), timeout=1)
            except OSError:
                pass  # "offline: fall back", and the test would pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_sneaky.py::test_offline_fallback tried to reach api.anthropic.com:443*"])
