"""The help screen: what moot's screens do, and every key binding with its id (for keymap.toml)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from ..settings import DECLARED, declare, key_display, key_label, keymap_problems, keys_of

GUIDE = """\
# moot

**Home**: pick a team (Enter) to open a chat; resume, fork, export or delete a recent session; see
which models are ready and why the others are not. **Chat**: type the task and press Enter. The
agents' turns stream on the left, the code they run on the right (select a turn to see its runs,
select a run to see its turn). While it runs, type to add a message for the next turn, or
`/next NAME` to choose who speaks next in a group chat. When an agent asks you, the input bar is
where you answer. **{chat.stop_turn}** stops the current turn (then type to go on); **Stop** ({chat.stop})
ends the run; {chat.back} (or {app.home}) goes home while it runs on. Focus a turn (click it, or Tab) and
press **{chat.fork}** to fork the session from it: a new chat holding the messages up to that turn.

Every action is in the command palette ({palette}). Keys can be changed in `KEYMAP`: one line per
binding id, e.g. `"chat.stop" = "ctrl+k"` (problems in it are shown when moot starts). The theme you
pick is remembered.
"""


def guide(keymap_file: str, palette: str = "ctrl+p") -> str:
    """The guide with each key as bound now (the user's keymap applied)."""
    names = ("chat.stop_turn", "chat.stop", "chat.back", "app.home", "chat.fork")
    text = GUIDE.replace("KEYMAP", keymap_file).replace("{palette}", key_display(palette))
    for name in names:
        text = text.replace("{" + name + "}", key_label(name))
    return text


def declare_all() -> None:
    """Import every screen, so each has declared its bindings (the help table, the keymap check);
    the app's own and Home's are declared already: the app runs, Home is its first screen."""
    from . import approval, chat, dialogs, eval_runs, mcp, mcp_approval, memory, team_editor  # noqa: F401


def binding_rows(palette: str = "ctrl+p") -> list[tuple[str, str, str, str]]:
    """(where, keys, what it does, id) of every binding, the user's keymap applied."""
    declare_all()
    rows = [(where, ", ".join(key_display(k) for k in keys_of(i).split(",")), what, i)
            for i, (where, _keys, what) in DECLARED.items()]
    rows.append(("everywhere", key_display(palette), "Command palette", "app.command_palette"))
    return sorted(rows, key=lambda r: (r[0] != "everywhere", r[0]))


def check_keymap() -> list[str]:
    """Every problem of keymap.toml that needs all the bindings known: unknown ids, clashes."""
    declare_all()
    return keymap_problems()


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = declare("help", [Binding("escape,f1,q", "close", "Close", id="help.close")])

    def __init__(self, bindings: list[tuple[str, str, str, str]] | None, keymap_file: str) -> None:
        """``bindings`` is ignored: the table lists every declared binding (``binding_rows``)."""
        super().__init__()
        self.rows: list[tuple[str, str, str, str]] = []
        self.keymap_file = keymap_file

    def compose(self) -> ComposeResult:
        self.rows = binding_rows(getattr(self.app, "COMMAND_PALETTE_BINDING", "ctrl+p"))
        table = Table(expand=True, box=None, header_style="bold")
        for col in ("where", "keys", "action", "id"):
            table.add_column(col)
        for where, keys, description, binding_id in self.rows:
            table.add_row(where, Text(keys, style="bold"), description, Text(binding_id, style="dim"))
        with VerticalScroll(id="help"):
            yield Markdown(guide(self.keymap_file, getattr(self.app, "COMMAND_PALETTE_BINDING", "ctrl+p")))
            yield Static(table, id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
