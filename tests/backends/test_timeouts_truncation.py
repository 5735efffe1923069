"""Calls that never end, and half a reply taken as whole (issue 9, cases 9 and 10).

FAULT STAND-INS: the servers here are small loopback HTTP servers that speak the real wire formats
(OpenAI's and Anthropic's SSE, Ollama's NDJSON) and then misbehave as a broken or overloaded server
does: keep-alive comments or empty chunks every 0.2 s for ever, one delta and then silence, a stream
that closes cleanly mid-reply. The real clients (``openai``, ``anthropic``, ``ollama``) talk to them.

Must hold: ``timeout_s`` bounds the wait for the first real delta and each gap between real deltas
(keep-alives do not count), ending the call with a ``BackendTimeout`` naming the model and the limit;
a team's ``[termination] timeout_s`` stops a call in progress at its deadline even when nothing
arrives; a stream that closes without the model saying it is done gives a completion marked
``truncated`` and a notice, which the transcript, the store, ``sessions show`` and ``moot run`` show.
No timing assertions: each call must end (an outer bound keeps a broken build from hanging), with
the right error.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from moot.agents import events as ev
from moot.agents.transcript import reduce, to_markdown
from moot.backends import BackendTimeout, ChatMessage, Completion, Delta, ModelRegistry, Notice
from moot.backends.anthropic import AnthropicBackend
from moot.backends.ollama import OllamaBackend
from moot.backends.openai import OpenAIBackend
from tests.backends.conftest import model_config
from tests.test_run_cli import moot

OUTER_BOUND_S = 15  # a call that has not ended by then hangs: the test fails instead of waiting

Write = Callable[[bytes], None]


# -- the fault stand-in ---------------------------------------------------------------------------

@pytest.fixture
def standin() -> Iterator[Callable[[Callable[[Write, threading.Event], None], str], str]]:
    """``standin(body, content_type)``: a loopback FAULT STAND-IN that answers every request with
    200 and then runs ``body(write, stopped)``: what it writes is the response body, which ends
    (the connection closes cleanly) when it returns; ``stopped`` is set when the test ends.
    Returns the server's root URL."""
    servers: list[ThreadingHTTPServer] = []
    stopped = threading.Event()

    def start(body: Callable[[Write, threading.Event], None], content_type: str) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Connection", "close")  # no length: the body ends when the connection closes
                self.end_headers()

                def write(data: bytes) -> None:
                    self.wfile.write(data)
                    self.wfile.flush()

                try:
                    body(write, stopped)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what a timeout does
                self.close_connection = True

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    stopped.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def forever(write: Write, stopped: threading.Event, keepalive: bytes) -> None:
    while not stopped.wait(0.2):
        write(keepalive)


def silence(write: Write, stopped: threading.Event) -> None:
    stopped.wait(OUTER_BOUND_S * 2)


# -- the three wire formats -----------------------------------------------------------------------

