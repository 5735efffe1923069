"""The terminal app's responsiveness.

1. Time to first frame: ``moot`` (home screen) vs a bare Textual app, both started the same way
   (``python -c`` in a pseudo-terminal of 160x48), timed from spawn until the first screen's text
   appears on the terminal. Target: moot <= 1.5x the bare app.
2. Token absorption: the chat screen is fed token deltas (the engine's TokenDelta events, through
   the same sink the engine uses; paragraphs of 60 tokens) at a fixed rate while a key is pressed
   every 50 ms; we measure
   how long each key takes to reach the input bar, and that every token ends up in the turn.
   Target: >= 2000 tokens/s absorbed with keypresses answered within 50 ms, no token lost.

    .venv/bin/python bench/tui.py
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("bare textual app ready")
Bare().run()
"""
MOOT_APP = "import sys; from tui.cli import main; sys.exit(main([]))"


def first_frame_s(code: str, marker: bytes, env: dict[str, str], cwd: str, timeout: float = 30.0) -> float:
    """Seconds from spawn until ``marker`` shows on the pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            close_fds=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            left = timeout - (time.perf_counter() - started)
            if left <= 0:
                raise TimeoutError(f"no {marker!r} after {timeout} s; got {seen[-300:]!r}")
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise RuntimeError(f"the app exited before its first frame: {seen[-500:]!r}")
                seen += chunk
                # Textual moves the cursor between words: look for the marker's first word run.
                if marker in seen.replace(b"\x1b[", b"\x1b["):
                    return time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)


def bench_first_frame(runs: int = 5) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="160", LINES="48", MOOT_HOME=f"{tmp}/data",
                   XDG_CONFIG_HOME=f"{tmp}/config", PYTHONPATH=str(ROOT))
        env.pop("MOOT_MODELS", None)
        bare, moot = [], []
        first_frame_s(BARE_APP, b"bare", env, tmp)  # warm the file cache for both
        first_frame_s(MOOT_APP, b"workbench", env, tmp)
        for _ in range(runs):
            bare.append(first_frame_s(BARE_APP, b"bare", env, tmp))
            moot.append(first_frame_s(MOOT_APP, b"workbench", env, tmp))
    return statistics.median(bare), statistics.median(moot)


async def absorb(rate: int, seconds: float = 3.0, key_every: float = 0.05) -> dict[str, float]:
    """Feed ``rate`` tokens/s into a chat turn for ``seconds`` while pressing a key every ``key_every``."""
    from textual import events
    from textual.widgets import Input

    from moot.agents import events as ev
    from moot.agents import load_team
    from moot.backends import parse_models
    from moot.tui.app import MootApp
    from moot.tui.screens.chat import ChatScreen

    models = parse_models('schema_version = 1\ndefault = "m"\n[[models]]\nname = "m"\nbackend = "scripted"\n'
                          'replies = ["x"]\n', "bench")
    changed: list[float] = []

    def hook(message):
        if isinstance(message, Input.Changed):
            changed.append(time.perf_counter())

    app = MootApp(models=models, session_store=object())
    latencies: list[float] = []
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        screen = ChatScreen(load_team(str(ROOT / "teams" / "coder.toml"), models), models)
        await app.push_screen(screen)
        await pilot.pause()
        screen.mode = "running"
        screen.input.focus()
        await pilot.pause()
        chat = "chat-bench"
        screen.receive(ev.ChatStarted(chat, initiator="executor", participants=("executor", "coder")))
        tick = 0.005
        per_tick = rate * tick
        words: list[str] = []
        done = asyncio.Event()

        async def feed() -> None:
            owed = 0.0
            start = time.perf_counter()
            n = 0
            while time.perf_counter() - start < seconds:
                owed = rate * (time.perf_counter() - start) - n
                for _ in range(int(owed)):
                    # prose-like: a paragraph break every 60 tokens, as a model writes
                    word = f"w{n}\n\n" if n % 60 == 59 else f"w{n} "
                    words.append(word)
                    screen.receive(ev.TokenDelta(chat, agent="coder", message_id="m-bench", text=word))
                    n += 1
                await asyncio.sleep(tick)
            done.set()

        async def keys() -> None:
            while not done.is_set():
                before = len(changed)
                sent = time.perf_counter()
                app.post_message(events.Key("x", "x"))
                while len(changed) == before:
                    await asyncio.sleep(0.001)
                    if time.perf_counter() - sent > 5:
                        break
                latencies.append(changed[-1] - sent if len(changed) > before else 5.0)
                await asyncio.sleep(max(0.0, key_every - (time.perf_counter() - sent)))

        fed_at = time.perf_counter()
        await asyncio.gather(feed(), keys())
        feed_end = time.perf_counter()
        while screen.pending or screen.flush_lock.locked():
            await asyncio.sleep(0.005)
        drained = time.perf_counter()
        full = "".join(words)
        turn = screen.conversation.turns["m-bench"]
        streamed_ok = turn.text == full
        screen.receive(ev.MessagePosted(chat, message_id="m-bench", sender="coder", recipient="executor",
                                        role="assistant", content=full))
        await screen.flush()
        await pilot.pause()
        rendered_ok = turn.body.source == full
    return {
        "rate": rate, "tokens": len(words), "absorbed_per_s": len(words) / (drained - fed_at),
        "drain_s": drained - feed_end, "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], "max_ms": 1000 * max(latencies),
        "keys": len(latencies), "lost": 0 if (streamed_ok and rendered_ok) else 1,
    }


def main() -> None:
    bare, moot = bench_first_frame()
    print(f"time to first frame (median of 5, 160x48 pty): bare Textual {1000 * bare:.0f} ms · moot {1000 * moot:.0f} ms"
          f" · ratio {moot / bare:.2f}x (target <= 1.5x)")
    for rate in (2000, 5000, 10000, 20000):
        r = asyncio.run(absorb(rate))
        ok = r["p95_ms"] <= 50 and not r["lost"] and r["absorbed_per_s"] >= 0.95 * rate
        print(f"tokens {rate}/s offered: absorbed {r['absorbed_per_s']:.0f}/s ({r['tokens']} tokens, drained "
              f"{1000 * r['drain_s']:.0f} ms after the feed) · keypress p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms,"
              f" max {r['max_ms']:.1f} ms ({r['keys']} keys) · tokens lost: {'none' if not r['lost'] else 'SOME'}"
              f" · {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
