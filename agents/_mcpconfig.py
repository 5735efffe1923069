"""MCP servers as configured: ``[mcp.NAME]`` tables of a team file and the user's ``mcp.json``.

A team file names the variables a server gets (``env = ["GITHUB_TOKEN"]``) and the variables its
HTTP headers come from (``headers_env = {Authorization = "MY_TOKEN"}``: the variable holds the
whole header value), never their values, because team files are shared and recorded with every
session. The user's ``mcp.json`` (``moot.paths.config_dir()/mcp.json``) takes the shape other apps
use, ``{"mcpServers": {NAME: {"command": ..., "args": [...], "env": {...}}}}``, so a block pasted
from one of them works (its ``env`` and ``headers`` hold values: the file is the user's own).

Members pick tools with ``tools = ["time.*", "git.git_status", "calculator"]``: ``SERVER.PATTERN``
(a glob over the server's tool names) for MCP tools, a bare name for a built-in tool. A team's
own ``[mcp.NAME]`` hides an ``mcp.json`` server of the same name. This module reads and checks;
``_mcp`` runs the servers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from moot.backends import ConfigError
from moot.backends.config import StrictModel, shown
from moot.paths import config_dir

SERVER_NAME = re.compile(r"^[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*$")  # no "__": it joins SERVER__TOOL
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
DEFAULT_TIMEOUT_S = 30.0


class McpTable(StrictModel):
    """``[mcp.NAME]`` in a team file: a stdio server (``command``) or an HTTP one (``url``)."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: list[EnvName] = Field(default_factory=list)  # names of variables passed on (values from moot's environment)
    cwd: str | None = None
    url: str | None = None
    headers_env: dict[str, EnvName] = Field(default_factory=dict)  # header -> the variable holding its value
    transport: Literal["stdio", "http", "sse"] | None = None  # default: stdio with command, http with url
    approval: Literal["always", "never"] | None = None  # default: always, never for a trusted server
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)  # to start, and for each call
    trusted: bool = False  # a trusted server may ask moot's model for completions (sampling)


def server_problems(name: str, server: McpTable, where: str) -> list[str]:
    """What a server table gets wrong across its fields."""
    problems = []
    if not SERVER_NAME.match(name):
        problems.append(f"{where}: server name {shown(name)}: use letters, digits, '-' and single '_' "
                        f"(the model sees its tools as NAME__TOOL)")
    if (server.command is None) == (server.url is None):
        problems.append(f"{where}: needs exactly one of 'command' (a program speaking MCP on stdio) or 'url' "
                        f"(a Streamable HTTP server)")
    elif server.url is not None:
        for key in ("args", "env", "cwd"):
            if getattr(server, key):
                problems.append(f"{where}: field {shown(key)}: only for a server started with 'command'")
        if server.transport == "stdio":
            problems.append(f"{where}: field 'transport': 'stdio' needs 'command', not 'url'")
        if not re.match(r"^https?://", server.url):
            problems.append(f"{where}: field 'url': must start with http:// or https:// (got {shown(server.url)})")
    else:
        if server.headers_env:
            problems.append(f"{where}: field 'headers_env': only for a server given by 'url'")
        if server.transport not in (None, "stdio"):
            problems.append(f"{where}: field 'transport': {shown(server.transport)} needs 'url'")
    return problems


@dataclass(frozen=True)
class ServerConfig:
    """One server, wherever it was declared: what ``_mcp`` starts."""

    name: str
    source: str  # the file it comes from
    where: str  # how errors name it: "teams/x.toml: [mcp.time]"
    command: str | None = None
    args: tuple[str, ...] = ()
    env_names: tuple[str, ...] = ()  # taken from moot's environment at start
    env: Mapping[str, str] = field(default_factory=dict)  # values (mcp.json)
    cwd: str | None = None
    url: str | None = None
    headers_env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # values (mcp.json)
    transport: str = "stdio"
    approval: str = "always"
    timeout_s: float = DEFAULT_TIMEOUT_S
    trusted: bool = False

    @classmethod
    def from_team(cls, name: str, server: McpTable, source: str) -> ServerConfig:
        return cls(name=name, source=source, where=f"{source}: [mcp.{name}]", command=server.command,
                   args=tuple(server.args), env_names=tuple(server.env), cwd=server.cwd, url=server.url,
                   headers_env=dict(server.headers_env),
                   transport=server.transport or ("stdio" if server.command else "http"),
                   approval=server.approval or ("never" if server.trusted else "always"),
                   timeout_s=server.timeout_s, trusted=server.trusted)

    def describe(self) -> str:
        """What it runs or where it is, for lists (no values of variables)."""
        if self.url:
            return f"{self.transport} {self.url}"
        return " ".join([self.command or "", *self.args])


