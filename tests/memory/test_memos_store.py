"""MemoStore on real Chroma (embedded, and a real `chroma run` server) with real embeddings."""

from __future__ import annotations

import json

import pytest

from conftest_memos import chroma_server, run_python  # noqa: F401 (fixture)
from moot.memory.memos import Memo, MemoryStoreError, MemoStore


@pytest.fixture
def store(tmp_path):
    return MemoStore(tmp_path / "store")


def _fill(store: MemoStore) -> dict[str, Memo]:
    return {
        "tabs": store.add("how the user wants code indented", "Indent code with tabs, never spaces.", kind="preference"),
        "deploy": store.add("when deployments happen", "Deploys happen on Fridays at 4pm.", agent="coder"),
        "cat": store.add("the user's cat", "The user's cat is called Miso.", agent="writer"),
        "tests": store.add("how to run the tests", "Run the tests with make test.", kind="task_advice", agent="coder"),
    }


def test_add_get_update_delete_count(store):
    memos = _fill(store)
    assert store.count() == 4
    got = store.get(memos["tabs"].id)
    assert got is not None and got.recall == "Indent code with tabs, never spaces." and got.kind == "preference"
    assert got.agent == "shared" and got.created == pytest.approx(memos["tabs"].created)
    updated = store.update(memos["tabs"].id, recall="Indent code with 4 spaces.")
    assert updated.updated >= updated.created
    assert store.get(memos["tabs"].id).recall == "Indent code with 4 spaces."
    assert store.delete(memos["tabs"].id) is True
    assert store.delete(memos["tabs"].id) is False
    assert store.get(memos["tabs"].id) is None and store.count() == 3
    with pytest.raises(KeyError):
        store.update("mem-nope", recall="x")


def test_update_of_the_match_text_re_embeds(store):
    m = store.add("the user's favourite fruit", "The user loves mangoes.")
    assert store.search("which programming language for scripts?", k=1, max_distance=0.6) == []
    store.update(m.id, match="which programming language to use for scripts")
    hits = store.search("which programming language for scripts?", k=1, max_distance=0.6)
    assert [h.memo.id for h in hits] == [m.id]


def test_list_filters_by_agent_and_kind(store):
    memos = _fill(store)
    assert [m.id for m in store.list()] == [m.id for m in memos.values()]  # oldest first
    assert {m.id for m in store.list(agent="coder")} == {memos["deploy"].id, memos["tests"].id}
    assert [m.id for m in store.list(kind="task_advice")] == [memos["tests"].id]


def test_search_is_best_first_and_scoped_to_the_agent_and_shared(store):
    memos = _fill(store)
    hits = store.search("what day do we deploy?", k=4, agent="coder")
    assert hits[0].memo.id == memos["deploy"].id
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert memos["cat"].id not in {h.memo.id for h in hits}  # the writer's memo is not the coder's
    writer = store.search("what day do we deploy?", k=4, agent="writer")
    assert {h.memo.id for h in writer} == {memos["cat"].id, memos["tabs"].id}
    assert store.search("what day do we deploy?", k=4, max_distance=0.5)[0].memo.id == memos["deploy"].id


def test_pending_memos_are_not_found_until_accepted(store):
    old = store.add("how the user wants code indented", "Indent with tabs.", kind="preference")
    proposal = Memo(id="mem-proposal01", match="how the user wants code indented", recall="Indent with 2 spaces.",
                    kind="preference", pending=True, replaces=old.id)
    store.put([proposal])
    assert [h.memo.id for h in store.search("indent my code", k=5)] == [old.id]
    assert [m.id for m in store.list(pending=True)] == ["mem-proposal01"]
    accepted = store.accept("mem-proposal01")
    assert accepted.id == old.id and not accepted.pending  # it took the old memo's place
    assert store.count() == 1 and store.get(old.id).recall == "Indent with 2 spaces."


def test_export_import_round_trip_into_a_new_store(store, tmp_path):
    memos = _fill(store)
    store.put([Memo(id="mem-pending001", match="m", recall="r", pending=True)])
    path = tmp_path / "memos.jsonl"
    assert store.export(path) == 5
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {d["id"] for d in lines} == {m.id for m in memos.values()} | {"mem-pending001"}
    other = MemoStore(tmp_path / "other")
    assert other.import_(path) == 5
    assert other.import_(path) == 5 and other.count() == 5  # ids kept: no duplicates
    for m in memos.values():
        assert other.get(m.id).to_dict() == store.get(m.id).to_dict()
    assert other.search("what day do we deploy?", k=1, agent="coder")[0].memo.id == memos["deploy"].id  # re-embedded


def test_a_bad_import_line_is_named_and_nothing_is_stored(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "mem-ok", "match": "a", "recall": "b"}) + "\n" + '{"id": "x", "match": "a"}\n')
    with pytest.raises(MemoryStoreError, match=r"bad.jsonl:2: not a memo: missing 'recall'"):
        store.import_(path)
    assert store.count() == 0
    path.write_text(json.dumps({"id": "m", "match": "a", "recall": "b", "kind": "gossip"}) + "\n")
    with pytest.raises(MemoryStoreError, match="kind"):
        store.import_(path)


