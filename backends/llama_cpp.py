"""The llama_cpp backend: a GGUF model in-process through llama-cpp-python.

- One loaded ``Llama`` per model file (and context size, GPU layers, chat format), shared by every
  agent and every models.toml entry that names it.
- Every call to an instance, loading and warm-up included, runs on ONE dedicated long-lived
  thread: calls hopping between threads made generation 15-25% slower on these machines.
- llama.cpp's own logging is silenced (it would scribble over a terminal UI).
- ``choices`` and JSON schemas are enforced by grammar; tool calls are native where the chat
  format supports them and grammar-forced JSON otherwise (``tool_call_mode`` chooses, "text"
  prompts without a grammar); what comes back goes through ``_toolcalls.normalise_calls``.
- KV-cache reuse across agents (see also ``shared_prefix_layout``): llama.cpp reuses the cache only for the longest common prefix of
  consecutive calls, and agents with different system prompts share none. After each call the
  KV state is kept (keyed by its tokens); before the next call the kept state sharing the longest
  prefix with the new prompt is restored, so an agent re-reads only what was said since it last
  spoke instead of the whole transcript.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._base import Backend
from ._errors import BackendTimeout, BackendUnavailable, BadResponse, ContextOverflow
from ._gguf import trained_context
from ._reasoning import ReasoningSplitter, split_reasoning
from ._toolcalls import normalise_calls
from ._types import (
    BackendStatus,
    Capabilities,
    ChatMessage,
    Completion,
    ModelRequest,
    Notice,
    StreamItem,
    ToolCall,
    ToolSpec,
    Usage,
)
from .config import ModelConfig

# Chat formats whose llama-cpp-python handler returns real tool_calls.
NATIVE_TOOL_FORMATS = ("chatml-function-calling", "functionary", "functionary-v1", "functionary-v2")
TOOL_TAG = "<tool_call>"
_DEFAULT_KV_BUDGET_MB = 1024

_silenced = None
_SILENCE_LOCK = threading.Lock()  # two models loading at once must not install two callbacks


def _silence_llama_logging() -> None:
    """Install a no-op log callback: with verbose=False llama.cpp still prints to stderr."""
    global _silenced
    with _SILENCE_LOCK:
        if _silenced is not None:
            return
        import llama_cpp

        @llama_cpp.llama_log_callback
        def _quiet(level, text, user_data):  # noqa: ARG001 - the C signature
            return None

        _silenced = _quiet  # keep a reference: the C side holds a raw pointer to it (never freed)
        llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))


def _prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _fast_state_io(llm) -> None:
    """Give ``llm`` a save/load of its KV state without the logits copy.

    ``Llama.save_state`` copies the logits buffer (n_batch x n_vocab floats, ~100 MB for SmolLM2)
    and ``load_state`` rewrites it: ~150 ms a call here, more than generating a short reply. After
    a restore llama-cpp-python re-evaluates at least one token (``_requires_eval``), so the logits
    are never read: only the KV bytes and the token ids are kept.
    """
    import llama_cpp
    from llama_cpp.llama import LlamaState

    def save_state() -> LlamaState:
        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buffer, size)
        # The ctypes buffer itself is kept (no bytes copy of it: a state is tens of MB).
        return LlamaState(input_ids=llm.input_ids[: llm.n_tokens].copy(), scores=None, n_tokens=llm.n_tokens,
                          llama_state=buffer, llama_state_size=written, seed=llm._seed)

    def load_state(state: LlamaState) -> None:
        buffer = state.llama_state
        if not isinstance(buffer, ctypes.Array):
            buffer = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(buffer)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, state.llama_state_size) != state.llama_state_size:
            raise RuntimeError("llama.cpp refused the kept KV state")
        llm.input_ids[: state.n_tokens] = state.input_ids
        llm.n_tokens = state.n_tokens
        llm._requires_eval = True  # sample only after re-evaluating at least one token
        llm._seed = state.seed

    llm.save_state = save_state
    llm.load_state = load_state


SUPERSEDED_MIN = 32  # a kept state sharing at least this many tokens (and half of its own) with a new one goes


def _make_prefix_cache(capacity_bytes: int, max_states: int = 8):
    """A llama-cpp-python cache (its official extension point) that keeps KV states by prefix:
    the newest of each diverging conversation, at most ``max_states`` of them and
    ``capacity_bytes`` in all, least recently used dropped first."""
    from llama_cpp.llama_cache import BaseLlamaCache

    class PrefixStateCache(BaseLlamaCache):
        def __init__(self) -> None:
            super().__init__(capacity_bytes)
            self.states: OrderedDict[tuple[int, ...], Any] = OrderedDict()
            self.restores = 0

        @property
        def cache_size(self) -> int:
            return sum(s.llama_state_size for s in self.states.values())

        def _find_longest_prefix_key(self, key: tuple[int, ...]) -> tuple[int, ...] | None:
            best, best_len = None, 0
            for k in self.states:
                n = _prefix_len(k, key)
                if n > best_len:
                    best, best_len = k, n
            return best

        def __getitem__(self, key: Sequence[int]) -> Any:
            found = self._find_longest_prefix_key(tuple(key))
            if found is None:
                raise KeyError("no kept state shares a prefix")
            self.states.move_to_end(found)
            self.restores += 1
            return self.states[found]

        def __contains__(self, key: Sequence[int]) -> bool:
            return self._find_longest_prefix_key(tuple(key)) is not None

        def __setitem__(self, key: Sequence[int], value: Any) -> None:
            key = tuple(key)
            # Only what can be reused is kept. A state that shares most of its tokens with the new
            # one is superseded by it: every later prompt of that conversation extends the new
            # state's, so it matches the new one at least as far. What stays is, per conversation
            # that still diverges (each agent's own system prompt first, or a cut history), its
            # newest state, and the shared prefix lives in each of them.
            for k in list(self.states):
                shared = _prefix_len(k, key)
                if shared == len(k) or shared >= max(SUPERSEDED_MIN, len(k) // 2):
                    del self.states[k]
            self.states[key] = value
            while len(self.states) > 1 and (self.cache_size > self.capacity_bytes or len(self.states) > max_states):
                self.states.popitem(last=False)

    return PrefixStateCache()


@dataclass
class LoadedModel:
    """One ``Llama`` and the one thread that drives it."""

    key: tuple[Any, ...]
    path: Path
    thread: concurrent.futures.ThreadPoolExecutor
    llm: Any = None
    cache: Any = None
    load_error: BaseException | None = None
    prompt_evaluated: int | None = None  # tokens fed to eval() for the current call's prompt
    prompt_total: int = 0  # the current call's prompt length (kept prefix + evaluated)
    grammars: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: Any = None  # ChatMessage -> tokens, made once the model is loaded
    template_extra: int = 0  # tokens the template adds when a prompt does not open with a system message

    def count_eval(self, original):
        def counting_eval(tokens):
            if self.prompt_evaluated is None:
                self.prompt_evaluated = len(tokens)
                self.prompt_total = self.llm.n_tokens + len(tokens)
            return original(tokens)

        return counting_eval

    def grammar(self, gbnf: str):
        if gbnf not in self.grammars:
            from llama_cpp import LlamaGrammar

            self.grammars[gbnf] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self.grammars[gbnf]


_LOADED: dict[tuple[Any, ...], LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


def _load(config: ModelConfig) -> LoadedModel:
    """The shared instance for this model (created on its own thread on first use)."""
    path = config.resolved_model_path()
    opts = config.options
    key = (str(path.resolve()), config.context_length, config.n_gpu_layers, opts.get("chat_format"),
           opts.get("n_threads"), opts.get("n_batch"), opts.get("kv_reuse", True))
    with _LOADED_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = LoadedModel(key=key, path=path, thread=concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"llama-{path.stem[:20]}"))
            _LOADED[key] = loaded
    return loaded


def _build(loaded: LoadedModel, config: ModelConfig) -> None:
    """Runs on the model's thread: load the file once."""
    if loaded.llm is not None:
        return
    if loaded.load_error is not None:
        raise loaded.load_error
    if not loaded.path.is_file():
        raise BackendUnavailable(f"no model file at {loaded.path}", model=config.name)
    _silence_llama_logging()
    from llama_cpp import Llama

    opts = config.options
    try:
        llm = Llama(
            model_path=str(loaded.path),
            n_ctx=config.context_length,
            n_gpu_layers=config.n_gpu_layers,
            n_threads=opts.get("n_threads") or max(1, os.cpu_count() or 1),
            n_batch=opts.get("n_batch", 512),
            chat_format=opts.get("chat_format"),
            seed=opts.get("seed", 0xB0A7),
            verbose=False,
        )
    except Exception as exc:  # llama.cpp says little more than "failed to load"
        loaded.load_error = BackendUnavailable(f"cannot load {loaded.path}: {exc}", model=config.name)
        raise loaded.load_error from None
    llm.eval = loaded.count_eval(llm.eval)
    if opts.get("kv_reuse", True):
        _fast_state_io(llm)
        loaded.cache = _make_prefix_cache(int(opts.get("kv_cache_mb", _DEFAULT_KV_BUDGET_MB)) * 2**20,
                                          int(opts.get("kv_states", 8)))
        llm.set_cache(loaded.cache)
    loaded.llm = llm


