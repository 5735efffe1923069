"""ConversableAgent: AutoGen 0.2's agent, with an async core and an event stream."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from types import CoroutineType
from typing import Any, Literal

import moot.runtime_logging as runtime_logging
from moot.backends import (BackendError, ChatMessage, ConfigError, Completion, ContextOverflow, Delta, ModelRequest,
                           Notice, Thought, ToolSpec, Usage)

from . import _chat
from ._code import CodeApproval, a_generate_code_execution_reply
from ._context import ChatStop, NoReply, current_run
from ._errors import InvalidCarryOverType, SenderRequired, ToolsNeedModel, UsageError
from ._iostream import IOStream
from ._messages import as_message, content_str, stored_copy, to_chat_messages
from ._models import LLM, current_registry, resolve_llm
from ._replycache import cached_completion, request_key, stored_completion
from ._sync import run_sync
from ._tools import Tool, ToolOutcome, build_tool, format_json_str, run_tool, wrap_function
from ._budget import MIN_REPLY, SUMMARY_LABEL, SUMMARY_TOKENS, Budget, compaction_events, summary_prompt
from ._window import STRATEGIES, ConversationView, DEFAULT_STRATEGIES, size_of, trimmed
from .events import (
    ContextCompacted,
    HumanInputRequested,
    HumanReply,
    MessagePosted,
    NoticeEvent,
    ReasoningDelta,
    TokenDelta,
    ToolCallRequested,
    ToolResult,
    UsageReport,
    new_id,
)

HumanInputMode = Literal["ALWAYS", "TERMINATE", "NEVER"]
HOOKABLE = ("process_last_received_message", "process_all_messages_before_reply", "process_message_before_send",
            "a_process_last_received_message", "a_process_all_messages_before_reply", "a_process_message_before_send")
INTERRUPTED = "Interrupted: the user replied instead, so this tool call was not run."


class Agent:
    """What every agent is: a name and a description (used by group chats to pick speakers)."""

    name: str
    description: str


_ANY_SENDER = [Agent, None]  # AutoGen's trigger for the built-in reply steps: any agent, or none


def _strategies(given: Sequence[str] | None) -> tuple[str, ...]:
    """The compaction strategies an agent allows, checked (``None``: the default ones)."""
    if given is None:
        return DEFAULT_STRATEGIES
    names = tuple(given)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"context_strategies: unknown strategy {unknown[0]!r} (known: {', '.join(STRATEGIES)})")
    return names


def _default_is_termination(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return (content if type(content) is str else content_str(content)) == "TERMINATE"


class ConversableAgent(Agent):
    """An agent that converses: AutoGen 0.2's ``ConversableAgent``, same keywords and rules.

    The reply pipeline runs in AutoGen's order: termination / human check, tool calls, code
    execution, (nested chats), the LLM; the first step that gives a final reply wins.
    ``register_reply`` inserts custom steps. ``llm_config`` names a models.toml model, a dict
    ``{"model": name, "temperature": ...}``, ``{"config_list": [...]}`` (tried in order) or
    ``False``.

    Better than AutoGen 0.2: the chat is a loop rather than mutual recursion, so long chats do not
    grow the stack; sync tools run in a thread, so the TUI stays responsive; a backend error stops
    the chat with a reason in ``ChatResult.stop_reason`` instead of raising out of it; every step
    is an event (``run_stream``).
    """

    DEFAULT_CONFIG: Any = False
    MAX_CONSECUTIVE_AUTO_REPLY = 100
    DEFAULT_SUMMARY_PROMPT = "Summarize the takeaway from the conversation. Do not add any introductory phrases."
    DEFAULT_SUMMARY_METHOD = "last_msg"

    def __init__(
        self,
        name: str,
        system_message: str | list[str] | None = "You are a helpful AI Assistant.",
        is_termination_msg: Callable[[dict[str, Any]], bool] | None = None,
        max_consecutive_auto_reply: int | None = None,
        human_input_mode: HumanInputMode = "TERMINATE",
        function_map: dict[str, Callable[..., Any]] | None = None,
        code_execution_config: dict[str, Any] | Literal[False] = False,
        llm_config: Any = None,
        default_auto_reply: str | dict[str, Any] = "",
        description: str | None = None,
        chat_messages: dict[Agent, list[dict[str, Any]]] | None = None,
        silent: bool | None = None,
        code_approval: CodeApproval | None = None,
        context_strategies: Sequence[str] | None = None,
    ):
        if human_input_mode not in ("ALWAYS", "TERMINATE", "NEVER"):
            raise ValueError(f"human_input_mode must be ALWAYS, TERMINATE or NEVER, not {human_input_mode!r}")
        self.name = name
        if isinstance(system_message, list):
            system_message = "\n".join(system_message)
        self._system_message = system_message or ""
        self._description = description if description is not None else self._system_message
        self._is_termination_msg = is_termination_msg or _default_is_termination
        self._max_consecutive_auto_reply = (
            max_consecutive_auto_reply if max_consecutive_auto_reply is not None else self.MAX_CONSECUTIVE_AUTO_REPLY
        )
        self._consecutive_auto_reply_counter: defaultdict[Agent | None, int] = defaultdict(int)
        self._max_consecutive_auto_reply_dict: defaultdict[Agent | None, int] = defaultdict(self.max_consecutive_auto_reply)
        self.human_input_mode = human_input_mode
        self._default_auto_reply = default_auto_reply
        self.silent = silent
        self.reply_at_receive: defaultdict[Agent | None, bool] = defaultdict(bool)
        self._oai_messages: defaultdict[Agent | None, list[dict[str, Any]]] = defaultdict(list)
        if chat_messages:
            for agent, msgs in chat_messages.items():
                self._oai_messages[agent] = list(msgs)
        # Per partner: the ChatMessages already converted and how many stored dicts they cover.
        self._views: dict[Agent | None, ConversationView] = {}
        self._head_key: Any = None  # (system message, model) the head and room below were made for
        self._head_version = 0  # bumped when the head changes: views made with an older one start again
        self._head: list[ChatMessage] = []
        self._head_chars = 0
        self._budget: Budget | None = None  # the room the head's model has (``_budget``)
        self._room_units: int | None = None  # the budget's room for the last view, in the view's units
        #: How a conversation that outgrows the model's window is compacted (``_window``), in order.
        self.context_strategies: tuple[str, ...] = _strategies(context_strategies)
        # Summaries standing for left-out turns: (partner's name, cut) -> text (kept for resume).
        self._summaries: dict[tuple[str, int], str] = {}
        self._windows_known: set[int] = set()  # ids of backends whose window was discovered
        self._tool_problem: str | None = None  # why the last call's tool call could not be used
        self._human_input: list[str] = []
        self._usage: dict[str, Usage] = {}
        self.hook_lists: dict[str, list[Callable[..., Any]]] = {h: [] for h in HOOKABLE}
        #: The reply cache the model calls use (``moot.cache``), as AutoGen names it: set for the
        #: length of a chat by ``initiate_chat(cache=...)``; ``None``: no cache.
        self.client_cache: Any = None

        if llm_config is None:
            llm_config = self.DEFAULT_CONFIG
        # A copy, as AutoGen keeps: register_for_llm writes its "tools" into it.
        self.llm_config = dict(llm_config) if isinstance(llm_config, dict) else llm_config
        self._llm_registry = None
        self._llm: LLM | None = None
        self._resolve_llm()

        self._function_map: dict[str, Tool] = {}
        self._llm_tools: dict[str, ToolSpec] = {}
        for fname, func in (function_map or {}).items():
            self._function_map[fname] = build_tool(func, name=fname)

        if code_execution_config is not False and code_execution_config is not None and not isinstance(code_execution_config, dict):
            raise TypeError("code_execution_config must be a dict or False")
        self._code_execution_config: dict[str, Any] | Literal[False] = (
            dict(code_execution_config) if isinstance(code_execution_config, dict) else False
        )
        if self._code_execution_config is not False and "AUTOGEN_USE_DOCKER" in os.environ:
            _use_docker_from_env(self._code_execution_config)
        self.code_approval = code_approval
        self.executor: Any = None  # made on first code run (moot.executors); the Session closes it

        self._reply_func_list: list[dict[str, Any]] = []
        # AutoGen's trigger, [Agent, None]; one shared list, so the reply loop knows it by identity
        self.register_reply(_ANY_SENDER, ConversableAgent.a_generate_oai_reply)
        self.register_reply(_ANY_SENDER, ConversableAgent.a_generate_code_execution_reply)
        self.register_reply(_ANY_SENDER, ConversableAgent.a_generate_tool_calls_reply)
        self.register_reply(_ANY_SENDER, ConversableAgent.a_generate_function_call_reply)
        self.register_reply(_ANY_SENDER, ConversableAgent.a_check_termination_and_human_reply)
        if runtime_logging.active is not None:
            runtime_logging.log_new_agent(self, {
                "name": name, "system_message": self._system_message, "human_input_mode": human_input_mode,
                "max_consecutive_auto_reply": self._max_consecutive_auto_reply, "llm_config": self.llm_config,
                "code_execution_config": self._code_execution_config, "function_map": list(self._function_map),
                "description": self._description, "default_auto_reply": default_auto_reply})

    # -- properties AutoGen scripts use ---------------------------------------------------------

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def system_message(self) -> str:
        return self._system_message

    def update_system_message(self, system_message: str) -> None:
        self._system_message = system_message

    @property
    def description(self) -> str:  # type: ignore[override]
        return self._description

    @description.setter
    def description(self, value: str) -> None:
        self._description = value

    @property
    def chat_messages(self) -> dict[Agent | None, list[dict[str, Any]]]:
        return self._oai_messages

    def chat_messages_for_summary(self, agent: Agent) -> list[dict[str, Any]]:
        return self._oai_messages[agent]

    def last_message(self, agent: Agent | None = None) -> dict[str, Any] | None:
        if agent is None:
            if not self._oai_messages:
                return None
            if len(self._oai_messages) > 1:
                raise ValueError("more than one conversation: say which agent's last message you want")
            msgs = next(iter(self._oai_messages.values()))
            return msgs[-1] if msgs else None
        msgs = self._oai_messages.get(agent)
        if msgs is None:
            raise KeyError(f"The agent {getattr(agent, 'name', agent)!r} is not in any conversation with "
                           f"{self.name!r}, so there is no last message")
        return msgs[-1] if msgs else None

    @property
    def function_map(self) -> dict[str, Callable[..., Any]]:
        """The functions this agent runs, by name: as given to ``function_map`` /
        ``register_function``, or AutoGen's wrapped form (``_origin`` is the function) for those
        registered with ``register_for_execution``."""
        return {n: t.wrapped or t.func for n, t in self._function_map.items()}

    @property
    def code_executor(self) -> Any:
        """The code executor object this agent runs code with (``code_execution_config={"executor":
        ...}``, else the one made on its first code run); ``None`` with code execution off."""
        if not self._code_execution_config:
            return None
        given = self._code_execution_config.get("executor")
        return given if given is not None and not isinstance(given, str) else self.executor

    @property
    def tools(self) -> list[Tool]:
        return list(self._function_map.values())

    @property
    def llm_tools(self) -> list[ToolSpec]:
        return list(self._llm_tools.values())

    @property
    def code_executor_config(self) -> dict[str, Any] | Literal[False]:
        return self._code_execution_config

    @property
    def use_docker(self) -> Any:
        return self._code_execution_config.get("use_docker") if self._code_execution_config else None

    def can_execute_function(self, name: str | list[str]) -> bool:
        names = name if isinstance(name, list) else [name]
        return all(n in self._function_map for n in names)

    def max_consecutive_auto_reply(self, sender: Agent | None = None) -> int:
        return self._max_consecutive_auto_reply if sender is None else self._max_consecutive_auto_reply_dict[sender]

    def update_max_consecutive_auto_reply(self, value: int, sender: Agent | None = None) -> None:
        if sender is None:
            self._max_consecutive_auto_reply = value
            for k in self._max_consecutive_auto_reply_dict:
                self._max_consecutive_auto_reply_dict[k] = value
        else:
            self._max_consecutive_auto_reply_dict[sender] = value

    def reset_consecutive_auto_reply_counter(self, sender: Agent | None = None) -> None:
        if sender is None:
            self._consecutive_auto_reply_counter.clear()
        else:
            self._consecutive_auto_reply_counter[sender] = 0

    def restore_auto_reply_count(self, partner: Agent, count: int) -> None:
        """A resumed chat: how many auto-replies in a row this agent has given ``partner``."""
        self._consecutive_auto_reply_counter[partner] = count

    def restore_usage(self, usage: dict[str, Usage]) -> None:
        """A resumed chat: the tokens this agent's models used before (``usage``)."""
        self._usage = dict(usage)

    def stop_reply_at_receive(self, sender: Agent | None = None) -> None:
        if sender is None:
            self.reply_at_receive.clear()
        else:
            self.reply_at_receive[sender] = False

    def clear_history(self, recipient: Agent | None = None, nr_messages_to_preserve: int | None = None) -> None:
        """Forget the history with ``recipient`` (with ``None``: every conversation, and the
        partners too, so ``last_message(partner)`` raises ``KeyError`` as in AutoGen).
        ``nr_messages_to_preserve`` keeps the newest ones, one more where the cut would part a
        tool call from its results. Unlike AutoGen 0.2, it also acts with a ``recipient``."""
        if recipient is None and not nr_messages_to_preserve:
            self._oai_messages.clear()
            self._views.clear()
            return
        targets = [recipient] if recipient is not None else list(self._oai_messages)
        for agent in targets:
            msgs = self._oai_messages[agent]
            n = nr_messages_to_preserve or 0
            if 0 < n < len(msgs) and "tool_responses" in msgs[-n]:
                n += 1
            keep = msgs[-n:] if n else []
            msgs.clear()
            msgs.extend(keep)
            self._views.pop(agent, None)

    def reset(self) -> None:
        self.clear_history()
        self.reset_consecutive_auto_reply_counter()
        self.stop_reply_at_receive()
        for entry in self._reply_func_list:
            if entry["reset_config"] is not None:
                entry["reset_config"](entry["config"])
            else:
                entry["config"] = entry["init_config"]

    @property
    def client(self) -> LLM | None:
        """The agent's model (``None`` with ``llm_config=False``)."""
        return self._resolve_llm()

    def _resolve_llm(self) -> LLM | None:
        if self.llm_config is False:
            return None
        registry = current_registry()
        if self._llm is None or self._llm_registry is not registry:
            self._llm = resolve_llm(self.llm_config, registry)
            self._llm_registry = registry
        return self._llm

    @property
    def usage(self) -> dict[str, Usage]:
        """Tokens this agent's model calls used, per model, over its lifetime."""
        return dict(self._usage)

    def register_model_client(self, model_client_cls: type, **kwargs: Any) -> None:
        """AutoGen's custom model clients have no counterpart: this says what to do instead."""
        raise NotImplementedError(
            f"{self.name}: register_model_client({getattr(model_client_cls, '__name__', model_client_cls)}) is not "
            "supported: moot talks to models through its backends; give the model a models.toml entry (openai for any "
            "OpenAI-compatible server, ollama, llama_cpp, anthropic) and name it in llm_config")

    def get_total_usage(self) -> dict[str, Any] | None:
        """AutoGen's usage summary of this agent's calls, cached answers included:
        ``{"total_cost": 0.0, MODEL: {"cost", "prompt_tokens", "completion_tokens", "total_tokens"}}``;
        ``None`` while it has made no call (or has no model)."""
        return _chat.cost_of(self._usage)["usage_including_cached_inference"] if self._usage else None

    def get_actual_usage(self) -> dict[str, Any] | None:
        """As ``get_total_usage``, less the prompt tokens a backend served from its cache."""
        return _chat.cost_of(self._usage)["usage_excluding_cached_inference"] if self._usage else None

    def print_usage_summary(self, mode: str | list[str] = ("actual", "total")) -> None:
        """Print this agent's tokens per model (costs are 0.0: moot prices no call)."""
        if not self._usage:
            print(f"No cost incurred from agent '{self.name}'.")
            return
        print(f"Agent '{self.name}':")
        modes = [mode] if isinstance(mode, str) else list(mode)
        for kind, summary in (("actual", self.get_actual_usage()), ("total", self.get_total_usage())):
            if kind in modes:
                print(f"Usage summary ({'excluding' if kind == 'actual' else 'including'} cached usage):")
                for model, block in summary.items():
                    if model != "total_cost":
                        print(f"* Model '{model}': prompt_tokens: {block['prompt_tokens']}, completion_tokens: "
                              f"{block['completion_tokens']}, total_tokens: {block['total_tokens']}, cost: 0.0")

    # -- registration --------------------------------------------------------------------------

    def register_reply(
        self,
        trigger: Any,
        reply_func: Callable[..., Any],
        position: int = 0,
        config: Any = None,
        reset_config: Callable[[Any], None] | None = None,
        *,
        ignore_async_in_sync_chat: bool = False,
        remove_other_reply_funcs: bool = False,
    ) -> None:
        """Add a step to the reply pipeline. ``reply_func(recipient, messages, sender, config)``
        returns ``(final, reply)``; it may be async. Position 0 runs first. As in AutoGen, a
        sync ``initiate_chat`` refuses an async step unless ``ignore_async_in_sync_chat`` (then
        moot runs it all the same: its sync chats run on the async core)."""
        if not isinstance(trigger, (type, str, Agent, list)) and not callable(trigger) and trigger is not None:
            raise ValueError("trigger must be a class, a name, an agent, a callable, a list of these, or None")
        if remove_other_reply_funcs:
            self._reply_func_list.clear()
        self._reply_func_list.insert(position, {
            "trigger": trigger,
            "reply_func": _ASYNC_STEP.get(reply_func, reply_func),
            "config": config,
            "init_config": config,
            "reset_config": reset_config,
            "ignore_async_in_sync_chat": ignore_async_in_sync_chat,
        })

    def _raise_exception_on_async_reply_functions(self) -> None:
        """AutoGen's check before a sync chat: a step the user registered as async (and did not
        mark ``ignore_async_in_sync_chat``) raises ``RuntimeError``. The engine's own async steps
        do not count."""
        found = [getattr(e["reply_func"], "__name__", repr(e["reply_func"])) for e in self._reply_func_list
                 if not e.get("ignore_async_in_sync_chat") and inspect.iscoroutinefunction(e["reply_func"])
                 and not getattr(e["reply_func"], "__module__", "").startswith("moot.agents")]
        if found:
            raise RuntimeError("Async reply functions can only be used with ConversableAgent.a_initiate_chat(). "
                               f"The following async reply functions are found: {', '.join(found)}")

    def replace_reply_func(self, old_reply_func: Callable[..., Any], new_reply_func: Callable[..., Any]) -> None:
        """Swap a step for another; a built-in step may be named by its sync or async form
        (``ConversableAgent.generate_oai_reply`` is ``a_generate_oai_reply``)."""
        old_reply_func = _ASYNC_STEP.get(old_reply_func, old_reply_func)
        new_reply_func = _ASYNC_STEP.get(new_reply_func, new_reply_func)
        for entry in self._reply_func_list:
            if entry["reply_func"] is old_reply_func:
                entry["reply_func"] = new_reply_func

    @property
    def reply_funcs(self) -> list[Callable[..., Any]]:
        return [e["reply_func"] for e in self._reply_func_list]

    def register_hook(self, hookable_method: str, hook: Callable[..., Any]) -> None:
        """Add a hook: ``process_last_received_message(content) -> content``,
        ``process_all_messages_before_reply(messages) -> messages`` (both change only what the
        reply sees, never the stored history), ``process_message_before_send(sender, message,
        recipient, silent) -> message`` (gets what is sent, a str or a dict; returns what to send).
        The ``a_`` forms take async hooks; both kinds run in sync and async chats alike. Raises
        ``AssertionError`` (a ``UsageError``) for an unknown method or a hook given twice."""
        if hookable_method not in self.hook_lists:
            raise UsageError(f"{hookable_method} is not a hookable method (hookable: {', '.join(HOOKABLE)})")
        if hook in self.hook_lists[hookable_method]:
            raise UsageError(f"{hook!r} is already registered as a hook")
        is_async = inspect.iscoroutinefunction(hook)
        name = getattr(hook, "__name__", repr(hook))
        if hookable_method.startswith("a_") and not is_async:
            warnings.warn(f"Hook '{name}' is synchronous, but it's being registered in a asynchronous context "
                          f"({hookable_method}); it will be called without awaiting.", UserWarning, stacklevel=2)
        elif is_async and not hookable_method.startswith("a_"):
            warnings.warn(f"Hook '{name}' is asynchronous, but it's being registered in a synchronous context "
                          f"({hookable_method}); register it on 'a_{hookable_method}' instead.", UserWarning,
                          stacklevel=2)
        self.hook_lists[hookable_method].append(hook)

    def register_for_llm(self, *, name: str | None = None, description: str | None = None, api_style: str = "tool") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: offer the function to this agent's model as a tool. The JSON schema comes
        from the type hints (``Annotated[int, "what it is"]``) and the docstring; ``description``
        defaults to the docstring's first paragraph (one of them is required). As in AutoGen, the
        description lands in ``llm_config["tools"]`` (``api_style="function"``: in
        ``llm_config["functions"]``, the legacy form)."""
        if api_style not in ("tool", "function"):
            raise ValueError(f"api_style must be 'tool' or 'function', not {api_style!r}")

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self._need_llm()
            tool = getattr(func, "_moot_tool", None)
            if tool is None or (name and tool.name != name) or (description is not None and tool.description != description):
                tool = build_tool(getattr(func, "_moot_func", func), name=name or (tool.name if tool else None),
                                  description=description if description is not None else (tool.description if tool else None))
            if not tool.description:
                raise ValueError("Function description is required, none found.")
            schema = tool.openai_schema()
            if api_style == "function":
                self.update_function_signature(schema["function"], is_remove=False)
            else:
                self.update_tool_signature(schema, is_remove=False)
            return _tag(func, tool)

        return decorator

    def register_for_execution(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: this agent runs the function when a model calls it. ``function_map`` shows
        it in AutoGen's wrapped form (``_origin`` is the function)."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            tool = getattr(func, "_moot_tool", None)
            if tool is None or (name and tool.name != name):
                tool = build_tool(getattr(func, "_moot_func", func), name=name or (tool.name if tool else None),
                                  description=tool.description if tool else None)
            wrap_function(tool)
            self._function_map[tool.name] = tool
            return _tag(func, tool)

        return decorator

    def _wrap_function(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """AutoGen's wrapper of a function to run (``moot.agents._tools.wrap_function``)."""
        return wrap_function(build_tool(func))

    def register_function(self, function_map: dict[str, Callable[..., Any] | None]) -> None:
        """Let this agent run these functions (``None`` removes one; replacing one warns)."""
        for fname, func in function_map.items():
            if func is None:
                self._function_map.pop(fname, None)
                continue
            if fname in self._function_map:
                warnings.warn(f"Function '{fname}' is being overridden.", UserWarning, stacklevel=2)
            self._function_map[fname] = build_tool(getattr(func, "_moot_func", func), name=fname)

    def _need_llm(self) -> None:
        if self.llm_config is False or self.llm_config is None:
            raise ToolsNeedModel(f"To update a tool signature, agent must have an llm_config: agent {self.name!r} "
                                 f"has llm_config=False, so it cannot offer tools to a model")

    def _set_description(self, key: str, fname: str, entry: dict[str, Any] | None) -> None:
        """Add, replace (warning) or with ``entry=None`` remove a description in
        ``llm_config[key]`` ("tools" or "functions"), and in what the model is offered."""
        listed: list[dict[str, Any]] | None = None
        if isinstance(self.llm_config, dict):
            listed = [d for d in self.llm_config.get(key) or ()
                      if (d.get("function", d) if key == "tools" else d).get("name") != fname]
        if entry is None:
            self._llm_tools.pop(fname, None)
        else:
            if fname in self._llm_tools:
                warnings.warn(f"Function '{fname}' is being overridden.", UserWarning, stacklevel=3)
            fn = entry["function"] if key == "tools" else entry
            self._llm_tools[fname] = ToolSpec(fname, fn.get("description", ""),
                                              fn.get("parameters") or {"type": "object", "properties": {}})
            if listed is not None:
                listed.append(entry)
        if listed is not None:
            if listed:
                self.llm_config[key] = listed
            else:
                self.llm_config.pop(key, None)

    def update_tool_signature(self, tool_sig: str | dict[str, Any], is_remove: bool) -> None:
        """Add (or with ``is_remove``, remove: a name or a description) an OpenAI-format tool
        description, in ``llm_config["tools"]``."""
        self._need_llm()
        if is_remove:
            fname = tool_sig if isinstance(tool_sig, str) else tool_sig.get("function", tool_sig)["name"]
            self._set_description("tools", fname, None)
            return
        if not isinstance(tool_sig, dict) or not isinstance(tool_sig.get("function"), dict) or not tool_sig["function"].get("name"):
            raise ValueError(f"a tool description is {{'type': 'function', 'function': {{'name': ...}}}}, not {tool_sig!r}")
        self._set_description("tools", tool_sig["function"]["name"], {"type": "function", **tool_sig})

    def update_function_signature(self, func_sig: str | dict[str, Any], is_remove: bool) -> None:
        """The legacy form of ``update_tool_signature``: a function description
        (``{"name", "description", "parameters"}``) in ``llm_config["functions"]``; the model is
        offered it as a tool."""
        self._need_llm()
        if is_remove:
            self._set_description("functions", func_sig if isinstance(func_sig, str) else func_sig["name"], None)
            return
        if not isinstance(func_sig, dict) or not func_sig.get("name"):
            raise ValueError(f"a function description is {{'name': ..., 'parameters': ...}}, not {func_sig!r}")
        self._set_description("functions", func_sig["name"], dict(func_sig))

    def register_nested_chats(
        self,
        chat_queue: list[dict[str, Any]],
        trigger: Any,
        reply_func_from_nested_chats: str | Callable[..., Any] = "summary_from_nested_chats",
        position: int | None = None,
        use_async: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Run a sequence of chats when a message from ``trigger`` arrives, and reply with the
        last chat's summary. Each entry is ``initiate_chat`` keywords plus ``recipient`` (and
        optionally ``sender``, default this agent); the first chat's message defaults to the
        message received. Inserted just before the LLM step unless ``position`` says otherwise
        (AutoGen puts it at 2, which with its duplicated sync/async steps lands in the same place).
        ``use_async=True`` (AutoGen's switch to ``a_initiate_chats``; moot's nested chats run on
        the async core either way) checks as AutoGen does: every chat needs a ``chat_id`` and a
        custom reply function must be a coroutine function; otherwise ``ValueError``."""
        if use_async:
            for i, chat in enumerate(chat_queue):
                if chat.get("chat_id") is None:
                    raise ValueError(f"chat_id is required for async nested chats: chat {i} of the queue has none")
            if callable(reply_func_from_nested_chats) and not inspect.iscoroutinefunction(reply_func_from_nested_chats):
                raise ValueError("reply_func_from_nested_chats must be a callable and a coroutine (use_async=True)")
        if reply_func_from_nested_chats == "summary_from_nested_chats":
            func: Callable[..., Any] = _chat.summary_from_nested_chats
        elif callable(reply_func_from_nested_chats):
            func = reply_func_from_nested_chats
        else:
            raise ValueError("reply_func_from_nested_chats must be 'summary_from_nested_chats' or a callable")

        async def nested_reply(recipient: ConversableAgent, messages: list[dict[str, Any]] | None = None,
                               sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
            result = func(chat_queue, recipient, messages, sender, config)
            if inspect.isawaitable(result):
                result = await result
            return result

        nested_reply.__name__ = "nested_chats_reply"
        if position is None:
            position = next((i for i, e in enumerate(self._reply_func_list)
                             if e["reply_func"] is ConversableAgent.a_generate_oai_reply), len(self._reply_func_list))
        self.register_reply(trigger, nested_reply, position=position, config=kwargs.get("config"))

    # -- sending and receiving -----------------------------------------------------------------

    def append_message(self, message: dict[str, Any], role: str, partner: Agent | None, name: str) -> dict[str, Any]:
        """Store a message in the history with ``partner`` as ``role`` ("assistant": this agent
        said it; "user": it heard it) without sending or replying; returns the stored copy. A
        resumed session rebuilds histories with it."""
        stored = stored_copy(message, role, name)
        if stored is None:
            raise ValueError("a message needs 'content', 'tool_calls' or 'tool_responses'")
        self._oai_messages[partner].append(stored)
        return stored

    def _append_oai_message(self, message: dict[str, Any] | str, role: str, conversation_id: Agent,
                            is_sending: bool) -> bool:
        """AutoGen's private form of ``append_message``: ``False`` (nothing stored) for a message
        with neither content nor calls. ``override_role`` in the message sets the stored role (a
        group's speaker selection prompt); a tool result or a call keeps its own."""
        message = as_message(message)
        name = self.name if is_sending else conversation_id.name
        stored = stored_copy(message, role, message.get("name") or name)
        if stored is None:
            return False
        override = message.get("override_role")
        if override and stored["role"] == role and "tool_calls" not in stored and "function_call" not in stored:
            stored["role"] = override
        self._oai_messages[conversation_id].append(stored)
        return True

    async def _process_before_send(self, message: Any, recipient: Agent, silent: bool) -> Any:
        """The before-send hooks, sync then async, each given what the one before returned (the
        message as the caller gave it first: a str or a dict)."""
        hooks = self.hook_lists
        for hook in (*hooks["process_message_before_send"], *hooks["a_process_message_before_send"]):
            message = hook(sender=self, message=message, recipient=recipient, silent=silent)
            if inspect.isawaitable(message):
                message = await message
        return message

    async def a_send(self, message: dict[str, Any] | str, recipient: ConversableAgent, request_reply: bool | None = None,
                     silent: bool | None = False, *, message_id: str | None = None) -> None:
        """Send a message; with ``request_reply=True`` the conversation goes on from there.
        ``message_id``: the id the message is posted with (the chat loop passes the id its token
        deltas carried); a new one by default."""
        hooks = self.hook_lists
        if hooks["process_message_before_send"] or hooks["a_process_message_before_send"]:
            message = await self._process_before_send(message, recipient, bool(silent))
        msg = {"content": message} if type(message) is str else dict(as_message(message))
        stored = self.append_message(msg, "assistant", recipient, self.name)
        run = current_run()
        mid = message_id or new_id()
        if run is not None:
            run.last_posted_id = mid
            sink = run.sink
            if sink is not None:
                content = stored["content"]
                # Positional (the fields' order): a keyword call costs a third more, for every message.
                sink(MessagePosted(
                    run.chat_id, mid, self.name, recipient.name, stored["role"],
                    content if content is None or type(content) is str else content_str(content),
                    stored.get("name"), tuple(stored["tool_calls"]) if "tool_calls" in stored else (),
                    tuple(stored["tool_responses"]) if "tool_responses" in stored else (),
                ))
        if not silent and not (self.silent is True):
            _print_message(self, recipient, stored)
        receive = getattr(recipient, "a_receive", None)
        if receive is not None:
            await receive(msg, self, request_reply, silent)
        else:  # an agent of the user's own with only AutoGen's sync ``receive``
            recipient.receive(msg, self, request_reply, silent)

    def send(self, message: dict[str, Any] | str, recipient: ConversableAgent, request_reply: bool | None = None,
             silent: bool | None = False) -> None:
        run_sync(self.a_send(message, recipient, request_reply, silent))

    async def a_receive(self, message: dict[str, Any] | str, sender: ConversableAgent, request_reply: bool | None = None,
                        silent: bool | None = False) -> None:
        self.append_message(message if type(message) is dict else as_message(message), "user", sender, sender.name)
        if runtime_logging.active is not None:
            runtime_logging.log_event(self, "received_message", message=message, sender=sender.name, valid=True)
        if request_reply is False or (request_reply is None and not self.reply_at_receive[sender]):
            return
        if not isinstance(sender, ConversableAgent):
            # An agent of the user's own (an ``Agent`` with ``receive``/``a_receive``): AutoGen's
            # one step, this agent's reply sent back, and that agent decides what follows.
            reply = await self.a_generate_reply(sender=sender)
            if reply is not None:
                await self.a_send(reply, sender, silent=silent)
            return
        await _chat.continue_conversation(self, sender, silent=bool(silent))

    def receive(self, message: dict[str, Any] | str, sender: ConversableAgent, request_reply: bool | None = None,
                silent: bool | None = False) -> None:
        run_sync(self.a_receive(message, sender, request_reply, silent))

    def deliver(self, message: dict[str, Any], sender: Agent, *, stored: dict[str, Any] | None = None) -> None:
        """Store a message as received, without replying or emitting (group chat broadcast).
        ``stored``: the received form, made once for many listeners (each keeps its own copy)."""
        if stored is None:
            stored = stored_copy(message, "user", message.get("name") or sender.name)
            if stored is None:
                return
        else:
            stored = dict(stored)
        self._oai_messages[sender].append(stored)
        if runtime_logging.active is not None:
            runtime_logging.log_event(self, "received_message", message=message, sender=sender.name, valid=True)

    # -- the reply pipeline --------------------------------------------------------------------

    @staticmethod
    def _match_trigger(trigger: Any, sender: Agent | None) -> bool:
        if type(trigger) is list and trigger == _ANY_SENDER:  # the built-in steps' trigger
            return sender is None or isinstance(sender, Agent)
        if isinstance(trigger, list):
            for t in trigger:
                if t is None:
                    if sender is None:
                        return True
                elif ConversableAgent._match_trigger(t, sender):
                    return True
            return False
        if trigger is None:
            return sender is None
        if isinstance(trigger, type):
            return isinstance(sender, trigger)
        if isinstance(trigger, str):
            if sender is None:
                raise SenderRequired(f"a reply step of {getattr(trigger, 'name', trigger)!r} is triggered by the sender's "
                                     f"name, so generate_reply needs a sender")
            return trigger == sender.name
        if isinstance(trigger, Agent):
            return trigger is sender
        if callable(trigger):
            return bool(trigger(sender))
        raise ValueError(f"unsupported trigger {trigger!r}")

    async def _apply_receive_hooks(self, messages: list[dict[str, Any]], stored: bool) -> list[dict[str, Any]]:
        """The receive hooks (sync, then ``a_``): what the reply steps see. The stored history
        never changes; messages the caller passed get the last one's new content in place, as
        AutoGen 0.2 does."""
        hooks = self.hook_lists
        last_hooks = (*hooks["process_last_received_message"], *hooks["a_process_last_received_message"])
        all_hooks = (*hooks["process_all_messages_before_reply"], *hooks["a_process_all_messages_before_reply"])
        if stored and last_hooks and not all_hooks and messages:
            # The usual case (a Session's steering hook, a recall that found nothing): when no hook
            # changes the last message, the reply steps get the stored history itself, so the
            # agent's context view keeps its conversion and its cut (and the KV prefix) between turns.
            original = content = messages[-1].get("content")
            if isinstance(content, str):
                for hook in last_hooks:
                    content = hook(content)
                    if inspect.isawaitable(content):
                        content = await content
                if content == original:
                    return messages
                msgs = [dict(m) for m in messages]
                msgs[-1]["content"] = content
                return msgs
        msgs = [dict(m) for m in messages]  # hooks may edit dicts in place; the history must not change
        if last_hooks and msgs:
            content = msgs[-1].get("content")
            if isinstance(content, str):
                for hook in last_hooks:
                    content = hook(content)
                    if inspect.isawaitable(content):
                        content = await content
                msgs[-1]["content"] = content
                if not stored:
                    messages[-1]["content"] = content
        for hook in all_hooks:
            msgs = hook(msgs)
            if inspect.isawaitable(msgs):
                msgs = await msgs
        return msgs

    async def a_generate_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                               **kwargs: Any) -> str | dict[str, Any] | None:
        """Run the reply pipeline; ``None`` means no reply (the conversation ends). ``cache``:
        a ``moot.cache.Cache`` its model calls use (this call only)."""
        cache = kwargs.pop("cache", None)
        if cache is None:
            reply = await self.a_reply(messages, sender, **kwargs)
        else:
            before, self.client_cache = self.client_cache, cache
            try:
                reply = await self.a_reply(messages, sender, **kwargs)
            finally:
                self.client_cache = before
        return None if isinstance(reply, NoReply) else reply

    a_generate_reply.moot_pipeline = True  # type: ignore[attr-defined]  # the chat loop asks a_reply instead

    async def a_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                      **kwargs: Any) -> str | dict[str, Any] | NoReply:
        """The reply pipeline: the first step that gives a final answer wins. No reply comes back
        as a ``NoReply`` saying why (the step's reason, else "had no reply")."""
        if messages is None:
            if sender is None:
                raise UsageError("generate_reply needs messages or a sender (Either messages or sender must be provided.)")
            messages = self._oai_messages[sender]
        hooks = self.hook_lists
        if (hooks["process_last_received_message"] or hooks["process_all_messages_before_reply"]
                or hooks["a_process_last_received_message"] or hooks["a_process_all_messages_before_reply"]):
            stored = sender is not None and messages is self._oai_messages.get(sender)
            messages = await self._apply_receive_hooks(messages, stored)
        exclude = kwargs.get("exclude", ())
        last = messages[-1] if messages else None
        any_sender = sender is None or isinstance(sender, Agent)  # what the built-in steps' trigger asks
        for entry in tuple(self._reply_func_list):
            func = entry["reply_func"]
            if exclude and func in exclude:
                continue
            trigger = entry["trigger"]
            if trigger is _ANY_SENDER or (type(trigger) is list and trigger == _ANY_SENDER):  # inline
                if not any_sender:
                    continue
            elif not self._match_trigger(trigger, sender):
                continue
            step = _BUILTIN_STEPS.get(func)
            result = None
            if step is not None:  # a built-in step: asked inline whether it has work, no coroutine made
                if step == _TERMINATION_STEP:
                    if self.human_input_mode == "NEVER":
                        result = self._check_without_human(messages, sender)
                elif step == _TOOL_CALLS_STEP:
                    if last is None or not last.get("tool_calls"):
                        continue
                elif step == _CODE_STEP:
                    if not self._code_execution_config:
                        continue
                elif last is None or not last.get("function_call"):
                    continue
            if result is None:  # not answered inline: run the step
                result = func(self, messages=messages, sender=sender, config=entry["config"])
                if type(result) is not tuple and (type(result) is CoroutineType or inspect.isawaitable(result)):
                    result = await result
            final, reply = result
            if final:
                if runtime_logging.active is not None:
                    runtime_logging.log_event(self, "reply_func_executed", reply_func_module=func.__module__,
                                              reply_func_name=getattr(func, "__name__", repr(func)), final=True,
                                              reply=None if isinstance(reply, NoReply) else reply)
                return NoReply(f"{self.name} had no reply", "no_reply") if reply is None else reply
        if self._default_auto_reply is None:
            return NoReply(f"{self.name} had no reply", "no_reply")
        return self._default_auto_reply

    def generate_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                       **kwargs: Any) -> str | dict[str, Any] | None:
        return run_sync(self.a_generate_reply(messages, sender, **kwargs))

    # human input

    def get_human_input(self, prompt: str) -> str:
        """Ask the human on the console, or the ``moot.io.IOStream`` set as the default (override
        this, or the async ``a_get_human_input``)."""
        return IOStream.get_default().input(prompt)

    async def a_get_human_input(self, prompt: str) -> str:
        """Ask the human. The default reads the console in a thread; the TUI and tests replace it."""
        return await asyncio.to_thread(self.get_human_input, prompt)

    async def _ask_human(self, prompt: str) -> str:
        run = current_run()
        if run is not None:
            run.emit(HumanInputRequested(run.chat_id, agent=self.name, prompt=prompt))
        reply = await self.a_get_human_input(prompt)
        reply = "" if reply is None else str(reply)
        self._human_input.append(reply)
        if run is not None:
            run.human_input.append(reply)
            run.emit(HumanReply(run.chat_id, agent=self.name, text=reply))
        return reply

    def _check_without_human(self, messages: list[dict[str, Any]], sender: Agent | None) -> tuple[bool, Any]:
        """The first step with ``human_input_mode="NEVER"``: nobody to ask, so nothing to await
        (the pipeline calls this directly, with no coroutine made, for every message)."""
        if not messages:
            return False, None
        counters = self._consecutive_auto_reply_counter
        if counters[sender] >= self._max_consecutive_auto_reply_dict[sender]:
            return True, self._stop_auto_reply(sender, "limit")
        if self._is_termination_msg(messages[-1]):
            return True, self._stop_auto_reply(sender, "termination")
        counters[sender] += 1
        return False, None

    def _stop_auto_reply(self, sender: Agent | None, why: str) -> NoReply:
        """The end of the auto-replies to ``sender``: the limit, a termination message, or the
        human's 'exit'."""
        self._consecutive_auto_reply_counter[sender] = 0
        sender_name = "the sender" if sender is None else sender.name
        if why == "limit":
            limit = self._max_consecutive_auto_reply_dict[sender]
            return NoReply(f"{self.name} reached max_consecutive_auto_reply ({limit}) in its chat with "
                           f"{sender_name}", "max_consecutive_auto_reply")
        if why == "termination":
            return NoReply(f"{self.name} received a termination message from {sender_name}", "is_termination_msg")
        return NoReply(f"the human typed 'exit' as {self.name}", "human_exit")

    async def a_check_termination_and_human_reply(self, messages: list[dict[str, Any]] | None = None,
                                                  sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """AutoGen's first step: decide whether to stop, ask the human, or go on to auto-reply."""
        if messages is None:
            messages = self._oai_messages[sender] if sender is not None else []
        if self.human_input_mode == "NEVER":
            return self._check_without_human(messages, sender)
        if not messages:
            return False, None
        message = messages[-1]
        reply = ""
        sender_name = "the sender" if sender is None else sender.name
        why = ""
        if self.human_input_mode == "ALWAYS":
            reply = await self._ask_human(
                f"Replying as {self.name}. Provide feedback to {sender_name}. Press enter to skip and use "
                f"auto-reply, or type 'exit' to end the conversation: ")
            if not reply and self._is_termination_msg(message):
                reply, why = "exit", "termination"
        else:  # TERMINATE: the human is asked only when the chat would stop
            counter = self._consecutive_auto_reply_counter[sender]
            limit = self._max_consecutive_auto_reply_dict[sender]
            if counter >= limit:
                terminate = self._is_termination_msg(message)
                reply = await self._ask_human(
                    f"Please give feedback to {sender_name}. Press enter or type 'exit' to stop the conversation: "
                    if terminate else
                    f"Please give feedback to {sender_name}. Press enter to skip and use auto-reply, or type "
                    f"'exit' to stop the conversation: ")
                if not reply and terminate:
                    reply, why = "exit", "termination"
            elif self._is_termination_msg(message):
                reply = await self._ask_human(
                    f"Please give feedback to {sender_name}. Press enter or type 'exit' to stop the conversation: ")
                if not reply:
                    reply, why = "exit", "termination"

        if reply == "exit":
            return True, self._stop_auto_reply(sender, why)

        if reply or self._max_consecutive_auto_reply_dict[sender] == 0:
            # The human answered: pending tool calls get an "interrupted" result each, so the
            # conversation stays valid for servers that insist every call is answered.
            response: dict[str, Any] = {"role": "user", "content": reply}
            calls = message.get("tool_calls")
            if calls:
                response["tool_responses"] = [
                    {"tool_call_id": c.get("id", ""), "role": "tool", "content": INTERRUPTED} for c in calls
                ]
            self._consecutive_auto_reply_counter[sender] = 0
            return True, response

        self._consecutive_auto_reply_counter[sender] += 1
        return False, None

    async def a_generate_tool_calls_reply(self, messages: list[dict[str, Any]] | None = None,
                                          sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Run the tool calls of the last message; each result (or what went wrong) goes back."""
        if messages is None:
            messages = self._oai_messages[sender]
        if not messages:
            return False, None
        calls = messages[-1].get("tool_calls")
        if not calls:
            return False, None
        run = current_run()
        available = list(self._function_map)
        returns = []
        for call in calls:
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            fname = fn.get("name", "")
            args = fn.get("arguments", "")
            if not isinstance(args, str):
                import json

                args = json.dumps(args)
            call_id = call.get("id", "")
            if run is not None:
                run.emit(ToolCallRequested(run.chat_id, agent=self.name, call_id=call_id, name=fname, arguments=args))
            started = time.perf_counter()
            outcome = await run_tool(self._function_map.get(fname), fname, args, available)
            if run is not None:
                run.emit(ToolResult(run.chat_id, agent=self.name, call_id=call_id, name=fname, content=outcome.content,
                                    is_error=outcome.is_error, repaired=outcome.repaired,
                                    duration_s=time.perf_counter() - started))
            if runtime_logging.active is not None:
                runtime_logging.log_function_use(self, fname, {"arguments": args}, outcome.content)
            returns.append({"tool_call_id": call_id, "role": "tool", "content": outcome.content})
        return True, {"role": "tool", "tool_responses": returns, "content": "\n\n".join(r["content"] for r in returns)}

    async def a_generate_code_execution_reply(self, messages: list[dict[str, Any]] | None = None,
                                              sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Run the code blocks of the latest message that has some (see ``code_execution_config``)."""
        return await a_generate_code_execution_reply(self, messages, sender, config)

    @staticmethod
    def _format_json_str(jstr: str) -> str:
        """AutoGen's clean-up of a model's JSON arguments (``moot.agents._tools.format_json_str``)."""
        return format_json_str(jstr)

    async def a_execute_function(self, func_call: dict[str, Any], verbose: bool = False) -> tuple[bool, dict[str, Any]]:
        """Run one legacy ``function_call`` (``{"name", "arguments"}``). Returns ``(ran, result)``
        with ``result = {"name", "role": "function", "content"}``; what went wrong is the content
        in AutoGen's words, with ``ran=False``: ``Error: Function NAME not found.``, arguments
        that are not JSON (``... The argument must be in JSON format.``), the function raising."""
        return await self._execute_function(func_call, verbose, sync=False)

    def execute_function(self, func_call: dict[str, Any], verbose: bool = False) -> tuple[bool, dict[str, Any]]:
        """Run one legacy ``function_call``; see ``a_execute_function``. An async function is not
        run here (AutoGen hands back an unawaited coroutine): the content says to use
        ``a_execute_function``."""
        return run_sync(self._execute_function(func_call, verbose, sync=True))

    async def _execute_function(self, func_call: dict[str, Any], verbose: bool, sync: bool) -> tuple[bool, dict[str, Any]]:
        fname = func_call.get("name", "") or ""
        args = func_call.get("arguments", "{}")
        if not isinstance(args, str):
            args = json.dumps(args)
        tool = self._function_map.get(fname)
        failed: str | None = None
        if tool is not None:
            try:
                args = json.dumps(json.loads(format_json_str(args or "{}")))
            except json.JSONDecodeError as exc:
                failed = f"Error: {exc}\n The argument must be in JSON format."
            else:
                if sync and inspect.iscoroutinefunction(tool.func):
                    failed = (f"Error: {fname} is an async function, so execute_function cannot run it: "
                              f"call a_execute_function (or run the chat with a_initiate_chat).")
        run = current_run()
        if run is not None:
            run.emit(ToolCallRequested(run.chat_id, agent=self.name, call_id="", name=fname, arguments=args))
        started = time.perf_counter()
        if failed is not None:
            outcome = ToolOutcome(failed, True)
        else:
            outcome = await run_tool(tool, fname, args, list(self._function_map))
        if run is not None:
            run.emit(ToolResult(run.chat_id, agent=self.name, call_id="", name=fname, content=outcome.content,
                                is_error=outcome.is_error, repaired=outcome.repaired,
                                duration_s=time.perf_counter() - started))
        if runtime_logging.active is not None:
            runtime_logging.log_function_use(self, fname, {"arguments": args}, outcome.content)
        if verbose:
            print(f"Input arguments: {args}\nOutput:\n{outcome.content}", flush=True)
        return not outcome.is_error, {"name": fname, "role": "function", "content": outcome.content}

    async def a_generate_function_call_reply(self, messages: list[dict[str, Any]] | None = None,
                                             sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Run the legacy ``function_call`` of the last message; its result is the reply."""
        if messages is None:
            messages = self._oai_messages[sender]
        call = messages[-1].get("function_call") if messages else None
        if not call:
            return False, None
        return True, (await self.a_execute_function(call))[1]

    # The sync forms of the reply steps, as AutoGen exposes them. In the pipeline (register_reply,
    # replace_reply_func) each stands for its async form, so a chat never blocks in one.

    def generate_oai_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                           config: Any = None) -> tuple[bool, Any]:
        """Ask the model (``a_generate_oai_reply``)."""
        return run_sync(self.a_generate_oai_reply(messages, sender, config))

    def generate_code_execution_reply(self, messages: list[dict[str, Any]] | None = None,
                                      sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Run the code blocks of the latest message that has some (``a_generate_code_execution_reply``)."""
        return run_sync(self.a_generate_code_execution_reply(messages, sender, config))

    def generate_tool_calls_reply(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                                  config: Any = None) -> tuple[bool, Any]:
        """Run the last message's tool calls (``a_generate_tool_calls_reply``)."""
        return run_sync(self.a_generate_tool_calls_reply(messages, sender, config))

    def generate_function_call_reply(self, messages: list[dict[str, Any]] | None = None,
                                     sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Run the last message's legacy function call (``a_generate_function_call_reply``)."""
        return run_sync(self.a_generate_function_call_reply(messages, sender, config))

    def check_termination_and_human_reply(self, messages: list[dict[str, Any]] | None = None,
                                          sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Stop, ask the human, or go on (``a_check_termination_and_human_reply``); a stop comes
        back as ``(True, None)``."""
        final, reply = run_sync(self.a_check_termination_and_human_reply(messages, sender, config))
        return final, None if isinstance(reply, NoReply) else reply

    def _view(self, messages: list[dict[str, Any]], sender: Agent | None, llm: LLM | None = None) -> list[ChatMessage]:
        """What the model sees: the system message and the conversation (``_window``)."""
        return self._sized_view(messages, sender, llm)[0]

    def _sized_view(self, messages: list[dict[str, Any]], sender: Agent | None, llm: LLM | None,
                    tools: list[ToolSpec] | None = None) -> tuple[list[ChatMessage], int]:
        """The view and its size in the budget's units (kept by the window, so nothing walks the
        history): tokens when the model's tokenizer counts, else characters."""
        group = getattr(sender, "_groupchat", None) is not None  # a group chat's speaker names itself to the model
        key = (self._system_message, llm, len(tools) if tools else 0, group)
        if self._head_key != key:  # the system message, the model or its tools changed: measure again
            self._head = ([ChatMessage("system", self._system_message, self.name if group else None)]
                          if self._system_message else [])
            self._head_chars = size_of(self._head)
            self._budget = Budget.of(llm, self._head, tools or ()) if llm is not None else None
            self._head_key = key
            self._head_version += 1
        budget = self._budget
        counter = None
        room = None
        if budget is not None:
            counter = budget.counter
            if counter is None:
                budget.ratio = budget.source._chars_per_token  # as the server's counts calibrated it
            room = budget.room()
        stored = self._oai_messages.get(sender) if sender is not None else None
        if stored is None or messages is not stored:
            body = trimmed(to_chat_messages(messages), room, counter, self.context_strategies)
            if counter is not None:
                return self._head + body, sum(counter(m) for m in body)
            return self._head + body, self._head_chars + size_of(body)
        view = self._views.get(sender)
        if view is None or view.upto > len(stored) or view.version != self._head_version:
            # new, the history was cut, or another head: start again
            view = self._views[sender] = ConversationView(self._head, self._head_version, counter,
                                                          self.context_strategies)
        seen = view.update(stored, room)
        used = view.total if not view.cut else view.used
        self._room_units = room
        return seen, used if counter is not None else self._head_chars + used

    async def _discover(self, llm: LLM) -> None:
        """Once per model: its real window (llama.cpp's n_ctx, a server's report) and tokenizer."""
        backend = llm.backend
        self._windows_known.add(id(backend))
        known = backend.context_window()
        found = await backend.discover_window()
        if found != known or backend.token_counter() is not None:
            self._head_key = None  # measure the head again, with the real window and tokenizer

    def _needs_summary(self, messages: list[dict[str, Any]], sender: Agent | None) -> bool:
        if "summary" not in self.context_strategies or sender is None or messages is not self._oai_messages.get(sender):
            return False
        conv = self._views.get(sender)
        return conv is not None and conv.compaction is not None and bool(conv.cut) and conv.summary_cut != conv.cut

    async def _fit(self, llm: LLM, messages: list[dict[str, Any]], sender: Agent | None,
                   tools: list[ToolSpec] | None) -> tuple[list[ChatMessage], int, int | None]:
        """The prompt of the next call, compacted to fit the model's window with room for the
        reply: (messages, size in the budget's units, the reply's max tokens when it had to be
        squeezed). Each compaction is an event; a summary is one model call, made once."""
        if id(llm.backend) not in self._windows_known:
            await self._discover(llm)
        view, units = self._sized_view(messages, sender, llm, tools)
        summary = await self._summarise(llm, self._views[sender], sender) if self._needs_summary(messages, sender) else None
        return self._fitted(llm, messages, sender, view, units, summary)

    def _fitted(self, llm: LLM, messages: list[dict[str, Any]], sender: Agent | None, view: list[ChatMessage],
                units: int, summary: tuple[str, int, str] | None) -> tuple[list[ChatMessage], int, int | None]:
        """``_fit``'s end, with no await (the common call): the compaction's events, and the
        reply's room."""
        budget = self._budget
        if budget is None or not budget.window:
            return view, units, None
        conv = self._views.get(sender) if sender is not None and messages is self._oai_messages.get(sender) else None
        done = conv.compaction if conv is not None else None
        if done is None and conv is not None and (conv.total if not conv.cut else conv.used) <= self._room_units:
            return view, units, None  # the usual call: it fits with the reply's room, nothing was cut
        run = current_run()
        if summary is not None:
            view, units = conv.update(messages, budget.room()), (conv.used if budget.exact else
                                                                   self._head_chars + conv.used)
            done.after = conv.used
        if done is not None and run is not None:
            for event in compaction_events(run.chat_id, self.name, budget, done, summary):
                run.emit(event)
        conv_units = units if budget.exact else max(0, units - self._head_chars)
        left = budget.reply_room(conv_units)
        if left is not None and left < budget.reserved:
            if left < MIN_REPLY:
                raise ChatStop(
                    f"{self.name}: the prompt does not fit {llm.name!r}'s window of {budget.window:,} tokens even "
                    f"compacted ({budget.prompt_tokens(conv_units):,} tokens: the system message, the task and "
                    f"the current turn are never cut); raise context_length in models.toml or shorten them",
                    "context_overflow")
            return view, units, left
        return view, units, None

    async def _summarise(self, llm: LLM, conv: ConversationView, sender: Agent | None) -> tuple[str, int, str]:
        """Let one summary stand for what the window leaves out: (partner, cut, text). Made with
        one model call, or taken from the session's record (``restore_summary``)."""
        key = (getattr(sender, "name", ""), conv.cut)
        text = self._summaries.get(key)
        if text is None:
            previous = conv.summary.content.removeprefix(SUMMARY_LABEL) if conv.summary is not None else None
            start = conv.summary_cut if conv.summary is not None else 1
            left_out = conv.converted[conv.head + start:conv.head + conv.cut]
            completion = await self._stream_model(llm, summary_prompt(previous, left_out), deltas=False,
                                                  max_tokens=SUMMARY_TOKENS, temperature=0.0)
            text = (completion.content or "").strip() or "(no summary)"
            self._summaries[key] = text
        conv.set_summary(ChatMessage("user", SUMMARY_LABEL + text))
        return key[0], key[1], text

    def restore_summary(self, partner: str, cut: int, text: str) -> None:
        """A resumed session's summary of left-out turns: used again instead of a new model call."""
        self._summaries[(partner, cut)] = text

    async def a_generate_oai_reply(self, messages: list[dict[str, Any]] | None = None,
                                   sender: Agent | None = None, config: Any = None) -> tuple[bool, Any]:
        """Ask the model, streaming tokens as events. The prompt is fitted to the model's window
        first (``_fit``); a backend that still finds it too long gets it compacted harder, once."""
        llm = config if isinstance(config, LLM) else self._resolve_llm()
        if llm is None:
            return False, None
        if messages is None:
            messages = self._oai_messages[sender]
        tools = None
        if self._llm_tools:
            tools = list(self._llm_tools.values())
            if llm.tools:  # llm_config["tools"] may list some of them too
                tools += [t for t in llm.tools if t.name not in self._llm_tools]
        elif llm.tools:
            tools = llm.tools
        if id(llm.backend) not in self._windows_known:
            await self._discover(llm)
        view, units = self._sized_view(messages, sender, llm, tools)  # _fit, inline: no coroutine layer a call
        budget = self._budget
        conv = self._views.get(sender) if budget is not None else None
        if conv is not None and conv.compaction is None and messages is self._oai_messages.get(sender) and (
                self._room_units is None or (conv.total if not conv.cut else conv.used) <= self._room_units):
            squeezed = None  # the usual call: it fits with the reply's room, nothing was cut
        else:
            summary = (await self._summarise(llm, self._views[sender], sender)
                       if "summary" in self.context_strategies and self._needs_summary(messages, sender) else None)
            view, units, squeezed = self._fitted(llm, messages, sender, view, units, summary)
        self._tool_problem = None
        try:
            if squeezed is None and budget is not None:  # _call, inline
                completion = await self._stream_model(llm, view, tools=tools, prompt_chars=None if budget.counter
                                                      is not None else units, meter=(budget.window or 0, budget.reserved))
            else:
                completion = await self._call(llm, view, units, squeezed, tools)
            if budget is not None and budget.counter is None and completion.usage.prompt_tokens:
                budget.calls += 1
                if budget.calls <= 16 or not budget.calls % 16:  # calibrate the estimate (it settles soon)
                    budget.source.observe_prompt(units, completion.usage.prompt_tokens)
            problem = self._tool_problem
            if problem is not None and tools and not completion.tool_calls:
                # The model meant to call a tool but the call could not be used: say what was wrong
                # (in its view only, never stored) and let it try once more.
                self._tool_problem = None
                retry = [*view, ChatMessage("assistant", completion.content or "(a tool call)"),
                         ChatMessage("user", f"Your tool call could not be used: {problem.split(': ', 1)[-1]}. "
                                             f"Call the tool again with valid JSON arguments, or answer in plain text.")]
                again = await self._call(llm, retry, units, squeezed, tools)
                if again.tool_calls or self._tool_problem is None:
                    completion = again
        except ChatStop as stop:
            budget = self._budget
            if not isinstance(stop.__cause__, ContextOverflow) or budget is None or not budget.window:
                raise
            # The estimate was short of the server's count: leave a quarter more room and try once more.
            budget.overhead += max(64, budget.window // 4)
            view, units, squeezed = await self._fit(llm, messages, sender, tools)
            completion = await self._call(llm, view, units, squeezed, tools)
        if completion.tool_calls:
            return True, {
                "content": completion.content or None,
                "role": "assistant",
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in completion.tool_calls
                ],
            }
        return True, completion.content

    def _call(self, llm: LLM, view: list[ChatMessage], units: int, squeezed: int | None,
              tools: list[ToolSpec] | None) -> Any:
        """The reply's model call (a coroutine: no layer of its own), with the context meter."""
        budget = self._budget
        if budget is None:
            return self._stream_model(llm, view, tools=tools, prompt_chars=units)
        exact = budget.counter is not None
        meter = (budget.window or 0, squeezed or budget.reserved)
        if squeezed is None:
            return self._stream_model(llm, view, tools=tools, prompt_chars=None if exact else units, meter=meter)
        return self._stream_model(llm, view, tools=tools, prompt_chars=None if exact else units,
                                  max_tokens=squeezed, meter=meter)

    async def _stream_model(self, llm: LLM, view: list[ChatMessage], *, deltas: bool = True,
                            meter: tuple[int, int] | None = None, **kwargs: Any) -> Completion:
        """Stream one model call; ``deltas=False`` for calls whose text is not a message
        (speaker selection, summaries). With a ``client_cache`` (``cache=``), an identical
        request gets the stored reply and the model is not called."""
        run = current_run()
        mid = (run.turn_id if run is not None else None) or new_id()
        sink = run.sink if run is not None else None
        delta_sink = sink if deltas else None
        started = runtime_logging.now() if runtime_logging.active is not None else None
        cache = self.client_cache
        if cache is not None:
            cache_key = request_key(llm, view, kwargs)
            hit = cached_completion(cache.get(cache_key, None))
            if hit is not None:
                if delta_sink is not None and hit.content:
                    delta_sink(TokenDelta(run.chat_id, agent=self.name, message_id=mid, text=hit.content))
                if run is not None:
                    run.emit(NoticeEvent(run.chat_id, agent=self.name, text=f"{hit.model}: the reply came from the "
                                         f"cache (no model call)", kind="cache", message_id=mid))
                if started is not None:
                    _log_completion(self, llm, view, kwargs, hit, started, cached=True)
                return hit
        completion: Completion | None = None
        if kwargs.keys() <= _PLAIN_CALL:  # a reply's call: its request made here, not through ModelRequest.of
            request = ModelRequest(view, kwargs.get("tools") or (), None, None, None, None, None, kwargs.get("prompt_chars"))
        else:
            request = ModelRequest.of(view, **kwargs)
        stream = llm.backend.stream(request)  # LLM.stream is this, one call less
        try:
            chat_id, name = (run.chat_id, self.name) if run is not None else (None, self.name)
            async for item in stream if run is None or not run.stops else run.bounded(stream):
                kind = type(item)
                if kind is Delta:
                    if run is not None:
                        if delta_sink is not None:
                            delta_sink(TokenDelta(chat_id, name, mid, item.content))  # positional: per delta
                        if run.stops:
                            fired = run.stop_requested()
                            if fired is not None:
                                reason, condition = fired.interrupt()
                                raise ChatStop(reason, condition)
                elif kind is Completion or isinstance(item, Completion):
                    completion = item
                elif kind is Thought:
                    if delta_sink is not None:
                        delta_sink(ReasoningDelta(chat_id, name, mid, item.content))
                elif isinstance(item, Notice):
                    if item.kind == "tool_call":
                        self._tool_problem = item.text
                    if run is not None:
                        run.emit(NoticeEvent(run.chat_id, agent=self.name, text=item.text, kind=item.kind,
                                             message_id=mid))
        except (BackendError, ConfigError) as exc:
            raise ChatStop(f"{self.name}: the model failed: {exc}", "backend_error") from exc
        if completion is None:
            raise ChatStop(f"{self.name}: the model stream ended without a reply", "backend_error")
        if cache is not None:
            cache.set(cache_key, stored_completion(completion))
        if started is not None:
            _log_completion(self, llm, view, kwargs, completion, started, cached=False)
        usage, model = completion.usage, completion.model
        before = self._usage.get(model)
        self._usage[model] = usage if before is None else before + usage
        if run is not None:
            run.add_usage(model, usage)
            if sink is not None:
                window, reserved = meter or (llm.backend.context_window() or 0, kwargs.get("max_tokens") or 0)
                sink(UsageReport(run.chat_id, self.name, model, usage.prompt_tokens, usage.completion_tokens,
                                 usage.cached_tokens, window, reserved, usage.reasoning_tokens))  # positional: per call
        return completion

    async def _generate_oai_reply_from_client(self, llm_client: LLM, messages: list[dict[str, Any]],
                                              cache: Any = None) -> str | None:
        """One model call on AutoGen-shaped messages whose answer is not a chat message (a
        summary): the reply's text. AutoGen's name, so a script that patches it sees the call."""
        completion = await self._stream_model(llm_client, to_chat_messages(messages), deltas=False)
        return completion.content

    # -- chats (implemented in _chat) ----------------------------------------------------------

    async def a_initiate_chat(self, recipient: ConversableAgent, clear_history: bool = True, silent: bool | None = False,
                              cache: Any = None, max_turns: int | None = None,
                              summary_method: str | Callable[..., Any] | None = DEFAULT_SUMMARY_METHOD,
                              summary_args: dict[str, Any] | None = None, message: Any = None,
                              **kwargs: Any) -> _chat.ChatResult:
        """Start a chat with ``recipient`` and run it until it stops; see ``initiate_chat``."""
        saved = self._lend_cache(recipient, cache) if cache is not None else ()
        try:
            return await _chat.a_initiate_chat(self, recipient, clear_history=clear_history, silent=silent,
                                               max_turns=max_turns, summary_method=summary_method,
                                               summary_args=summary_args, message=message, **kwargs)
        finally:
            for agent, before in saved:
                agent.client_cache = before
            # As AutoGen leaves them: after the chat, a message either sends gets a reply.
            self.reply_at_receive[recipient] = True
            if isinstance(recipient, ConversableAgent):
                recipient.reply_at_receive[self] = True

    def _lend_cache(self, recipient: Any, cache: Any) -> list[tuple[Any, Any]]:
        """Give ``cache`` to the chat's agents (both sides; a group's members too), as AutoGen
        does for the chat's length; returns what each had, to put back."""
        agents = [self, recipient, *getattr(getattr(recipient, "groupchat", None), "agents", ())]
        saved = []
        for agent in dict.fromkeys(agents):
            if hasattr(agent, "client_cache"):
                saved.append((agent, agent.client_cache))
                agent.client_cache = cache
        return saved

    def initiate_chat(self, recipient: ConversableAgent, clear_history: bool = True, silent: bool | None = False,
                      cache: Any = None, max_turns: int | None = None,
                      summary_method: str | Callable[..., Any] | None = DEFAULT_SUMMARY_METHOD,
                      summary_args: dict[str, Any] | None = None, message: Any = None,
                      **kwargs: Any) -> _chat.ChatResult:
        """Start a chat with ``recipient``: send ``message`` and let the two reply to each other
        until one has no reply, ``max_turns`` rounds pass, or a ``termination=`` condition fires.

        ``cache``: a ``moot.cache.Cache`` (``with Cache.disk() as cache``) the chat's model calls
        use, so an identical request is answered from it without a model call.
        Returns a ``ChatResult`` whose ``stop_reason`` always says why it stopped. Extra keywords:
        ``termination`` (a condition from ``moot.agents.termination``), ``carryover``.
        Unlike AutoGen 0.2, the chat also stops (instead of going round again) when, with
        ``max_turns`` set, an agent has no reply.
        """
        for agent in (self, recipient):
            check = getattr(agent, "_raise_exception_on_async_reply_functions", None)
            if check is not None:
                check()
        return run_sync(self.a_initiate_chat(recipient, clear_history, silent, cache, max_turns, summary_method,
                                             summary_args, message, **kwargs))

    def run_stream(self, recipient: ConversableAgent, message: Any = None, **kwargs: Any) -> _chat.ChatStream:
        """The chat as an async stream of events (``moot.agents.events``); ``stream.result`` holds the
        ``ChatResult`` once the ``Stopped`` event has been yielded."""
        return _chat.ChatStream(self, recipient, message=message, **kwargs)

    async def a_initiate_chats(self, chat_queue: list[dict[str, Any]]) -> Any:
        """``moot.agents.a_initiate_chats`` with this agent as each chat's sender: a list of
        results, or ``{chat_id: ChatResult}`` when every chat names a ``chat_id``."""
        self._finished_chats = await _chat.a_initiate_chats([{**c, "sender": c.get("sender", self)} for c in chat_queue])
        return self._finished_chats

    def initiate_chats(self, chat_queue: list[dict[str, Any]]) -> list[_chat.ChatResult]:
        """Run chats one after another; each one's summary is carried over into the next ones."""
        queue = [{**c, "sender": c.get("sender", self)} for c in chat_queue]
        self._finished_chats = run_sync(_chat.chats_in_turn(queue))
        return self._finished_chats

    def get_chat_results(self, chat_index: Any = None) -> Any:
        """The results of this agent's last ``initiate_chats``: all of them, or the one at
        ``chat_index`` (its chat_id, after an ``a_initiate_chats`` by chat_id)."""
        finished = getattr(self, "_finished_chats", [])
        return finished if chat_index is None else finished[chat_index]

    def generate_init_message(self, message: Any = None, **kwargs: Any) -> Any:
        """The chat's first message: ``message`` with ``carryover`` (a string or a list) added as
        context; a multimodal message gets it as a text part in front."""
        return self._handle_carryover(message, kwargs)

    async def a_generate_init_message(self, message: Any = None, **kwargs: Any) -> Any:
        if message is None:
            message = await self._ask_human(">")
        return self._handle_carryover(message, kwargs)

    def _process_carryover(self, content: str, kwargs: dict[str, Any]) -> str:
        """``content`` with the carryover appended (items may be strings or message dicts)."""
        carryover = kwargs.get("carryover")
        if not carryover:
            return content
        if isinstance(carryover, str):
            carryover = [carryover]
        elif not isinstance(carryover, list):
            raise InvalidCarryOverType(f"carryover must be a string or a list of strings, not "
                                       f"{type(carryover).__name__}: {carryover!r}")
        items = (c if isinstance(c, str) else content_str(c.get("content")) if isinstance(c, dict) else str(c)
                 for c in carryover)
        return content + "\nContext: \n" + "\n".join(items)

    def _handle_carryover(self, message: Any, kwargs: dict[str, Any]) -> Any:
        """The first message with the carryover added; the caller's message is not changed."""
        if not kwargs.get("carryover"):
            return message
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, list):
                return {**message, "content": [{"type": "text", "text": self._process_carryover("", kwargs)}, *content]}
            return {**message, "content": self._process_carryover(content_str(content), kwargs)}
        return self._process_carryover("" if message is None else str(message), kwargs)


def _log_completion(agent: ConversableAgent, llm: LLM, view: list[ChatMessage], options: dict[str, Any],
                    completion: Completion, started: str, cached: bool) -> None:
    """One row of ``chat_completions`` (``moot.runtime_logging``): the request as OpenAI's shape."""
    request: dict[str, Any] = {"model": llm.name, "messages": [m.to_openai() for m in view]}
    for key, value in options.items():
        if key == "tools" and value:
            request["tools"] = [t.to_openai() for t in value]
        elif key != "prompt_chars" and value is not None:
            request[key] = value if isinstance(value, (str, int, float, bool, list, dict)) else repr(value)
    response = {"model": completion.model, "content": completion.content, "finish_reason": completion.finish_reason,
                "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls],
                "usage": {"prompt_tokens": completion.usage.prompt_tokens,
                          "completion_tokens": completion.usage.completion_tokens}}
    runtime_logging.log_chat_completion(uuid.uuid4(), id(llm.backend), id(llm), agent, request, response,
                                        int(cached), 0.0, started)


def _tag(func: Callable[..., Any], tool: Tool) -> Callable[..., Any]:
    try:
        func._moot_tool = tool  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        pass
    return func


def _use_docker_from_env(config: dict[str, Any]) -> None:
    """AutoGen's ``$AUTOGEN_USE_DOCKER`` (1/true/yes/t, 0/false/no/f, none) as ``config``'s
    ``use_docker`` when the config chooses no executor itself. Unset, moot's own default holds:
    Docker, else the sandbox, never unsandboxed."""
    if "use_docker" in config or "executor" in config:
        return
    value = os.environ["AUTOGEN_USE_DOCKER"]
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "t"):
        config["use_docker"] = True
    elif lowered in ("0", "false", "no", "f"):
        config["use_docker"] = False
    elif lowered != "none":
        raise ValueError(f"AUTOGEN_USE_DOCKER={value[:40]!r} is not understood: set it to 1/true/yes, 0/false/no, "
                         "or none")


def _print_message(sender: Agent, recipient: Agent, message: dict[str, Any]) -> None:
    out = [f"{sender.name} (to {recipient.name}):\n"]
    if message.get("content"):
        out.append(content_str(message["content"]))
    for call in message.get("tool_calls") or ():
        fn = call.get("function", {})
        out.append(f"***** Suggested tool call ({call.get('id')}): {fn.get('name')} *****\nArguments: {fn.get('arguments')}")
    out.append("\n" + "-" * 80)
    IOStream.get_default().print("\n".join(out), flush=True)


_PLAIN_CALL = frozenset({"tools", "prompt_chars"})

# Built-in reply steps the pipeline asks inline, before the step's coroutine is made (it runs for
# every message of every chat): the termination step without a human to ask, and the tool-call,
# code and function-call steps when the message gives them nothing to do. A replaced step is
# not in here.
_TERMINATION_STEP, _TOOL_CALLS_STEP, _CODE_STEP, _FUNCTION_CALL_STEP = range(4)
_BUILTIN_STEPS: dict[Callable[..., Any], int] = {
    ConversableAgent.a_check_termination_and_human_reply: _TERMINATION_STEP,
    ConversableAgent.a_generate_tool_calls_reply: _TOOL_CALLS_STEP,
    ConversableAgent.a_generate_code_execution_reply: _CODE_STEP,
    ConversableAgent.a_generate_function_call_reply: _FUNCTION_CALL_STEP,
}

# A built-in step named by its sync form stands for its async form in the pipeline.
_ASYNC_STEP: dict[Callable[..., Any], Callable[..., Any]] = {
    ConversableAgent.generate_oai_reply: ConversableAgent.a_generate_oai_reply,
    ConversableAgent.generate_code_execution_reply: ConversableAgent.a_generate_code_execution_reply,
    ConversableAgent.generate_tool_calls_reply: ConversableAgent.a_generate_tool_calls_reply,
    ConversableAgent.generate_function_call_reply: ConversableAgent.a_generate_function_call_reply,
    ConversableAgent.check_termination_and_human_reply: ConversableAgent.a_check_termination_and_human_reply,
}