# -- mcp.json ---------------------------------------------------------------------------------------

class _JsonServer(BaseModel):
    """One entry of ``mcpServers``: the common keys, moot's own, and keys other apps write that
    moot does not use (ignored, so a pasted block works)."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, EnvName] = Field(default_factory=dict)
    type: Literal["stdio", "http", "streamable-http", "streamableHttp", "sse"] | None = None
    transport: Literal["stdio", "http", "streamable-http", "streamableHttp", "sse"] | None = None
    approval: Literal["always", "never"] | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    timeout: float | None = Field(default=None, gt=0)  # seconds, as some apps write it
    trusted: bool = False
    disabled: bool = False
    # written by other apps, not used by moot
    autoApprove: Any = None  # noqa: N815
    alwaysAllow: Any = None  # noqa: N815
    description: Any = None


class _JsonFile(BaseModel):
    model_config = ConfigDict(extra="allow")  # other apps keep their own top-level keys here

    mcpServers: dict[str, _JsonServer] = Field(default_factory=dict)  # noqa: N815


def user_mcp_file() -> Path:
    """The user's ``mcp.json``: ``config_dir()/mcp.json``."""
    return config_dir() / "mcp.json"


_json_cache: dict[Path, tuple[float, dict[str, ServerConfig]]] = {}


def read_mcp_json(path: Path | None = None) -> dict[str, ServerConfig]:
    """The servers of ``mcp.json`` (none when the file is missing); ``ConfigError`` naming the
    file, the server and the field for every mistake. Disabled entries are left out."""
    path = path or user_mcp_file()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    cached = _json_cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    source = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: must hold a JSON object such as {{\"mcpServers\": {{...}}}}"])
    try:
        data = _JsonFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = f"mcpServers.{loc[1]}" if len(loc) > 1 and loc[0] == "mcpServers" else ".".join(loc[:1]) or "top level"
            fld = ".".join(loc[2:]) if len(loc) > 2 else None
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(k for k in _JsonServer.model_fields if k not in ("autoApprove", "alwaysAllow", "description"))
                problems.append(f"{source}: {where}: unknown field {shown(fld)} (fields: {allowed})")
            else:
                detail = err["msg"].removeprefix("Value error, ")
                problems.append(f"{source}: {where}: field {shown(fld)}: {detail}" if fld else f"{source}: {where}: {detail}")
        raise ConfigError(problems) from None
    servers: dict[str, ServerConfig] = {}
    problems = []
    for name, s in data.mcpServers.items():
        if s.disabled:
            continue
        kind = s.transport or s.type
        transport = "sse" if kind == "sse" else "stdio" if kind == "stdio" or (kind is None and s.command) else "http"
        as_team = McpTable(command=s.command, args=s.args, cwd=s.cwd, url=s.url, headers_env=s.headers_env,
                            transport=transport if (s.url or transport == "stdio") else None)
        where = f"{source}: mcpServers.{name}"
        found = server_problems(name, as_team, where)
        if s.headers and s.command:
            found.append(f"{where}: field 'headers': only for a server given by 'url'")
        if s.env and s.url:
            found.append(f"{where}: field 'env': only for a server started with 'command'")
        problems += found
        if not found:
            servers[name] = ServerConfig(
                name=name, source=source, where=where, command=s.command, args=tuple(s.args), env=dict(s.env),
                cwd=s.cwd, url=s.url, headers=dict(s.headers), headers_env=dict(s.headers_env), transport=transport,
                approval=s.approval or ("never" if s.trusted else "always"),
                timeout_s=s.timeout_s or s.timeout or DEFAULT_TIMEOUT_S, trusted=s.trusted)
    if problems:
        raise ConfigError(problems)
    _json_cache[path] = (mtime, servers)
    return servers


# -- tool picks ---------------------------------------------------------------------------------------

def mcp_ref(tool: str) -> tuple[str, str] | None:
    """``"time.*"`` -> ``("time", "*")``; a built-in tool's name (no dot) -> None."""
    if "." not in tool:
        return None
    server, _, pattern = tool.partition(".")
    return server, pattern


def team_servers(declared: Mapping[str, McpTable], picks: list[str], source: str,
                 user_file: Path | None = None) -> dict[str, ServerConfig]:
    """The servers a team uses: its own ``[mcp.NAME]`` tables, and the ``mcp.json`` servers its
    members pick tools from. ``mcp.json`` is read only when a pick names a server the team does
    not declare."""
    servers = {name: ServerConfig.from_team(name, s, source) for name, s in declared.items()}
    wanted = {ref[0] for t in picks if (ref := mcp_ref(t)) is not None} - set(servers)
    if wanted:
        user = read_mcp_json(user_file)
        servers.update({name: user[name] for name in sorted(wanted) if name in user})
    return servers
