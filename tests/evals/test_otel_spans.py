"""OpenTelemetry spans from the recorded event stream: ``moot run --otel-file`` writes a session's
spans (session, turns, model calls with token usage, code executions) after the GenAI
conventions; message contents only when opted in."""

from __future__ import annotations

import json

from conftest import moot
from moot.memory import SessionStore


def spans_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_moot_run_writes_the_sessions_spans(tmp_path, scripted):
    out = tmp_path / "spans.jsonl"
    r = moot("--models", str(scripted), "run", "coder", "--task", "sum 0..9", "--executor", "sandbox",
             "--otel-file", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (info,) = SessionStore.open_default().list()
    spans = spans_of(out)
    (root,) = [s for s in spans if s["parent_id"] is None]
    assert root["name"] == "invoke_agent coder" and root["attributes"]["gen_ai.conversation.id"] == info.id
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    ids = {s["context"]["span_id"] for s in spans}
    assert all(s["parent_id"] in ids for s in spans if s["parent_id"])  # one tree
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    turns = [s for s in spans if s["name"].startswith("invoke_agent ") and s["parent_id"] == root["context"]["span_id"]]
    assert [t["attributes"]["gen_ai.agent.name"] for t in turns] == ["executor", "coder", "executor", "coder"]
    chats = [s for s in spans if s["name"] == "chat s"]
    assert len(chats) == 2 and all(s["kind"] == "SpanKind.CLIENT" for s in chats)
    assert sum(s["attributes"]["gen_ai.usage.input_tokens"] for s in chats) == \
        root["attributes"]["gen_ai.usage.input_tokens"] > 0
    assert {s["parent_id"] for s in chats} <= {t["context"]["span_id"] for t in turns if
                                               t["attributes"]["gen_ai.agent.name"] == "coder"}
    (code,) = [s for s in spans if s["name"] == "execute_tool python"]
    assert code["attributes"]["moot.execution.exit_code"] == 0
    assert all(s["start_time"] <= s["end_time"] for s in spans)
    assert "print(sum" not in out.read_text()  # no contents unless asked

    r = moot("--models", str(scripted), "run", "coder", "--task", "sum 0..9", "--executor", "sandbox",
             "--otel-file", str(tmp_path / "with.jsonl"), "--otel-content", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    spans = spans_of(tmp_path / "with.jsonl")
    outputs = [json.loads(s["attributes"]["gen_ai.output.messages"]) for s in spans
               if "gen_ai.output.messages" in s["attributes"]]
    assert any("print(sum(range(10)))" in m[0]["parts"][0]["content"] for m in outputs)
    assert any("print(sum" in s["attributes"].get("gen_ai.tool.call.arguments", "") for s in spans)


def test_spans_go_to_the_otlp_endpoint_when_it_is_set(tmp_path, scripted, monkeypatch):
    """A loopback gRPC server speaking OTLP's trace service stands in for a collector."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 - the service's own name
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        r = moot("--models", str(scripted), "run", "coder", "--task", "sum", "--executor", "sandbox", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    finally:
        server.stop(grace=None)
    names = [s.name for req in received for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert "invoke_agent coder" in names and names.count("chat s") == 2 and "execute_tool python" in names
