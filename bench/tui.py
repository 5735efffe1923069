"""The terminal app's responsiveness.

1. Time to first frame: ``moot`` (home screen) vs a bare Textual app, both started the same way
   (``python -c`` in a pseudo-terminal of 160x48), timed from spawn until the first screen's text
   appears on the terminal. Target: moot <= 1.5x the bare app.
2. Token absorption: the chat screen is fed token deltas (the engine's TokenDelta events, through
   the same sink the engine uses; paragraphs of 60 tokens) at a fixed rate while a key is pressed
   every 50 ms from another thread (as the terminal driver's thread sends keys, so a key waits for
   a flush under way); we measure how long each key takes to reach the input bar, and that every
   token ends up in the turn. "Absorbed" is tokens over the time until the last one is drawn.
   Target: >= 2000 tokens/s absorbed with keypresses answered within 50 ms, no token lost.
3. A 100,000-line output: fed to an execution entry as an executor streams it (chunks of 1000
   lines), then opened in full (Enter: a Log, Textual's virtual line view); PageDown/PageUp/Up/
   Ctrl+Home/Ctrl+End posted as the terminal driver posts keys (as typing is timed in 2) and timed
   until the view has scrolled and the next frame is drawn. Target: < 50 ms a key, and the entry
   shows the tail.

Each measure is repeated (interleaved: bare and moot alternate) and printed min / median / max.
Measures 2 and 3 each run in a fresh process (as a user starts the app for them), so what one
left in the heap does not weigh on the next one's garbage collector.

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
import threading
import time
from pathlib import Path
from typing import Any

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
MOOT_APP = "import sys; from moot.cli import main; sys.exit(main([]))"  # the console script's path


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


def spread(values: list[float], unit: str = "", scale: float = 1.0, fmt: str = ".0f") -> str:
    v = sorted(x * scale for x in values)
    return f"{v[0]:{fmt}}/{statistics.median(v):{fmt}}/{v[-1]:{fmt}}{unit}"


def bench_first_frame(runs: int = 5) -> tuple[list[float], list[float]]:
    # moot's modules compiled, as ``make`` (and a wheel install) leaves them: Textual's are.
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(ROOT / d) for d in PACKAGE_DIRS)],
                   check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="160", LINES="48", MOOT_HOME=f"{tmp}/data",
                   XDG_CONFIG_HOME=f"{tmp}/config", PYTHONPATH=str(ROOT))
        env.pop("MOOT_MODELS", None)
        bare, moot = [], []
        first_frame_s(BARE_APP, b"bare", env, tmp)  # warm the file cache for both
        first_frame_s(MOOT_APP, HOME_READY, env, tmp)
        for _ in range(runs):
            bare.append(first_frame_s(BARE_APP, b"bare", env, tmp))
            moot.append(first_frame_s(MOOT_APP, HOME_READY, env, tmp))
    return bare, moot


# What a user can act on: the first frame lists the teams (Enter opens one) and the models, read
# from their files; their checks (models reachable, executors) fill in right after.
HOME_READY = b"backend"
PACKAGE_DIRS = ("moot", "agents", "backends", "executors", "memory", "evals", "tui")


async def absorb(rate: int, seconds: float = 3.0, key_every: float = 0.05) -> dict[str, float]:
    """Feed ``rate`` tokens/s into a chat turn for ``seconds`` while pressing a key every ``key_every``."""
    from textual import events
    from textual.widgets import TextArea

    from moot.agents import events as ev
    from moot.agents import load_team
    from moot.backends import parse_models
    from moot.tui.app import MootApp
    from moot.tui.screens.chat import ChatScreen

    models = parse_models('schema_version = 1\ndefault = "m"\n[[models]]\nname = "m"\nbackend = "scripted"\n'
                          'replies = ["x"]\n', "bench")
    changed: list[float] = []

    def hook(message):
        if isinstance(message, TextArea.Changed):
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
        await screen.flush()  # the chat has started (its lanes drawn, ~0.3 s once) before a model streams
        await pilot.pause()
        from moot.tui.widgets.lanes import AgentLanes

        lanes = screen.query_one(AgentLanes)
        assert lanes.display and lanes.size.width > 0, "the agent panel is not open"
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

        loop = asyncio.get_running_loop()
        sent: list[float] = []
        stop_keys = threading.Event()

        def typist() -> None:
            """Keys from another thread, as the terminal driver's thread sends them: a key waits
            for whatever the event loop is doing (a flush) before it is handled."""
            while not stop_keys.is_set():
                sent.append(time.perf_counter())
                loop.call_soon_threadsafe(app.post_message, events.Key("x", "x"))
                stop_keys.wait(key_every)

        fed_at = time.perf_counter()
        thread = threading.Thread(target=typist, daemon=True)
        thread.start()
        await feed()
        stop_keys.set()
        thread.join()
        feed_end = time.perf_counter()
        while len(changed) < len(sent) and time.perf_counter() - feed_end < 5:
            await asyncio.sleep(0.005)
        latencies.extend(c - s for s, c in zip(sent, changed))
        latencies.extend(5.0 for _ in sent[len(changed):])  # a key never handled
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
        "drain_s": drained - feed_end, "min_ms": 1000 * min(latencies), "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], "max_ms": 1000 * max(latencies),
        "keys": len(latencies), "lost": 0 if (streamed_ok and rendered_ok) else 1,
    }


async def long_output(lines: int = 100_000) -> dict[str, Any]:
    """Feed ``lines`` of output to one execution, open it in full, time scrolling keys: each key is
    posted to the app as the terminal driver posts it (as ``absorb`` times typing) and timed until
    the view has scrolled (its ``scroll_y`` changed) and the screen has been drawn again."""
    from textual import events

    from moot.agents import events as ev
    from moot.agents import load_team
    from moot.backends import parse_models
    from moot.tui.app import MootApp
    from moot.tui.screens.chat import ChatScreen
    from moot.tui.widgets.executor_pane import OutputScreen

    models = parse_models('schema_version = 1\ndefault = "m"\n[[models]]\nname = "m"\nbackend = "scripted"\n'
                          'replies = ["x"]\n', "bench")
    app = MootApp(models=models, session_store=object())
    keys: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        screen = ChatScreen(load_team(str(ROOT / "teams" / "coder.toml"), models), models)
        await app.push_screen(screen)
        await pilot.pause()
        chat = "chat-bench"
        screen.receive(ev.ChatStarted(chat, initiator="executor", participants=("executor", "coder")))
        screen.receive(ev.CodeBlockFound(chat, agent="executor", execution_id="x1", language="python", code="..."))
        fed = time.perf_counter()
        for start in range(0, lines, 1000):
            screen.receive(ev.ExecutorOutput(chat, agent="executor", execution_id="x1",
                                             text="".join(f"line {i} of the output\n" for i in range(start, start + 1000))))
            await asyncio.sleep(0)
        await screen.flush()
        absorbed = time.perf_counter() - fed
        entry = screen.executor_pane.entries["x1"]
        tail_ok = f"line {lines - 1} of" in str(entry.query_one(".exec-output").render())
        entry.focus()
        opened = time.perf_counter()
        await pilot.press("enter")
        while not isinstance(app.screen, OutputScreen):
            await asyncio.sleep(0.001)
        await pilot.pause()
        open_s = time.perf_counter() - opened
        view = app.screen.log_view
        frames: list[float] = []  # when the app hands a new frame to the terminal driver
        display = app._display

        def drawn(screen_, renderable):
            if renderable is not None:
                frames.append(time.perf_counter())
            return display(screen_, renderable)

        app._display = drawn
        for key in ["pageup"] * 20 + ["ctrl+home"] + ["pagedown"] * 20 + ["ctrl+end"] + ["up", "pageup"] * 10:
            before = view.scroll_y
            sent = time.perf_counter()
            app.post_message(events.Key(key, None))
            while view.scroll_y == before and time.perf_counter() - sent < 5:
                await asyncio.sleep(0.0005)
            moved = time.perf_counter()
            while not (frames and frames[-1] >= moved) and time.perf_counter() - sent < 5:
                await asyncio.sleep(0.0005)
            keys.append((frames[-1] if frames and frames[-1] >= moved else time.perf_counter()) - sent)
            await asyncio.sleep(0.02)
        whole = view.line_count == lines and view.lines[lines - 1] == f"line {lines - 1} of the output"
    return {"absorbed_s": absorbed, "open_s": open_s, "keys": keys, "tail_ok": tail_ok, "whole": whole}


def child(what: str, rate: int) -> None:
    """One measure in this fresh process, its result as one JSON line."""
    import json

    r = asyncio.run(long_output()) if what == "long" else asyncio.run(absorb(rate))
    print(json.dumps(r))


def fresh(what: str, rate: int = 0) -> dict[str, Any]:
    """A measure in a fresh process, as a user starts the app for it: nothing a measure before it
    left in the heap (a 100,000-line output's render caches) weighs on its collector."""
    import json

    out = subprocess.run([sys.executable, __file__, "--child", what, str(rate)], capture_output=True, text=True,
                         check=True, cwd=ROOT, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(reps: int = 3) -> None:
    bare, moot = bench_first_frame(reps)
    ratios = [m / b for b, m in zip(bare, moot)]
    print(f"Home with its lists filled vs a bare Textual app's first frame (160x48 pty, {reps} interleaved runs, "
          f"min/median/max): bare {spread(bare, ' ms', 1000)} · moot {spread(moot, ' ms', 1000)} · ratio "
          f"{spread(ratios, 'x', fmt='.2f')} (target <= 1.5x)")
    rates = (2000, 5000, 10000)
    results: dict[Any, list[dict[str, Any]]] = {}
    for _ in range(reps):  # interleaved: each repetition runs every measure once, each in its own process
        results.setdefault("long", []).append(fresh("long"))
        for rate in rates:
            results.setdefault(rate, []).append(fresh("absorb", rate))
    for r in results["long"]:
        print(f"100,000-line output: absorbed in {1000 * r['absorbed_s']:.0f} ms, tail shown: {r['tail_ok']}, full view "
              f"opened in {1000 * r['open_s']:.0f} ms with every line: {r['whole']} · key latency min/median/max "
              f"{spread(r['keys'], ' ms', 1000, '.1f')} ({len(r['keys'])} keys) · "
              f"{'ok' if max(r['keys']) < 0.05 and r['tail_ok'] and r['whole'] else 'MISSED'}")
    for rate in rates:
        for r in results[rate]:
            ok = r["max_ms"] < 50 and not r["lost"] and r["absorbed_per_s"] >= 0.95 * rate
            print(f"tokens {rate}/s offered: absorbed {r['absorbed_per_s']:.0f}/s ({r['tokens']} tokens, drained "
                  f"{1000 * r['drain_s']:.0f} ms after the feed) · keypress min/median/max {r['min_ms']:.1f}/"
                  f"{r['p50_ms']:.1f}/{r['max_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms ({r['keys']} keys) · tokens lost: "
                  f"{'none' if not r['lost'] else 'SOME'} · {'ok' if ok else 'MISSED'} (every key < 50 ms)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
