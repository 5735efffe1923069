"""Code execution from the engine side, through the real LocalExecutor."""

from __future__ import annotations

from moot.agents import AssistantAgent, UserProxyAgent
from moot.agents.events import CodeBlockFound, ExecutionFinished, ExecutorOutput, NoticeEvent

CODE = "Run this:\n\n```python\nfor i in range(3):\n    print('line', i)\n```\n"


def coder_pair(models, tmp_path, replies, **kw):
    models(a=replies)
    user = UserProxyAgent("user", human_input_mode="NEVER",
                          code_execution_config={"executor": "local", "work_dir": str(tmp_path), "timeout": 20}, **kw)
    asst = AssistantAgent("asst", llm_config="a")
    return user, asst


async def test_code_blocks_run_and_stream_output(models, tmp_path):
    user, asst = coder_pair(models, tmp_path, [CODE, "TERMINATE"])
    stream = user.run_stream(asst, message="count")
    events = await stream.collect()
    blocks = [e for e in events if isinstance(e, CodeBlockFound)]
    assert len(blocks) == 1 and blocks[0].language == "python" and blocks[0].action == "run"
    output = "".join(e.text for e in events if isinstance(e, ExecutorOutput))
    assert "line 0" in output and "line 2" in output
    finished = [e for e in events if isinstance(e, ExecutionFinished)]
    assert finished[0].exit_code == 0 and finished[0].execution_id == blocks[0].execution_id
    reply = stream.result.chat_history[2]["content"]
    assert reply.startswith("exitcode: 0 (execution succeeded)\nCode output: ") and "line 1" in reply
    assert stream.result.stop_condition == "is_termination_msg"


async def test_failing_code_reports_the_exit_code(models, tmp_path):
    user, asst = coder_pair(models, tmp_path, ["```python\nimport sys\nprint('oops')\nsys.exit(3)\n```", "TERMINATE"])
    result = await user.a_initiate_chat(asst, message="x", silent=True)
    assert result.chat_history[2]["content"].startswith("exitcode: 3 (execution failed)")


async def test_last_n_messages_and_text_blocks(models, tmp_path):
    # a json block is something to read, not to run: no execution, default auto-reply instead
    user, asst = coder_pair(models, tmp_path, ["```json\n{\"a\": 1}\n```", "TERMINATE"], default_auto_reply="nothing to run")
    result = await user.a_initiate_chat(asst, message="x", silent=True)
    assert result.chat_history[2]["content"] == "nothing to run"
    # last_n_messages=0 turns execution off
    models(a=[CODE, "TERMINATE"])
    user = UserProxyAgent("user", human_input_mode="NEVER", default_auto_reply="skipped",
                          code_execution_config={"executor": "local", "work_dir": str(tmp_path), "last_n_messages": 0})
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="x", silent=True)
    assert result.chat_history[2]["content"] == "skipped"


async def test_approval_can_edit_or_skip(models, tmp_path):
    answers = iter(["print('edited')\n", "skip"])
    seen = []

    async def approve(block):
        seen.append(block.code)
        return next(answers)

    user, asst = coder_pair(models, tmp_path, [CODE, CODE, "TERMINATE"], code_approval=approve)
    events = await user.run_stream(asst, message="x").collect()
    actions = [e.action for e in events if isinstance(e, CodeBlockFound)]
    assert actions == ["edited", "skipped"]
    history = [e for e in events if e.type == "message"]
    assert "edited" in history[2].content and "line 0" not in history[2].content
    assert "execution skipped" in history[4].content
    assert "for i in range(3)" in seen[0]


async def test_docker_unavailable_stops_the_chat_and_says_so(models, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    models(a=[CODE])
    user = UserProxyAgent("user", human_input_mode="NEVER",
                          code_execution_config={"use_docker": True, "work_dir": str(tmp_path), "timeout": 5})
    asst = AssistantAgent("asst", llm_config="a")
    events = await user.run_stream(asst, message="x").collect()
    assert events[-1].condition == "executor_unavailable"
    assert "user cannot run code" in events[-1].reason
    assert any(isinstance(e, NoticeEvent) and e.kind == "executor_unavailable" for e in events)
    assert not any(isinstance(e, ExecutionFinished) for e in events)  # never ran locally instead
