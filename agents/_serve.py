"""``moot serve``: moot's teams as services other programs call, through the official ``mcp`` SDK.

- ``serve_stdio()``: MCP on stdin/stdout. One tool per team, ``run_<team>(task)``: the team runs
  headless as a recorded session; the result is the final answer, the session id and how the run
  stopped; a progress notification follows each message.
- ``serve_http("127.0.0.1:PORT")``: the same MCP server over Streamable HTTP at ``/mcp``, and an
  OpenAI-compatible API: ``GET /v1/models`` lists each team as model ``team/NAME``;
  ``POST /v1/chat/completions`` (streaming or not) runs the team with the last user message as the
  task and answers with its final message, usage filled in.

Loopback only, unless a bearer token is required (``token_env``: the name of the variable that
holds it); then every request needs ``Authorization: Bearer <token>``. Each request runs its own
session, so concurrent requests do not share a chat.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field
from starlette.responses import JSONResponse, StreamingResponse

from moot.backends import ConfigError, Usage

from ._session import Session, _models_config
from ._teamfile import list_teams
from ._teams import Team, load_team

__all__ = ["ServeError", "TeamRun", "build_http_app", "build_mcp_server", "run_team", "serve_http", "serve_stdio"]


class ServeError(Exception):
    """A serve setting that cannot work (address, token, teams); the message says why."""


@dataclass
class TeamRun:
    """One headless run of a team: its final answer and where it is recorded."""

    answer: str
    session_id: str
    outcome: str
    stop_reason: str
    usage: Usage = field(default_factory=Usage)


def tool_name(team: str) -> str:
    return "run_" + re.sub(r"[^A-Za-z0-9_]", "_", team)


def _teams(names: list[str] | None, models: Any) -> dict[str, Team]:
    models = _models_config(models)
    chosen = names or [name for name, _ in list_teams()]
    teams = {}
    problems = []
    for name in chosen:
        try:
            team = load_team(name, models)
        except ConfigError as exc:
            if names:  # asked for by name: it must load
                problems += exc.problems
            continue
        teams[team.name] = team
    if problems:
        raise ServeError("; ".join(problems))
    if not teams:
        raise ServeError("no team to serve (moot teams lists them)")
    return teams


async def run_team(team: Team, task: str, *, models: Any = None, store: Any = None,
                   on_message: Callable[[int, str, str], Any] | None = None) -> TeamRun:
    """Run ``team`` on ``task`` as a recorded session with no human (human_input_mode NEVER);
    ``on_message(count, sender, content)`` after each message of the root chat."""
    session = Session.start(team, task, models=models, store=store, human_input_mode="NEVER")
    count = 0
    async with session:
        async for event in session.stream():
            if event.type == "message" and on_message is not None and event.chat_id == session.root_chat_id:
                count += 1
                result = on_message(count, event.sender, str(event.content or ""))
                if asyncio.iscoroutine(result):
                    await result
        result = session.result
        usage = Usage()
        for u in (result.usage if result is not None else {}).values():
            usage = usage + u
        answer = (result.summary if result is not None else "") or ""
        return TeamRun(answer=answer, session_id=session.id, outcome=session.outcome.value if session.outcome else "",
                       stop_reason=session.stop_reason or "", usage=usage)


def _progress_total(team: Team) -> float | None:
    spec = team.spec
    if team.is_group:
        return float(spec.chat.max_round)
    return float(spec.chat.max_turns * 2) if spec.chat.max_turns else None


def build_mcp_server(teams: dict[str, Team], *, models: Any = None, store: Any = None) -> Any:
    """The SDK's ``MCPServer`` with one ``run_<team>`` tool per team."""
    server = MCPServer("moot", instructions="Each tool runs a moot team of agents on a task and returns its "
                                            "final answer and the id of the recorded session.")

    def add(team: Team) -> None:
        total = _progress_total(team)

        async def run(task: Annotated[str, Field(description="What the team should do")], ctx: Context) -> dict[str, Any]:
            async def progress(count: int, sender: str, content: str) -> None:
                text = f"{sender}: {' '.join(content.split())[:120]}"
                await ctx.report_progress(count, total if total and count <= total else None, text)

            done = await run_team(team, task, models=models, store=store, on_message=progress)
            if done.outcome != "completed":
                raise RuntimeError(f"the {team.name} team's run {done.outcome}: {done.stop_reason} "
                                   f"(session {done.session_id})")
            return {"answer": done.answer, "session_id": done.session_id, "outcome": done.outcome,
                    "stop_reason": done.stop_reason}

        description = (f"Run the moot team {team.name!r} on a task and return its final answer and the session id. "
                       f"{team.spec.description}").strip()
        server.add_tool(run, name=tool_name(team.name), description=description)

    for team in teams.values():
        add(team)
    return server


def serve_stdio(*, models: Any = None, teams: list[str] | None = None) -> None:
    """``moot serve --mcp``: MCP on stdin/stdout until the client goes."""
    models = _models_config(models)
    server = build_mcp_server(_teams(teams, models), models=models)
    server.run("stdio")


# -- HTTP ---------------------------------------------------------------------------------------------

def _address(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ServeError(f"--http {addr!r}: give HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> Any:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


def _last_user_text(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return None


def build_http_app(teams: dict[str, Team], *, host: str = "127.0.0.1", token: str | None = None,
                   models: Any = None, store: Any = None) -> Any:
    """The ASGI app of ``moot serve --http``: ``/mcp`` and the OpenAI-compatible ``/v1`` routes."""
    server = build_mcp_server(teams, models=models, store=store)
    created = int(time.time())

    @server.custom_route("/v1/models", methods=["GET"])
    async def list_models(request: Any) -> Any:
        return JSONResponse({"object": "list", "data": [
            {"id": f"team/{name}", "object": "model", "created": created, "owned_by": "moot"} for name in teams]})

    @server.custom_route("/v1/chat/completions", methods=["POST"])
    async def chat(request: Any) -> Any:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        model = str(body.get("model") or "")
        team = teams.get(model.removeprefix("team/"))
        if team is None:
            return _error(404, f"no model {model!r}: the models are {', '.join('team/' + n for n in teams)}",
                          code="model_not_found")
        task = _last_user_text(body.get("messages"))
        if not task:
            return _error(400, "'messages' holds no user message with text: the last one is the team's task")
        cid = f"chatcmpl-{uuid.uuid4().hex}"

        def usage_of(done: TeamRun) -> dict[str, int]:
            u = done.usage
            return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                    "total_tokens": u.total_tokens}

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(data)}\n\n"

        if not body.get("stream"):
            done = await run_team(team, task, models=models, store=store)
            if done.outcome != "completed":
                return _error(500, f"the {team.name} team's run {done.outcome}: {done.stop_reason} "
                                   f"(session {done.session_id})", kind="server_error")
            return JSONResponse({"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": done.answer},
                                              "finish_reason": "stop"}],
                                 "usage": usage_of(done), "moot_session_id": done.session_id},
                                headers={"X-Moot-Session": done.session_id})

        async def stream() -> Any:
            yield chunk({"role": "assistant", "content": ""})  # the first byte at once; the team works
            done = await run_team(team, task, models=models, store=store)
            content = done.answer if done.outcome == "completed" else (
                f"[the {team.name} team's run {done.outcome}: {done.stop_reason}]")
            yield chunk({"content": content})
            yield chunk({}, "stop", usage=usage_of(done), moot_session_id=done.session_id)
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    return _BearerGate(app, token) if token else app


class _BearerGate:
    """Every HTTP request needs ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _error(401, "missing or wrong bearer token (Authorization: Bearer ...)",
                             kind="authentication_error")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_settings(addr: str, token_env: str | None) -> tuple[str, int, str | None]:
    """(host, port, token) of ``--http ADDR [--token-env VAR]``: ``ServeError`` when an address
    other than loopback has no token, or the variable is unset."""
    host, port = _address(addr)
    token = None
    if token_env:
        token = os.environ.get(token_env, "")
        if not token:
            raise ServeError(f"--token-env {token_env}: the variable {token_env} is not set (it holds the bearer token)")
    elif not _is_loopback(host):
        raise ServeError(f"--http {addr}: {host} is not a loopback address; serving beyond this machine needs "
                         f"--token-env VAR (a bearer token every client must send)")
    return host, port, token


def serve_http(addr: str, *, token_env: str | None = None, models: Any = None, teams: list[str] | None = None,
               announce: Callable[[str], Any] | None = None) -> None:
    """``moot serve --http ADDR``: until interrupted. ``announce(text)`` says where, once ready to start."""
    import uvicorn

    host, port, token = http_settings(addr, token_env)
    models = _models_config(models)
    served = _teams(teams, models)
    app = build_http_app(served, host=host, token=token, models=models)
    if announce is not None:
        where = f"[{host}]" if ":" in host else host
        announce(f"serving {len(served)} teams ({', '.join(served)}) at http://{where}:{port}/mcp (MCP) and "
                 f"http://{where}:{port}/v1 (OpenAI-compatible){' with a bearer token' if token else ''}")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    uvicorn.Server(config).run()
