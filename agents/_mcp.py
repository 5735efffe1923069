"""Tools from MCP servers, through the official ``mcp`` SDK (stdio, Streamable HTTP, legacy SSE).

A team's servers (``[mcp.NAME]`` tables, or ``mcp.json``: see ``_mcpconfig``) start when the
session first runs, all at once, and stop when it closes. Each MCP tool a member picks becomes a
tool like the built-in ones: its schema comes from the server, the model sees it as
``SERVER__TOOL``, the team's user proxy (else the member) runs it. A result goes back as text
(structured content as its JSON) with its images (a model without vision gets a note naming
each), an error result as a tool error; tool events name the server. A server that cannot start
(missing program, no answer within ``timeout_s``, a tool list that does not validate) is a
notice naming the file and the server; the chat goes on without its tools. A server that dies
is a notice too, and is started again once, at the next call.

Calls that need approval (``approval = "always"``, the default for a server not marked trusted)
ask ``McpTools.approve(server, tool, arguments)``: "run", "skip" or edited arguments (a dict).
With no one to ask, the call is refused with a tool error that says how to allow it.

From Python, AutoGen-style::

    server = McpServer("time", command="python", args=["-m", "mcp_server_time"])
    await register_mcp_tools(server, caller=assistant, executor=user_proxy, tools=["*"])
    ...  # a_initiate_chat: the server lives on the running event loop
    await server.aclose()
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from moot.backends import ChatMessage, Completion, Delta, Image

from ._agent import ConversableAgent
from ._context import current_run
from ._mcpconfig import ServerConfig, mcp_ref, read_mcp_json
from ._messages import ToolText
from ._teamfile import list_teams, read_team_file
from ._tools import Tool
from .events import Event, NoticeEvent, name_tool_server

if TYPE_CHECKING:
    import mcp_types as types
    from mcp import Client

__all__ = ["McpError", "McpServer", "McpTools", "ToolError", "configured_servers", "model_tool_name", "probe",
           "register_mcp_tools", "result_content", "result_text"]

Approver = Callable[[str, str, dict[str, Any]], Awaitable[Any]]  # (server, tool, arguments) -> "run" | "skip" | dict
NOTICE_KIND = "mcp"
_TAIL = 400  # characters of a server's stderr quoted when it fails


class McpError(Exception):
    """A server that cannot start or went away; the message names where it is declared."""


class ToolError(Exception):
    """An MCP tool's error result (its text goes back to the model as a tool error)."""


class ServerLost(ToolError):
    """The server died during a call."""


def model_tool_name(server: str, tool: str) -> str:
    """What the model calls an MCP tool: ``SERVER__TOOL`` in OpenAI's tool-name alphabet."""
    return f"{server}__{re.sub(r'[^A-Za-z0-9_-]', '_', tool)}"[:64]


def result_text(result: types.CallToolResult) -> str:
    """A tool result as text: its content blocks (an image or audio is named, not shown; an
    embedded text resource is its text), else its structured content as JSON."""
    return _result(result, False)


def result_content(result: types.CallToolResult) -> str:
    """What goes back to the model: ``result_text``, but an image block is an ``Image`` the
    result carries (a ``ToolText``: see ``_messages``), for a model with vision to see."""
    return _result(result, True)