def sse(data: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


class OpenAIWire:
    name = "openai"
    content_type = "text/event-stream"
    # Keep-alives: an SSE comment, and an empty chunk (no choices) as some gateways send.
    keepalives = (b": keep-alive\n\n", sse({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "x",
                                            "choices": []}))

    @staticmethod
    def chunk(content: str | None = None, finish: str | None = None, role: bool = False) -> bytes:
        delta: dict = {"role": "assistant"} if role else {}
        if content is not None:
            delta["content"] = content
        return sse({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "x",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def opening(self) -> bytes:
        return self.chunk("", role=True)  # the role, no text: not a real delta

    def delta(self, text: str) -> bytes:
        return self.chunk(text)

    def ending(self) -> bytes:
        return self.chunk(finish="stop") + b"data: [DONE]\n\n"

    def backend(self, url: str, **fields):
        return OpenAIBackend(_config(backend="openai", model="x", base_url=url, **fields))


class AnthropicWire:
    name = "anthropic"
    content_type = "text/event-stream"
    keepalives = (b": keep-alive\n\n", sse({"type": "ping"}, "ping"))

    def opening(self) -> bytes:
        start = {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        return sse(start, "message_start") + sse(block, "content_block_start")

    def delta(self, text: str) -> bytes:
        return sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
                   "content_block_delta")

    def ending(self) -> bytes:
        return (sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
                + sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": 4}}, "message_delta")
                + sse({"type": "message_stop"}, "message_stop"))

    def backend(self, url: str, **fields):
        # A base_url and no api_key_env: a local Anthropic-compatible proxy, sent a placeholder key.
        return AnthropicBackend(_config(backend="anthropic", model="claude-x", base_url=url, **fields))


class OllamaWire:
    name = "ollama"
    content_type = "application/x-ndjson"

    @staticmethod
    def part(content: str, done: bool = False) -> bytes:
        data: dict = {"model": "x", "created_at": "2025-01-01T00:00:00Z",
                      "message": {"role": "assistant", "content": content}, "done": done}
        if done:
            data.update(done_reason="stop", prompt_eval_count=5, eval_count=4)
        return json.dumps(data).encode() + b"\n"

    def opening(self) -> bytes:
        return self.part("")

    def delta(self, text: str) -> bytes:
        return self.part(text)

    def ending(self) -> bytes:
        return self.part("", done=True)

    def backend(self, url: str, **fields):
        return OllamaBackend(_config(backend="ollama", model="x", base_url=url, **fields))


OllamaWire.keepalives = (OllamaWire.part(""),)  # Ollama has no comments: its keep-alive is an empty part
WIRES = [OpenAIWire(), AnthropicWire(), OllamaWire()]


def _config(**fields):
    return model_config(**fields)


def keepalive_forever(wire) -> Callable[[Write, threading.Event], None]:
    def body(write: Write, stopped: threading.Event) -> None:
        write(wire.opening())
        i = 0
        while not stopped.wait(0.2):
            write(wire.keepalives[i % len(wire.keepalives)])
            i += 1
    return body


def one_delta_then(wire, after: str) -> Callable[[Write, threading.Event], None]:
    def body(write: Write, stopped: threading.Event) -> None:
        write(wire.opening() + wire.delta("The answer is"))
        if after == "silence":
            silence(write, stopped)
        else:
            forever(write, stopped, wire.keepalives[0])
    return body


def headers_then_silence(write: Write, stopped: threading.Event) -> None:
    silence(write, stopped)


def cut_mid_reply(wire) -> Callable[[Write, threading.Event], None]:
    def body(write: Write, stopped: threading.Event) -> None:
        write(wire.opening() + wire.delta("Half of") + wire.delta(" a reply"))  # then a clean close
    return body


def whole_reply(wire) -> Callable[[Write, threading.Event], None]:
    def body(write: Write, stopped: threading.Event) -> None:
        write(wire.opening() + wire.delta("Half of") + wire.delta(" a reply") + wire.ending())
    return body


async def call(backend) -> list:
    """Every item of one call, or the error it ended with; it must end within the outer bound."""
    async def drain() -> list:
        return [item async for item in backend.stream([ChatMessage("user", "hi")])]
    try:
        return await asyncio.wait_for(drain(), OUTER_BOUND_S)
    finally:
        await backend.aclose()


ids = [w.name for w in WIRES]


# -- case 9: calls that never end ----------------------------------------------------------------

@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_keepalives_for_ever_do_not_keep_a_call_waiting_for_its_first_delta(standin, wire):
    url = standin(keepalive_forever(wire), wire.content_type)
    with pytest.raises(BackendTimeout) as info:
        await call(wire.backend(url, timeout_s=1))
    text = str(info.value)
    assert "model 'm'" in text and "127.0.0.1" in text and "within 1 s" in text and "keep-alives do not count" in text
    assert info.value.transient  # before any text: retried, then the fallbacks, like any timeout


@pytest.mark.parametrize("after", ["silence", "keepalives"])
@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_the_gap_after_a_delta_is_bounded_too(standin, wire, after):
    url = standin(one_delta_then(wire, after), wire.content_type)
    backend = wire.backend(url, timeout_s=1)
    seen: list = []

    async def drain() -> None:
        async for item in backend.stream([ChatMessage("user", "hi")]):
            seen.append(item)

    with pytest.raises(BackendTimeout) as info:
        await asyncio.wait_for(drain(), OUTER_BOUND_S)
    await backend.aclose()
    assert [i.content for i in seen if isinstance(i, Delta)] == ["The answer is"]
    assert "stalled: nothing new for 1 s" in str(info.value) and "model 'm'" in str(info.value)


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_a_server_that_sends_nothing_after_its_headers_times_out(standin, wire):
    url = standin(headers_then_silence, wire.content_type)
    with pytest.raises(BackendTimeout, match=r"1 s"):
        await call(wire.backend(url, timeout_s=1))


async def test_the_client_waits_for_the_next_item_as_long_as_it_likes(standin):
    # The deadline is the server's: time the caller spends between items does not count.
    wire = OpenAIWire()
    url = standin(whole_reply(wire), wire.content_type)
    backend = wire.backend(url, timeout_s=1)
    items = []
    async for item in backend.stream([ChatMessage("user", "hi")]):
        items.append(item)
        await asyncio.sleep(1.5)
    await backend.aclose()
    assert items[-1].content == "Half of a reply" and items[-1].finish_reason == "stop"


async def test_through_the_registry_the_timeout_is_retried_then_reported(standin, tmp_path):
    from moot.backends.config import load_models

    wire = OpenAIWire()
    url = standin(keepalive_forever(wire), wire.content_type)
    (tmp_path / "models.toml").write_text(f'schema_version = 1\n[[models]]\nname = "slow"\nbackend = "openai"\n'
                                          f'model = "x"\nbase_url = "{url}"\ntimeout_s = 1\n')
    registry = ModelRegistry(load_models(tmp_path / "models.toml"), retry_delays=(0.1,))
    items: list = []

    async def drain() -> None:
        async for item in registry.client("slow").stream([ChatMessage("user", "hi")]):
            items.append(item)

    with pytest.raises(BackendTimeout, match="model 'slow'"):
        await asyncio.wait_for(drain(), OUTER_BOUND_S)
    await registry.aclose()
    assert [i.kind for i in items if isinstance(i, Notice)] == ["retry"]


# -- case 10: half a reply taken as whole ------------------------------------------------------------

@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_a_stream_closed_mid_reply_is_marked_truncated(standin, wire):
    items = await call(wire.backend(standin(cut_mid_reply(wire), wire.content_type)))
    done = items[-1]
    assert isinstance(done, Completion) and done.finish_reason == "truncated"
    assert done.content == "Half of a reply" == "".join(i.content for i in items if isinstance(i, Delta))
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.kind for n in notices] == ["truncated"]
    assert "the reply was cut off" in notices[0].text and "model 'm'" in notices[0].text


@pytest.mark.parametrize("wire", WIRES, ids=ids)
async def test_the_same_stream_finished_is_whole(standin, wire):
    # The stand-in's control: the same reply with its proper ending is a normal, whole reply.
    items = await call(wire.backend(standin(whole_reply(wire), wire.content_type)))
    assert items[-1].finish_reason == "stop" and items[-1].content == "Half of a reply"
    assert not [i for i in items if isinstance(i, Notice)]


def test_the_transcript_marks_the_message_and_the_mark_survives_the_store_form():
    chat = "chat-1"
    events = [
        ev.ChatStarted(chat, initiator="user", participants=("user", "bot")),
        ev.MessagePosted(chat, message_id="m-1", sender="user", recipient="bot", role="user", content="hi"),
        ev.TokenDelta(chat, agent="bot", message_id="m-2", text="Half of"),
        ev.NoticeEvent(chat, agent="bot", text="model 'x': the reply was cut off", kind="truncated", message_id="m-2"),
        ev.MessagePosted(chat, message_id="m-2", sender="bot", recipient="user", role="assistant", content="Half of"),
        # Not streamed (no deltas): the notice comes before the message begins.
        ev.NoticeEvent(chat, agent="bot", text="model 'x': the reply was cut off", kind="truncated", message_id="m-3"),
        ev.MessagePosted(chat, message_id="m-3", sender="bot", recipient="user", role="assistant", content="Also cut"),
        ev.MessagePosted(chat, message_id="m-4", sender="user", recipient="bot", role="user", content="whole"),
    ]
    stored = [json.loads(json.dumps(e.to_dict())) for e in events]  # what the session store keeps
    for form in (events, stored):
        transcript = reduce(form)
        assert [transcript.message(m).truncated for m in ("m-1", "m-2", "m-3", "m-4")] == [False, True, True, False]
        assert [t.what for t in transcript.turns if getattr(t, "what", "") == "truncated"] == ["truncated", "truncated"]
    markdown = to_markdown(stored)
    assert "## 2. bot → user (truncated)" in markdown and "## 3. bot → user (truncated)" in markdown
    assert "## 4. user → bot\n" in markdown


# -- the whole path: moot run ---------------------------------------------------------------------

TEAM = """
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "NEVER"
[[members]]
name = "coder"
model = "standin"
[chat]
max_turns = 1
{termination}
"""


def write_config(folder, url: str, timeout_s: float, termination: str = "") -> None:
    (folder / "models.toml").write_text(f'schema_version = 1\ndefault = "standin"\n[[models]]\nname = "standin"\n'
                                        f'backend = "openai"\nmodel = "x"\nbase_url = "{url}"\ntimeout_s = {timeout_s}\n')
    (folder / "team.toml").write_text(TEAM.format(termination=termination))


def session_id(stderr: str) -> str:
    found = re.search(r"session (\S+) \(moot sessions show", stderr)
    assert found, stderr
    return found.group(1)


def test_moot_run_says_a_reply_was_cut_off_and_the_chat_goes_on(standin, tmp_path):
    wire = OpenAIWire()
    write_config(tmp_path, standin(cut_mid_reply(wire), wire.content_type), timeout_s=30)
    result = moot("run", "team.toml", "--task", "Say something long.", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr  # the partial message is posted, marked; the chat went on
    assert "Half of a reply" in result.stdout
    assert "[truncated] coder: model 'standin': the reply was cut off" in result.stderr
    assert "[max_turns]" in result.stderr and "Traceback" not in result.stderr
    sid = session_id(result.stderr)
    for command in (("sessions", "show", sid), ("sessions", "export", sid, "--format", "md")):
        shown = moot(*command, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"## 2\. coder → runner \(truncated\)", shown.stdout), shown.stdout
        assert "Half of a reply" in shown.stdout and "[truncated] coder:" in shown.stdout


def test_moot_run_ends_a_call_that_only_gets_keepalives(standin, tmp_path):
    wire = OpenAIWire()
    write_config(tmp_path, standin(keepalive_forever(wire), wire.content_type), timeout_s=1)
    result = moot("run", "team.toml", "--task", "hi", cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "no reply from" in result.stderr and "began within 1 s" in result.stderr
    assert "[backend_error]" in result.stderr and "Traceback" not in result.stderr


def test_a_teams_time_limit_stops_a_silent_call_at_its_deadline(standin, tmp_path):
    # The model's own timeout_s is long; the team's [termination] timeout_s of 2 s stops the call
    # although the server sends only keep-alives (no delta comes to check the limit on).
    wire = OpenAIWire()
    write_config(tmp_path, standin(keepalive_forever(wire), wire.content_type), timeout_s=600,
                 termination="[termination]\ntimeout_s = 2")
    result = moot("run", "team.toml", "--task", "hi", cwd=tmp_path, timeout=120)
    assert "the time limit of 2 s passed [Timeout]" in result.stderr, result.stderr
    assert result.returncode == 0 and "Traceback" not in result.stderr
