"""``moot serve``: the real command in a subprocess, driven by the SDK's stdio and Streamable HTTP
clients and by the official ``openai`` client, on loopback, serving the scripted demo team."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from mcp import Client, StdioServerParameters

from mcp_helpers import free_port as _free_port
from moot.memory import SessionStore

pytestmark = [pytest.mark.timeout(180), pytest.mark.server]
MOOT = str(Path(sys.executable).with_name("moot"))


def _env():
    keep = ("PATH", "HOME", "MOOT_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "LANG")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _store():
    return SessionStore(Path(os.environ["MOOT_HOME"]) / "sessions.db")


@pytest.fixture
def serve_http(tmp_path):
    """Start ``moot serve --http 127.0.0.1:PORT --team demo [extra]``; yields the base URL."""
    procs = []

    def start(*extra, env=None):
        port = _free_port()
        proc = subprocess.Popen([MOOT, "serve", "--http", f"127.0.0.1:{port}", "--team", "demo", *extra],
                                cwd=tmp_path, env={**_env(), **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moot serve did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
                time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_serve_mcp_on_stdio_runs_a_team_as_a_recorded_session_with_progress(tmp_path):
    params = StdioServerParameters(command=MOOT, args=["serve", "--mcp", "--team", "demo"], env=_env(), cwd=str(tmp_path))
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    async with Client(params) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.name == "run_demo" and tool.input_schema["required"] == ["task"]
        result = await client.call_tool("run_demo", {"task": "add up 0..9"}, progress_callback=on_progress)
    assert not result.is_error
    out = result.structured_content
    assert out["outcome"] == "completed" and "45" in out["answer"]
    info = _store().get(out["session_id"])
    assert info.team_name == "demo" and info.task == "add up 0..9"
    assert [p[0] for p in progress] == [1, 2, 3, 4] and progress[0][2] == "executor: add up 0..9"


async def test_serve_http_speaks_mcp_at_slash_mcp(serve_http):
    base = serve_http()
    async with Client(f"{base}/mcp") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["run_demo"]
        result = await client.call_tool("run_demo", {"task": "sum it"})
    assert not result.is_error and result.structured_content["outcome"] == "completed"


def test_serve_http_is_an_openai_compatible_api(serve_http):
    base = serve_http()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["team/demo"]
    reply = client.chat.completions.create(model="team/demo", messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": "add up 0..9"}])
    assert "45" in reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    session_id = reply.model_extra["moot_session_id"]
    assert _store().get(session_id).task == "add up 0..9"

    chunks = list(client.chat.completions.create(model="team/demo", stream=True,
                                                 messages=[{"role": "user", "content": "again"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "45" in text and chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens > 0

    with pytest.raises(openai.NotFoundError, match="no model 'team/nope'"):
        client.chat.completions.create(model="team/nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(model="team/demo", messages=[{"role": "system", "content": "x"}])


async def test_concurrent_requests_each_get_their_own_session(serve_http):
    base = serve_http()
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
    replies = await asyncio.gather(*(client.chat.completions.create(
        model="team/demo", messages=[{"role": "user", "content": f"task {i}"}]) for i in range(3)))
    ids = {r.model_extra["moot_session_id"] for r in replies}
    assert len(ids) == 3
    assert sorted(_store().get(i).task for i in ids) == ["task 0", "task 1", "task 2"]
    await client.close()


def test_a_bearer_token_is_required_when_asked_for(serve_http):
    base = serve_http("--token-env", "MOOT_SERVE_TOKEN", env={"MOOT_SERVE_TOKEN": "t0ken"})
    assert httpx.get(f"{base}/v1/models").status_code == 401
    assert httpx.get(f"{base}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = openai.OpenAI(base_url=f"{base}/v1", api_key="t0ken", max_retries=0)
    assert [m.id for m in good.models.list()] == ["team/demo"]


@pytest.mark.parametrize("args, expected", [
    (["--http", "0.0.0.0:8999"], "0.0.0.0 is not a loopback address; serving beyond this machine needs --token-env VAR"),
    (["--http", "127.0.0.1:8999", "--token-env", "MOOT_UNSET_TOKEN"], "the variable MOOT_UNSET_TOKEN is not set"),
    (["--http", "nowhere"], "give HOST:PORT"),
    (["--mcp", "--team", "no-such-team"], "no team named 'no-such-team'"),
])
def test_serve_refuses_what_cannot_work_with_a_clear_error(tmp_path, args, expected):
    env = {k: v for k, v in _env().items() if k != "MOOT_UNSET_TOKEN"}
    done = subprocess.run([MOOT, "serve", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr
