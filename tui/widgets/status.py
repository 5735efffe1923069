"""The status bar: who speaks and on which model, tokens/s, tokens used, termination progress and
budgets ("round 3/12 · 1.2k tok · 40 s"), a stall warning, the stop reason."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def short_count(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class StatusBar(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.speaker = ""
        self.model = ""
        self.rate: float | None = None
        self.tokens = 0
        self.streaming = 0  # tokens of replies still streaming (estimated: no usage report yet)
        self.context: tuple[int, int] | None = None  # the speaker's last prompt tokens and window
        self.round = 0
        self.max_round: int | None = None
        self.round_word = "round"
        self.token_budget: int | None = None
        self.elapsed = 0.0
        self.timeout_s: float | None = None
        self.state = "ready"
        self.warning = ""
        self.stop_reason = ""

    def refresh_text(self) -> None:
        parts: list[Text] = []
        if self.speaker:
            parts.append(Text.assemble(("▶ ", "bold"), (self.speaker, "bold"), (f" · {self.model}" if self.model else "", "dim")))
        if self.rate is not None:
            parts.append(Text(f"{self.rate:.0f} tok/s"))
        if self.context is not None:
            used, window = self.context
            meter = Text(f"ctx {short_count(used)}" + (f"/{short_count(window)}" if window else ""))
            if window and used > 0.85 * window:
                meter.stylize("bold yellow")
            parts.append(meter)
        progress = f"{self.round_word} {self.round}" + (f"/{self.max_round}" if self.max_round else "")
        progress += f" · {short_count(self.tokens + self.streaming)}" + (f"/{short_count(self.token_budget)}" if self.token_budget else "") + " tok"
        progress += f" · {self.elapsed:.0f} s" + (f"/{self.timeout_s:.0f} s" if self.timeout_s else "")
        parts.append(Text(progress))
        if self.warning:
            parts.append(Text(f"⚠ {self.warning}", style="bold yellow"))
        if self.stop_reason:
            parts.append(Text(f"■ stopped: {self.stop_reason}", style="bold"))
        else:
            parts.append(Text(self.state, style="italic"))
        self.update(Text(" │ ").join(parts))
