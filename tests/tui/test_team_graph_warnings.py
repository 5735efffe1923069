"""Home shows what a team's transition graph gets wrong (the team still loads)."""

from __future__ import annotations

from conftest import wait_until
from moot.tui.screens.home import HomeScreen

UNREACHABLE = """schema_version = 1
[[members]]
name = "a"
system_message = "Say DONE when done."
[[members]]
name = "b"
[chat]
initiator = "a"
speaker_selection = "round_robin"
transitions = { a = ["a"], b = ["a"] }
[termination]
text = "DONE"
"""


async def test_home_shows_a_teams_graph_warning(app_factory, tmp_path):
    (tmp_path / "teams" / "lonely.toml").write_text(UNREACHABLE)
    app = app_factory()
    async with app.run_test(size=(160, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        teams = app.screen.query_one("#teams")
        labels = {str(teams.get_option_at_index(i).id): teams.get_option_at_index(i).prompt.plain
                  for i in range(teams.option_count)}
        assert "⚠" in labels["lonely"] and "nobody can reach 'b' from 'a', so it never speaks" in labels["lonely"]
        assert "lonely.toml" in labels["lonely"]
        assert "⚠" not in labels["planner-coder-reviewer"] and "⚠" not in labels["research-writer-editor"]
