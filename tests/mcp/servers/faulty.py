"""Fault stand-ins for the MCP tests (the SDK's server class where it can play the part), on stdio:

    python faulty.py dies      tools echo (answers) and die (the process exits during the call)
    python faulty.py schema    one good tool and one whose input schema is not an object
    python faulty.py hang      never answers (a server stuck at start)
    python faulty.py sample    a tool that asks the client's model for a completion (sampling)
"""

import json
import os
import sys
import time
from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import MCPServer, Resolve, Sample


def dies() -> None:
    server = MCPServer("dies")

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return text

    @server.tool()
    def die() -> str:
        """Exit the server process in the middle of the call."""
        sys.stderr.write("faulty: dying on purpose\n")
        sys.stderr.flush()
        os._exit(3)

    server.run("stdio")


def schema() -> None:
    """A protocol stand-in, by hand (the SDK's server classes refuse to send a bad tool list):
    newline-delimited JSON-RPC on stdio, answering initialize and tools/list, where one tool's
    input schema is a string schema, not an object."""
    for line in sys.stdin:
        msg = json.loads(line)
        if "id" not in msg:
            continue  # a notification
        if msg.get("method") == "initialize":
            result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                      "serverInfo": {"name": "schema", "version": "1"}}
        elif msg.get("method") == "tools/list":
            result = {"tools": [{"name": "fine", "inputSchema": {"type": "object", "properties": {}}},
                                {"name": "broken", "inputSchema": {"type": "string"}}]}
        else:
            print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no such method"}}),
                  flush=True)
            continue
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)


def sample() -> None:
    server = MCPServer("sample")

    def ask_model(question: str) -> Sample:
        return Sample([types.SamplingMessage(role="user", content=types.TextContent(type="text", text=question))],
                      max_tokens=20, system_prompt="Answer in one word.")

    @server.tool()
    def ask(question: str, answer: Annotated[types.CreateMessageResult, Resolve(ask_model)]) -> str:
        """Ask the client's model."""
        return f"the model said: {answer.content.text}"

    server.run("stdio")


def hang() -> None:
    time.sleep(3600)


if __name__ == "__main__":
    {"dies": dies, "schema": schema, "hang": hang, "sample": sample}[sys.argv[1]]()
