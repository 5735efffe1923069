"""extract_code_blocks, format_for_agent and the output cap: pure functions, no processes."""

from __future__ import annotations

import pytest

from moot.executors import CodeBlock, ExecutionResult, extract_code_blocks, format_for_agent, truncate_middle
from moot.executors._base import OutputCollector, parse_memory, script_name
from moot.executors._results import ExecutorError


def test_tagged_blocks_in_order_with_normalised_languages():
    text = (
        "Here is the plan.\n\n"
        "```python\nprint('a')\n```\n\n"
        "then\n"
        "```Bash\necho b\n```\n"
        "```sh\necho c\n```\n"
        "```py\nx = 1\n```\n"
        "```json\n{\"k\": 1}\n```\n"
    )
    blocks = extract_code_blocks(text)
    assert blocks == [
        CodeBlock("python", "print('a')\n"),
        CodeBlock("sh", "echo b\n"),
        CodeBlock("sh", "echo c\n"),
        CodeBlock("python", "x = 1\n"),
        CodeBlock("json", '{"k": 1}\n'),
    ]
    assert [b.executable for b in blocks] == [True, True, True, True, False]


def test_filename_comment_names_the_file_and_stays_in_the_code():
    text = "```python\n# filename: tools/calc.py\ndef add(a, b):\n    return a + b\n```"
    [block] = extract_code_blocks(text)
    assert block.filename == "tools/calc.py"
    assert block.code.startswith("# filename: tools/calc.py\n")
    [sh] = extract_code_blocks("```bash\n# filename: run.sh\necho hi\n```")
    assert (sh.language, sh.filename) == ("sh", "run.sh")
    # Only the first line names a file.
    [later] = extract_code_blocks("```python\nx = 1\n# filename: no.py\n```")
    assert later.filename is None


def test_untagged_blocks_are_inferred():
    text = "```\nprint(sum(range(10)))\n```\n```\npip install numpy\n```\n```\nThis is just prose, not code.\n```\n"
    blocks = extract_code_blocks(text)
    assert [(b.language, b.executable) for b in blocks] == [("python", True), ("sh", True), ("text", False)]


def test_tildes_longer_fences_and_indented_fences():
    text = (
        "~~~python\nprint('tilde')\n~~~\n"
        "````markdown\n```python\nnot a separate block\n```\n````\n"
        "  ```python\n  print('indented')\n  ```\n"
    )
    blocks = extract_code_blocks(text)
    assert blocks[0] == CodeBlock("python", "print('tilde')\n")
    assert blocks[1].language == "markdown" and "```python" in blocks[1].code
    assert blocks[2] == CodeBlock("python", "print('indented')\n")
    assert len(blocks) == 3


def test_unclosed_block_is_ignored_and_inline_backticks_are_not_fences():
    assert extract_code_blocks("```python\nprint('cut off mid-reply'") == []
    assert extract_code_blocks("Use ```print(1)``` inline.") == []
    assert extract_code_blocks("no code here") == []


def test_console_blocks_keep_only_the_commands():
    [block] = extract_code_blocks("```console\n$ echo one\none\n$ ls\nfile.txt\n```")
    assert block == CodeBlock("sh", "echo one\nls\n")


def test_filename_in_the_info_string():
    [block] = extract_code_blocks("```python filename=app.py\nprint(1)\n```")
    assert block.filename == "app.py"


def _result(code: int, output: str, **kw) -> ExecutionResult:
    return ExecutionResult(exit_code=code, output=output, duration_s=0.1, **kw)


def test_format_for_agent_uses_autogens_words():
    assert format_for_agent([_result(0, "42\n")]) == "exitcode: 0 (execution succeeded)\nCode output: 42\n"
    failed = format_for_agent([_result(0, "a\n"), _result(2, "Traceback ...\nNameError\n")])
    assert failed == "exitcode: 2 (execution failed)\nCode output: a\n\nTraceback ...\nNameError\n"


def test_format_for_agent_reports_kills():
    text = format_for_agent([_result(137, "", timed_out=True, killed_reason="timeout after 5 s")])
    assert text == "exitcode: 137 (execution failed)\nCode output: [killed: timeout after 5 s]"
    oom = format_for_agent([_result(137, "allocating\n", killed_reason="out of memory (limit 64 MB)")])
    assert oom.endswith("allocating\n[killed: out of memory (limit 64 MB)]")


def test_format_for_agent_cuts_the_middle_of_huge_output_and_says_how_much():
    output = "HEAD\n" + "x" * 50_000 + "\nTAIL-traceback\n"
    text = format_for_agent([_result(1, output)], max_chars=1_000)
    assert len(text) <= 1_000
    assert text.startswith("exitcode: 1 (execution failed)\nCode output: HEAD\n")
    assert text.endswith("TAIL-traceback\n")
    cut = int(text.split("[... ")[1].split(" characters cut")[0].replace(",", ""))
    kept = len(text) - len("exitcode: 1 (execution failed)\nCode output: ") - len(f"\n[... {cut:,} characters cut ...]\n")
    assert cut + kept == len(output)


def test_truncate_middle_leaves_short_text_alone():
    assert truncate_middle("short", 100) == "short"


def test_output_collector_keeps_head_and_tail_and_decodes_split_utf8():
    collector = OutputCollector(limit=1_000)
    snow = "☃".encode()  # three bytes, fed one at a time
    chunks = [c for b in snow for c in collector.feed(bytes([b]))]
    assert "".join(c.text for c in chunks) == "☃"
    chunks += collector.feed(b"a" * 5_000 + b"END", "stderr")
    last, output = collector.finish()
    assert collector.truncated
    assert output.startswith("☃a") and output.endswith("aaaEND")
    assert len(output) < 1_100
    assert "[... 4,004 characters of output cut ...]" in output  # 5,004 in, 1,000 kept
    assert last[-1].text.endswith("END") and last[-1].stream == "stderr"


@pytest.mark.parametrize(("value", "size"), [("256m", 256 << 20), ("1g", 1 << 30), ("64MiB", 64 << 20), (10_000_000, 10_000_000), (None, None)])
def test_parse_memory(value, size):
    assert parse_memory(value) == size


@pytest.mark.parametrize("value", ["lots", "1k", -5, True])
def test_parse_memory_rejects_nonsense(value):
    with pytest.raises(ExecutorError):
        parse_memory(value)


def test_generated_names_cannot_be_foreseen_and_filenames_must_stay_inside():
    block = CodeBlock("python", "print(1)\n")
    names = {script_name(block) for _ in range(20)}
    assert len(names) == 20  # the same code never gets a name that earlier code could aim a link at
    assert all(n.startswith("tmp_code_") and n.endswith(".py") for n in names)
    assert script_name(CodeBlock("sh", "ls\n")).endswith(".sh")
    for bad in ("/etc/passwd", "../up.py", "a/../../b.py"):
        with pytest.raises(ExecutorError, match="inside the work dir"):
            script_name(CodeBlock("python", "", bad))
