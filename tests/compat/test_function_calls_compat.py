"""Issue 10: the legacy function-call API, agents of a user's own, async nested chats and the
code-execution report, as an AutoGen 0.2 user calls them (scripted models, real subprocesses)."""

from __future__ import annotations

import json
import math

import pytest

import moot as autogen
from moot import Agent, AssistantAgent, ConversableAgent, UserProxyAgent
from moot.backends.config import scripted_models
from moot.coding import CodeBlock, LocalCommandLineCodeExecutor
from moot.coding.func_with_reqs import FunctionWithRequirements, ImportFromModule, with_requirements


def quiet(name: str, **kw) -> ConversableAgent:
    return ConversableAgent(name, llm_config=kw.pop("llm_config", False), human_input_mode="NEVER", **kw)


# -- execute_function / a_execute_function ----------------------------------------------------------

def test_a_function_call_runs_and_its_result_is_the_text():
    def area(width, height):
        return width * height

    user = UserProxyAgent("user", function_map={"area": area})
    ok, result = user.execute_function({"name": "area", "arguments": '{"width": 3, "height": 4}'})
    assert ok and result == {"name": "area", "role": "function", "content": "12"}


def test_arguments_that_are_not_json_say_so_in_autogens_words():
    user = UserProxyAgent("user", function_map={"area": lambda width, height: width * height})
    ok, result = user.execute_function({"name": "area", "arguments": "{width: 3, 'height': 4}"})
    assert not ok
    assert result["content"].startswith("Error: ")
    assert result["content"].endswith("The argument must be in JSON format.")


def test_an_unknown_function_and_a_failing_one_are_errors_not_exceptions():
    def boom():
        raise RuntimeError("the disk is full")

    user = UserProxyAgent("user", function_map={"boom": boom})
    ok, result = user.execute_function({"name": "nope", "arguments": "{}"})
    assert not ok and result["content"] == "Error: Function nope not found."
    ok, result = user.execute_function({"name": "boom", "arguments": "{}"})
    assert not ok and "the disk is full" in result["content"] and result["content"].startswith("Error: ")


def test_raw_newlines_in_the_arguments_are_cleaned_before_parsing():
    user = UserProxyAgent("user", function_map={"run": lambda code: code.splitlines()[-1]})
    ok, result = user.execute_function({"name": "run", "arguments": '{\n"code": "a = 1\nprint(a)"\n}'})
    assert ok and result["content"] == "print(a)"
    assert UserProxyAgent._format_json_str('{\n"k": "one\ttwo\nthree"\n}') == '{"k": "one\\ttwo\\nthree"}'
    assert UserProxyAgent._format_json_str('{"q": "say \\"hi\\"\n"}') == '{"q": "say \\"hi\\"\\n"}'


async def test_an_async_function_runs_with_a_execute_function_only():
    async def double(n):
        return n * 2

    user = UserProxyAgent("user", function_map={"double": double})
    ok, result = await user.a_execute_function({"name": "double", "arguments": '{"n": 21}'})
    assert ok and result["content"] == "42"
    ok, result = user.execute_function({"name": "double", "arguments": '{"n": 21}'})
    assert not ok and "a_execute_function" in result["content"]


# -- an agent of the user's own -----------------------------------------------------------------

class Recorder(Agent):
    """Receives what is sent to it and keeps it (AutoGen's Agent interface, sync only)."""

    def __init__(self, name):
        self.name = name
        self.description = name
        self.got = []

    def receive(self, message, sender, request_reply=None, silent=False):
        self.got.append(message)


def test_tool_calls_from_an_agent_of_ones_own_get_their_results_sent_back():
    user = UserProxyAgent("user", human_input_mode="NEVER")
    user.register_function({"shout": lambda text: text.upper()})
    me = Recorder("me")
    calls = [{"id": "c1", "type": "function", "function": {"name": "shout", "arguments": json.dumps({"text": "hi"})}},
             {"id": "c2", "type": "function", "function": {"name": "whisper", "arguments": "{}"}}]
    user.receive({"content": "", "tool_calls": calls}, me, request_reply=True, silent=True)
    assert me.got == [{
        "role": "tool",
        "tool_responses": [
            {"tool_call_id": "c1", "role": "tool", "content": "HI"},
            {"tool_call_id": "c2", "role": "tool", "content": "Error: Function whisper not found."},
        ],
        "content": "HI\n\nError: Function whisper not found.",
    }]


async def test_an_async_agent_of_ones_own_gets_the_reply_with_a_receive():
    class AsyncRecorder(Recorder):
        async def a_receive(self, message, sender, request_reply=None, silent=False):
            self.got.append(message)

    autogen.use_models(scripted_models({"m": ["hello back"]}, source="test"))
    asst = quiet("asst", llm_config="m")
    me = AsyncRecorder("me")
    await asst.a_receive("hello", me, request_reply=True, silent=True)
    assert me.got == [{"content": "hello back"}]
    assert asst.chat_messages[me][-1] == {"content": "hello back", "role": "assistant", "name": "asst"}


# -- register_nested_chats(use_async=True) ----------------------------------------------------

def test_async_nested_chats_need_a_chat_id_each_and_a_coroutine():
    a, b, c = quiet("a"), quiet("b"), quiet("c")
    with pytest.raises(ValueError, match="chat_id is required for async nested chats"):
        a.register_nested_chats([{"recipient": b, "chat_id": 1}, {"recipient": c}], trigger=b, use_async=True)
    with pytest.raises(ValueError, match="coroutine"):
        a.register_nested_chats([{"recipient": b, "chat_id": 1}], trigger=b, use_async=True,
                                reply_func_from_nested_chats=lambda *args: (True, "x"))
    a.register_nested_chats([{"recipient": b, "chat_id": 1}], trigger=b, use_async=True)  # fine


