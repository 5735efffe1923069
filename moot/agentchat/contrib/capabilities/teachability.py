"""``autogen.agentchat.contrib.capabilities.teachability``: ``Teachability`` with AutoGen 0.2's
settings, over moot's own (``moot.agents.Teachability``), which remembers what users teach."""

from __future__ import annotations

from typing import Any

from moot.agents import Teachability as _MootTeachability
from moot.memory.memos import MemoStore

__all__ = ["Teachability"]


class Teachability(_MootTeachability):
    """Teachability as AutoGen 0.2 makes it: ``Teachability(verbosity=0, reset_db=False,
    path_to_db_dir=..., recall_threshold=1.5, max_num_retrievals=10, llm_config=None)``.

    - ``path_to_db_dir``: the memo store's folder (an embedded Chroma store); not given, moot's
      own store (the data dir's, or models.toml's ``[memory]``), where memos last across runs.
    - ``reset_db``: forget every memo of that store first.
    - ``recall_threshold``: AutoGen's Chroma distance (squared L2); for the unit-length embeddings
      moot uses that is twice a cosine distance, so moot recalls memos within half of it.
    - ``max_num_retrievals``: at most this many memos recalled for a message.
    - ``llm_config``: the model that decides what to learn (None: the agent's own).
    - ``verbosity``: kept; moot reports memory use as chat events (``MemoryRecalled``, ...).
    moot's own settings (``policy``, ``memo_store``, ``scope``, ...) may be given too.
    """

    def __init__(self, verbosity: int | None = 0, reset_db: bool | None = False, path_to_db_dir: str | None = None,
                 recall_threshold: float | None = 1.5, max_num_retrievals: int | None = 10,
                 llm_config: Any = None, **moot_settings: Any):
        store = moot_settings.pop("memo_store", None)
        if store is None and path_to_db_dir is not None:
            store = MemoStore(path_to_db_dir)
        super().__init__(memo_store=store, k=max_num_retrievals or 10, distance_threshold=(recall_threshold or 1.5) / 2,
                         learn_model=llm_config or None, **moot_settings)
        self.verbosity = verbosity or 0
        if reset_db:
            for memo in self.memo_store.list(pending=None):
                self.memo_store.delete(memo.id)
