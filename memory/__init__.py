"""What persists between sessions: teachable memory on Chroma, and the session store.

The memo names (``MemoStore``, the embedders) load on first use: they bring numpy, onnxruntime
and chromadb, which a fast first frame of the app must not wait for.
"""

from moot.paths import data_dir

from .sessions import SessionBusy, SessionInfo, SessionNotFound, SessionRecorder, SessionStore, SessionStoreError

_LAZY = {
    "Memo": "memos", "MemoHit": "memos", "MemoStore": "memos", "MemoryStoreError": "memos",
    "open_memo_store": "memos", "EmbeddingError": "embeddings", "MiniLMEmbedding": "embeddings",
    "OllamaEmbedding": "embeddings", "OpenAIEmbedding": "embeddings", "embedding_function": "embeddings",
}

__all__ = ["SessionBusy", "SessionInfo", "SessionNotFound", "SessionRecorder", "SessionStore", "SessionStoreError",
           "data_dir", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'memory' has no attribute {name!r}")
