"""Progress on a terminal is tqdm's bar; in a log it is a few plain lines, no carriage returns."""

from __future__ import annotations

import io

from models.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_plain_lines_and_the_final_state() -> None:
    log = io.StringIO()
    options = {"desc": "epoch 1/3", "unit": "batch", "leave": False, "delay": 0}
    with progress_bar(total=5000, stream=log, **options) as bar:
        for _ in range(5000):
            bar.update(1)
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= 3, lines
    assert "epoch 1/3" in lines[-1]
    assert "5000/5000" in lines[-1]


def test_a_quick_task_leaves_no_progress_line_in_a_log() -> None:
    log = io.StringIO()
    with progress_bar(total=10, desc="publishing", stream=log) as bar:
        bar.update(10)
    assert log.getvalue() == ""


def test_an_iterable_is_passed_through() -> None:
    assert list(progress_bar(range(4), stream=io.StringIO())) == [0, 1, 2, 3]


def test_a_terminal_gets_the_redrawn_bar() -> None:
    screen = Terminal()
    with progress_bar(total=3, desc="publishing", stream=screen, mininterval=0) as bar:
        for _ in range(3):
            bar.update(1)
    assert "\r" in screen.getvalue()