def _template_markup(llm) -> tuple[int, int]:
    """Tokens the chat template puts around one message (role markers, separators), and the tokens
    it adds when the first message is not a system message (SmolLM2's template then inserts a
    system prompt of its own), measured by rendering the model's own template; (8, 0) when it has
    none, (8, 32) when it cannot be rendered here."""
    template = (llm.metadata or {}).get("tokenizer.chat_template")
    if not template:
        return 8, 0
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        vocab = llm._model
        formatter = Jinja2ChatFormatter(template, eos_token=vocab.token_get_text(llm.token_eos()),
                                        bos_token=vocab.token_get_text(llm.token_bos()), add_generation_prompt=False)

        def tokens(messages: list[dict[str, str]]) -> int:
            prompt = formatter(messages=messages).prompt
            return len(llm.tokenize(prompt.encode(), add_bos=False, special=True))

        words = "a few words said"
        said = len(llm.tokenize(words.encode(), add_bos=False, special=False))
        one = [{"role": "system", "content": "s"}]
        markup = max(1, tokens([*one, {"role": "user", "content": words}]) - tokens(one) - said)
        alone = tokens([{"role": "user", "content": words}])
        return markup, max(0, alone - markup - said)
    except Exception:  # a template this renderer cannot run: cautious constants
        return 8, 32


