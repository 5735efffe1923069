"""AutoGen 0.2's config-list helpers: lists of OpenAI-style model entries from JSON, key files,
the environment or a ``.env`` file, and filters over them.

A config list is a list of dicts such as ``{"model": "gpt-4o", "api_key": ..., "base_url": ...,
"api_type": "azure", "api_version": ..., "tags": [...]}``. Give it to an agent as
``llm_config={"config_list": config_list}``: an entry naming a models.toml model uses that model,
and any other entry that says where its model lives (``api_key``, ``base_url``, ``api_type``)
becomes a model of its own on the right backend (see ``moot.agents.resolve_llm``).

These helpers only build and filter lists; they never log a key. Like AutoGen's, the key-file
helpers put what they read into this process's environment (``OPENAI_API_KEY``, ...).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dotenv

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

log = logging.getLogger(__name__)

#: The Azure OpenAI API version an Azure entry gets when it names none.
DEFAULT_AZURE_API_VERSION = "2024-02-01"

ConfigList = list[dict[str, Any]]


def _accepts(value: Any, acceptable: Any) -> bool:
    """Whether one entry's value meets one filter criterion."""
    if isinstance(acceptable, str):  # {"api_type": "azure"}: one value, not a list of letters
        acceptable = [acceptable]
    if value is None:
        return None in acceptable
    if isinstance(value, (list, tuple, set)):
        return any(v in acceptable for v in value)  # tags: any one tag in common
    return value in acceptable


def filter_config(config_list: list[dict[str, Any]], filter_dict: Mapping[str, Any] | None,
                  exclude: bool = False) -> ConfigList:
    """The entries of ``config_list`` that meet every criterion of ``filter_dict``.

    ``filter_dict`` maps a field to its acceptable values (a list or a set; a lone string is one
    value). A field holding a list (``tags``) matches when it shares a value with them. An entry
    without the field matches only when ``None`` is among the acceptable values (what AutoGen
    0.2's documentation says; its 0.2.40 code never matches a missing field). With
    ``exclude=True`` the entries kept are those that meet none of the criteria. No
    ``filter_dict`` (``None`` or ``{}``) keeps the list as it is.
    """
    if not filter_dict:
        return config_list
    return [entry for entry in config_list
            if all(_accepts(entry.get(key), acceptable) != exclude for key, acceptable in filter_dict.items())]


def _parse_list(text: str, source: str) -> ConfigList:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise ValueError(f"{source}: a config list must be a JSON array of objects, like "
                         f'[{{"model": "gpt-4o", "api_key": "..."}}]')
    return data


def config_list_from_json(env_or_file: str, file_location: str | None = "",
                          filter_dict: Mapping[str, Any] | None = None) -> ConfigList:
    """A config list from JSON, filtered by ``filter_dict`` (see ``filter_config``).

    ``env_or_file`` is first the name of an environment variable, whose value is either the JSON
    itself or the path of a JSON file (AutoGen's ``OAI_CONFIG_LIST``); when no such variable is
    set, it is a file name, looked for in ``file_location``. Raises ``FileNotFoundError`` when it
    is neither, and ``ValueError`` naming the source when the JSON is bad.
    """
    value = os.environ.get(env_or_file)
    if value:
        if os.path.exists(value):
            source, text = value, Path(value).read_text(encoding="utf-8")
        else:
            source, text = f"${env_or_file}", value
    else:
        path = Path(file_location, env_or_file) if file_location else Path(env_or_file)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"config_list_from_json: no environment variable {env_or_file} and no file "
                                    f"{str(path)!r}") from None
        source = str(path)
    return filter_config(_parse_list(text, source), filter_dict)


def get_config(api_key: str | None, base_url: str | None = None, api_type: str | None = None,
               api_version: str | None = None) -> dict[str, Any]:
    """One entry from its parts. ``base_url``, ``api_type`` and ``api_version`` may each name an
    environment variable holding the value (as in AutoGen); otherwise they are the value."""
    entry: dict[str, Any] = {"api_key": api_key}
    for field, given in (("base_url", base_url), ("api_type", api_type), ("api_version", api_version)):
        if given:
            entry[field] = os.environ.get(given, given)
    return entry


def get_config_list(api_keys: list[str], base_urls: list[str] | None = None, api_type: str | None = None,
                    api_version: str | None = None) -> ConfigList:
    """One entry per key (blank keys are left out), each with its base URL (``base_urls`` must be
    as long as ``api_keys``) and the shared ``api_type`` / ``api_version``."""
    if base_urls is not None and len(base_urls) != len(api_keys):
        raise AssertionError("The length of api_keys must match the length of base_urls")
    out: ConfigList = []
    for i, key in enumerate(api_keys):
        if not key.strip():
            continue
        entry: dict[str, Any] = {"api_key": key}
        if base_urls:
            entry["base_url"] = base_urls[i]
        if api_type:
            entry["api_type"] = api_type
        if api_version:
            entry["api_version"] = api_version
        out.append(entry)
    return out


