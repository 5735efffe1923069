"""``autogen.runtime_logging``: an opt-in record of what agents do, in a SQLite file (or a JSON
lines file), in the tables AutoGen 0.2's sqlite logger writes::

    session_id = runtime_logging.start(logger_type="sqlite", config={"dbname": "logs.db"})
    ...  # chats
    runtime_logging.stop()
    # SELECT source_name, request, response, is_cached FROM chat_completions WHERE session_id = ?

Tables: ``chat_completions`` (one row per model call: the request's messages, the reply, whether
the reply cache answered it), ``agents`` (one per agent made), ``events`` (``received_message``,
``reply_func_executed``), ``function_calls`` (one per tool run), ``oai_wrappers``,
``oai_clients`` and ``version``. Nothing is recorded unless ``start`` was called; the engine then
pays one check per message.

No secret is written: fields named like keys (``api_key``, ``*_token``, ``password``...) and
``base_url`` are left out of what is recorded, and every text written is redacted of the values
``moot.redact`` knows (the models' key variables, key-like environment variables).
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol

from moot.redact import Redactor, secret_values

__all__ = ("BaseLogger", "FileLogger", "SqliteLogger", "get_connection", "log_chat_completion", "log_event",
           "log_function_use", "log_new_agent", "log_new_client", "log_new_wrapper", "logging_enabled", "start", "stop")

log = logging.getLogger(__name__)

#: The logger while logging runs, else ``None``: what the engine checks (one check, nothing more).
active: BaseLogger | None = None
#: The last logger started (AutoGen's name); ``get_connection`` still answers after ``stop``.
autogen_logger: BaseLogger | None = None

# Fields never recorded: keys and whatever may carry one.
_SECRET_FIELD = re.compile(r"(^|_)(api_?key|key|secret|password|passwd|token|credential|auth)$", re.I)
_LEFT_OUT = frozenset({"base_url", "azure_endpoint", "organization", "azure_ad_token_provider", "self", "__class__"})


def now() -> str:
    """AutoGen's timestamp form, in UTC."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _clean(value: Any, redactor: Redactor, depth: int = 0) -> Any:
    """``value`` as JSON values, without secret fields, strings redacted; an agent as its name."""
    if depth > 20:
        return "<<too deep>>"
    if isinstance(value, str):
        return redactor.redact(value) if redactor else value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v, redactor, depth + 1) for k, v in value.items()
                if not (isinstance(k, str) and (k in _LEFT_OUT or _SECRET_FIELD.search(k)))}
    if isinstance(value, (list, tuple)):
        return [_clean(v, redactor, depth + 1) for v in value]
    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "description"):  # an agent
        return name
    return f"<<non-serializable: {type(value).__qualname__}>>"


def _dumps(value: Any) -> str:
    redactor = Redactor(secret_values())
    return json.dumps(_clean(value, redactor), ensure_ascii=False)


def _source_name(source: Any) -> str:
    return source if isinstance(source, str) else str(getattr(source, "name", source))


class BaseLogger(Protocol):
    """What ``start(logger=...)`` accepts: the methods below (any may do nothing)."""

    def start(self) -> str: ...

    def stop(self) -> None: ...

    def get_connection(self) -> sqlite3.Connection | None: ...

    def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                            request: dict[str, Any], response: Any, is_cached: int, cost: float,
                            start_time: str) -> None: ...

    def log_new_agent(self, agent: Any, init_args: dict[str, Any]) -> None: ...

    def log_event(self, source: Any, name: str, **kwargs: Any) -> None: ...

    def log_function_use(self, source: Any, function: Any, args: dict[str, Any], returns: Any) -> None: ...

    def log_new_wrapper(self, wrapper: Any, init_args: dict[str, Any]) -> None: ...

    def log_new_client(self, client: Any, wrapper: Any, init_args: dict[str, Any]) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_completions (
    id INTEGER PRIMARY KEY, invocation_id TEXT, client_id INTEGER, wrapper_id INTEGER, session_id TEXT,
    source_name TEXT, request TEXT, response TEXT, is_cached INTEGER, cost REAL,
    start_time DATETIME DEFAULT CURRENT_TIMESTAMP, end_time DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY, agent_id INTEGER, wrapper_id INTEGER, session_id TEXT, name TEXT, class TEXT,
    init_args TEXT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE(agent_id, session_id));
CREATE TABLE IF NOT EXISTS oai_wrappers (
    id INTEGER PRIMARY KEY, wrapper_id INTEGER, session_id TEXT, init_args TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE(wrapper_id, session_id));
