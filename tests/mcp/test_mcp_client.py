"""MCP tools in teams: the real reference servers (mcp-server-time, mcp-server-git) over stdio, a
Streamable HTTP server on loopback, fault stand-ins, driven by teams on the scripted backend
through a recorded Session; the Python helper; team-file and mcp.json validation."""

from __future__ import annotations

import json
import os

import pytest

from mcp_helpers import PY, faulty_server, time_server
from moot.agents import AssistantAgent, McpError, McpServer, Session, UserProxyAgent, parse_team, register_mcp_tools
from moot.agents._mcpconfig import read_mcp_json, user_mcp_file
from moot.backends import ConfigError
from moot.backends.config import scripted_models
from moot.memory import SessionStore

pytestmark = pytest.mark.timeout(120)


def call(name, **arguments):
    return {"content": "", "tool_calls": [{"name": name, "arguments": arguments}]}


def team_text(tools, servers, max_turns=3):
    return f"""schema_version = 1
name = "mcp-team"
[[members]]
name = "user"
role = "user_proxy"
human_input_mode = "NEVER"
[[members]]
name = "bot"
model = "bot"
tools = {json.dumps(tools)}
[chat]
max_turns = {max_turns}
{servers}"""


async def run_team(text, replies, *, store=None, approve=None, source="mcp-team.toml"):
    models = scripted_models({"bot": replies}, default="bot")
    team = parse_team(text, source, models)
    events = []
    session = Session.start(team, "go", models=models, store=store, record=store is not None)
    if approve is not None:
        session.built.mcp.approve = approve
    async with session:
        async for event in session.stream():
            events.append(event.to_dict())
    return session, events


def of(events, kind):
    return [e for e in events if e["type"] == kind]


