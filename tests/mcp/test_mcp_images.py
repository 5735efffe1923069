"""Images from MCP tools reach a model that has vision: a Streamable HTTP MCP server (the SDK's
MCPServer) on loopback whose tool returns an image block, a team on the openai backend against a
loopback OpenAI-compatible stand-in that records each request it gets (a stand-in: no real model
here reads images), declared with and without ``capabilities = { vision = true }``; the session
store keeps the image's type and size, never its data."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mcp_helpers import free_port
from moot.agents import Session, parse_team
from moot.backends import parse_models
from moot.memory import SessionStore

pytestmark = pytest.mark.timeout(120)


def png(width: int = 8, height: int = 8) -> bytes:
    """A real PNG: a red square."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PICTURE = png()
PICTURE_B64 = base64.b64encode(PICTURE).decode()


@pytest.fixture
def picture_server():
    """A Streamable HTTP MCP server on loopback with one tool, ``square``, that returns a caption
    and an image block."""
    import uvicorn
    from mcp.server.mcpserver import Image, MCPServer

    server = MCPServer("pics")

    @server.tool()
    def square() -> list:
        """A picture of a red square."""
        return ["a red square", Image(data=PICTURE, format="png")]

    port = free_port()
    web = uvicorn.Server(uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="on"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the MCP picture server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    web.should_exit = True
    thread.join(10)


def _sse(*chunks: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "vis",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@pytest.fixture
def openai_standin():
    """An OpenAI-compatible chat server on loopback (a stand-in) that records each request body:
    while the conversation has no tool result it asks for ``pics__square``, then it says "done"."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            seen.append(body)
            if any(m["role"] == "tool" for m in body["messages"]):
                data = _sse(_chunk({"role": "assistant", "content": "done"}), _chunk({}, "stop"))
            else:
                call = {"index": 0, "id": "call_1", "type": "function",
                        "function": {"name": "pics__square", "arguments": "{}"}}
                data = _sse(_chunk({"role": "assistant", "tool_calls": [call]}), _chunk({}, "tool_calls"))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


TEAM = """schema_version = 1
name = "pictures"
[[members]]
name = "user"
role = "user_proxy"
human_input_mode = "NEVER"
[[members]]
name = "bot"
model = "vis"
tools = ["pics.*"]
[chat]
max_turns = 2
[mcp.pics]
url = "{url}"
approval = "never"
"""


async def run_team(mcp_url: str, model_url: str, vision: bool, store: SessionStore):
    models = parse_models(f'schema_version = 1\ndefault = "vis"\n[[models]]\nname = "vis"\nbackend = "openai"\n'
                          f'model = "vis"\nbase_url = "{model_url}"\ncapabilities = {{ vision = {str(vision).lower()} }}\n',
                          "models.toml")
    team = parse_team(TEAM.format(url=mcp_url), "pictures.toml", models)
    events = []
    session = Session.start(team, "Draw me a square.", models=models, store=store, record=True)
    async with session:
        async for event in session.stream():
            events.append(event.to_dict())
    return session, events


def _tool_turn(request: dict) -> tuple[dict, list[dict]]:
    """The tool message of a request and the messages after it."""
    messages = request["messages"]
    at = next(i for i, m in enumerate(messages) if m["role"] == "tool")
    return messages[at], messages[at + 1:]


async def test_a_vision_model_gets_the_image_right_after_the_tool_result(picture_server, openai_standin, tmp_path):
    url, seen = openai_standin
    store = SessionStore(tmp_path / "s.db")
    session, events = await run_team(picture_server, url, True, store)
    assert session.outcome.value == "completed", events
    assert len(seen) == 2
    tool, after = _tool_turn(seen[1])
    assert tool == {"role": "tool", "content": "a red square", "tool_call_id": "call_1"}
    images = after[0]
    assert images["role"] == "user"
    assert images["content"][0] == {"type": "text", "text": "The tool call call_1 returned:"}
    assert images["content"][1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PICTURE_B64}"}}
    # the store names the server and the image, and never holds the image's data
    recorded = store.events(session.id)
    (call,) = [e for e in recorded if e["type"] == "tool_call"]
    (result,) = [e for e in recorded if e["type"] == "tool_result"]
    assert call["server"] == "pics" and result["server"] == "pics" and not result["is_error"]
    assert result["content"] == f"a red square\n[image image/png, {len(PICTURE)} bytes]"
    assert PICTURE_B64 not in json.dumps(recorded)


async def test_a_model_without_vision_gets_the_text_and_a_note(picture_server, openai_standin, tmp_path):
    url, seen = openai_standin
    session, _ = await run_team(picture_server, url, False, SessionStore(tmp_path / "s.db"))
    assert session.outcome.value == "completed"
    tool, after = _tool_turn(seen[1])
    assert tool["content"] == f"a red square\n[image image/png, {len(PICTURE)} bytes: this model has no vision]"
    assert after == []  # nothing else follows the tool result
    assert PICTURE_B64 not in json.dumps(seen)


def test_a_built_in_tools_events_name_no_server():
    from moot.agents.events import Event, ToolCallRequested, ToolResult

    assert ToolCallRequested("c", "user", "call_1", "calculator", "{}").server is None
    result = ToolResult("c", "user", "call_1", "calculator", "2", False, False, 0.1)  # positional, as the hot paths
    assert result.server is None and Event.from_dict(result.to_dict()) == result