CREATE TABLE IF NOT EXISTS oai_clients (
    id INTEGER PRIMARY KEY, client_id INTEGER, wrapper_id INTEGER, session_id TEXT, class TEXT, init_args TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, UNIQUE(client_id, session_id));
CREATE TABLE IF NOT EXISTS version (id INTEGER PRIMARY KEY CHECK (id = 1), version_number INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_name TEXT, source_id INTEGER, source_name TEXT, agent_module TEXT DEFAULT NULL,
    agent_class_name TEXT DEFAULT NULL, id INTEGER PRIMARY KEY, json_state TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS function_calls (
    source_id INTEGER, source_name TEXT, function_name TEXT, args TEXT DEFAULT NULL, returns TEXT DEFAULT NULL,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
INSERT OR IGNORE INTO version (id, version_number) VALUES (1, 1);
"""


class SqliteLogger:
    """Writes AutoGen's tables into ``config["dbname"]`` (default ``logs.db``), one session id
    per ``start``."""

    def __init__(self, config: dict[str, Any] | None = None):
        self.config = dict(config or {})
        self.dbname = str(self.config.get("dbname", "logs.db"))
        self.session_id = str(uuid.uuid4())
        self.con: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        parent = Path(self.dbname).parent
        if self.dbname != ":memory:" and not parent.is_dir():
            raise FileNotFoundError(f"runtime logging: the folder of dbname {self.dbname!r} does not exist")
        try:
            self.con = sqlite3.connect(self.dbname, check_same_thread=False)
            self.con.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OSError(f"runtime logging: dbname {self.dbname!r} cannot be used as a SQLite file: {exc}") from None
        return self.session_id

    def _write(self, query: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            if self.con is None:
                return
            try:
                with self.con:
                    self.con.execute(query, args)
            except sqlite3.Error as exc:
                log.error("[runtime logging] could not write to %s: %s", self.dbname, exc)

    def stop(self) -> None:
        with self._lock:
            if self.con is not None:
                self.con.close()
                self.con = None

    def get_connection(self) -> sqlite3.Connection | None:
        return self.con

    def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                            request: dict[str, Any], response: Any, is_cached: int, cost: float,
                            start_time: str) -> None:
        body = response if isinstance(response, dict) else {"response": response}
        self._write("INSERT INTO chat_completions (invocation_id, client_id, wrapper_id, session_id, request, response,"
                    " is_cached, cost, start_time, end_time, source_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (str(invocation_id), client_id, wrapper_id, self.session_id, _dumps(request), _dumps(body),
                     int(is_cached), float(cost), start_time, now(), _source_name(source)))

    def log_new_agent(self, agent: Any, init_args: dict[str, Any]) -> None:
        self._write("INSERT INTO agents (agent_id, wrapper_id, session_id, name, class, init_args, timestamp)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, session_id) DO UPDATE SET"
                    " wrapper_id = excluded.wrapper_id, name = excluded.name, class = excluded.class,"
                    " init_args = excluded.init_args, timestamp = excluded.timestamp",
                    (id(agent), id(getattr(agent, "_llm", None) or agent), self.session_id,
                     str(getattr(agent, "name", "")), type(agent).__name__, _dumps(init_args), now()))

    def log_event(self, source: Any, name: str, **kwargs: Any) -> None:
        is_agent = not isinstance(source, str)
        self._write("INSERT INTO events (source_id, source_name, event_name, agent_module, agent_class_name,"
                    " json_state, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (id(source), _source_name(source), name, type(source).__module__ if is_agent else None,
                     type(source).__name__ if is_agent else None, _dumps(kwargs), now()))

    def log_function_use(self, source: Any, function: Any, args: dict[str, Any], returns: Any) -> None:
        fname = function if isinstance(function, str) else getattr(function, "__name__", repr(function))
        self._write("INSERT INTO function_calls (source_id, source_name, function_name, args, returns, timestamp)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (id(source), _source_name(source), fname, _dumps(args), _dumps(returns), now()))

    def log_new_wrapper(self, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._write("INSERT OR IGNORE INTO oai_wrappers (wrapper_id, session_id, init_args, timestamp)"
                    " VALUES (?, ?, ?, ?)", (id(wrapper), self.session_id, _dumps(init_args), now()))

    def log_new_client(self, client: Any, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._write("INSERT OR IGNORE INTO oai_clients (client_id, wrapper_id, session_id, class, init_args, timestamp)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (id(client), id(wrapper), self.session_id, type(client).__name__, _dumps(init_args), now()))


class FileLogger:
    """One JSON object per line in ``config["filename"]`` (default ``runtime.log``)."""

    def __init__(self, config: dict[str, Any] | None = None):
        self.config = dict(config or {})
        self.filename = str(self.config.get("filename", "runtime.log"))
        self.session_id = str(uuid.uuid4())
        self._file: Any = None
        self._lock = threading.Lock()

    def start(self) -> str:
        try:
            self._file = open(self.filename, "a", encoding="utf-8")
        except OSError as exc:
            raise OSError(f"runtime logging: filename {self.filename!r} cannot be written: "
                          f"{exc.strerror or exc}") from None
        return self.session_id

    def _write(self, record: dict[str, Any]) -> None:
        line = _dumps({"session_id": self.session_id, "timestamp": now(), **record})
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def stop(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def get_connection(self) -> None:
        return None

    def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                            request: dict[str, Any], response: Any, is_cached: int, cost: float,
                            start_time: str) -> None:
        self._write({"invocation_id": str(invocation_id), "client_id": client_id, "wrapper_id": wrapper_id,
                     "source_name": _source_name(source), "request": request, "response": response,
                     "is_cached": int(is_cached), "cost": cost, "start_time": start_time, "end_time": now()})

    def log_new_agent(self, agent: Any, init_args: dict[str, Any]) -> None:
        self._write({"agent_id": id(agent), "agent_name": str(getattr(agent, "name", "")),
                     "agent_type": type(agent).__name__, "args": init_args})

    def log_event(self, source: Any, name: str, **kwargs: Any) -> None:
        self._write({"source_id": id(source), "source_name": _source_name(source), "event_name": name,
                     "json_state": kwargs})

    def log_function_use(self, source: Any, function: Any, args: dict[str, Any], returns: Any) -> None:
        fname = function if isinstance(function, str) else getattr(function, "__name__", repr(function))
        self._write({"source_id": id(source), "source_name": _source_name(source), "function_name": fname,
                     "args": args, "returns": returns})

    def log_new_wrapper(self, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._write({"wrapper_id": id(wrapper), "json_state": init_args})

    def log_new_client(self, client: Any, wrapper: Any, init_args: dict[str, Any]) -> None:
        self._write({"client_id": id(client), "wrapper_id": id(wrapper), "class": type(client).__name__,
                     "json_state": init_args})


def start(logger: BaseLogger | None = None, logger_type: Literal["sqlite", "file"] = "sqlite",
          config: dict[str, Any] | None = None) -> str:
    """Start recording; returns the session id (a UUID) the rows carry. ``logger``: an object of
    your own with ``BaseLogger``'s methods. A second ``start`` stops the first logger."""
    global active, autogen_logger
    if logger is None:
        if logger_type == "sqlite":
            logger = SqliteLogger(config)
        elif logger_type == "file":
            logger = FileLogger(config)
        else:
            raise ValueError(f"runtime logging: logger_type must be 'sqlite' or 'file', not {logger_type!r}")
    if active is not None:
        stop()
    session_id = logger.start()
    autogen_logger = logger
    active = logger
    return session_id


def stop() -> None:
    """Stop recording and close the file (the rows written stay)."""
    global active
    logger, active = active, None
    if logger is not None:
        logger.stop()


def logging_enabled() -> bool:
    return active is not None


def get_connection() -> sqlite3.Connection | None:
    """The SQLite connection of the logger running (``None`` after ``stop``, or for a file logger)."""
    return autogen_logger.get_connection() if autogen_logger is not None else None


def log_chat_completion(invocation_id: Any, client_id: int, wrapper_id: int, agent: Any, request: dict[str, Any],
                        response: Any, is_cached: int, cost: float, start_time: str) -> None:
    if active is not None:
        active.log_chat_completion(invocation_id, client_id, wrapper_id, agent, request, response, is_cached, cost,
                                   start_time)


def log_new_agent(agent: Any, init_args: dict[str, Any]) -> None:
    if active is not None:
        active.log_new_agent(agent, init_args)


def log_event(source: Any, name: str, **kwargs: Any) -> None:
    if active is not None:
        active.log_event(source, name, **kwargs)


def log_function_use(agent: Any, function: Any, args: dict[str, Any], returns: Any) -> None:
    if active is not None:
        active.log_function_use(agent, function, args, returns)


def log_new_wrapper(wrapper: Any, init_args: dict[str, Any]) -> None:
    if active is not None:
        active.log_new_wrapper(wrapper, init_args)


def log_new_client(client: Any, wrapper: Any, init_args: dict[str, Any]) -> None:
    if active is not None:
        active.log_new_client(client, wrapper, init_args)
