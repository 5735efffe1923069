"""What a GGUF file says of itself, read through llama.cpp without loading the weights."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from pathlib import Path

_READING = threading.Lock()  # llama.cpp's first use sets up its backends: not from two threads at once
_initialised = False


def trained_context(path: Path, setup: Callable[[], None] | None = None) -> int | None:
    """The context the model in ``path`` was trained on (``{architecture}.context_length`` in its
    metadata), read with only the vocabulary loaded (a tenth of a second); ``None`` when the file
    does not say or cannot be read. ``setup`` (silencing llama.cpp's log) runs first, under the
    same lock. Call it on the thread that drives llama.cpp."""
    import llama_cpp  # heavy, and only the llama_cpp backend needs it

    with _READING:
        if setup is not None:
            setup()
        return _read(llama_cpp, path)


def _read(llama_cpp, path: Path) -> int | None:
    global _initialised
    if not _initialised:
        llama_cpp.llama_backend_init()
        _initialised = True
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        return None
    try:
        buf = ctypes.create_string_buffer(256)
        if llama_cpp.llama_model_meta_val_str(model, b"general.architecture", buf, len(buf)) < 0:
            return None
        key = f"{buf.value.decode(errors='replace')}.context_length".encode()
        if llama_cpp.llama_model_meta_val_str(model, key, buf, len(buf)) < 0:
            return None
        value = buf.value.decode(errors="replace")
        return int(value) if value.isdigit() and int(value) > 0 else None
    finally:
        llama_cpp.llama_model_free(model)
