"""Lines of Python code per package folder, in the working tree and at a git revision.

A line counts as code when it holds a Python token other than a comment; blank lines, comment-only
lines and docstrings (the first string of a module, class or function) are left out, so the
figure moves with code, not with prose. Files that do not parse at a revision count every
non-blank, non-comment line.

    .venv/bin/python bench/loc.py [--before 75d694d] [--after WORKTREE|REV]
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "backends", "executors", "memory", "tui", "moot", "tests", "bench")
WORKTREE = "WORKTREE"
_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
             tokenize.ENCODING, tokenize.ENDMARKER}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def count_code_lines(source: str) -> int:
    """Lines that hold code: not blank, not only a comment, not part of a docstring."""
    try:
        docstrings = _docstring_lines(ast.parse(source))
        code: set[int] = set()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in _NOT_CODE:
                code.update(range(token.start[0], token.end[0] + 1))
        return len(code - docstrings)
    except (SyntaxError, tokenize.TokenError, ValueError):
        return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench/loc.py: git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def python_files(rev: str) -> dict[str, str]:
    """Path -> source of every Python file under the package folders, at ``rev`` or on disk."""
    if rev == WORKTREE:
        names = _git("ls-files", "--cached", "--others", "--exclude-standard", "--", *PACKAGES).splitlines()
        return {n: (ROOT / n).read_text(encoding="utf-8", errors="replace")
                for n in names if n.endswith(".py") and (ROOT / n).is_file()}
    names = _git("ls-tree", "-r", "--name-only", rev, "--", *PACKAGES).splitlines()
    return {n: _git("show", f"{rev}:{n}") for n in names if n.endswith(".py")}


def per_package(rev: str) -> dict[str, tuple[int, int]]:
    """Package -> (files, code lines)."""
    out = {p: (0, 0) for p in PACKAGES}
    for name, source in python_files(rev).items():
        package = name.split("/", 1)[0]
        files, lines = out[package]
        out[package] = (files + 1, lines + count_code_lines(source))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="75d694d", help="git revision for the 'before' column (default 75d694d)")
    parser.add_argument("--after", default=WORKTREE, help="git revision for the 'after' column (default: the working tree)")
    args = parser.parse_args()
    before, after = per_package(args.before), per_package(args.after)
    label = "working tree" if args.after == WORKTREE else args.after
    print(f"Python code lines (no blanks, comments or docstrings): {args.before} -> {label}")
    print(f"{'package':12}{'files':>7}{'before':>9}{'files':>7}{'after':>9}{'change':>9}")
    totals = [0, 0, 0, 0]
    for p in PACKAGES:
        (bf, bl), (af, al) = before[p], after[p]
        totals = [totals[0] + bf, totals[1] + bl, totals[2] + af, totals[3] + al]
        print(f"{p:12}{bf:>7}{bl:>9}{af:>7}{al:>9}{al - bl:>+9}")
    bf, bl, af, al = totals
    print(f"{'total':12}{bf:>7}{bl:>9}{af:>7}{al:>9}{al - bl:>+9}")
    product = [p for p in PACKAGES if p not in ("tests", "bench")]
    pb, pa = sum(before[p][1] for p in product), sum(after[p][1] for p in product)
    print(f"{'product':12}{'':>7}{pb:>9}{'':>7}{pa:>9}{pa - pb:>+9}   ({', '.join(product)})")


if __name__ == "__main__":
    sys.exit(main())
