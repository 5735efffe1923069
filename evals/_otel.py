"""OpenTelemetry spans of a recorded session, after the GenAI semantic conventions; off by default.

Spans are built from the session's event stream as the store recorded it (``agents.events``),
with the events' own times, so a run is traced the same whether it ran here, in a worker
process or on a Ray node:

- one span per session: ``invoke_agent TEAM`` (``gen_ai.operation.name`` invoke_agent,
  ``gen_ai.agent.name`` the team, ``gen_ai.conversation.id`` the session id, tokens summed);
- one per turn (a message posted): ``invoke_agent AGENT``, its child;
- one per model call (a usage report): ``chat MODEL`` (``gen_ai.request.model``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens``), a child of the turn it belongs to;
- one per tool call (``execute_tool NAME``: ``gen_ai.tool.name``, ``gen_ai.tool.call.id``) and
  per code execution (``execute_tool code``), children of the session.

Message contents go into spans (``gen_ai.output.messages``, ``gen_ai.tool.call.arguments``...) only
when asked (``content=True``, or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``).
Where spans go: ``--otel-file FILE`` (one JSON span a line) and/or, when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, an OTLP exporter (the standard variables configure it).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Tracer", "content_opted_in", "tracer_from"]

CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def content_opted_in(flag: bool = False) -> bool:
    return flag or os.environ.get(CONTENT_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def _ns(ts: float) -> int:
    return int(ts * 1e9)


class _JsonLinesExporter:
    """A span exporter writing one JSON object a line (the SDK's own JSON of each span)."""

    def __init__(self, path: str | Path):
        from opentelemetry.sdk.trace.export import SpanExportResult

        self._ok = SpanExportResult.SUCCESS
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        lines = "".join(json.dumps(json.loads(s.to_json(indent=None)), separators=(",", ":")) + "\n" for s in spans)
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(lines)
        return self._ok

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _otlp_exporter() -> Any:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    try:
        if protocol.startswith("http"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ImportError(f"OTEL_EXPORTER_OTLP_ENDPOINT is set but no OTLP exporter is installed ({exc.name}): "
                          f"pip install opentelemetry-exporter-otlp") from None
    return OTLPSpanExporter()


class Tracer:
    """Turns recorded sessions into spans (``session(info, events)``); ``close()`` flushes."""

    def __init__(self, file: str | Path | None = None, *, content: bool = False, otlp: bool | None = None):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        self.content = content_opted_in(content)
        self.provider = TracerProvider(resource=Resource.create({"service.name": "moot"}))
        if file is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(_JsonLinesExporter(file)))
        if otlp if otlp is not None else bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
            self.provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        self.tracer = self.provider.get_tracer("moot", "0.1.0")

    def close(self) -> None:
        self.provider.force_flush()
        self.provider.shutdown()

    def _span(self, name: str, start: float, parent: Any, attributes: dict[str, Any], kind: Any = None) -> Any:
        from opentelemetry import trace

        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(name, context=context, start_time=_ns(start),
                                      kind=kind or trace.SpanKind.INTERNAL,
                                      attributes={k: v for k, v in attributes.items() if v is not None})

    def session(self, info: Any, events: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
        """The spans of one recorded session (``info``: its ``SessionInfo``)."""
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        if not events:
            return
        first, last = events[0].get("ts", 0.0), events[-1].get("ts", 0.0)
        usage = [e for e in events if e["type"] == "usage"]
        root = self._span(f"invoke_agent {info.team_name or 'team'}", first, None, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": info.team_name,
            "gen_ai.conversation.id": info.id, "gen_ai.request.model": info.default_model,
            "gen_ai.usage.input_tokens": sum(e.get("prompt_tokens", 0) for e in usage),
            "gen_ai.usage.output_tokens": sum(e.get("completion_tokens", 0) for e in usage),
            "moot.session.outcome": info.outcome, "moot.session.stop_condition": info.stop_condition,
            **(extra or {})})
        turn_start: dict[str, float] = {}  # chat -> when its current turn began
        calls: dict[str, tuple[float, dict[str, Any]]] = {}
        code: dict[str, dict[str, Any]] = {}
        pending_usage: list[dict[str, Any]] = []
        for e in events:
            kind, ts, chat = e["type"], e.get("ts", first), e.get("chat_id", "")
            if kind == "chat_started":
                turn_start[chat] = ts
            elif kind == "usage":
                pending_usage.append(e)
            elif kind == "message":
                start = turn_start.get(chat, first)
                turn = self._span(f"invoke_agent {e['sender']}", start, root, {
                    "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": e["sender"],
                    "gen_ai.conversation.id": info.id, "moot.message.id": e.get("message_id"),
                    "moot.message.recipient": e.get("recipient"),
                    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                        {"type": "text", "content": e.get("content") or ""}]}]) if self.content else None})
                mine = [u for u in pending_usage if u.get("agent") == e["sender"]]
                call_start = start
                for u in mine:
                    span = self._span(f"chat {u['model']}", call_start, turn, {
                        "gen_ai.operation.name": "chat", "gen_ai.request.model": u["model"],
                        "gen_ai.response.model": u["model"], "gen_ai.agent.name": u.get("agent"),
                        "gen_ai.usage.input_tokens": u.get("prompt_tokens", 0),
                        "gen_ai.usage.output_tokens": u.get("completion_tokens", 0),
                        "moot.usage.cached_tokens": u.get("cached_tokens", 0)}, trace.SpanKind.CLIENT)
                    span.end(end_time=_ns(u.get("ts", ts)))
                    call_start = u.get("ts", ts)
                pending_usage = [u for u in pending_usage if u not in mine]
                turn.end(end_time=_ns(ts))
                turn_start[chat] = ts
            elif kind == "tool_call":
                calls[e["call_id"]] = (ts, e)
            elif kind == "tool_result" and e.get("call_id") in calls:
                start, call = calls.pop(e["call_id"])
                span = self._span(f"execute_tool {e['name']}", start, root, {
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": e["name"],
                    "gen_ai.tool.call.id": e["call_id"], "gen_ai.agent.name": e.get("agent"),
                    "moot.tool.server": e.get("server"),
                    "gen_ai.tool.call.arguments": call.get("arguments") if self.content else None,
                    "gen_ai.tool.call.result": e.get("content") if self.content else None})
                if e.get("is_error"):
                    span.set_status(Status(StatusCode.ERROR, "the tool failed"))
                span.end(end_time=_ns(ts))
            elif kind == "code_block":
                code[e["execution_id"]] = e
            elif kind == "execution_finished" and e.get("execution_id") in code:
                block = code.pop(e["execution_id"])
                span = self._span(f"execute_tool {block.get('language') or 'code'}",
                                  ts - float(e.get("duration_s") or 0.0), root, {
                                      "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "code",
                                      "gen_ai.tool.type": "extension", "gen_ai.agent.name": e.get("agent"),
                                      "moot.execution.exit_code": e.get("exit_code"),
                                      "moot.execution.timed_out": bool(e.get("timed_out")),
                                      "gen_ai.tool.call.arguments": block.get("code") if self.content else None})
                if e.get("exit_code"):
                    span.set_status(Status(StatusCode.ERROR, f"exit code {e.get('exit_code')}"))
                span.end(end_time=_ns(ts))
        if info.outcome == "failed":
            root.set_status(Status(StatusCode.ERROR, info.stop_reason or "failed"))
        root.end(end_time=_ns(last))

    def session_from_store(self, store: Any, session_id: str, extra: dict[str, Any] | None = None) -> None:
        info = store.get(session_id)
        self.session(info, store.events(info.id), extra)


def tracer_from(file: str | Path | None, content: bool = False) -> Tracer | None:
    """A tracer when spans were asked for (a file, or the OTLP endpoint variable), else None."""
    if file is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    return Tracer(file, content=content)
