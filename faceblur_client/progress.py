"""Progress on stderr: one redrawn bar on a terminal, plain lines elsewhere (logs, CI); of a batch of files
(one line per file), or of one video's frames (FrameProgress, a line each 10%)."""

from __future__ import annotations

import shutil
import sys
import threading
from typing import TextIO

BAR_WIDTH = 30


class Progress:
    """Thread-safe: worker threads call `done` as files finish."""

    def __init__(self, total: int, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.total = total
        self.finished = 0
        self.failed = 0
        self._stream = stream or sys.stderr
        self._interactive = self._stream.isatty() if interactive is None else interactive
        self._lock = threading.Lock()
        self._last_width = 0

    def start(self) -> None:
        if self._interactive and self.total > 1:
            with self._lock:
                self._redraw("")

    def done(self, name: str, message: str, ok: bool) -> None:
        """One file finished; `message` says how (faces found, or the error)."""
        with self._lock:
            self.finished += 1
            self.failed += 0 if ok else 1
            if not self._interactive:
                self._stream.write(f"[{self.finished}/{self.total}] {name}: {message}\n")
            elif ok and self.total > 1:
                self._redraw(name)
            else:  # errors (and a lone file's result) stay on screen above the bar
                self._clear()
                self._stream.write(f"{name}: {message}\n")
                if self.total > 1:
                    self._redraw(name)
            self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._interactive and self.total > 1:
                self._redraw("")
                self._stream.write("\n")
                self._stream.flush()

    def _bar(self, name: str) -> str:
        filled = BAR_WIDTH * self.finished // max(1, self.total)
        failed = f", {self.failed} failed" if self.failed else ""
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.finished}/{self.total} files{failed}"
        if name:
            line += f"  {name}"
        columns = shutil.get_terminal_size((80, 20)).columns - 1
        return line[:columns]

    def _redraw(self, name: str) -> None:
        line = self._bar(name)
        self._stream.write("\r" + line.ljust(self._last_width))
        self._last_width = len(line)

    def _clear(self) -> None:
        if self._last_width:
            self._stream.write("\r" + " " * self._last_width + "\r")
            self._last_width = 0


class FrameProgress:
    """One video's progress in frames: a redrawn bar on a terminal; elsewhere a line each 10% (logs, CI)."""

    def __init__(self, name: str, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.name = name
        self._stream = stream or sys.stderr
        self._interactive = self._stream.isatty() if interactive is None else interactive
        self._last_width = 0
        self._last_tenth = -1

    def update(self, frames_done: int, frames_total: int) -> None:
        """Called with each new count (faceblur_client's blur_video `progress`)."""
        line = self._bar(frames_done, frames_total)
        if self._interactive:
            self._stream.write("\r" + line.ljust(self._last_width))
            self._last_width = len(line)
        else:
            tenth = 10 * frames_done // max(1, frames_total)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self._stream.write(line + "\n")
        self._stream.flush()

    def finish(self, message: str) -> None:
        """The video is done (or failed): the bar gives way to `message`."""
        if self._interactive and self._last_width:
            self._stream.write("\r" + " " * self._last_width + "\r")
            self._last_width = 0
        self._stream.write(f"{self.name}: {message}\n")
        self._stream.flush()

    def _bar(self, done: int, total: int) -> str:
        filled = BAR_WIDTH * min(done, total) // max(1, total)
        percent = 100 * done // max(1, total)
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} frames {percent:3d}%  {self.name}"
        columns = shutil.get_terminal_size((80, 20)).columns - 1
        return line[:columns] if self._interactive else line
