"""Ctrl-C that cannot get lost.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives. If that is a
finalizer or a weakref callback (matplotlib's callback registry uses them while figures are built and
closed), the interpreter prints "Exception ignored in ..." and carries on: the run would finish and
write its files as if nothing had happened. `recording_sigint()` remembers every SIGINT in a flag as
well as raising, and `raise_if_interrupted()` (called before anything is committed to disk and after each
figure) raises again if a KeyboardInterrupt was swallowed on the way.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_pending = False


def _record_and_raise(signum, frame):
    global _pending
    _pending = True
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def recording_sigint():
    """SIGINT raises KeyboardInterrupt as usual and is also remembered (see raise_if_interrupted)."""
    global _pending
    if not _in_main_thread():  # signal handlers can only be set from the main thread
        yield
        return
    _pending = False
    previous = signal.signal(signal.SIGINT, _record_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending = False


def interrupted() -> bool:
    return _pending


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a SIGINT arrived and its KeyboardInterrupt was swallowed somewhere."""
    if _pending:
        raise KeyboardInterrupt


@contextmanager
def sigint_deferred():
    """Hold SIGINT back for the few renames that commit a command's files, so that they land all or none.
    A Ctrl-C that arrives meanwhile is dropped: the command has finished its work by then."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
