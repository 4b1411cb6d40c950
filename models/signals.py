"""Stopping a command cleanly on SIGTERM or SIGINT: the signal becomes :class:`Interrupted` in the
main thread, so the work unwinds through its ``except``/``finally`` blocks, and work whose
outcome must be recorded once it happened holds the stop back until it is (:func:`stops_deferred`).

One implementation for both command lines: ``python -m models`` (a training stopped by a batch
queue's SIGTERM ends its workers) and ``landslide-monitor`` (a run records itself interrupted;
:mod:`monitor.errors` re-exports these names with the monitor's exit statuses). ``models`` is
the lower layer, so it lives here."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "Interrupted",
    "interrupt_on_signals",
    "stop_held",
    "stop_status",
    "stops_deferred",
    "swallowed_stop",
]


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT asked the work to stop. Raised in the main thread by the handlers of
    :func:`interrupt_on_signals`; a subclass of :class:`KeyboardInterrupt`, so whatever cleans
    up after Ctrl-C cleans up after SIGTERM too. The conventional exit status is 128 + signal
    (143 for SIGTERM, 130 for SIGINT)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def stop_status(stop: KeyboardInterrupt) -> int:
    """The exit status of a command that ``stop`` ended: 128 + its signal (143 for SIGTERM), 130
    for a plain Ctrl-C (a :class:`KeyboardInterrupt` outside :func:`interrupt_on_signals`)."""
    return stop.exit_status if isinstance(stop, Interrupted) else 128 + signal.SIGINT


# The signals interrupt_on_signals turned into Interrupted, in the blocks now open.
_RECEIVED: list[int] = []
# The open stops_deferred blocks (one list item each), and the signal held back for their end.
_DEFERRING: list[None] = []
_DEFERRED: list[int] = []


@contextmanager
def stops_deferred() -> Iterator[None]:
    """Hold back the :class:`Interrupted` of a signal that :func:`interrupt_on_signals` catches
    within the block, and raise it when the outermost such block ends (whatever else the block
    raised becomes its context). For work whose outcome must be recorded once it happened: the
    outbox sends an alert and records it sent inside one, so that a stop between a receiver's
    answer and the record (found under load: the POST was taken, the stop came during the
    record's commit, and the next delivery sent the alert again) waits for the record. A
    second signal still gets the default action (the handler restored it), and a signal no
    handler of ours catches (Python's own SIGINT handler, outside any block) is not held."""
    _DEFERRING.append(None)
    try:
        yield
    finally:
        _DEFERRING.pop()
        if not _DEFERRING:
            # taken and cleared before the raise, so that no later block inherits it
            held, _DEFERRED[:] = _DEFERRED[-1:], []
            if held:
                raise Interrupted(held[0])


def stop_held() -> bool:
    """Whether a :func:`stops_deferred` block holds a stop back now: a KeyboardInterrupt raised
    meanwhile (Python's handler, after ours restored it) is a second one, which gives up what
    waits for the first."""
    return bool(_DEFERRING and _DEFERRED)


def swallowed_stop(exc: BaseException) -> int | None:
    """The signal whose :class:`Interrupted` a library turned into ``exc``: one came in an open
    :func:`interrupt_on_signals` block and ``exc`` is no :class:`KeyboardInterrupt` and was
    not raised while one was handled (none in the chain of causes and contexts a traceback
    shows: a context hidden by ``raise ... from None``, what a library that swallows the stop
    writes, is not followed). None otherwise: ``exc`` is an error of its own."""
    if not _RECEIVED or isinstance(exc, KeyboardInterrupt):
        return None
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return None
        seen.add(id(link))
        if link.__cause__ is not None:
            link = link.__cause__
        else:
            link = None if link.__suppress_context__ else link.__context__
    return _RECEIVED[-1]


#: Seconds after a stop that a finaliser dropped until it is taken again
#: (:func:`interrupt_on_signals`): long past the finaliser's end, short against a person's wait.
_RESEND_S = 0.05


@contextmanager
def interrupt_on_signals(
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
) -> Iterator[None]:
    """Turn the first of ``signals`` into :class:`Interrupted` in the main thread, so the work
    unwinds through its ``except``/``finally`` blocks (a run records itself interrupted). A
    second signal during that clean-up gets the default action. The previous handlers are
    restored on exit.

    A library may turn the exception a signal handler raised into one of its own: torch, loading
    members, once reported a SIGINT as ``ValueError: could not determine the shape of object
    type 'torch.storage.UntypedStorage'``. An error that escapes the block after a signal came,
    and that no handling of the stop led to (:func:`swallowed_stop`), is therefore raised as the
    :class:`Interrupted` it was (from that error, its notes kept), so that a stop reads as a
    stop (exit 130 or 143), not as a crash. An error raised while the stop was being handled (a
    full disk as the run records itself) stays itself.

    A signal that comes while a finaliser runs (a ``__del__``: tqdm's, as a bar is collected)
    raises there, and Python drops what a finaliser raises ("Exception ignored in"): the work
    went on, and the handlers were already the defaults, so a later SIGTERM killed it with no
    clean-up (found in a walk: one Ctrl-C in five lost during ``detect --stack``). Such a stop
    is taken again :data:`_RESEND_S` later, when the finaliser has returned, by a SIGALRM of
    the interval timer (no thread is started where a finaliser runs), the handlers set back
    meanwhile; a signal that comes before it is the stop, and the block's end cancels it."""
    previous = {sig: signal.getsignal(sig) for sig in signals}
    previous_hook = sys.unraisablehook
    previous_alarm = signal.getsignal(signal.SIGALRM)
    held: list[int] = []  # the stop a finaliser dropped, until the alarm takes it again

    def dropped(unraisable: sys.UnraisableHookArgs) -> None:
        stop = unraisable.exc_value
        if not isinstance(stop, Interrupted) or threading.current_thread() is not (
            threading.main_thread()
        ):
            previous_hook(unraisable)
            return
        del _RECEIVED[-1]  # received again when the alarm takes it
        for sig in signals:
            signal.signal(sig, handler)
        held[:] = [stop.signum]
        signal.signal(signal.SIGALRM, taken_again)
        signal.setitimer(signal.ITIMER_REAL, _RESEND_S)

    def taken_again(_signum: int, frame: FrameType | None) -> None:
        if held:  # else a signal since was the stop
            handler(held.pop(), frame)

    def handler(signum: int, _frame: FrameType | None) -> None:
        if held:  # this signal is the stop: the alarm has nothing left to take
            held.clear()
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig in signals:
            signal.signal(
                sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler
            )
        _RECEIVED.append(signum)
        if _DEFERRING:  # raised when the stops_deferred block ends
            _DEFERRED.append(signum)
            return
        raise Interrupted(signum)

    depth = len(_RECEIVED)
    for sig in signals:
        signal.signal(sig, handler)
    sys.unraisablehook = dropped
    try:
        yield
    except Exception as exc:
        signum = swallowed_stop(exc)
        if signum is None:
            raise
        stop = Interrupted(signum)
        for note in getattr(exc, "__notes__", ()):
            stop.add_note(note)
        raise stop from exc
    finally:
        sys.unraisablehook = previous_hook
        if signal.getsignal(signal.SIGALRM) is taken_again:  # a stop dropped in this block
            signal.setitimer(signal.ITIMER_REAL, 0)  # the work ended before the alarm took it
            held.clear()
            signal.signal(signal.SIGALRM, previous_alarm)
        del _RECEIVED[depth:]
        if not _DEFERRING:
            _DEFERRED.clear()  # a stop held by a block that has ended is no later block's
        for sig, old in previous.items():
            signal.signal(sig, old)
