"""An MCP tool called by the REAL bundled model (SmolLM2-135M through llama.cpp), the call forced:
the real mcp-server-time answers whatever the tiny model asks."""

from __future__ import annotations

import pytest

from mcp_helpers import PY
from moot.agents import AssistantAgent, McpServer, UserProxyAgent, register_mcp_tools
from moot.agents._models import using_models
from moot.agents.events import ToolResult
from moot.backends.config import scripted_models

pytestmark = [pytest.mark.model, pytest.mark.timeout(300)]

BUNDLED = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 4096, "max_output_tokens": 64,
           "temperature": 0}


async def test_the_bundled_model_calls_an_mcp_tool(bundled_model_path):
    with using_models(scripted_models({"smol": BUNDLED}, default="smol")):
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
        asst = AssistantAgent("asst", system_message="You are a helpful assistant. Use the tools.",
                              llm_config={"model": "smol", "tool_choice": "time__get_current_time", "temperature": 0})
        async with McpServer("time", command=PY, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]) as server:
            await register_mcp_tools(server, caller=asst, executor=user, tools=["get_current_time"])
            stream = user.run_stream(asst, message="What time is it in UTC?", max_turns=2)
            events = [e async for e in stream]
    history = stream.result.chat_history
    assert history[1]["tool_calls"][0]["function"]["name"] == "time__get_current_time"
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    # the server answered: the time, or its own words about a time zone the tiny model made up
    assert '"timezone"' in result.content or "timezone" in result.content.lower(), result.content
    assert history[2]["tool_responses"][0]["tool_call_id"] == history[1]["tool_calls"][0]["id"]
