"""A protocol stand-in for an Ollama server, backed by the real bundled model.

No Ollama binary can be installed on these machines (it downloads from outside), so the ollama
backend is tested against this: a loopback HTTP server that speaks the parts of Ollama's API moot
uses (``POST /api/chat`` streaming NDJSON and not, ``GET /api/tags``, ``POST /api/show`` with a
``capabilities`` list, ``GET /api/version``) and answers with real generations from the bundled
SmolLM2 GGUF through llama-cpp-python. It is not Ollama: it stands in for Ollama's wire protocol.

How it maps a request onto llama.cpp:
- ``format`` (a JSON schema, or ``"json"``) -> ``response_format={"type": "json_object", ...}``,
  grammar-constrained like Ollama's own structured outputs;
- ``options.num_predict`` -> ``max_tokens``, ``options.temperature`` -> ``temperature``;
  ``options.num_ctx`` is recorded (the model is loaded once with a fixed context): ``GET
  /_standin/num_ctx`` lists what each chat request sent (``null`` when it sent none);
- ``/api/show`` reports the model's window as Ollama does (``model_info``'s
  ``llama.context_length``): the GGUF's own training context, or what ``POST /_standin/window``
  (``{"context_length": N}``, ``null`` to go back) sets, so tests can play a model of another size;
- ``think: true`` -> a fixed line of thinking streamed first in ``message.thinking`` (the bundled
  model does not reason; Ollama sends a thinking model's reasoning there), then the real reply;
- ``tools`` on a turn that ends with a user message -> the model is made to call the first offered
  tool (llama.cpp's forced tool choice, arguments constrained by the tool's schema), answered in
  Ollama's ``tool_calls`` shape; a turn that ends with a tool result gets a plain reply.

``GET /_standin/requests`` returns every request body received, so tests can check what moot sent.

Run: ``python ollama_standin.py --model FILE.gguf --port N [--name smollm2:135m]``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class StandIn:
    def __init__(self, model_path: str, name: str):
        import llama_cpp

        # Keep the callback referenced: llama.cpp calls it long after this line.
        self._quiet = llama_cpp.llama_log_callback(lambda *_: None)
        llama_cpp.llama_log_set(self._quiet, None)
        self.llm = llama_cpp.Llama(model_path=model_path, n_ctx=2048, n_threads=2, verbose=False)
        self.name = name
        self.lock = threading.Lock()  # one model, one generation at a time
        self.requests: list[dict[str, Any]] = []
        self.num_ctx: list[int | None] = []  # options.num_ctx of each chat request
        trained = (self.llm.metadata or {}).get("llama.context_length")
        self.trained = int(trained) if trained else self.llm.n_ctx()
        self.window: int | None = None  # set by POST /_standin/window

    def known(self, model: str) -> bool:
        return model in (self.name, self.name.split(":")[0])

    def _messages(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        out = []
        for m in messages:
            role, content = m.get("role", "user"), m.get("content") or ""
            if role == "tool":  # SmolLM2's template has no tool role
                role, content = "user", f"Result of the tool {m.get('tool_name', '')}: {content}"
            elif m.get("tool_calls"):
                calls = ", ".join(f"{c['function']['name']}({json.dumps(c['function']['arguments'])})" for c in m["tool_calls"])
                content = (content + f"\n(called {calls})").strip()
            out.append({"role": role, "content": content})
        return out

    def _kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        options = body.get("options") or {}
        kwargs: dict[str, Any] = {
            "messages": self._messages(body.get("messages") or []),
            "max_tokens": int(options.get("num_predict", 128)),
            "temperature": float(options.get("temperature", 0.8)),
        }
        fmt = body.get("format")
        if isinstance(fmt, dict):
            kwargs["response_format"] = {"type": "json_object", "schema": fmt}
        elif fmt == "json":
            kwargs["response_format"] = {"type": "json_object"}
        tools = body.get("tools") or []
        last = (body.get("messages") or [{}])[-1]
        if tools and last.get("role") == "user" and not fmt:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
        return kwargs

    THINKING = "The user wants a short answer; I will keep it brief."

    def chat(self, body: dict[str, Any]):
        """Yield Ollama chat response objects (one when not streaming)."""
        self.num_ctx.append((body.get("options") or {}).get("num_ctx"))
        kwargs = self._kwargs(body)
        if body.get("think") is True and body.get("stream", True) and "tools" not in kwargs:
            for word in self.THINKING.split(" "):
                yield {"model": body.get("model"), "created_at": now(),
                       "message": {"role": "assistant", "content": "", "thinking": word + " "}, "done": False}
        started = time.perf_counter_ns()
        with self.lock:
            if "tools" in kwargs:  # forced tool call: generate whole, answer in Ollama's shape
                result = self.llm.create_chat_completion(**kwargs)
                message = result["choices"][0]["message"]
                calls = [
                    {"function": {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"] or "{}")}}
                    for c in message.get("tool_calls") or []
                ]
                usage = result.get("usage") or {}
                yield self._final(body, "stop", usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                                  started, content=message.get("content") or "", tool_calls=calls)
                return
            if not body.get("stream", True):
                result = self.llm.create_chat_completion(**kwargs)
                usage = result.get("usage") or {}
                yield self._final(body, result["choices"][0].get("finish_reason") or "stop", usage.get("prompt_tokens", 0),
                                  usage.get("completion_tokens", 0), started,
                                  content=result["choices"][0]["message"].get("content") or "")
                return
            pieces = 0
            finish = "stop"
            for chunk in self.llm.create_chat_completion(stream=True, **kwargs):
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content")
                if text:
                    pieces += 1
                    yield {"model": body.get("model"), "created_at": now(),
                           "message": {"role": "assistant", "content": text}, "done": False}
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            prompt = max(0, self.llm.n_tokens - pieces)
            yield self._final(body, finish, prompt, pieces, started, content="")

    def _final(self, body, finish, prompt, completion, started, *, content, tool_calls=None):
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        total = time.perf_counter_ns() - started
        return {
            "model": body.get("model"), "created_at": now(), "message": message, "done": True,
            "done_reason": "length" if finish == "length" else "stop",
            "total_duration": total, "load_duration": 0,
            "prompt_eval_count": prompt, "prompt_eval_duration": total // 4,
            "eval_count": completion, "eval_duration": total - total // 4,
        }


def make_handler(standin: StandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _json(self, status: int, value: Any) -> None:
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            standin.requests.append({"path": self.path, "body": body,
                                     "authorization": "Authorization" in self.headers})
            return body

        def do_GET(self):
            if self.path == "/api/tags":
                self._json(200, {"models": [{
                    "name": standin.name, "model": standin.name, "modified_at": now(), "size": 98_000_000,
                    "digest": "0" * 64,
                    "details": {"format": "gguf", "family": "llama", "parameter_size": "135M", "quantization_level": "Q4_1"},
                }]})
            elif self.path == "/api/version":
                self._json(200, {"version": "0.0.0-standin"})
            elif self.path == "/_standin/requests":
                self._json(200, standin.requests)
            elif self.path == "/_standin/num_ctx":
                self._json(200, standin.num_ctx)
            elif self.path == "/":
                self._json(200, "Ollama is running (protocol stand-in)")
            else:
                self._json(404, {"error": "404 page not found"})

        def do_POST(self):
            body = self._body()
            if self.path == "/_standin/window":
                standin.window = body.get("context_length")
                self._json(200, {"context_length": standin.window or standin.trained})
                return
            model = body.get("model") or body.get("name") or ""
            if self.path in ("/api/chat", "/api/show") and not standin.known(model):
                self._json(404, {"error": f"model '{model}' not found"})
                return
            if self.path == "/api/show":
                self._json(200, {
                    "modelfile": f"FROM {standin.name}", "parameters": "", "template": "{{ .Prompt }}",
                    "details": {"format": "gguf", "family": "llama", "parameter_size": "135M", "quantization_level": "Q4_1"},
                    "model_info": {"general.architecture": "llama",
                                   "llama.context_length": standin.window or standin.trained},
                    "capabilities": ["completion", "tools"],
                    "modified_at": now(),
                })
            elif self.path == "/api/chat":
                stream = bool(body.get("stream", True))
                if not stream:
                    self._json(200, next(standin.chat(body)))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                parts = standin.chat(body)
                try:
                    for part in parts:
                        line = json.dumps(part).encode() + b"\n"
                        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client closed the stream: stop generating, like Ollama does
                finally:
                    parts.close()
            else:
                self._json(404, {"error": "404 page not found"})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="smollm2:135m")
    args = parser.parse_args()
    standin = StandIn(args.model, args.name)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(standin))
    print(f"ollama stand-in ready on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
