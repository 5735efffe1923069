"""The checks of a user suite over a finished session's view, and the ``expr`` evaluator: names
from the view only, a few string methods, and none of the ways out of an ``eval`` jail."""

from __future__ import annotations

import pytest

from moot.evals import ExprError, RunView, evaluate, run_checks

EVENTS = [
    {"type": "chat_started", "chat_id": "c1", "initiator": "user", "participants": ["user", "coder"]},
    {"type": "message", "chat_id": "c1", "sender": "user", "recipient": "coder", "content": "sum it"},
    {"type": "message", "chat_id": "c1", "sender": "coder", "recipient": "user", "content": "```python\nprint(45)\n```"},
    {"type": "execution_finished", "chat_id": "c1", "exit_code": 0, "output": "45\n"},
    {"type": "message", "chat_id": "c1", "sender": "user", "recipient": "coder", "content": "exitcode: 0\n45"},
    {"type": "usage", "chat_id": "c1", "agent": "coder", "model": "m", "prompt_tokens": 10, "completion_tokens": 5},
    {"type": "message", "chat_id": "c1", "sender": "coder", "recipient": "user", "content": "It is 45. TERMINATE"},
    {"type": "stopped", "chat_id": "c1", "reason": "done", "condition": "is_termination_msg", "outcome": "completed"},
]


def test_the_view_and_each_check():
    view = RunView.of(EVENTS)
    assert view.final == "It is 45. TERMINATE" and view.exit_code == 0 and view.stop == "is_termination_msg"
    assert view.prompt_tokens == 10 and len(view.messages) == 4
    assert run_checks({"contains": "45", "regex": r"^exitcode: 0$", "exit_code": 0}, view) == (True, "")
    assert run_checks({"exit_code": 1}, view) == (False, "exit_code: wanted 1, the last code execution exited 0")
    assert run_checks({"regex": "^nope"}, view)[1] == "regex: '^nope' does not match the transcript"
    ok = "final.endswith('TERMINATE') and any(m['sender'] == 'coder' for m in messages) and outputs == ['45\\n']"
    assert run_checks({"expr": ok}, view) == (True, "")
    assert run_checks({"expr": "tokens > 100"}, view) == (False, "expr: 'tokens > 100' is False")


@pytest.mark.parametrize("source, message", [
    ("().__class__.__base__.__subclasses__()", "Attribute is not allowed"),
    ("final.__class__", "Attribute is not allowed"),
    ("transcript.format_map({})", "only these methods of a string"),
    ("__import__('os').system('true')", "only these functions may be called"),
    ("open('/etc/passwd')", "only these functions may be called"),
    ("(lambda: 1)()", "only these functions may be called"),
    ("[lambda: 1]", "Lambda is not allowed"),
    ("[x for x in outputs if (y := x)]", "NamedExpr is not allowed"),
    ("'a' * 10 ** 9", "that repetition is too large"),
    ("2 ** 10000", "an exponent above 64"),
    ("secret", "unknown name 'secret'"),
])
def test_expr_refuses_every_way_out(source, message):
    with pytest.raises(ExprError) as info:
        evaluate(source, RunView.of(EVENTS).namespace())
    assert message in str(info.value)


def test_expr_reads_plain_values():
    names = RunView.of(EVENTS).namespace()
    assert evaluate("len([m for m in messages if 'TERMINATE' in m['content']])", names) == 1
    assert evaluate("search(r'\\d+', final) and count(transcript, '45') >= 3", names) is True
    assert evaluate("exit_code == 0 if outputs else False", names) is True