async def test_a_team_calls_the_real_time_server_over_stdio(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    text = team_text(["time.*"], time_server(approval='"never"'))
    session, events = await run_team(text, [call("time__get_current_time", timezone="UTC"),
                                            call("time__convert_time", source_timezone="UTC", time="12:00",
                                                 target_timezone="Asia/Tokyo"), "done"], store=store)
    results = of(events, "tool_result")
    assert [r["name"] for r in results] == ["time__get_current_time", "time__convert_time"]
    assert not any(r["is_error"] for r in results)
    now = json.loads(results[0]["content"])  # structured content, as JSON
    assert now["timezone"] == "UTC" and now["datetime"].endswith("+00:00")
    assert json.loads(results[1]["content"])["target"]["datetime"].split("T")[1].startswith("21:00")  # in Tokyo
    assert session.outcome.value == "completed" and not of(events, "notice")
    # the model was offered the server's schemas under SERVER__TOOL
    offered = {t.name: t for t in session.built.members["bot"].llm_tools}
    assert offered["time__get_current_time"].parameters["required"] == ["timezone"]
    assert session.built.mcp.servers["time"].status == "closed"  # stopped with the session
    recorded = [e for e in store.events(session.id) if e["type"] == "tool_call"]
    assert recorded[0]["name"] == "time__get_current_time" and json.loads(recorded[0]["arguments"]) == {"timezone": "UTC"}


async def test_an_error_result_is_a_tool_error_and_the_chat_goes_on():
    text = team_text(["time.get_current_time"], time_server(approval='"never"'))
    session, events = await run_team(text, [call("time__get_current_time", timezone="Nowhere/Atlantis"), "ok"])
    (result,) = of(events, "tool_result")
    assert result["is_error"] and "Nowhere/Atlantis" in result["content"]
    assert session.outcome.value == "completed"
    # only the picked tool was offered
    assert [t.name for t in session.built.members["bot"].llm_tools] == ["time__get_current_time"]


async def test_the_real_git_server_reports_a_changed_file(git_repo):
    servers = (f'[mcp.git]\ncommand = {PY!r}\nargs = ["-m", "mcp_server_git", "--repository", {str(git_repo)!r}]\n'
               'approval = "never"\n')
    text = team_text(["git.git_status", "git.git_diff_unstaged"], servers)
    session, events = await run_team(text, [call("git__git_status", repo_path=str(git_repo)),
                                            call("git__git_diff_unstaged", repo_path=str(git_repo)), "done"])
    status, diff = of(events, "tool_result")
    assert not status["is_error"] and "notes.txt" in status["content"] and "modified" in status["content"]
    assert "+two" in diff["content"]


async def test_a_streamable_http_server_with_a_header_from_a_variable(http_server, monkeypatch):
    url, seen = http_server
    monkeypatch.setenv("CALC_TOKEN", "Bearer s3cret")
    servers = f'[mcp.calc]\nurl = "{url}"\nheaders_env = {{ Authorization = "CALC_TOKEN" }}\napproval = "never"\n'
    text = team_text(["calc.*"], servers)
    session, events = await run_team(text, [call("calc__add", a=2, b=40), call("calc__shout", text="hi"), "done"])
    add, shout = of(events, "tool_result")
    assert add["content"] == "42" and shout["content"] == "HI"
    assert any(h.get("authorization") == "Bearer s3cret" for h in seen)
    assert not any("s3cret" in json.dumps(e) for e in events)


async def test_a_legacy_sse_server(sse_server):
    url, seen = sse_server
    text = team_text(["calc.add"], f'[mcp.calc]\nurl = "{url}"\ntransport = "sse"\napproval = "never"\n')
    session, events = await run_team(text, [call("calc__add", a=1, b=2), "done"])
    (result,) = of(events, "tool_result")
    assert result["content"] == "3" and not result["is_error"] and seen


async def test_approval_always_without_anyone_to_ask_refuses_with_a_clear_error():
    text = team_text(["time.*"], time_server())  # not trusted: approval defaults to "always"
    session, events = await run_team(text, [call("time__get_current_time", timezone="UTC"), "ok"])
    (result,) = of(events, "tool_result")
    assert result["is_error"] and "needs approval" in result["content"] and "[mcp.time]" in result["content"]
    assert session.outcome.value == "completed"


async def test_approval_runs_skips_or_edits_the_arguments():
    asked = []

    async def approve(server, tool, arguments):
        asked.append((server, tool, dict(arguments)))
        return ["skip", {"timezone": "Asia/Tokyo"}][len(asked) - 1]

    text = team_text(["time.*"], time_server(), max_turns=4)
    _, events = await run_team(text, [call("time__get_current_time", timezone="UTC"),
                                      call("time__get_current_time", timezone="UTC"), "ok"], approve=approve)
    skipped, edited = of(events, "tool_result")
    assert asked[0] == ("time", "get_current_time", {"timezone": "UTC"})
    assert "skipped" in skipped["content"] and not skipped["is_error"]
    assert json.loads(edited["content"])["timezone"] == "Asia/Tokyo"


@pytest.mark.parametrize("servers, expected", [
    (faulty_server("ghost", "dies").replace(f"command = {PY!r}", 'command = "no-such-mcp-server-xyz"'),
     "mcp-team.toml: [mcp.ghost]: field 'command': cannot start 'no-such-mcp-server-xyz': no such program"),
    (faulty_server("ghost", "hang", timeout_s="1"),
     "mcp-team.toml: [mcp.ghost]: no answer within 1 s of starting (field 'timeout_s')"),
    (faulty_server("ghost", "schema"),
     "mcp-team.toml: [mcp.ghost]: its tool list does not validate (tool 2 of the list: inputSchema.type"),
])
async def test_a_server_that_cannot_start_is_a_notice_and_the_chat_goes_on(servers, expected):
    text = team_text(["ghost.*", "time.*"], servers + time_server(approval='"never"'))
    session, events = await run_team(text, [call("time__get_current_time", timezone="UTC"), "done"])
    notices = [e["text"] for e in of(events, "notice")]
    assert len(notices) == 1 and "MCP server 'ghost' is not available" in notices[0] and expected in notices[0]
    assert "Traceback" not in notices[0]
    (time_result,) = of(events, "tool_result")
    assert not time_result["is_error"]  # the other server's tools work
    assert not any(t.name.startswith("ghost__") for t in session.built.members["bot"].llm_tools)
    assert session.outcome.value == "completed"
    assert events.index(of(events, "chat_started")[0]) < events.index(of(events, "notice")[0])


async def test_a_server_that_dies_mid_call_is_a_notice_and_is_started_again_once():
    text = team_text(["dies.*"], faulty_server("dies", "dies", approval='"never"'), max_turns=6)
    session, events = await run_team(text, [call("dies__echo", text="one"), call("dies__die"),
                                            call("dies__echo", text="two"), call("dies__die"),
                                            call("dies__echo", text="three"), "done"])
    results = of(events, "tool_result")
    assert [r["is_error"] for r in results] == [False, True, False, True, True]
    assert results[0]["content"] == "one" and results[2]["content"] == "two"
    assert "stopped during the call to die" in results[1]["content"] and "dying on purpose" in results[1]["content"]
    assert "stopped again after a restart" in results[4]["content"]
    notices = [e["text"] for e in of(events, "notice")]
    assert len(notices) == 2 and "[mcp.dies]" in notices[0] and "started again at the next call" in notices[0]
    assert "not started again" in notices[1]
    assert session.outcome.value == "completed"


async def test_a_member_takes_tools_from_the_users_mcp_json_as_pasted_from_another_app():
    path = user_mcp_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": {"clock": {
        "command": PY, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], "env": {"TZ_NOTE": "x"},
        "autoApprove": ["get_current_time"], "approval": "never"}}, "globalShortcut": "Ctrl+M"}))
    assert read_mcp_json()["clock"].env == {"TZ_NOTE": "x"}
    session, events = await run_team(team_text(["clock.get_*"], ""), [call("clock__get_current_time", timezone="UTC"), "ok"])
    (result,) = of(events, "tool_result")
    assert not result["is_error"] and json.loads(result["content"])["timezone"] == "UTC"


