"""Teachable memory: memos on Chroma, embedded under the data dir or on a Chroma server.

A memo is what an agent was taught: the text to match (embedded; what a new message is compared
with), the text to recall (what the agent is shown), its kind (fact, preference, task advice), the
agent it belongs to (or "shared"), where it was learnt (session and message ids) and when.

The store is opened lazily: chromadb is imported on first use (it costs over a second), and the
embedding function is passed to every collection call (chromadb's default one downloads a model
and fails offline).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from moot.paths import data_dir

from .embeddings import EmbeddingError, embedding_function

if TYPE_CHECKING:
    from moot.backends.config import MemoryConfig, ModelsConfig

__all__ = ["KINDS", "SHARED", "Memo", "MemoHit", "MemoStore", "MemoryStoreError", "open_memo_store"]

KINDS = ("fact", "preference", "task_advice")
SHARED = "shared"
Kind = Literal["fact", "preference", "task_advice"]
LABELS_TTL_S = 30.0  # how long search trusts a memo's agent / kind / pending flag read earlier
_MAX_FETCH = 1024  # the most nearest memos one search looks through before Chroma's own filter


class MemoryStoreError(RuntimeError):
    """The memo store cannot be used: locked, corrupt, unreachable, or a bad memo."""


@dataclass
class Memo:
    """One thing an agent was taught."""

    id: str
    match: str  # the text compared with incoming messages (embedded)
    recall: str  # the text the agent is shown when it matches
    kind: str = "fact"
    agent: str = SHARED
    session_id: str | None = None
    message_id: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    pending: bool = False  # proposed under policy "confirm", not yet accepted: never recalled
    replaces: str | None = None  # for a pending memo: the memo accepting it replaces

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Memo:
        missing = [k for k in ("id", "match", "recall") if k not in data]
        if missing:
            raise MemoryStoreError(f"missing {', '.join(repr(k) for k in missing)}")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        memo = cls(**known)
        memo.validate()
        return memo

    def validate(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise MemoryStoreError("a memo needs a non-empty 'id'")
        if not isinstance(self.match, str) or not self.match.strip():
            raise MemoryStoreError(f"memo {self.id}: 'match' must be non-empty text")
        if not isinstance(self.recall, str) or not self.recall.strip():
            raise MemoryStoreError(f"memo {self.id}: 'recall' must be non-empty text")
        if self.kind not in KINDS:
            raise MemoryStoreError(f"memo {self.id}: 'kind' must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not isinstance(self.agent, str) or not self.agent:
            raise MemoryStoreError(f"memo {self.id}: 'agent' must be an agent name or {SHARED!r}")

    def _metadata(self) -> dict[str, Any]:
        # Chroma metadata holds no None: missing ids are stored as "".
        return {"recall": self.recall, "kind": self.kind, "agent": self.agent,
                "session_id": self.session_id or "", "message_id": self.message_id or "",
                "created": float(self.created), "updated": float(self.updated), "pending": bool(self.pending),
                "replaces": self.replaces or ""}

    @classmethod
    def _from_chroma(cls, memo_id: str, document: str, meta: dict[str, Any]) -> Memo:
        return cls(id=memo_id, match=document, recall=str(meta.get("recall", document)),
                   kind=str(meta.get("kind", "fact")), agent=str(meta.get("agent", SHARED)),
                   session_id=meta.get("session_id") or None, message_id=meta.get("message_id") or None,
                   created=float(meta.get("created", 0.0)), updated=float(meta.get("updated", 0.0)),
                   pending=bool(meta.get("pending", False)), replaces=meta.get("replaces") or None)


@dataclass(frozen=True)
class MemoHit:
    """A memo found by ``search``, with its cosine distance to the query (0: same meaning)."""

    memo: Memo
    distance: float


def new_memo_id() -> str:
    return f"mem-{uuid.uuid4().hex[:12]}"


class MemoStore:
    """Memos on Chroma: an embedded ``PersistentClient`` under ``path`` (default: the data dir's
    ``memory/``) or a Chroma server at ``url`` (``HttpClient``).

    Several processes may open the same embedded store (Chroma's persistent client shares its
    SQLite file); a store that is locked or corrupt raises ``MemoryStoreError`` naming the path.
    ``embedding`` is any chromadb embedding function; default: the bundled offline MiniLM.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, url: str | None = None,
                 collection: str = "memos", embedding: Any = None):
        if path is not None and url is not None:
            raise ValueError("give a path (embedded store) or a url (Chroma server), not both")
        self.url = url
        self.path = None if url else Path(path) if path is not None else data_dir() / "memory"
        self.collection_name = collection
        self.embedding = embedding if embedding is not None else embedding_function()
        self._client: Any = None
        self._collection: Any = None
        self._seen_memos = False  # the store held memos when last looked at (search counts until it does)
        # memo id -> (agent, kind, pending), as this store last read or wrote them, since _labels_at
        self._labels: dict[str, tuple[str, str, bool]] = {}
        self._labels_at = time.monotonic()
        # search filter (agent, kind, pending) -> how many nearest memos its last search needed
        self._fetch: dict[tuple[str | None, str | None, bool | None], int] = {}

    @classmethod
    def from_config(cls, config: ModelsConfig | MemoryConfig | None = None, path: str | os.PathLike[str] | None = None) -> MemoStore:
        """The store models.toml's ``[memory]`` and ``[embedding]`` describe."""
        memory = getattr(config, "memory", config)
        embedding_cfg = getattr(config, "embedding", None)
        url = getattr(memory, "url", None)
        return cls(path=None if url else path, url=url, collection=getattr(memory, "collection", "memos"),
                   embedding=embedding_function(embedding_cfg))

    @property
    def where(self) -> str:
        """Where the store lives, for messages: a path or a URL."""
        return self.url or str(self.path)

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._collection is not None:
            return self._collection
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)  # no phone-home, offline first
        try:
            if self.url:
                parsed = urlparse(self.url)
                self._client = chromadb.HttpClient(host=parsed.hostname or "localhost",
                                                   port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                                                   ssl=parsed.scheme == "https", settings=settings)
            else:
                assert self.path is not None
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            self._collection = self._client.get_or_create_collection(
                self.collection_name, embedding_function=self.embedding,
                configuration={"hnsw": {"space": "cosine"}}, metadata={"moot": "memos"})
        except MemoryStoreError:
            raise
        except Exception as exc:
            raise self._error("cannot open", exc) from exc
        return self._collection

    def _error(self, doing: str, exc: BaseException) -> MemoryStoreError:
        text = str(exc) or type(exc).__name__
        low = text.lower()
        if "embedding function conflict" in low:
            hint = ("it was embedded with another [embedding] backend; switch back, or export the memos, "
                    "move the store aside and import them")
        elif "locked" in low or "busy" in low:
            hint = "another process holds it locked; close the other moot and retry"
        elif self.url and ("connect" in low or "refused" in low or "could not" in low):
            hint = "is the Chroma server running? (chroma run --path DIR --port N)"
        elif not self.url and any(w in low for w in ("malformed", "not a database", "corrupt", "database disk image", "file is not")):
            hint = "the store looks corrupt; move it aside (memos can be re-imported from an export)"
        else:
            hint = ""
        what = f"the Chroma server at {self.url}" if self.url else f"the memo store at {self.path}"
        return MemoryStoreError(f"{doing} {what}: {text}" + (f" ({hint})" if hint else ""))

    def _call(self, doing: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        collection = self._open()
        try:
            return func(collection, *args, **kwargs)
        except (MemoryStoreError, EmbeddingError):
            raise
        except Exception as exc:
            raise self._error(doing, exc) from exc

    def close(self) -> None:
        """Forget the client (Chroma keeps no file handles that need closing)."""
        self._collection = None
        self._client = None

    # -- writing -------------------------------------------------------------------------------

    def add(self, match: str, recall: str | None = None, *, kind: str = "fact", agent: str = SHARED,
            session_id: str | None = None, message_id: str | None = None, pending: bool = False,
            memo_id: str | None = None) -> Memo:
        """Store a memo; ``recall`` defaults to ``match``. Returns it with its new id."""
        now = time.time()
        memo = Memo(id=memo_id or new_memo_id(), match=match.strip(), recall=(recall or match).strip(), kind=kind,
                    agent=agent, session_id=session_id, message_id=message_id, created=now, updated=now,
                    pending=pending)
        self.put([memo])
        return memo

    def put(self, memos: list[Memo]) -> None:
        """Insert or replace memos as given (ids kept), embedding their match texts."""
        for m in memos:
            m.validate()
        if not memos:
            return
        self._call("cannot write to", lambda c: c.upsert(ids=[m.id for m in memos], documents=[m.match for m in memos],
                                                         metadatas=[m._metadata() for m in memos]))
        self._labels.update((m.id, (m.agent, m.kind, m.pending)) for m in memos)

    def update(self, memo_id: str, *, match: str | None = None, recall: str | None = None, kind: str | None = None,
               agent: str | None = None, pending: bool | None = None, session_id: str | None = None,
               message_id: str | None = None) -> Memo:
        """Change a memo (re-embedding it when ``match`` changes); raises ``KeyError`` if unknown."""
        memo = self.get(memo_id)
        if memo is None:
            raise KeyError(memo_id)
        for name, value in (("match", match), ("recall", recall), ("kind", kind), ("agent", agent),
                            ("pending", pending), ("session_id", session_id), ("message_id", message_id)):
            if value is not None:
                setattr(memo, name, value.strip() if isinstance(value, str) and name in ("match", "recall") else value)
        memo.updated = time.time()
        self.put([memo])
        return memo

    def accept(self, memo_id: str) -> Memo:
        """Accept a pending proposal: it becomes a normal memo, taking the id (and place) of the
        memo it replaces, if any. Raises ``KeyError`` if unknown."""
        memo = self.get(memo_id)
        if memo is None:
            raise KeyError(memo_id)
        if not memo.pending:
            return memo
        old = self.get(memo.replaces) if memo.replaces else None
        memo.pending, memo.replaces, memo.updated = False, None, time.time()
        if old is not None:
            self._call("cannot delete from", lambda c: c.delete(ids=[memo.id]))
            self._labels.pop(memo.id, None)
            memo.id, memo.created = old.id, old.created
        self.put([memo])
        return memo

    def delete(self, memo_id: str) -> bool:
        """Remove a memo; False when there was none with that id."""
        if self.get(memo_id) is None:
            return False
        self._call("cannot delete from", lambda c: c.delete(ids=[memo_id]))
        self._labels.pop(memo_id, None)
        return True

    # -- reading -------------------------------------------------------------------------------

    def get(self, memo_id: str) -> Memo | None:
        got = self._call("cannot read", lambda c: c.get(ids=[memo_id], include=["documents", "metadatas"]))
        if not got["ids"]:
            return None
        return Memo._from_chroma(got["ids"][0], got["documents"][0], got["metadatas"][0] or {})

    def count(self) -> int:
        return int(self._call("cannot read", lambda c: c.count()))

    def list(self, agent: str | None = None, kind: str | None = None, pending: bool | None = False) -> list[Memo]:
        """Memos, oldest first; ``agent`` also matches shared memos; ``pending=None``: both."""
        where = _where(agent, kind, pending, include_shared=False)
        got = self._call("cannot read", lambda c: c.get(where=where, include=["documents", "metadatas"]))
        memos = [Memo._from_chroma(i, d, m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(memos, key=lambda m: (m.created, m.id))

    def search(self, query: str, k: int = 5, agent: str | None = None, *, kind: str | None = None,
               max_distance: float | None = None, pending: bool | None = False) -> list[MemoHit]:
        """The memos nearest in meaning to ``query``, best first. With ``agent``, that agent's
        memos and the shared ones; pending proposals are left out unless ``pending`` says so.

        Chroma's metadata filter costs about as much as the rows it matches (at 10k memos ~15 ms
        when a tenth match, ~37 ms when all do), and so does reading metadata with the results
        (~40 us a row); the vector search alone costs ~2 ms for 32 ids, ~4 ms for 1024. So the
        search asks Chroma for the ids and distances of the nearest memos only and filters them
        on labels (agent, kind, pending) it keeps per memo id: read once per id, updated by this
        store's own writes, forgotten every ``LABELS_TTL_S`` seconds (how long another process's
        change of a memo's agent or pending flag can go unseen; a memo another process adds is
        seen at once: its id is new). It looks further (4x) while the nearest memos hold too few
        that pass, and only past ``_MAX_FETCH`` does Chroma's own filter run. The memos kept are
        read whole and checked again on what was read."""
        if k <= 0 or not query.strip():
            return []
        if not self._seen_memos:  # an empty store never loads the embedder; once it holds memos, no more counting
            self._seen_memos = self.count() > 0
            if not self._seen_memos:
                return []
        allowed_agents = None if agent is None else ({agent, SHARED} if agent != SHARED else {SHARED})

        def passes(label: tuple[str, str, bool]) -> bool:
            return ((allowed_agents is None or label[0] in allowed_agents) and (kind is None or label[1] == kind)
                    and (pending is None or label[2] == pending))

        embedded = self._call("cannot search", lambda c: self._embed_query(query))
        key = (agent, kind, pending)
        n = min(self._fetch.get(key, max(4 * k, 32)), _MAX_FETCH)
        for _ in range(8):  # each round that finds a stale label corrects it; a few rounds at most
            got = self._call("cannot search", lambda c: c.query(query_embeddings=[embedded], n_results=n,
                                                                include=["distances"]))
            ids, distances = got["ids"][0], got["distances"][0]
            labels = self._labels_of(ids)
            found = [(i, d) for i, d in zip(ids, distances) if i in labels and passes(labels[i])]
            sure = (len(found) >= k
                    or len(ids) < n  # that was every memo in the store
                    or (max_distance is not None and distances[-1] > max_distance))  # nothing further can qualify
            if not sure:
                if n >= _MAX_FETCH:
                    break
                n = min(4 * n, _MAX_FETCH)
                continue
            self._fetch[key] = n
            hits = self._read_hits(found[:k])
            if all(passes((h.memo.agent, h.memo.kind, h.memo.pending)) for h in hits):
                return [h for h in hits if max_distance is None or h.distance <= max_distance]
        self._fetch.pop(key, None)
        hits = self._query(embedded, k, _where(agent, kind, pending, include_shared=True))
        return [h for h in hits if max_distance is None or h.distance <= max_distance]

    def _labels_of(self, ids: list[str]) -> dict[str, tuple[str, str, bool]]:
        """The labels of ``ids`` (read for those not known, or known for too long)."""
        if time.monotonic() - self._labels_at > LABELS_TTL_S:
            self._labels.clear()
            self._labels_at = time.monotonic()
        unknown = [i for i in ids if i not in self._labels]
        if unknown:
            got = self._call("cannot read", lambda c: c.get(ids=unknown, include=["metadatas"]))
            for memo_id, meta in zip(got["ids"], got["metadatas"]):
                memo = Memo._from_chroma(memo_id, "", meta or {})
                self._labels[memo_id] = (memo.agent, memo.kind, memo.pending)
        return self._labels

    def _read_hits(self, found: list[tuple[str, float]]) -> list[MemoHit]:
        """The memos of ``found`` (id, distance), read whole; their labels are refreshed, and one
        deleted meanwhile is left out."""
        if not found:
            return []
        got = self._call("cannot read", lambda c: c.get(ids=[i for i, _ in found], include=["documents", "metadatas"]))
        memos = {i: Memo._from_chroma(i, d, m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        for i in {i for i, _ in found} - memos.keys():
            self._labels.pop(i, None)
        self._labels.update((m.id, (m.agent, m.kind, m.pending)) for m in memos.values())
        return [MemoHit(memos[i], float(d)) for i, d in found if i in memos]

    def _embed_query(self, query: str) -> Any:
        # What Chroma does with query_texts (embed_query where the function has one), done here
        # once so that a further query does not embed the text again.
        embed = getattr(self.embedding, "embed_query", None) or self.embedding
        return embed([query])[0]

    def _query(self, embedded: Any, n: int, where: dict[str, Any] | None) -> list[MemoHit]:
        got = self._call("cannot search", lambda c: c.query(query_embeddings=[embedded], n_results=n, where=where,
                                                            include=["documents", "metadatas", "distances"]))
        hits = [MemoHit(Memo._from_chroma(i, d, m or {}), float(dist))
                for i, d, m, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])]
        return sorted(hits, key=lambda h: h.distance)

    # -- moving memos ----------------------------------------------------------------------------

    def export(self, path: str | os.PathLike[str]) -> int:
        """Write every memo (pending ones too) as JSON lines; embeddings are left out (they depend
        on the embedder, and import re-embeds). Returns how many."""
        memos = self.list(pending=None)
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for m in memos:
                fh.write(json.dumps(m.to_dict(), ensure_ascii=False) + "\n")
        tmp.replace(target)
        return len(memos)

    def import_(self, path: str | os.PathLike[str]) -> int:
        """(``import`` is a keyword, hence the underscore.) Read memos written by ``export`` (ids kept, so importing twice does not duplicate),
        re-embedding them with this store's embedder. Every line is checked before any is
        stored; a bad line raises ``MemoryStoreError`` naming it. Returns how many."""
        source = Path(path)
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise MemoryStoreError(f"cannot read {source}: {exc}") from None
        memos = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise MemoryStoreError("not a JSON object")
                memos.append(Memo.from_dict(data))
            except (json.JSONDecodeError, MemoryStoreError, TypeError) as exc:
                raise MemoryStoreError(f"{source}:{number}: not a memo: {exc}") from None
        for start in range(0, len(memos), 256):
            self.put(memos[start:start + 256])
        return len(memos)


def _where(agent: str | None, kind: str | None, pending: bool | None, include_shared: bool) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if agent is not None:
        if include_shared and agent != SHARED:
            clauses.append({"agent": {"$in": [agent, SHARED]}})
        else:
            clauses.append({"agent": agent})
    if kind is not None:
        clauses.append({"kind": kind})
    if pending is not None:
        clauses.append({"pending": pending})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def open_memo_store(models: ModelsConfig | None = None, path: str | os.PathLike[str] | None = None) -> MemoStore:
    """The memo store models.toml describes (loaded with the usual lookup order if not given)."""
    if models is None:
        from moot.backends.config import load_models

        models = load_models()
    return MemoStore.from_config(models, path=path)
