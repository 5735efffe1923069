"""The embedding functions: the bundled MiniLM for real (no network, no download), and the
Ollama / OpenAI-compatible options against loopback servers that speak those protocols."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from moot.backends.config import EmbeddingConfig
from conftest_memos import run_python
from moot.memory.embeddings import MiniLMEmbedding, OllamaEmbedding, OpenAIEmbedding, embedding_function


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedding()


def cos(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_paraphrases_are_closer_than_unrelated_sentences(minilm):
    a, b, c, d = minilm.embed([
        "I prefer my code indented with tabs.",
        "Please use tab characters for indentation in my code.",
        "The train to Lyon leaves at nine in the morning.",
        "My favourite colour is dark green.",
    ])
    assert cos(a, b) > 0.5
    assert cos(a, b) > cos(a, c) + 0.3
    assert cos(a, b) > cos(a, d) + 0.2


def test_vectors_have_384_unit_length_dimensions(minilm):
    vectors = minilm(["one sentence", "and another, a little longer than the first"])
    assert len(vectors) == 2
    for v in vectors:
        assert v.shape == (384,)
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5


def test_a_padded_batch_gives_the_same_vectors_as_one_by_one(minilm):
    texts = ["short", "a somewhat longer sentence about the weather in Lisbon in spring",
             "mid-sized text here", "x " * 400, "", "Tabs, not spaces!"]
    batch = minilm.embed(texts)
    single = np.stack([minilm.embed([t])[0] for t in texts])
    assert np.abs(batch - single).max() < 1e-5


def test_long_inputs_are_truncated_at_256_tokens(minilm):
    base = "word " * 300
    v1, v2 = minilm.embed([base, base + "completely different ending about volcanoes " * 20])
    assert cos(v1, v2) > 0.9999  # everything after token 256 is cut


def test_it_is_a_chromadb_embedding_function_with_a_persistable_config(minilm):
    from chromadb.api.types import EmbeddingFunction

    assert isinstance(minilm, EmbeddingFunction)
    rebuilt = MiniLMEmbedding.build_from_config(minilm.get_config())
    assert rebuilt.name() == minilm.name() == "moot_onnx_minilm"
    assert not minilm.is_legacy()
    keyed = OpenAIEmbedding("m", "http://x", api_key_env="SOME_KEY")
    assert "SOME_KEY" == keyed.get_config()["api_key_env"]
    assert not any("sk-" in str(v) for v in keyed.get_config().values())


def test_config_picks_the_embedder_and_shares_one_instance():
    assert isinstance(embedding_function(None), MiniLMEmbedding)
    assert embedding_function(EmbeddingConfig()) is embedding_function(EmbeddingConfig())
    assert isinstance(embedding_function(EmbeddingConfig(backend="ollama", model="all-minilm")), OllamaEmbedding)
    assert isinstance(embedding_function(EmbeddingConfig(backend="openai", model="e", base_url="http://h/v1")), OpenAIEmbedding)


def test_offline_no_download_and_lazy_imports(tmp_path):
    """In a fresh process with every outbound connection refused and chromadb's own downloader
    booby-trapped: importing memory loads neither chromadb nor onnxruntime, and a whole
    add + search round trip works."""
    result = run_python(f"""
        import json, socket, sys
        def refuse(*a, **k):
            raise AssertionError("network used: %r" % (a,))
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import moot.memory.memos, moot.memory.embeddings, moot.agents
        lazy = [m for m in ("chromadb", "onnxruntime", "tokenizers") if m in sys.modules]
        from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2 as default_ef
        def trap(*a, **k):
            raise AssertionError("chromadb's downloader was called")
        default_ef.ONNXMiniLM_L6_V2._download_model_if_not_exists = trap
        store = moot.memory.memos.MemoStore({str(tmp_path / 'store')!r})
        store.add("The user's cat is called Miso", kind="fact")
        hits = store.search("what is my cat's name?", k=1)
        print(json.dumps({{"lazy": lazy, "recall": hits[0].memo.recall, "d": hits[0].distance}}))
    """, env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert result["lazy"] == []
    assert result["recall"] == "The user's cat is called Miso" and result["d"] < 0.5


class _EmbedServer(BaseHTTPRequestHandler):
    """Speaks Ollama's /api/embed and OpenAI's /v1/embeddings, backed by the real MiniLM. A
    protocol stand-in: no Ollama or OpenAI server can run here."""

    model = MiniLMEmbedding()
    seen: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = (self.model.embed(texts) * 3.0).tolist()  # un-normalised: the client must normalise
        if self.path == "/api/embed":
            reply = {"model": body["model"], "embeddings": vectors}
        elif self.path == "/v1/embeddings":
            reply = {"object": "list", "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1},
                     "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in reversed(list(enumerate(vectors)))]}
        else:
            self.send_error(404)
            return
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def embed_server(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # loopback must not go through a proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbedServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _EmbedServer.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_remote_embedders_batch_normalise_and_keep_order(embed_server, kind, monkeypatch, minilm):
    monkeypatch.setenv("MOOT_TEST_EMBED_KEY", "sk-test")
    if kind == "ollama":
        ef = OllamaEmbedding("all-minilm", embed_server, batch_size=2)
    else:
        ef = OpenAIEmbedding("text-embedding", embed_server + "/v1", api_key_env="MOOT_TEST_EMBED_KEY", batch_size=2)
    texts = ["alpha beta", "the cat sat", "tabs over spaces"]
    got = np.stack(ef(texts))
    assert np.abs(got - minilm.embed(texts)).max() < 1e-5  # normalised, in input order
    assert [len(body["input"]) for _, body in _EmbedServer.seen] == [2, 1]  # batch_size respected


def test_an_unreachable_endpoint_is_a_clear_error():
    from moot.memory.embeddings import EmbeddingError
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EmbeddingError, match="ollama 'm' at " + url):
        OllamaEmbedding("m", url)(["x"])