def test_team_file_mistakes_name_the_file_the_entry_and_the_field():
    models = scripted_models({"bot": ["x"]}, default="bot")
    with pytest.raises(ConfigError) as info:
        parse_team(team_text(["nowhere.*", "time."], time_server() + '[mcp.both]\ncommand = "x"\nurl = "http://h/mcp"\n'
                             '[mcp.web]\nurl = "ftp://h"\nenv = ["A"]\n[mcp.bad__name]\ncommand = "x"\n'), "t.toml", models)
    text = "\n".join(info.value.problems)
    assert "t.toml: [mcp.bad__name]: server name 'bad__name'" in text
    assert "t.toml: [[members]] entry 2 ('bot'): field 'tools': 'nowhere.*': no MCP server named 'nowhere'" in text
    assert "'time.' names no tool" in text
    assert "t.toml: [mcp.both]: needs exactly one of 'command'" in text
    assert "t.toml: [mcp.web]: field 'env': only for a server started with 'command'" in text
    assert "t.toml: [mcp.web]: field 'url': must start with http:// or https://" in text
    with pytest.raises(ConfigError) as info:
        parse_team(team_text([], '[mcp.worse]\ncommand = "x"\ntimeout_s = -1\napproval = "sometimes"\ncolour = 1\n'),
                   "t.toml", models)
    text = "\n".join(info.value.problems)
    assert "t.toml: [mcp]: field 'worse.timeout_s': Input should be greater than 0" in text
    assert "field 'worse.approval'" in text and "t.toml: [mcp]: unknown field 'worse.colour'" in text