def _message_counter(llm):
    """ChatMessage -> the tokens it takes in the prompt (content, tool calls, template markup)."""
    markup, _ = _template_markup(llm)
    tokenize = llm.tokenize

    def count(message: ChatMessage) -> int:
        text = message.content or ""
        n = len(tokenize(text.encode(), add_bos=False, special=False)) if text else 0
        for call in message.tool_calls:  # rendered as <tool_call>{"name": ..., "arguments": ...}
            n += len(tokenize(f'{TOOL_TAG}{{"name": "{call.name}", "arguments": {call.arguments}}}'.encode(),
                              add_bos=False, special=False)) + 1
        if message.role == "tool":
            n += 12  # "Tool result (call_id): " when the template has no tool role
        elif message.name:
            n += 4  # "name: " in a group chat's shared transcript
        return n + markup

    return count


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def choices_grammar(choices: Sequence[str]) -> str:
    """A grammar whose only sentences are the given strings."""
    return "root ::= " + " | ".join(_gbnf_literal(c) for c in choices) + "\n"


def _tool_call_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    variants = [
        {"type": "object",
         "properties": {"name": {"const": t.name}, "arguments": t.parameters or {"type": "object"}},
         "required": ["name", "arguments"]}
        for t in tools
    ]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def tool_grammar(tools: Sequence[ToolSpec], required: bool) -> str:
    """A grammar for a reply that is tool calls (``<tool_call>`` + JSON, one or more, a line each)
    or, unless ``required``, free text that does not start with ``<``."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    call = json_schema_to_gbnf(json.dumps(_tool_call_schema(tools)))
    call = re.sub(r"(?m)(?<![\w-])root(?![\w-])", "call", call)
    calls = f'{_gbnf_literal(TOOL_TAG)} call ("\\n" {_gbnf_literal(TOOL_TAG)} call)*'
    if required:
        return f"root ::= {calls}\n{call}"
    return f"root ::= {calls} | reply\nreply ::= [^<] [^\\x00]*\n{call}"


def _without_repeats(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The calls less those that repeat an earlier one word for word: a small model that has made
    its call (under the grammar above all) often makes it again until the token limit."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in calls:
        if (c.name, c.arguments) not in seen:
            seen.add((c.name, c.arguments))
            out.append(c)
    return out


def _tool_prompt(tools: Sequence[ToolSpec], required: bool) -> str:
    lines = ["You can call these tools:"]
    for t in tools:
        lines.append(f"- {t.name}: {t.description} Arguments (JSON schema): {json.dumps(t.parameters)}")
    how = f'To call one, reply with {TOOL_TAG} followed by {{"name": ..., "arguments": {{...}}}} and nothing else.'
    lines.append(how if required else how + " Otherwise reply normally.")
    return "\n".join(lines)


def _to_plain(messages: Sequence[ChatMessage], native_tools: bool) -> list[dict[str, Any]]:
    """Messages for the chat template. Templates without tool support get tool traffic as text."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.images:  # text only here: each image is a note
            m = ChatMessage(m.role, m.text_with_notes(), m.name, m.tool_calls, m.tool_call_id)
        if native_tools:
            out.append(m.to_openai())
            continue
        if m.role == "tool":
            out.append({"role": "user", "content": f"Tool result ({m.tool_call_id}): {m.content or ''}"})
        elif m.tool_calls:
            calls = "\n".join(f'{TOOL_TAG}{{"name": {json.dumps(c.name)}, "arguments": {c.arguments or "{}"}}}'
                              for c in m.tool_calls)
            out.append({"role": "assistant", "content": ((m.content or "") + "\n" + calls).strip()})
        else:
            out.append({"role": m.role, "content": m.content or ""})
    return out


