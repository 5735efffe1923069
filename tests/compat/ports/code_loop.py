# A two-agent code loop as an AutoGen 0.2 notebook writes it: the assistant writes code, the user
# proxy runs it with a LocalCommandLineCodeExecutor and reports back, until the task is done.
# tests/compat/test_ports.py ports it by sed (its imports only) and runs it.
import tempfile

import autogen
from autogen import AssistantAgent, UserProxyAgent
from autogen.coding import LocalCommandLineCodeExecutor

config_list = autogen.config_list_from_json("OAI_CONFIG_LIST", filter_dict={"tags": ["coding"]})
llm_config = {"config_list": config_list, "cache_seed": None, "temperature": 0}

work_dir = tempfile.mkdtemp(prefix="code_loop_")
executor = LocalCommandLineCodeExecutor(timeout=60, work_dir=work_dir)

assistant = AssistantAgent("assistant", llm_config=llm_config)
user_proxy = UserProxyAgent(
    "user_proxy",
    human_input_mode="NEVER",
    max_consecutive_auto_reply=3,
    is_termination_msg=lambda msg: "TERMINATE" in (msg.get("content") or ""),
    code_execution_config={"executor": executor},
)

result = user_proxy.initiate_chat(
    assistant,
    message="Compute the 10th Fibonacci number with Python, save the script as fib.py and print the number.",
)
print("TURNS:", len(result.chat_history))
print("EXECUTION:", [m["content"] for m in result.chat_history if str(m["content"]).startswith("exitcode")][:1])
print("WORK_DIR:", work_dir)