def _result(result: types.CallToolResult, keep_images: bool) -> str:
    parts: list[str] = []
    images: list[Image] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "image" and keep_images:
            images.append(Image(block.mime_type, block.data))
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} ({block.mime_type}, {len(block.data) * 3 // 4} bytes) returned by the tool]")
        elif kind == "resource":
            text = getattr(block.resource, "text", None)
            parts.append(text if text is not None else f"[resource {block.resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    return ToolText(text, tuple(images)) if images else text


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = ".".join(str(p) for p in loc)
    if len(loc) > 1 and loc[0] == "tools" and isinstance(loc[1], int):
        where = f"tool {loc[1] + 1} of the list: {'.'.join(str(p) for p in loc[2:])}"
    return f"{where}: {err['msg']}"


class McpServer:
    """One MCP server, started on first use and kept until ``aclose``. Its SDK client lives in a
    task of its own (the SDK's task groups must end in the task that began them), so calls may
    come from any task of the same event loop.

    Made in Python (``McpServer("time", command=..., args=[...])`` or ``url=...``), ``env`` and
    ``headers`` hold values, and calls need no approval unless ``approval="always"`` (then
    ``register_mcp_tools(approve=...)`` answers)."""

    def __init__(self, config: ServerConfig | str, *, command: str | None = None, args: Iterable[str] = (),
                 env: Mapping[str, str] | None = None, cwd: str | None = None, url: str | None = None,
                 headers: Mapping[str, str] | None = None, timeout_s: float = 30.0, trusted: bool = False,
                 approval: str | None = None, sampler: Any = None):
        if isinstance(config, str):  # the Python form: values, not names of variables
            transport = "stdio" if command else "http"
            config = ServerConfig(name=config, source="python", where=f"MCP server {config!r}", command=command,
                                  args=tuple(args), env=dict(env or {}), cwd=cwd, url=url, headers=dict(headers or {}),
                                  transport=transport, approval=approval or "never", timeout_s=timeout_s,
                                  trusted=trusted)
        self.config = config
        self.sampler = sampler  # the registry whose default model answers a trusted server's sampling
        self.status = "stopped"  # stopped | running | failed | crashed | closed
        self.error: str | None = None
        self.tools: list[types.Tool] = []
        self.restarted = False
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._errlog: Any = None

    @property
    def name(self) -> str:
        return self.config.name

    # -- starting

    def _variables(self, names: Iterable[str], field: str) -> dict[str, str]:
        out = {}
        for n in names:
            value = os.environ.get(n)
            if value is None:
                raise McpError(f"{self.config.where}: field {field!r}: the variable {n} is not set")
            out[n] = value
        return out

    def _transport(self) -> Any:
        # The SDK is imported when a server starts: importing it costs ~0.3 s, and most chats have none.
        from mcp import StdioServerParameters, stdio_client
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        c = self.config
        if c.command is not None:
            env = {**c.env, **self._variables(c.env_names, "env")}
            if shutil.which(c.command, path=os.environ.get("PATH")) is None and not os.path.isfile(c.command):
                raise McpError(f"{c.where}: field 'command': cannot start {c.command!r}: no such program")
            self._errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
            params = StdioServerParameters(command=c.command, args=list(c.args), env=env or None, cwd=c.cwd)
            return stdio_client(params, errlog=self._errlog)
        headers = {**c.headers}
        for header, variable in c.headers_env.items():
            headers[header] = self._variables([variable], "headers_env")[variable]
        if c.transport == "sse":
            return sse_client(c.url, headers=headers or None, timeout=c.timeout_s)
        return streamable_http_client(c.url, http_client=create_mcp_http_client(headers=headers or None))

    def _stderr_tail(self) -> str:
        if self._errlog is None:
            return ""
        try:
            self._errlog.seek(0)
            text = self._errlog.read().strip()
        except (OSError, ValueError):
            return ""
        if not text:
            return ""
        return f" (its stderr ends: {text[-_TAIL:].splitlines()[-1][:200]})"

    async def _sample(self, context: Any, params: types.CreateMessageRequestParams) -> Any:
        """A trusted server's sampling request, answered by moot's default model."""
        import mcp_types as types

        messages = []
        if params.system_prompt:
            messages.append(ChatMessage("system", params.system_prompt))
        for m in params.messages:
            blocks = m.content if isinstance(m.content, list) else [m.content]
            text = "\n".join(b.text for b in blocks if getattr(b, "type", "") == "text")
            messages.append(ChatMessage(m.role, text))
        reply, model = "", ""
        try:
            async for item in self.sampler.client(None).stream(messages, max_tokens=params.max_tokens):
                if isinstance(item, Delta):
                    reply += item.content or ""
                elif isinstance(item, Completion):
                    reply, model = item.content or reply, item.model or model
        except Exception as exc:  # a backend error goes back to the server, not up the SDK's task
            return types.ErrorData(code=types.INTERNAL_ERROR, message=f"moot's model failed: {exc}")
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=reply),
                                         model=model or "moot", stop_reason="endTurn")

    async def _own(self, client: Client, ready: asyncio.Future[list[types.Tool]], stop: asyncio.Event) -> None:
        try:
            async with client:
                tools: list[types.Tool] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                ready.set_result(tools)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # the SDK's exception groups too
            if not ready.done():
                ready.set_exception(exc)

    async def start(self) -> list[types.Tool]:
        """Start the server (once) and return its tools; ``McpError`` says why it cannot."""
        async with self._lock:
            if self._client is not None:
                return self.tools
            if self.status == "failed":
                raise McpError(self.error or f"{self.config.where}: failed")
            if self.status == "closed":
                raise McpError(f"{self.config.where}: closed")
            try:
                self.tools = await self._start()
            except McpError as exc:
                self.status, self.error = "failed", str(exc)
                raise
            self.status, self.error = "running", None
            return self.tools

    async def _start(self) -> list[types.Tool]:
        import mcp_types as types
        from mcp import Client

        c = self.config
        transport = self._transport()
        client = Client(transport, read_timeout_seconds=c.timeout_s,
                        sampling_callback=self._sample if c.trusted and self.sampler is not None else None,
                        client_info=types.Implementation(name="moot", version="1"))
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[list[types.Tool]] = loop.create_future()
        stop = asyncio.Event()
        task = loop.create_task(self._own(client, ready, stop), name=f"mcp server {c.name}")
        try:
            tools = await asyncio.wait_for(asyncio.shield(ready), c.timeout_s)
        except TimeoutError:
            await self._end(task, None)  # still in the handshake: cancelled (the SDK kills the process)
            raise McpError(f"{c.where}: no answer within {c.timeout_s:g} s of starting (field 'timeout_s')"
                           f"{self._stderr_tail()}") from None
        except BaseException as exc:
            await self._end(task, stop)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise McpError(self._start_failure(exc)) from None
        self._client, self._task, self._stop = client, task, stop
        return tools

    def _start_failure(self, exc: BaseException) -> str:
        import mcp_types as types
        from mcp.shared.exceptions import MCPError

        c = self.config
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, ValidationError):
            return (f"{c.where}: its tool list does not validate ({_first_problem(exc)}), so none of its tools "
                    f"can be used{self._stderr_tail()}")
        if isinstance(exc, FileNotFoundError) and c.command:
            return f"{c.where}: field 'command': cannot start {c.command!r}: no such program"
        if isinstance(exc, PermissionError) and c.command:
            return f"{c.where}: field 'command': cannot start {c.command!r}: not executable"
        if isinstance(exc, OSError) and c.command:
            return f"{c.where}: cannot start {c.command!r}: {exc}"
        if c.url and type(exc).__module__.startswith("httpx"):
            return f"{c.where}: cannot reach {c.url}: {exc or type(exc).__name__}"
        what = str(exc) or type(exc).__name__
        if isinstance(exc, MCPError) and exc.code != types.CONNECTION_CLOSED:
            return f"{c.where}: the server refused to start: {what}{self._stderr_tail()}"
        if c.command:
            return f"{c.where}: the server stopped before it answered ({what}){self._stderr_tail()}"
        return f"{c.where}: {what}"

    async def _end(self, task: asyncio.Task[None] | None, stop: asyncio.Event | None) -> None:
        """Let the owner task leave the client (a graceful close), or with no ``stop``, cancel it."""
        if task is None:
            return
        try:
            if stop is None:
                raise TimeoutError
            stop.set()
            await asyncio.wait_for(asyncio.shield(task), 8)
        except BaseException:
            task.cancel()
            try:
                await task
            except BaseException:  # closing: the server's own failure is reported elsewhere
                pass

    # -- calling

    async def call(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call a tool; a dead server raises ``ServerLost`` (the next call starts it again, once)."""
        import anyio
        import mcp_types as types
        from mcp.shared.exceptions import MCPError

        if self._client is None:
            if self.status == "crashed":
                if self.restarted:
                    raise ToolError(f"{self.config.where}: stopped again after a restart; its tools are off for "
                                    f"this session")
                self.restarted = True
                self.status = "stopped"
            await self.start()
        client = self._client
        assert client is not None
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=self.config.timeout_s)
        except TimeoutError:
            raise ToolError(f"{self.config.where}: no answer from {tool} within {self.config.timeout_s:g} s "
                            f"(field 'timeout_s')") from None
        except MCPError as exc:
            if exc.code != types.CONNECTION_CLOSED and self._alive():
                raise ToolError(f"{tool}: {exc}") from None
            raise await self._lost(tool, exc) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            raise await self._lost(tool, exc) from None

    def _alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _lost(self, tool: str, exc: BaseException) -> ServerLost:
        task, stop = self._task, self._stop
        self._client = self._task = self._stop = None
        self.status = "crashed"
        tail = self._stderr_tail()
        await self._end(task, stop)
        again = "; it is not started again" if self.restarted else "; it is started again at the next call"
        self.error = f"{self.config.where}: the server stopped during the call to {tool} ({exc or type(exc).__name__}){tail}{again}"
        return ServerLost(self.error)

    async def aclose(self) -> None:
        """Stop the server (its process too)."""
        async with self._lock:
            task, stop = self._task, self._stop
            self._client = self._task = self._stop = None
            self.status = "closed"
            await self._end(task, stop)
            if self._errlog is not None:
                self._errlog.close()
                self._errlog = None

    async def __aenter__(self) -> McpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


# -- giving agents the tools -----------------------------------------------------------------------

def _tool_function(server: McpServer, tool: types.Tool, name: str, agent: str, approval: str,
                   approver: Callable[[], Approver | None]) -> Callable[..., Awaitable[str]]:
    async def call(**arguments: Any) -> str:
        if approval == "always":
            approve = approver()
            if approve is None:
                raise ToolError(f"calling {tool.name} needs approval ({server.config.where}: approval = \"always\") "
                                f"and nothing here can ask; set approval = \"never\" for the server to allow it")
            answer = await approve(server.name, tool.name, arguments)
            if answer in (None, "skip"):
                return f"The user skipped this call of {name}."
            if isinstance(answer, dict):
                arguments = answer
        try:
            result = await server.call(tool.name, arguments)
        except ServerLost as exc:
            run = current_run()
            if run is not None:
                run.emit(NoticeEvent(run.chat_id, agent=agent, text=str(exc), kind=NOTICE_KIND))
            raise
        text = result_content(result)
        if result.is_error:
            raise ToolError(text or f"{tool.name} reported an error")
        return text
    return call


def _register(server: McpServer, tool: types.Tool, caller: ConversableAgent, executor: ConversableAgent,
              approver: Callable[[], Approver | None]) -> str:
    name = model_tool_name(server.name, tool.name)
    description = tool.description or tool.title or f"{tool.name} (from the MCP server {server.name})"
    schema = dict(tool.input_schema or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    caller.update_tool_signature({"type": "function", "function": {"name": name, "description": description,
                                                                   "parameters": schema}}, is_remove=False)
    func = _tool_function(server, tool, name, executor.name, server.config.approval, approver)
    func._moot_tool = Tool(name, description, func, schema)  # type: ignore[attr-defined]
    name_tool_server(name, server.name)
    executor.register_for_execution(name=name)(func)
    return name


def _matching(tools: list[types.Tool], patterns: Iterable[str]) -> tuple[list[types.Tool], list[str]]:
    """The tools that match the patterns, and the patterns that match none."""
    chosen: dict[str, types.Tool] = {}
    unmatched = []
    for pattern in patterns:
        hits = [t for t in tools if fnmatch.fnmatchcase(t.name, pattern)]
        if not hits:
            unmatched.append(pattern)
        chosen.update((t.name, t) for t in hits)
    return list(chosen.values()), unmatched


async def register_mcp_tools(server: McpServer, *, caller: ConversableAgent, executor: ConversableAgent | None = None,
                             tools: Iterable[str] = ("*",), approve: Approver | None = None) -> list[str]:
    """Offer a server's tools (those matching the glob ``tools``) to ``caller``'s model and let
    ``executor`` (default: ``caller``) run them; starts the server if needed. Returns the names
    the model sees (``SERVER__TOOL``). ``McpError`` when the server cannot start, ``ValueError``
    for a pattern that matches no tool."""
    listed = await server.start()
    chosen, unmatched = _matching(listed, tools)
    if unmatched:
        raise ValueError(f"{server.config.where}: no tool matches {', '.join(map(repr, unmatched))} "
                         f"(tools: {', '.join(t.name for t in listed) or 'none'})")
    return [_register(server, t, caller, executor or caller, lambda: approve) for t in chosen]


@dataclass
class Pick:
    """A member's MCP tools: who offers them to its model, who runs them, which ones."""

    member: str
    caller: ConversableAgent
    executor: ConversableAgent
    picks: list[tuple[str, str]]  # (server, pattern)


class McpTools:
    """The MCP servers of one built team: started together on the first run, closed with the
    session. ``approve`` answers calls that need approval (the app sets it)."""

    def __init__(self, servers: Mapping[str, ServerConfig], picks: list[Pick], source: str):
        used = {s for p in picks for s, _ in p.picks}
        self.servers = {name: McpServer(cfg) for name, cfg in servers.items() if name in used}
        self.picks = picks
        self.source = source
        self.approve: Approver | None = None
        self._started = False
        self._registered: set[tuple[str, str, str]] = set()
        self.origins: dict[str, tuple[str, str]] = {}  # SERVER__TOOL -> (server, the server's tool name)

    @classmethod
    def for_team(cls, servers: Mapping[str, ServerConfig], wanted: list[tuple[str, ConversableAgent, ConversableAgent,
                                                                               list[str]]], source: str) -> McpTools | None:
        """From a team's servers and each member's tool list; None when nobody picks an MCP tool."""
        picks = []
        for member, caller, executor, tools in wanted:
            refs = [ref for t in tools if (ref := mcp_ref(t)) is not None]
            if refs:
                picks.append(Pick(member, caller, executor, refs))
        return cls(servers, picks, source) if picks else None

    def set_sampler(self, registry: Any) -> None:
        for server in self.servers.values():
            server.sampler = registry

    async def start(self) -> list[tuple[str, str]]:
        """Start every server, register each member's tools; (member, text) of each problem, once."""
        if self._started:
            return []
        self._started = True
        names = list(self.servers)
        results = await asyncio.gather(*(self.servers[n].start() for n in names), return_exceptions=True)
        failed = {}
        notes: list[tuple[str, str]] = []
        for name, result in zip(names, results):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                failed[name] = str(result) if isinstance(result, McpError) else f"{self.servers[name].config.where}: {result}"
        for pick in self.picks:
            for server_name, pattern in pick.picks:
                if server_name not in self.servers:
                    notes.append((pick.member, f"{self.source}: member {pick.member!r} picks {server_name}.{pattern}, "
                                               f"but no MCP server {server_name!r} is declared"))
                    continue
                if server_name in failed:
                    continue
                server = self.servers[server_name]
                chosen, unmatched = _matching(server.tools, [pattern])
                if unmatched:
                    notes.append((pick.member, f"{self.source}: member {pick.member!r} picks {server_name}.{pattern}, "
                                               f"which matches none of the server's tools "
                                               f"({', '.join(t.name for t in server.tools) or 'none'})"))
                for tool in chosen:
                    key = (pick.member, server_name, tool.name)
                    if key not in self._registered:  # two patterns of one member may match the same tool
                        self._registered.add(key)
                        name = _register(server, tool, pick.caller, pick.executor, lambda: self.approve)
                        self.origins[name] = (server_name, tool.name)
        for name, text in failed.items():
            member = next((p.member for p in self.picks if any(s == name for s, _ in p.picks)), "")
            notes.append((member, f"MCP server {name!r} is not available, so its tools are left out: {text}"))
        return notes

    async def prepare(self, events: AsyncIterator[Event], chat_id: str | None) -> AsyncIterator[Event]:
        """Start the servers, then the chat's events with a notice for each problem: before the
        first event when the chat's id is known, else right after it starts."""
        notes = await self.start()
        if not notes:
            return events
        return self._with_notes(events, notes, chat_id)

    async def _with_notes(self, events: AsyncIterator[Event], notes: list[tuple[str, str]],
                          chat_id: str | None) -> AsyncIterator[Event]:
        pending = True
        if chat_id is not None:
            for member, text in notes:
                yield NoticeEvent(chat_id, agent=member, text=text, kind=NOTICE_KIND)
            pending = False
        async for event in events:
            yield event
            if pending and event.type == "chat_started" and not getattr(event, "parent_chat_id", None):
                pending = False
                for member, text in notes:
                    yield NoticeEvent(event.chat_id, agent=member, text=text, kind=NOTICE_KIND)

    async def aclose(self) -> None:
        await asyncio.gather(*(s.aclose() for s in self.servers.values()), return_exceptions=True)


# -- what `moot mcp list|check` shows -----------------------------------------------------------------

@dataclass
class Configured:
    """A server as configured somewhere: the user's mcp.json, or a team file (``team``)."""

    config: ServerConfig | None
    team: str | None
    source: str
    problem: str | None = None  # a file that does not validate


def configured_servers() -> list[Configured]:
    """Every server moot knows of: mcp.json's, then each team's ``[mcp.NAME]`` (a broken file is
    an entry with its problem, so the rest still shows)."""
    from moot.backends import ConfigError

    found: list[Configured] = []
    try:
        found += [Configured(c, None, c.source) for c in read_mcp_json().values()]
    except ConfigError as exc:
        found.append(Configured(None, None, exc.problems[0].split(": ", 1)[0], "; ".join(exc.problems)))
    for name, path in list_teams():
        try:
            spec = read_team_file(path)
        except ConfigError as exc:
            if "[mcp" in (text := "; ".join(exc.problems)):
                found.append(Configured(None, name, str(path), text))
            continue
        found += [Configured(ServerConfig.from_team(n, s, str(path)), name, str(path)) for n, s in spec.mcp.items()]
    return found


async def probe(config: ServerConfig) -> dict[str, Any]:
    """Start a server, list its tools, stop it: ``{"status", "tools", "error", "seconds"}``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    server = McpServer(config)
    try:
        tools = await server.start()
        return {"status": "ok", "tools": [t.name for t in tools], "error": None, "seconds": loop.time() - started}
    except McpError as exc:
        return {"status": "failed", "tools": [], "error": str(exc), "seconds": loop.time() - started}
    finally:
        await server.aclose()