def test_a_corrupt_store_is_a_clear_error_naming_the_path(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "chroma.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MemoryStoreError) as info:
        MemoStore(folder).count()
    assert str(folder) in str(info.value) and "corrupt" in str(info.value)
    assert (folder / "chroma.sqlite3").read_bytes().startswith(b"this is not sqlite")  # never overwritten


def test_a_second_process_uses_the_same_store_at_the_same_time(store, tmp_path):
    first = store.add("the office wifi password", "The wifi password is hunter2.")
    result = run_python(f"""
        import json
        from moot.memory.memos import MemoStore
        s = MemoStore({str(store.path)!r})
        seen = s.get({first.id!r}).recall
        added = s.add("the user's birthday", "The user's birthday is on May 4th.", agent="writer")
        print(json.dumps({{"seen": seen, "id": added.id}}))
    """)
    assert result["seen"] == "The wifi password is hunter2."
    assert store.get(result["id"]).recall == "The user's birthday is on May 4th."  # still open here, sees it
    assert store.search("when is my birthday?", k=1, agent="writer")[0].memo.id == result["id"]


def test_the_store_lives_under_the_data_dir_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MOOT_HOME", str(tmp_path / "home"))
    store = MemoStore()
    store.add("x marks the spot", "x")
    assert store.path == tmp_path / "home" / "memory"
    assert (store.path / "chroma.sqlite3").is_file()


def test_against_a_real_chroma_server(chroma_server, tmp_path):
    store = MemoStore(url=chroma_server, collection="team-memos")
    memos = _fill(store)
    assert store.count() == 4
    assert store.search("what day do we deploy?", k=2, agent="coder")[0].memo.id == memos["deploy"].id
    store.delete(memos["cat"].id)
    # another client (another process would be the same) sees the same memos
    assert MemoStore(url=chroma_server, collection="team-memos").count() == 3


def test_an_unreachable_server_is_a_clear_error():
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(MemoryStoreError, match=f"Chroma server at {url}"):
        MemoStore(url=url).count()


def test_search_finds_an_agents_memo_behind_many_nearer_ones_of_other_agents(store):
    store.put([Memo(id=f"mem-w{i:03d}", match=f"deployments of service {i} happen on Fridays", recall=f"w{i}", agent="writer")
               for i in range(40)])
    mine = store.add("the release train leaves every second Tuesday", "Releases ship every second Tuesday.", agent="coder")
    pending = Memo(id="mem-pend0001", match="deploys happen on Fridays", recall="p", agent="coder", pending=True)
    store.put([pending])
    hits = store.search("when do deployments happen?", k=2, agent="coder")
    assert [h.memo.id for h in hits] == [mine.id]  # found behind 40 nearer writer memos; the proposal left out
    assert [h.memo.id for h in store.search("when do deployments happen?", k=1, agent="coder", pending=True)] == ["mem-pend0001"]
    assert store.search("when do deployments happen?", k=2, agent="coder", max_distance=0.05) == []


def test_switching_the_embedder_on_an_existing_store_is_a_clear_error(store):
    from moot.memory.embeddings import OllamaEmbedding

    store.add("the user's cat", "The cat is called Miso.")
    other = MemoStore(store.path, embedding=OllamaEmbedding("all-minilm", "http://127.0.0.1:9"))
    with pytest.raises(MemoryStoreError, match=r"moot_ollama vs persisted: moot_onnx_minilm.*export the memos"):
        other.count()
    assert store.count() == 1  # nothing touched


SUBJECTS = ["the billing service", "the staging cluster", "the nightly build", "the API gateway", "the search index",
            "the auth module", "the database backups", "the design system", "the CI runners", "the mobile app"]
FACTS = ["runs on Python 3.11", "is deployed on Fridays only", "is owned by the platform team", "is hosted in Frankfurt",
         "needs a review from two people", "has a 90 minute timeout"]
QUERIES = ["How should I deploy the billing service?", "Where is staging hosted?", "Who owns the API gateway?",
           "How long can a CI job run?"]


def _nearest(store: MemoStore, memos: list[Memo], query: str, k: int, allowed) -> list[str]:
    """The ids of the k memos nearest to query among those allowed, by brute force over the
    embeddings (what a filtered search must return)."""
    import numpy as np

    pool = [m for m in memos if allowed(m)]
    vectors = np.asarray(store.embedding([m.match for m in pool]), dtype=float)
    q = np.asarray(store.embedding([query])[0], dtype=float)
    distances = 1 - vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
    return [pool[i].id for i in np.argsort(distances)[:k]]


def test_search_filtered_by_agent_returns_that_agents_nearest_memos_and_nothing_of_the_others(store):
    # 10 agents each holding its own memos (a tenth of the store each), a few shared ones, and
    # for each agent a pending proposal and a task advice: every filter path of search is taken.
    agents = [f"agent{i}" for i in range(10)]
    memos = [Memo(id=f"mem-{a}-{j:02d}", match=f"{SUBJECTS[(i + j) % 10].capitalize()} {FACTS[j % 6]} (note {i}.{j}).",
                  recall=f"{a} {j}", agent=a, kind="task_advice" if j == 0 else "fact")
             for i, a in enumerate(agents) for j in range(12)]
    memos += [Memo(id=f"mem-shared-{j}", match=f"{SUBJECTS[j].capitalize()} {FACTS[j % 6]} (shared).", recall=f"s{j}")
              for j in range(3)]
    memos += [Memo(id=f"mem-{a}-pending", match=f"{SUBJECTS[i].capitalize()} is deployed on Fridays only.",
                   recall=f"{a} pending", agent=a, pending=True) for i, a in enumerate(agents)]
    store.put(memos)
    for _ in range(2):  # the second round runs after each filter's unfiltered pass has fallen short once
        for query in QUERIES:
            for a in agents:
                hits = store.search(query, k=3, agent=a)
                assert {h.memo.agent for h in hits} <= {a, "shared"} and not any(h.memo.pending for h in hits)
                assert [h.memo.id for h in hits] == _nearest(
                    store, memos, query, 3, lambda m, a=a: m.agent in (a, "shared") and not m.pending)
                advice = store.search(query, k=2, agent=a, kind="task_advice")
                assert [h.memo.id for h in advice] == [f"mem-{a}-00"]  # its only task advice
                with_pending = store.search(query, k=3, agent=a, pending=None)
                assert [h.memo.id for h in with_pending] == _nearest(
                    store, memos, query, 3, lambda m, a=a: m.agent in (a, "shared"))
    # a filter that went straight to Chroma's filter still sees what is added afterwards
    new = store.add("the billing service is deployed by the release robot", "Robot deploys.", agent="agent3")
    assert store.search(QUERIES[0], k=1, agent="agent3")[0].memo.id == new.id
    assert new.id not in {h.memo.id for a in agents if a != "agent3" for h in store.search(QUERIES[0], k=3, agent=a)}


def test_search_of_an_empty_store_or_for_nothing_is_empty(store):
    assert store.search("anything", k=3, agent="coder") == []
    store.add("the user's cat", "The cat is called Miso.", agent="writer")
    assert store.search("   ", k=3) == [] and store.search("cat", k=0) == []
    assert store.search("what is the cat called?", k=3, agent="coder") == []  # the writer's memo is not the coder's


def test_search_sees_another_stores_label_changes_soon_and_its_own_at_once(store, monkeypatch):
    import moot.memory.memos as memos_module

    coder = store.add("when deployments happen", "Deploys happen on Fridays.", agent="coder")
    proposal = Memo(id="mem-proposal02", match="deployments happen on Mondays", recall="Mondays.", agent="coder",
                    pending=True)
    store.put([proposal])
    assert [h.memo.id for h in store.search("when do we deploy?", k=3, agent="coder")] == [coder.id]  # labels read
    other = MemoStore(store.path)  # another process's view of the same store
    other.update(coder.id, agent="writer")
    # a memo moved to another agent elsewhere is never returned: the memos kept are read whole
    assert store.search("when do we deploy?", k=3, agent="coder") == []
    assert [h.memo.id for h in store.search("when do we deploy?", k=3, agent="writer")] == [coder.id]
    # a proposal accepted elsewhere is found once the labels read earlier have expired
    other.accept(proposal.id)
    monkeypatch.setattr(memos_module, "LABELS_TTL_S", 0.0)
    assert [h.memo.id for h in store.search("when do we deploy?", k=3, agent="coder")] == [proposal.id]
    monkeypatch.setattr(memos_module, "LABELS_TTL_S", 3600.0)
    # this store's own changes count at once
    store.update(proposal.id, agent="writer")
    assert store.search("when do we deploy?", k=3, agent="coder") == []
    store.update(proposal.id, agent="coder", pending=True)
    assert store.search("when do we deploy?", k=3, agent="coder") == []
    assert [h.memo.id for h in store.search("when do we deploy?", k=3, agent="coder", pending=True)] == [proposal.id]
    store.delete(proposal.id)
    assert store.search("when do we deploy?", k=3, agent="coder", pending=None) == []


def test_search_past_the_nearest_it_looks_through_uses_chromas_filter(store, monkeypatch):
    import moot.memory.memos as memos_module

    store.put([Memo(id=f"mem-w{i:03d}", match=f"deployments of service {i} happen on Fridays", recall=f"w{i}", agent="writer")
               for i in range(40)])
    mine = store.add("the release train leaves every second Tuesday", "Releases ship every second Tuesday.", agent="coder")
    expected = [h.memo.id for h in store.search("when do deployments happen?", k=2, agent="coder")]
    monkeypatch.setattr(memos_module, "_MAX_FETCH", 32)  # 32 nearest memos are all the writer's
    assert [h.memo.id for h in store.search("when do deployments happen?", k=2, agent="coder")] == expected == [mine.id]
    assert [h.memo.id for h in store.search("when do deployments happen?", k=3, agent="writer")] == [
        h.memo.id for h in MemoStore(store.path).search("when do deployments happen?", k=3, agent="writer")]
