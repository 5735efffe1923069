"""``moot mcp list|check``: the real command, against mcp.json and team-file servers (the real
mcp-server-time and a missing program)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_helpers import PY, time_server
from moot.agents._mcpconfig import user_mcp_file

pytestmark = pytest.mark.timeout(120)
MOOT = str(Path(sys.executable).with_name("moot"))


def moot(*args, cwd):
    return subprocess.run([MOOT, *args], cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=90,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def configured(tmp_path):
    path = user_mcp_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": {
        "clock": {"command": PY, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        "ghost": {"command": "no-such-mcp-server-xyz"}}}))
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "timely.toml").write_text(
        'schema_version = 1\n[[members]]\nname = "bot"\nmodel = "demo"\ntools = ["time.*"]\n' + time_server())
    return tmp_path


def test_mcp_list_shows_each_server_its_status_and_tools(configured):
    done = moot("mcp", "list", "--json", cwd=configured)
    assert done.returncode == 0, done.stderr
    rows = {(r["name"], r["team"]): r for r in json.loads(done.stdout)["servers"]}
    assert rows[("clock", None)]["status"] == "ok" and rows[("clock", None)]["tools"] == ["get_current_time", "convert_time"]
    assert rows[("time", "timely")]["status"] == "ok" and rows[("time", "timely")]["approval"] == "always"
    ghost = rows[("ghost", None)]
    assert ghost["status"] == "failed" and "mcpServers.ghost: field 'command': cannot start 'no-such-mcp-server-xyz'" in ghost["error"]
    table = moot("mcp", "list", cwd=configured)
    assert table.returncode == 0 and "get_current_time, convert_time" in table.stdout and "timely" in table.stdout


def test_mcp_check_exits_non_zero_when_a_server_fails(configured):
    done = moot("mcp", "check", cwd=configured)
    assert done.returncode == 1
    assert "ok    clock" in done.stdout and "fail  ghost" in done.stdout and "no such program" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    one = moot("mcp", "check", "clock", cwd=configured)
    assert one.returncode == 0 and "2 tools" in one.stdout and "ghost" not in one.stdout
    unknown = moot("mcp", "check", "nope", cwd=configured)
    assert unknown.returncode == 2 and "no MCP server named 'nope' (servers: clock, ghost, time)" in unknown.stderr


def test_a_broken_mcp_json_is_a_clear_error(configured):
    user_mcp_file().write_text('{"mcpServers": {"a": {"command": "x", "colour": 1}}}')
    done = moot("mcp", "check", cwd=configured)
    assert done.returncode == 1 and "mcpServers.a: unknown field 'colour'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
