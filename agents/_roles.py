"""AutoGen 0.2's two ready-made agents, and ``register_function``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from ._agent import ConversableAgent
from ._code import CodeApproval


class AssistantAgent(ConversableAgent):
    """An LLM agent that solves tasks, writes code for the user to run, and says TERMINATE when
    done. Never asks the human (``human_input_mode="NEVER"``); runs no code itself.

    ``llm_config=None`` means the default model of models.toml (in AutoGen 0.2 an assistant
    without a config cannot reply at all).
    """

    DEFAULT_SYSTEM_MESSAGE = (
        "You are a helpful AI assistant. Solve tasks using your coding and language skills. "
        "When you need information or need to compute something, write a Python (```python) or shell "
        "(```sh) code block for the user to run, and the user will reply with its output. Write complete "
        "code that prints its result; do not ask the user to edit it. Put one block per reply, and start "
        "it with a '# filename: <name>' line if it should be saved to a file. If the result shows an "
        "error, fix it and send the whole code again. Check your answer when you can, and say how you "
        "know it is right. Reply \"TERMINATE\" when the task is done."
    )
    DEFAULT_DESCRIPTION = "A helpful and general-purpose AI assistant that has strong language skills, Python skills, and Linux command line skills."

    def __init__(self, name: str, system_message: str | None = DEFAULT_SYSTEM_MESSAGE, llm_config: Any = None,
                 is_termination_msg: Callable[[dict[str, Any]], bool] | None = None,
                 max_consecutive_auto_reply: int | None = None, human_input_mode: Literal["ALWAYS", "TERMINATE", "NEVER"] = "NEVER",
                 description: str | None = None, **kwargs: Any):
        super().__init__(name, system_message=system_message, is_termination_msg=is_termination_msg,
                         max_consecutive_auto_reply=max_consecutive_auto_reply, human_input_mode=human_input_mode,
                         llm_config={} if llm_config is None else llm_config, description=description, **kwargs)
        if description is None and system_message == self.DEFAULT_SYSTEM_MESSAGE:
            self.description = self.DEFAULT_DESCRIPTION


class UserProxyAgent(ConversableAgent):
    """A proxy for the human: asks them for replies (``human_input_mode="ALWAYS"`` by default),
    runs code blocks it receives (``code_execution_config``) and tools registered for execution.
    No model unless ``llm_config`` is given.

    ``code_execution_config={}`` (the default) means Docker when a daemon answers; when none
    answers, the chat stops saying so (it never runs code unsandboxed unless asked with
    ``{"executor": "local"}`` or ``{"use_docker": False}``).
    """

    DEFAULT_USER_PROXY_AGENT_DESCRIPTIONS = {
        "ALWAYS": "An attentive HUMAN user who can answer questions about the task, and can perform tasks such as running Python code or inputting command line commands at a Linux terminal and reporting back the execution results.",
        "TERMINATE": "A user that can run Python code or input command line commands at a Linux terminal and report back the execution results.",
        "NEVER": "A computer terminal that performs no other action than running Python scripts (provided to it quoted in ```python code blocks), or sh shell scripts (provided to it quoted in ```sh code blocks).",
    }

    def __init__(self, name: str, is_termination_msg: Callable[[dict[str, Any]], bool] | None = None,
                 max_consecutive_auto_reply: int | None = None,
                 human_input_mode: Literal["ALWAYS", "TERMINATE", "NEVER"] = "ALWAYS",
                 function_map: dict[str, Callable[..., Any]] | None = None,
                 code_execution_config: dict[str, Any] | Literal[False] | None = None,
                 default_auto_reply: str | dict[str, Any] = "", llm_config: Any = False,
                 system_message: str | list[str] | None = "", description: str | None = None,
                 code_approval: CodeApproval | None = None, **kwargs: Any):
        super().__init__(
            name=name, system_message=system_message, is_termination_msg=is_termination_msg,
            max_consecutive_auto_reply=max_consecutive_auto_reply, human_input_mode=human_input_mode,
            function_map=function_map,
            code_execution_config={} if code_execution_config is None else code_execution_config,
            default_auto_reply=default_auto_reply, llm_config=llm_config,
            description=description if description is not None else self.DEFAULT_USER_PROXY_AGENT_DESCRIPTIONS.get(human_input_mode),
            code_approval=code_approval, **kwargs,
        )


def register_function(f: Callable[..., Any], *, caller: ConversableAgent, executor: ConversableAgent,
                      name: str | None = None, description: str | None = None) -> None:
    """Offer ``f`` to ``caller``'s model and let ``executor`` run it (AutoGen's helper)."""
    f = caller.register_for_llm(name=name, description=description)(f)
    executor.register_for_execution(name=name)(f)
