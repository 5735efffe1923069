"""Model backends behind one async interface, and the models.toml loader."""

from ._base import Backend, match_choice, schema_of
from ._errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    ConfigError,
    ContextOverflow,
)
from ._registry import ModelRegistry, backend_class
from ._types import (
    BackendStatus,
    Capabilities,
    ChatMessage,
    Completion,
    Delta,
    Image,
    ModelRequest,
    Notice,
    StreamItem,
    Thought,
    ToolCall,
    ToolSpec,
    Usage,
)
from ._wrappers import DefaultsBackend, FallbackBackend, RetryingBackend, RetryPolicy
from .config import ModelConfig, ModelsConfig, find_models_file, load_models, parse_models

__all__ = [
    "AuthError",
    "Backend",
    "BackendError",
    "BackendStatus",
    "BackendTimeout",
    "BackendUnavailable",
    "BadResponse",
    "Capabilities",
    "ChatMessage",
    "Completion",
    "ConfigError",
    "ContextOverflow",
    "DefaultsBackend",
    "Delta",
    "FallbackBackend",
    "Image",
    "ModelConfig",
    "ModelRegistry",
    "ModelRequest",
    "ModelsConfig",
    "Notice",
    "RetryPolicy",
    "RetryingBackend",
    "StreamItem",
    "Thought",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "backend_class",
    "find_models_file",
    "load_models",
    "match_choice",
    "parse_models",
    "schema_of",
]