def _file_into_env(folder: str, name: str | None, variable: str) -> None:
    """Put the text of ``folder/name`` into the environment variable (a missing file is skipped)."""
    if name is None:
        return
    try:
        os.environ[variable] = Path(folder, name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        log.info("%s: no file %s in %s (the variable is used as it is)", variable, name, folder)


def config_list_openai_aoai(key_file_path: str | None = ".", openai_api_key_file: str | None = "key_openai.txt",
                            aoai_api_key_file: str | None = "key_aoai.txt",
                            openai_api_base_file: str | None = "base_openai.txt",
                            aoai_api_base_file: str | None = "base_aoai.txt", exclude: str | None = None) -> ConfigList:
    """OpenAI entries and then Azure OpenAI entries, from the environment and key files.

    Keys come from ``OPENAI_API_KEY`` / ``AZURE_OPENAI_API_KEY`` and base URLs from
    ``OPENAI_API_BASE`` / ``AZURE_OPENAI_API_BASE``, several values one per line; a file in
    ``key_file_path`` (``key_openai.txt``, ...) replaces its variable's value. A file name of
    ``None``, or ``key_file_path=None``, reads no file. ``exclude="openai"`` or ``"aoai"`` leaves
    that kind out. Azure entries get ``DEFAULT_AZURE_API_VERSION``.
    """
    if key_file_path is not None:
        if exclude != "openai":
            _file_into_env(key_file_path, openai_api_key_file, "OPENAI_API_KEY")
            _file_into_env(key_file_path, openai_api_base_file, "OPENAI_API_BASE")
        if exclude != "aoai":
            _file_into_env(key_file_path, aoai_api_key_file, "AZURE_OPENAI_API_KEY")
            _file_into_env(key_file_path, aoai_api_base_file, "AZURE_OPENAI_API_BASE")
    openai_list: ConfigList = []
    if exclude != "openai":
        bases = os.environ.get("OPENAI_API_BASE")
        openai_list = get_config_list(os.environ.get("OPENAI_API_KEY", "").split("\n"),
                                      bases.split("\n") if bases is not None else None)
    azure_list: ConfigList = []
    if exclude != "aoai":
        azure_list = get_config_list(os.environ.get("AZURE_OPENAI_API_KEY", "").split("\n"),
                                     os.environ.get("AZURE_OPENAI_API_BASE", "").split("\n"),
                                     api_type="azure", api_version=DEFAULT_AZURE_API_VERSION)
    return openai_list + azure_list


def config_list_from_models(key_file_path: str | None = ".", openai_api_key_file: str | None = "key_openai.txt",
                            aoai_api_key_file: str | None = "key_aoai.txt",
                            aoai_api_base_file: str | None = "base_aoai.txt", exclude: str | None = None,
                            model_list: list[str] | None = None) -> ConfigList:
    """``config_list_openai_aoai``'s entries once per model of ``model_list`` (each with its
    ``model``), model by model; without a ``model_list``, the entries as they are."""
    base = config_list_openai_aoai(key_file_path=key_file_path, openai_api_key_file=openai_api_key_file,
                                   aoai_api_key_file=aoai_api_key_file, aoai_api_base_file=aoai_api_base_file,
                                   exclude=exclude)
    if not model_list:
        return base
    return [{**entry, "model": model} for model in model_list for entry in base]


def config_list_gpt4_gpt35(key_file_path: str | None = ".", openai_api_key_file: str | None = "key_openai.txt",
                           aoai_api_key_file: str | None = "key_aoai.txt", aoai_api_base_file: str | None = "base_aoai.txt",
                           exclude: str | None = None) -> ConfigList:
    """``config_list_from_models`` for gpt-4, then gpt-3.5-turbo."""
    return config_list_from_models(key_file_path, openai_api_key_file, aoai_api_key_file, aoai_api_base_file, exclude,
                                   model_list=["gpt-4", "gpt-3.5-turbo"])


_DEFAULT_DOTENV_MODELS = ("gpt-4", "gpt-3.5-turbo")


def config_list_from_dotenv(dotenv_file_path: str | None = None, model_api_key_map: Mapping[str, Any] | None = None,
                            filter_dict: Mapping[str, Any] | None = None) -> ConfigList:
    """Entries for models whose keys are in environment variables, after loading a ``.env`` file.

    ``dotenv_file_path`` names the file (else the nearest ``.env`` is looked for); what it sets
    joins the environment, as python-dotenv does it (variables already set are kept).
    ``model_api_key_map`` maps a model to the name of the variable holding its key, or to a dict
    with ``api_key_env_var`` and other fields (``base_url``, ``api_type``, ``api_version``);
    gpt-4 and gpt-3.5-turbo are added with ``OPENAI_API_KEY`` unless the map names them. A model
    whose key is unset or empty is left out, with a warning naming the model (never the key).
    """
    if dotenv_file_path:
        path = Path(dotenv_file_path)
        if path.exists():
            dotenv.load_dotenv(path)
        else:
            log.warning("The specified .env file %s does not exist.", path)
    else:
        found = dotenv.find_dotenv(usecwd=True)
        if not found:
            log.warning("No .env file found. Loading configurations from environment variables.")
        else:
            dotenv.load_dotenv(found)
    mapping = dict(model_api_key_map or {})
    for model in _DEFAULT_DOTENV_MODELS:
        mapping.setdefault(model, "OPENAI_API_KEY")
    out: ConfigList = []
    for model, spec in mapping.items():
        if isinstance(spec, str):
            entry = get_config(api_key=os.environ.get(spec))
        elif isinstance(spec, Mapping):
            rest = {k: v for k, v in spec.items() if k != "api_key_env_var"}
            entry = get_config(api_key=os.environ.get(spec.get("api_key_env_var", "OPENAI_API_KEY")), **rest)
        else:
            log.warning("Unsupported type %s for model %s configuration", type(spec).__name__, model)
            continue
        if not (entry["api_key"] or "").strip():
            log.warning("API key not found or empty for model %s. Please ensure path to .env file is correct.", model)
            continue
        out.append({**entry, "model": model})
    out = filter_config(out, filter_dict)
    if not out:
        log.error("No configurations loaded.")
    return out