GROUP_HEAD = "A conversation between several participants. Each message begins with the name of who wrote it."


def shared_transcript_layout(messages: list[ChatMessage]) -> list[ChatMessage]:
    """One rendering of a group chat that every agent shares, token for token.

    In a group chat each agent stores its own messages as ``assistant`` and everyone else's as
    ``user`` (AutoGen's rule), so two agents' prompts differ from the first message one of them
    wrote, and no KV prefix is shared. Here every message is a ``user`` turn that names its
    author ("coder: ..."), under one neutral system message (so no chat template adds a default
    system prompt of its own), and the caller's system prompt comes last, just before the reply
    (a reply that starts with the speaker's name, as the transcript's lines do, loses it). Tool
    traffic is kept as it is. ``bench/prompt_layouts.py`` measured roles kept on the bundled model:
    as_given 0%, shared_prefix 38-46%, this 23-38% with the fewest prompt tokens evaluated.
    """
    if not messages:
        return messages
    system = messages[0] if messages[0].role == "system" else None
    out = [ChatMessage("system", GROUP_HEAD)]
    for m in messages[1:] if system is not None else messages:
        if (m.role == "user" or m.role == "assistant") and not m.tool_calls:
            out.append(ChatMessage("user", f"{m.name or m.role}: {m.content or ''}", images=m.images))
        else:
            out.append(m)
    if system is not None:  # as it is: a line saying who it is and how to answer cost role-following
        out.append(ChatMessage("system", system.content or ""))
    return out


