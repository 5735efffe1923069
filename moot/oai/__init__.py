"""``autogen.oai`` for ported scripts: the config-list helpers (``moot.oai.openai_utils``).

moot talks to models through its own backends, so AutoGen's ``OpenAIWrapper`` client has no
counterpart here; what a script needs from this module is its config lists.
"""

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
    "config_list_from_dotenv",
    "config_list_from_json",
    "config_list_from_models",
    "config_list_gpt4_gpt35",
    "config_list_openai_aoai",
    "filter_config",
    "get_config",
    "get_config_list",
]
