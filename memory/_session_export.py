"""A recorded session as a transcript, as Markdown for reading, and as JSON that imports back."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "moot-session"
FORMAT_VERSION = 1


@dataclass
class Turn:
    """One entry of a transcript: a message, a reply cut off mid-stream, or a code run."""

    kind: str  # "message" | "partial" | "execution" | "tool_result" | "notice" | "speaker"
    agent: str
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    number: int = 0  # messages: 1 = first


def root_chat(events: list[dict[str, Any]], default: str | None = None) -> str | None:
    if default:
        return default
    for e in events:
        if e["type"] == "chat_started" and not e.get("parent_chat_id"):
            return e["chat_id"]
    return events[0]["chat_id"] if events else None


def transcript(events: list[dict[str, Any]], root_chat_id: str | None = None) -> tuple[list[Turn], dict[str, Any] | None]:
    """The root chat's turns in order, and its last ``stopped`` event (or None).

    Token deltas whose message was never posted become a ``partial`` turn: the reply that was
    streaming when the process died (or the chat was stopped)."""
    root = root_chat(events, root_chat_id)
    turns: list[Turn] = []
    partial: dict[str, Turn] = {}
    executions: dict[str, Turn] = {}
    stopped = None
    number = 0
    for e in events:
        kind = e["type"]
        if kind == "token_delta":
            t = partial.get(e["message_id"])
            if t is None:
                t = partial[e["message_id"]] = Turn("partial", e.get("agent", ""), {"message_id": e["message_id"]})
                turns.append(t)
            t.text += e.get("text", "")
        elif kind == "message" and e["chat_id"] == root:
            number += 1
            turn = Turn("message", e["sender"], e, e.get("content") or "", number)
            t = partial.pop(e["message_id"], None)
            if t is not None:
                turns[turns.index(t)] = turn
            else:
                turns.append(turn)
        elif kind == "message":
            partial.pop(e["message_id"], None)
            turns[:] = [t for t in turns if not (t.kind == "partial" and t.data.get("message_id") == e["message_id"])]
        elif kind == "code_block":
            t = Turn("execution", e.get("agent", ""), {"block": e, "finished": None})
            executions[e["execution_id"]] = t
            turns.append(t)
        elif kind == "executor_output":
            t = executions.get(e["execution_id"])
            if t is not None:
                t.text += e.get("text", "")
        elif kind == "execution_finished":
            t = executions.get(e["execution_id"])
            if t is not None:
                t.data["finished"] = e
                if not t.text:
                    t.text = e.get("output", "")
        elif kind == "tool_result":
            turns.append(Turn("tool_result", e.get("agent", ""), e, e.get("content", "")))
        elif kind == "notice" and e.get("kind") in ("interrupted", "resumed"):
            turns.append(Turn("notice", e.get("agent", ""), e, e.get("text", "")))
        elif kind == "stopped" and e["chat_id"] == root:
            stopped = e
    return turns, stopped


def _fence(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    ticks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{ticks}{lang}\n{body}{ticks}"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def to_markdown(info: Any, events: list[dict[str, Any]]) -> str:
    """A transcript that reads well: one heading per turn (speaker -> recipient), code as code,
    executor output set apart, the stop reason at the end."""
    turns, stopped = transcript(events, info.root_chat_id)
    out = [f"# {info.title or 'Session ' + info.id}", ""]
    facts = [("Session", f"`{info.id}`"), ("Team", info.team_name or "-"), ("Started", _when(info.created)),
             ("Status", info.status)]
    if info.parent_id:
        facts.append(("Forked from", f"`{info.parent_id}` at message `{info.fork_message_id}`"))
    out += [f"- **{k}:** {v}" for k, v in facts]
    if info.task:
        out += ["", "**Task:**", "", *(f"> {line}" if line else ">" for line in info.task.splitlines())]
    for t in turns:
        out.append("")
        if t.kind == "message":
            e = t.data
            out.append(f"## {t.number}. {e['sender']} → {e['recipient']}")
            out.append("")
            if t.text:
                out.append(t.text)
            for call in e.get("tool_calls") or ():
                fn = call.get("function", {})
                out += ["", f"**Tool call** `{fn.get('name')}`:", "", _fence(str(fn.get("arguments", "")), "json")]
            if not t.text and not e.get("tool_calls"):
                out.append("*(empty message)*")
        elif t.kind == "partial":
            out += [f"## {t.agent} (interrupted)", "", "*This reply was cut off before it was finished:*", "",
                    t.text or "*(nothing had arrived yet)*"]
        elif t.kind == "execution":
            block = t.data["block"]
            fin = t.data.get("finished")
            label = block.get("filename") or block.get("language") or "code"
            action = "skipped" if block.get("action") == "skipped" else "ran"
            out += [f"### Executor: {t.agent} {action} {label}", "", _fence(block.get("code", ""), block.get("language", ""))]
            if fin is not None:
                status = f"exit code {fin.get('exit_code')} · {fin.get('duration_s', 0):.2f} s"
                if fin.get("timed_out"):
                    status += " · timed out"
                if fin.get("killed_reason"):
                    status += f" · {fin['killed_reason']}"
                out += ["", f"**Output** ({status}):", "", _fence(t.text or "(no output)", "text")]
            else:
                out += ["", "**Output** (did not finish):", "", _fence(t.text or "(no output)", "text")]
        elif t.kind == "tool_result":
            e = t.data
            mark = " (error)" if e.get("is_error") else ""
            out += [f"### Tool result: `{e.get('name')}`{mark}", "", _fence(t.text or "", "text")]
        elif t.kind == "notice":
            out.append(f"*{t.text}*")
    out += ["", "---", ""]
    if stopped is not None and info.status != "interrupted":
        out.append(f"**Stopped:** {stopped.get('reason')} (`{stopped.get('condition')}`)")
        if stopped.get("summary"):
            out += ["", f"**Summary:** {stopped['summary']}"]
    else:
        out.append(f"**{info.status.capitalize()}:** {info.stop_reason or 'the chat has not stopped'}")
    return "\n".join(out) + "\n"


def to_json(info: Any, events: list[dict[str, Any]]) -> str:
    meta = info.to_dict()
    meta.pop("messages", None)
    meta.pop("pid", None)
    meta.pop("host", None)
    return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "session": meta, "events": events},
                      ensure_ascii=False, indent=1)


def from_json(text: str, where: Path | str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from .sessions import SessionStoreError

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionStoreError(f"not a moot session export: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionStoreError("not a moot session export: no \"format\": \"moot-session\" at the top")
    if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
        raise SessionStoreError(f"this export has format version {data.get('version')!r}; this moot reads up to "
                                f"{FORMAT_VERSION}: upgrade moot to import it")
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) and "type" in e for e in events):
        raise SessionStoreError("not a moot session export: \"events\" must be a list of events")
    return data.get("session") or {}, events
