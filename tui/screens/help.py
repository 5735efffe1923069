"""The help screen: what moot's screens do, and every key binding with its id (for keymap.toml)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

GUIDE = """\
# moot

**Home**: pick a team (Enter) to open a chat; resume, fork, export or delete a recent session; see
which models are ready and why the others are not. **Chat**: type the task and press Enter. The
agents' turns stream on the left, the code they run on the right (select a turn to see its runs,
select a run to see its turn). While it runs, type to add a message for the next turn, or
`/next NAME` to choose who speaks next in a group chat. When an agent asks you, the input bar is
where you answer. **Esc** stops the current turn (then type to go on); **Stop** (Ctrl+X) ends the run.

Every action is in the command palette (Ctrl+P). Keys can be changed in `KEYMAP`: one line per
binding id, e.g. `"chat.stop" = "ctrl+k"`. The theme you pick is remembered.
"""


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="help.close")]

    def __init__(self, bindings: list[tuple[str, str, str, str]], keymap_file: str) -> None:
        super().__init__()
        self.rows = bindings
        self.keymap_file = keymap_file

    def compose(self) -> ComposeResult:
        table = Table(expand=True, box=None, header_style="bold")
        for col in ("where", "keys", "action", "id"):
            table.add_column(col)
        for where, keys, description, binding_id in self.rows:
            table.add_row(where, Text(keys, style="bold"), description, Text(binding_id, style="dim"))
        with VerticalScroll(id="help"):
            yield Markdown(GUIDE.replace("KEYMAP", self.keymap_file))
            yield Static(table, id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