async def test_an_async_nested_chat_replies_with_its_summary():
    autogen.use_models(scripted_models({"inner": ["the inner answer"]}, source="test"))
    outer = quiet("outer")
    inner = quiet("inner", llm_config="inner")
    outer.register_nested_chats([{"recipient": inner, "chat_id": 7, "max_turns": 1, "summary_method": "last_msg"}],
                                trigger=lambda sender: sender is not inner, use_async=True)
    user = quiet("user")
    result = await user.a_initiate_chat(outer, message="ask inside", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "the inner answer"


# -- the code-execution report ------------------------------------------------------------------

def test_without_an_executor_each_output_starts_on_its_own_line(tmp_path):
    agent = quiet("runner", code_execution_config={"work_dir": str(tmp_path), "use_docker": False,
                                                   "last_n_messages": 1})
    ok, report = agent.generate_code_execution_reply([{"role": "user", "content": "```python\nprint(40 + 2)\n```"}])
    assert ok and report == "exitcode: 0 (execution succeeded)\nCode output: \n42\n"


def test_an_executor_object_finds_an_indented_block_and_runs_it(tmp_path):
    agent = quiet("runner", code_execution_config={"executor": LocalCommandLineCodeExecutor(work_dir=tmp_path)})
    message = "Try this:\n    ```python\n    for i in range(2):\n        print('row', i)\n    ```\n"
    reply = agent.generate_reply([{"role": "user", "content": message}], sender=quiet("asker"))
    assert reply == "exitcode: 0 (execution succeeded)\nCode output: row 0\nrow 1\n"


def test_a_coder_chat_with_an_executor_reports_without_the_extra_line(tmp_path):
    autogen.use_models(scripted_models({"coder": ["```python\nprint('done')\n```", "TERMINATE"]}, source="test"))
    user = UserProxyAgent("user", human_input_mode="NEVER",
                          code_execution_config={"executor": LocalCommandLineCodeExecutor(work_dir=tmp_path)})
    result = user.initiate_chat(AssistantAgent("coder", llm_config="coder"), message="go", max_turns=2, silent=True)
    assert result.chat_history[2]["content"] == "exitcode: 0 (execution succeeded)\nCode output: done\n"


# -- LocalCommandLineCodeExecutor(functions=...) ------------------------------------------------

def circle_area(radius: float) -> float:
    """The area of a circle."""
    return round(3.14159 * radius * radius, 2)


@with_requirements(global_imports=["math"])
def needs_math(x: float) -> float:
    return math.sqrt(x)


@with_requirements(global_imports=[ImportFromModule("no_such_module_here", ["thing"])])
def cannot_import() -> None:
    return None


def test_the_functions_become_a_module_the_code_imports(tmp_path):
    tripled = FunctionWithRequirements.from_str("def tripled(n: int) -> int:\n    '''Three times n.'''\n    return 3 * n\n")
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[needs_math, tripled],
                                            functions_module="helpers")
    code = "from helpers import needs_math, tripled\nprint(needs_math(16.0), tripled(5))\n"
    result = executor.execute_code_blocks([CodeBlock(code=code, language="python")])
    assert (result.exit_code, result.output) == (0, "4.0 15\n")
    assert (tmp_path / "helpers.py").read_text().startswith("import math\n")
    prompt = executor.format_functions_for_prompt()
    assert "from helpers import foo" in prompt
    assert "def tripled(n: int) -> int:\n    \"\"\"Three times n.\"\"\"\n    ..." in prompt


def test_functions_that_do_not_load_are_a_value_error_naming_the_import(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[cannot_import])
    with pytest.raises(ValueError, match="(?s)Functions failed to load: .*no_such_module_here"):
        executor.execute_code_blocks([CodeBlock(code="print(1)", language="python")])
    with pytest.raises(ValueError, match="exactly one function"):
        FunctionWithRequirements.from_str("def a():\n    pass\ndef b():\n    pass\n")
    with pytest.raises(ValueError, match="lambda"):
        LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[lambda: 1])


def test_an_agent_runs_code_that_uses_the_functions(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, functions=[circle_area])
    agent = quiet("runner", code_execution_config={"executor": executor})
    message = "```python\nfrom functions import circle_area\nprint(circle_area(1.0))\n```"
    reply = agent.generate_reply([{"role": "user", "content": message}], sender=quiet("asker"))
    assert reply == "exitcode: 0 (execution succeeded)\nCode output: 3.14\n"

    broken = quiet("runner2", code_execution_config={
        "executor": LocalCommandLineCodeExecutor(work_dir=tmp_path / "b", functions=[cannot_import])})
    (tmp_path / "b").mkdir(exist_ok=True)
    reply = broken.generate_reply([{"role": "user", "content": "```python\nprint(1)\n```"}], sender=quiet("asker"))
    assert reply.startswith("exitcode: 1 (execution failed)") and "Functions failed to load" in reply


def test_append_oai_message_stores_as_autogen_and_may_override_the_role():
    me, other = quiet("me"), quiet("other")
    assert me._append_oai_message({"content": "a prompt", "override_role": "system"}, "assistant", other, True)
    assert me._append_oai_message("plain", "user", other, False)
    assert not me._append_oai_message({"role": "user"}, "user", other, False)  # nothing to store
    assert me.chat_messages[other] == [{"content": "a prompt", "role": "system", "name": "me"},
                                       {"content": "plain", "role": "user", "name": "other"}]
