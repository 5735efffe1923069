"""``moot eval``: measure a team on benchmark suites, many recorded sessions at once.

Each task of a suite runs as a full recorded ``Session`` (``moot sessions show ID`` opens it), is
scored, and lands in the eval table (``evals.db`` in the data dir). Runners: ``local`` (a pool
of worker processes) or ``ray`` (``moot[ray]``: each run a Ray task). Suites: a user's JSONL file,
``humaneval``, ``bfcl`` (``bfcl:simple|multiple|parallel``), and moot's own ``selection``,
``stall`` and ``memory``. This package drives ``moot.agents`` through its public API only; only ``moot.tui``
imports it.
"""

from ._checks import ExprError, RunView, evaluate, run_checks
from ._eval import run_eval
from ._otel import Tracer, tracer_from
from ._registry import SUITES, load_suite, suite_names
from ._report import Comparison, Summary, compare, html_report, summarise, wilson
from ._runner import Job, RunSpec, a_run_task, run_task
from ._store import EvalRun, EvalStore, EvalStoreError, TaskResult
from ._suites import BARE, EvalTask, JsonlSuite, Score, Suite, SuiteError, TaskContext, bare_team

__all__ = [
    "BARE", "SUITES", "Comparison", "EvalRun", "EvalStore", "EvalStoreError", "EvalTask", "ExprError", "Job",
    "JsonlSuite", "RunSpec", "RunView", "Score", "Suite", "SuiteError", "Summary", "TaskContext", "TaskResult", "Tracer", "tracer_from",
    "a_run_task", "bare_team", "compare", "evaluate", "html_report", "load_suite", "run_checks", "run_eval",
    "run_task", "suite_names", "summarise", "wilson",
]