def test_mcp_json_mistakes_name_the_file_the_server_and_the_field():
    path = user_mcp_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"mcpServers": {"a": {"command": "x", "colour": 1}, "b": {"url": "http://h/mcp", "env": {"K": "v"}}}}')
    with pytest.raises(ConfigError) as info:
        read_mcp_json()
    assert f"{path}: mcpServers.a: unknown field 'colour'" in info.value.problems[0]
    path.write_text('{"mcpServers": {"b": {"url": "http://h/mcp", "env": {"K": "v"}}}}')
    with pytest.raises(ConfigError, match=r"mcpServers\.b: field 'env': only for a server started with 'command'"):
        read_mcp_json()
    path.write_text('{"mcpServers": {')
    with pytest.raises(ConfigError, match=rf"{path}: not valid JSON"):
        read_mcp_json()


async def test_a_variable_named_in_env_must_be_set(monkeypatch):
    monkeypatch.delenv("MOOT_TEST_UNSET", raising=False)
    text = team_text(["time.*"], time_server(env='["MOOT_TEST_UNSET"]', approval='"never"'))
    _, events = await run_team(text, ["done"])
    (notice,) = of(events, "notice")
    assert "[mcp.time]: field 'env': the variable MOOT_TEST_UNSET is not set" in notice["text"]


async def test_register_mcp_tools_gives_an_agent_a_servers_tools():
    models = scripted_models({"a": [call("time__get_current_time", timezone="UTC"), "The time is known. TERMINATE"]},
                             default="a")
    from moot.agents._models import using_models

    with using_models(models):
        asst = AssistantAgent("asst", llm_config="a")
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False, default_auto_reply="",
                              is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
        async with McpServer("time", command=PY, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]) as server:
            names = await register_mcp_tools(server, caller=asst, executor=user, tools=["get_*"])
            assert names == ["time__get_current_time"]
            result = await user.a_initiate_chat(asst, message="What time is it?", max_turns=2)
        tool_reply = next(m for m in result.chat_history if m.get("role") == "tool")
        assert json.loads(tool_reply["content"])["timezone"] == "UTC"
        with pytest.raises(McpError, match="no such program"):
            await McpServer("x", command="no-such-mcp-xyz").start()
        with pytest.raises(ValueError, match="no tool matches 'nope'"):
            async with McpServer("time", command=PY, args=["-m", "mcp_server_time"]) as again:
                await register_mcp_tools(again, caller=asst, tools=["nope"])


@pytest.mark.parametrize("trusted", [False, True])
async def test_sampling_is_refused_unless_the_server_is_trusted(trusted):
    text = team_text(["sample.*"], faulty_server("sample", "sample", approval='"never"',
                                                 trusted="true" if trusted else "false"))
    # the same scripted model is the team's default: it answers the server's sampling request too
    _, events = await run_team(text, [call("sample__ask", question="colour of the sky?"), "blue", "done"])
    (result,) = of(events, "tool_result")
    if trusted:
        assert not result["is_error"] and result["content"] == "the model said: blue"
    else:
        assert result["is_error"] and "sampling" in result["content"].lower()


async def test_the_servers_stay_up_while_the_chat_goes_on_and_a_resumed_session_starts_them_again(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    models = scripted_models({"bot": [call("time__get_current_time", timezone="UTC"), "one",
                                      call("time__get_current_time", timezone="Europe/Paris"), "two",
                                      call("time__get_current_time", timezone="Asia/Tokyo"), "three"]}, default="bot")
    team = parse_team(team_text(["time.*"], time_server(approval='"never"'), max_turns=2), "mcp-team.toml", models)
    async with Session.start(team, "go", models=models, store=store) as session:
        await session.run()
        server = session.built.mcp.servers["time"]
        first = server._task
        await session.run("again")
        assert server._task is first and server.status == "running"  # one process for the whole session
        session_id = session.id
    assert server.status == "closed"
    async with Session.open(session_id, store=store, models=models) as again:
        events = [e.to_dict() async for e in again.stream("and once more")]
    (result,) = of(events, "tool_result")
    assert not result["is_error"] and json.loads(result["content"])["timezone"] == "Asia/Tokyo"
