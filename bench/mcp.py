"""MCP overheads (issue 12).

1. One MCP tool call over stdio against the same function as a built-in tool, both through the
   path a team's user proxy takes (``run_tool`` on the agent's registered tool: arguments parsed,
   the call, the result as text). The MCP side is a server written with the SDK's ``MCPServer``
   (an ``echo`` tool), started once; the built-in is the same ``echo`` function. 200 calls each,
   interleaved, after 20 warm-up calls. Target: median MCP call <= 5 ms over the built-in.
2. ``moot serve --http`` time to first byte for the scripted ``demo`` team: the server runs as the
   real command in a subprocess; each request's time to the first byte of the answer (non-
   streaming: the whole run happens before it; streaming: the first chunk), against moot's own run
   time for the same team in this process (``run_team``: a recorded session). 20 requests each,
   after 2 warm-ups. Target: non-streaming TTFB <= 50 ms over moot's own run time.

    .venv/bin/python bench/mcp.py [--calls 200] [--requests 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named mcp.py: keep its folder off the import path, or `import mcp` finds it
# instead of the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402

ECHO_SERVER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("bench")

@server.tool()
def echo(text: str) -> str:
    \"\"\"Say the text back.\"\"\"
    return text

server.run("stdio")
"""


def echo(text: str) -> str:
    """Say the text back."""
    return text


def ms(values: list[float]) -> str:
    return f"median {1000 * statistics.median(values):.2f} ms (min {1000 * min(values):.2f}, max {1000 * max(values):.2f})"


async def tool_calls(calls: int) -> float:
    from moot.agents import AssistantAgent, UserProxyAgent
    from moot.agents._mcp import McpServer, register_mcp_tools
    from moot.agents._models import using_models
    from moot.agents._tools import build_tool, run_tool
    from moot.backends.config import scripted_models

    with using_models(scripted_models({"a": ["x"]}, default="a")):
        asst = AssistantAgent("asst", llm_config="a")
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        async with McpServer("bench", command=sys.executable, args=["-c", ECHO_SERVER]) as server:
            (name,) = await register_mcp_tools(server, caller=asst, executor=user)
            mcp_tool = next(t for t in user.tools if t.name == name)
            builtin = build_tool(echo)
            args = '{"text": "hello"}'
            for _ in range(20):
                await run_tool(mcp_tool, name, args, [])
                await run_tool(builtin, "echo", args, [])
            mcp_times, builtin_times = [], []
            for _ in range(calls):
                t = time.perf_counter()
                out = await run_tool(mcp_tool, name, args, [])
                mcp_times.append(time.perf_counter() - t)
                assert out.content == "hello" and not out.is_error, out
                t = time.perf_counter()
                await run_tool(builtin, "echo", args, [])
                builtin_times.append(time.perf_counter() - t)
    extra = statistics.median(mcp_times) - statistics.median(builtin_times)
    print(f"tool call, built-in:    {ms(builtin_times)}")
    print(f"tool call, MCP (stdio): {ms(mcp_times)}")
    print(f"MCP extra per call: {1000 * extra:.2f} ms (target <= 5 ms): {'ok' if extra <= 0.005 else 'MISSED'}")
    return extra


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ttfb(client: httpx.Client, url: str, body: dict) -> float:
    t = time.perf_counter()
    with client.stream("POST", url, json=body) as response:
        chunks = response.iter_raw()
        next(chunks)
        first = time.perf_counter() - t
        for _ in chunks:
            pass
        assert response.status_code == 200
    return first


async def own_runs(requests: int) -> list[float]:
    from moot.agents import load_team
    from moot.agents._serve import run_team
    from moot.backends import load_models

    models = load_models()
    team = load_team("demo", models)
    times = []
    for i in range(requests + 2):
        t = time.perf_counter()
        done = await run_team(team, f"task {i}", models=models)
        assert done.outcome == "completed"
        if i >= 2:
            times.append(time.perf_counter() - t)
    return times


def serve(requests: int, work: Path) -> float:
    port = _free_port()
    moot = str(Path(sys.executable).with_name("moot"))
    proc = subprocess.Popen([moot, "serve", "--http", f"127.0.0.1:{port}", "--team", "demo"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"moot serve did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        plain, streamed = [], []
        with httpx.Client(timeout=60) as client:
            for i in range(requests + 2):
                body = {"model": "team/demo", "messages": [{"role": "user", "content": f"task {i}"}]}
                p = ttfb(client, url, body)
                s = ttfb(client, url, {**body, "stream": True})
                if i >= 2:
                    plain.append(p)
                    streamed.append(s)
        own = asyncio.run(own_runs(requests))
    finally:
        proc.terminate()
        proc.wait(10)
    extra = statistics.median(plain) - statistics.median(own)
    print(f"demo team, moot's own run (in process): {ms(own)}")
    print(f"moot serve --http, TTFB non-streaming:  {ms(plain)}")
    print(f"moot serve --http, TTFB streaming:      {ms(streamed)}")
    print(f"serve extra to first byte: {1000 * extra:.1f} ms (target <= 50 ms): {'ok' if extra <= 0.05 else 'MISSED'}")
    return extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        # a private data dir: the sessions these runs record do not land in the user's
        os.environ["MOOT_HOME"] = str(Path(work) / "home")
        os.chdir(work)  # the demo team's code runs in ./coding
        asyncio.run(tool_calls(args.calls))
        serve(args.requests, Path(work))


if __name__ == "__main__":
    main()
