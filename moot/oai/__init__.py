"""``autogen.oai`` for ported scripts: the config-list helpers (``moot.oai.openai_utils``).

``OpenAIWrapper`` (``moot.oai.client``) is AutoGen's client on moot's backends, loaded on first
use: the config-list helpers do not pay for the engine.
"""

import importlib
from typing import Any

from .openai_utils import (
    DEFAULT_AZURE_API_VERSION,
    config_list_from_dotenv,
    config_list_from_json,
    config_list_from_models,
    config_list_gpt4_gpt35,
    config_list_openai_aoai,
    filter_config,
    get_config,
    get_config_list,
)

__all__ = [
    "DEFAULT_AZURE_API_VERSION",
    "ModelClient",
    "OpenAIWrapper",
    "config_list_from_dotenv",
    "config_list_from_json",
    "config_list_from_models",
    "config_list_gpt4_gpt35",
    "config_list_openai_aoai",
    "filter_config",
    "get_config",
    "get_config_list",
]


def __getattr__(name: str) -> Any:
    if name in ("ModelClient", "OpenAIWrapper"):
        return getattr(importlib.import_module("moot.oai.client"), name)
    raise AttributeError(f"module 'moot.oai' has no attribute {name!r}")