def shared_prefix_layout(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Move the caller's leading system message to just before the reply.

    Agents in one chat send the same transcript under different system prompts. With the system
    prompt first, no two agents share a single token of prefix, and every turn re-reads the whole
    transcript. Placed last, the transcript is a prefix common to every agent and only what is new
    is evaluated. (Set ``options.prompt_layout = "as_given"`` to keep the order; the per-agent KV
    states still spare each agent what it read before.)
    """
    if len(messages) < 2 or messages[0].role != "system":
        return messages
    return [*messages[1:], messages[0]]


_END = object()


RETRY_REPEAT_PENALTY = 1.3  # a constrained call cut by the token limit is made once more with this


class LlamaCppBackend(Backend):
    default_capabilities = Capabilities(tools=True, json=True, vision=False, streaming=True)

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.loaded = _load(config)

    @property
    def native_tools(self) -> bool:
        """Whether tools go to the chat format's own handler (``tool_call_mode = "native"``, or
        unset with a chat format that has one) rather than a prompt and a grammar."""
        mode = self.config.tool_call_mode
        if mode is not None:
            return mode == "native"
        return (self.config.options.get("chat_format") or "") in NATIVE_TOOL_FORMATS

    def _run(self, fn, *args):
        return asyncio.get_running_loop().run_in_executor(self.loaded.thread, fn, *args)

    async def load(self) -> None:
        """Load the model now (on its own thread) rather than on the first call."""
        await self._run(_build, self.loaded, self.config)

    _window_measured = False  # the loaded model's n_ctx was read

    def context_window(self) -> int | None:
        """Once loaded: llama.cpp's ``n_ctx``, capped by the context the model was trained on."""
        llm = self.loaded.llm
        if llm is not None and not self._window_measured:
            self._window_measured = True
            n_ctx, trained = llm.n_ctx(), llm._model.n_ctx_train()
            self._window = min(n_ctx, trained) if trained > 0 else n_ctx
            self.window_from = "trained context" if 0 < trained < n_ctx else "llama.cpp n_ctx"
        return self._window or self.config.context_length

    async def discover_window(self) -> int | None:
        """After ``load()`` the real window; before it, models.toml's capped by the training
        context in the file's metadata (read without loading the weights). Never raises."""
        if self.loaded.llm is None and self._window is None and self.loaded.path.is_file():
            try:
                trained = await self._run(trained_context, self.loaded.path, _silence_llama_logging)
            except Exception:  # a file llama.cpp cannot read: load() will say why
                trained = None
            if trained and trained < (self.config.context_length or trained + 1):
                self._window, self.window_from = trained, "trained context"
        return self.context_window()

    def status(self) -> BackendStatus:
        loaded = self.loaded
        if loaded.load_error is not None:
            return BackendStatus("failed", f"failed to load: {loaded.load_error}")
        if loaded.llm is not None:
            states, size = self.kv_states
            kept = f"; {states} KV state{'s' if states != 1 else ''} kept ({size / 2**20:.0f} MB)" if states else ""
            return BackendStatus("loaded", f"{loaded.path.name}{kept}")
        if not loaded.path.is_file():
            return BackendStatus("failed", f"no model file at {loaded.path}")
        return BackendStatus("ready", "model file present, not loaded yet")

    def layout_for(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt layout of a call: ``options.prompt_layout``, or by default
        ``shared_transcript`` for a group chat's speaker (its system message carries its name)
        and ``as_given`` otherwise (see ``bench/kv_reuse.py`` for what each costs and how well roles are kept)."""
        layout = self.config.options.get("prompt_layout") or "auto"
        if layout == "auto":  # a group chat's speaker names itself on its system message
            return "shared_transcript" if messages and messages[0].role == "system" and messages[0].name else "as_given"
        return layout

    @property
    def kv_states(self) -> tuple[int, int]:
        """How many KV states are kept for reuse, and their bytes."""
        cache = self.loaded.cache
        if cache is None:
            return 0, 0
        return len(cache.states), cache.cache_size

    @property
    def kv_restores(self) -> int:
        """How many times a kept KV state was restored (0 before the first call)."""
        return self.loaded.cache.restores if self.loaded.cache is not None else 0

    def token_counter(self) -> Any:
        """Exact counts from the model's tokenizer once it is loaded (``None`` before)."""
        loaded = self.loaded
        if loaded.llm is None:
            return None
        if loaded.counter is None:
            loaded.template_extra = _template_markup(loaded.llm)[1]
            loaded.counter = _message_counter(loaded.llm)
        return loaded.counter

    def request_overhead(self, head: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        counter = self.token_counter()
        if counter is None:
            return super().request_overhead(head, tools)
        size = sum(counter(m) for m in head) + 8  # the head, BOS and the generation prompt
        layout = self.layout_for(head)
        if layout == "shared_prefix" or not head:
            size += self.loaded.template_extra  # the prompt opens with no system message of the caller's
        elif layout == "shared_transcript":  # the group's own head before the transcript
            size += counter(ChatMessage("system", GROUP_HEAD))
        if tools:
            if self.native_tools:
                size += self.count_tokens(json.dumps([t.to_openai() for t in tools])) + 16
            else:  # the tool prompt joins the system message (and a grammar forces the call)
                size += self.count_tokens(_tool_prompt(tools, False)) + 4
        return size

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        llm = self.loaded.llm
        if llm is None:
            return super().count_tokens(messages)
        if isinstance(messages, str):
            return len(llm.tokenize(messages.encode(), add_bos=False, special=False))
        return sum(4 + len(llm.tokenize((m.content or "").encode(), add_bos=False, special=False)) for m in messages)

    async def _stream(self, request: ModelRequest, _penalty: float | None = None) -> AsyncIterator[StreamItem]:
        messages, tools, tool_choice, schema, choices = (request.messages, request.tools, request.tool_choice,
                                                         request.schema, request.choices)
        max_tokens, temperature = self.max_tokens_for(request), self.temperature_for(request)
        await self.load()
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if _penalty is not None:
            kwargs["repeat_penalty"] = _penalty
        plain = list(messages)
        grammar_text = None
        tool_mode = None  # None | "native" | "auto" | "required"
        offered: Sequence[ToolSpec] = ()
        if choices:
            grammar_text = choices_grammar(choices)
        elif tools and tool_choice != "none":
            offered = tools
            if tool_choice not in (None, "auto", "required"):
                offered = [t for t in tools if t.name == tool_choice]
                if not offered:
                    raise ValueError(f"tool_choice {tool_choice!r} names no offered tool")
            if self.native_tools:
                tool_mode = "native"
                kwargs["tools"] = [t.to_openai() for t in offered]
                if tool_choice not in (None, "auto"):
                    name = offered[0].name if tool_choice == "required" and len(offered) == 1 else tool_choice
                    if name != "required":
                        kwargs["tool_choice"] = {"type": "function", "function": {"name": name}}
            else:
                tool_mode = "required" if tool_choice not in (None, "auto") else "auto"
                if self.config.tool_call_mode != "text":  # "text": the prompt asks, nothing forces
                    grammar_text = tool_grammar(offered, tool_mode == "required")
                note = ChatMessage("system", _tool_prompt(offered, tool_mode == "required"))
                if plain and plain[0].role == "system":
                    plain[0] = ChatMessage("system", (plain[0].content or "") + "\n\n" + note.content, plain[0].name)
                else:
                    plain.insert(0, note)
        elif schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        layout = self.layout_for(plain)
        speaker = plain[0].name if plain and plain[0].role == "system" else None
        if layout == "shared_prefix":
            plain = shared_prefix_layout(plain)
        elif layout == "shared_transcript":
            plain = shared_transcript_layout(plain)
        kwargs["messages"] = _to_plain(plain, tool_mode == "native")

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        loaded = self.loaded
        # Constrained replies are short and must be whole before they mean anything: no deltas.
        stream_text = not choices and tool_mode in (None, "auto")

        def worker() -> None:
            llm = loaded.llm
            try:
                if grammar_text is not None:
                    kwargs["grammar"] = loaded.grammar(grammar_text)
                loaded.prompt_evaluated = None
                for chunk in llm.create_chat_completion(stream=True, **kwargs):
                    if cancel.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except ValueError as exc:
                if "context window" in str(exc) or "exceed" in str(exc):
                    loop.call_soon_threadsafe(queue.put_nowait, ContextOverflow(str(exc), model=self.name))
                else:
                    loop.call_soon_threadsafe(queue.put_nowait, BadResponse(str(exc), model=self.name))
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, BadResponse(f"llama.cpp failed: {exc}", model=self.name))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, (_END, loaded.prompt_evaluated, loaded.prompt_total))

        future = self._run(worker)
        text: list[str] = []
        reasoning = ReasoningSplitter()  # <think> text streams apart from the reply
        finish = "stop"
        native_calls: dict[Any, list[Any]] = {}
        decided = tool_mode != "auto"  # auto tools: hold text back until we know it is no call
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=self.config.timeout_s)
                except TimeoutError:
                    raise BackendTimeout(f"no token for {self.config.timeout_s:g} s", model=self.name) from None
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, tuple) and item and item[0] is _END:
                    _, evaluated, prompt_total = item
                    break
                choice = item["choices"][0]
                delta = choice.get("delta") or {}
                piece = delta.get("content") or ""
                for call in delta.get("tool_calls") or []:
                    # Streamed calls come in pieces: the same index (or id) continues a call.
                    fn = call.get("function") or {}
                    key = call.get("index", call.get("id"))
                    part = native_calls.setdefault(key, [call.get("id") or f"call_{len(native_calls)}", "", []])
                    part[1] = part[1] or fn.get("name") or ""
                    part[2].append(fn.get("arguments") or "")
                if piece:
                    text.append(piece)
                    if stream_text:
                        if not decided:
                            so_far = "".join(text)
                            if so_far.lstrip()[:1] == "<" and len(so_far.lstrip()) < len(TOOL_TAG):
                                continue
                            decided = True
                            if so_far.lstrip().startswith(TOOL_TAG):
                                stream_text = False
                                continue
                            piece = so_far
                        for thought_or_delta in reasoning.feed(piece):
                            yield thought_or_delta
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        except (asyncio.CancelledError, GeneratorExit):
            cancel.set()
            raise
        finally:
            cancel.set()
        await future
        tool_calls = [ToolCall(i, name, "".join(args)) for i, name, args in native_calls.values()]
        for thought_or_delta in reasoning.flush():
            yield thought_or_delta
        content, thinking = split_reasoning("".join(text))  # the reply never holds the reasoning
        if layout == "shared_transcript" and speaker and content.lstrip().startswith(f"{speaker}:"):
            content = content.lstrip()[len(speaker) + 1:].lstrip()  # it wrote its name as the transcript does
        if offered:
            parsed = normalise_calls(content, tool_calls, offered, self.config.tool_call_mode)
            if parsed.problem and finish == "length" and "\n<" in content:
                # Calls cut at the token limit: the whole ones before the cut (a line each) are the reply's.
                parsed = normalise_calls(content[:content.rindex("\n<")], tool_calls, offered,
                                         self.config.tool_call_mode)
            if (parsed.problem and not parsed.calls and finish == "length" and tool_mode == "required"
                    and grammar_text is not None and _penalty is None):
                # The grammar keeps every token inside a call, so a call cut at the token limit is a
                # model going round in a loop inside it (a list of the same item): nothing was
                # shown yet, so it is generated once more with a repetition penalty.
                spent = Usage(prompt_tokens=prompt_total, completion_tokens=self.count_tokens("".join(text)),
                              cached_tokens=max(0, prompt_total - (evaluated or 0)) if evaluated is not None else 0)
                async for item in self._stream(request, RETRY_REPEAT_PENALTY):
                    yield replace(item, usage=item.usage + spent) if isinstance(item, Completion) else item  # both tries
                return
            tool_calls, content = _without_repeats(parsed.calls), parsed.text
            if parsed.problem:
                yield Notice(f"model {self.name!r}: {parsed.problem}", "tool_call")
        if tool_calls:
            finish = "tool_calls"
        produced = "".join(text) + "".join(c.arguments for c in tool_calls if not text)
        usage = Usage(prompt_tokens=prompt_total, completion_tokens=self.count_tokens(produced) if produced else 0,
                      cached_tokens=max(0, prompt_total - (evaluated or 0)) if evaluated is not None else 0,
                      reasoning_tokens=self.count_tokens(thinking) if thinking else 0)
        yield Completion(content=content, model=self.name, finish_reason=finish if finish in ("stop", "length", "tool_calls") else "stop",
                         tool_calls=tuple(tool_calls), usage=usage)
