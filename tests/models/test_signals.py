"""SIGTERM and SIGINT become :class:`Interrupted` in the main thread (:mod:`models.signals`), the
one handling behind both command lines: a stop that a library turned into its own error, or that
came while a finaliser ran, still stops the work, and once."""

from __future__ import annotations

import signal
import time

import pytest

from models.signals import Interrupted, interrupt_on_signals, swallowed_stop
from tests.child import run_python


def test_a_signal_a_library_turned_into_its_own_error_still_reads_as_a_stop() -> None:
    # torch, loading members, once reported a SIGINT as a ValueError of its own, and the run
    # exited 1 as if it had crashed (found by a user walkthrough, 2026-12-06)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped, interrupt_on_signals():
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            error = ValueError("could not determine the shape of object type")
            error.add_note("what the library noted")
            raise error from None
    assert stopped.value.exit_status == 143
    assert isinstance(stopped.value.__cause__, ValueError)
    assert signal.getsignal(signal.SIGTERM) is before
    assert stopped.value.__notes__ == ["what the library noted"]
    # no signal: an error stays itself
    with pytest.raises(ValueError, match="a real error"), interrupt_on_signals():
        raise ValueError("a real error")
    # an error raised while the stop was being handled (a full disk as the run records
    # itself) stays itself too: it is what the operator must see (found in review)
    with pytest.raises(OSError, match="No space left") as failed, interrupt_on_signals():
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            raise OSError(28, "No space left on device")  # noqa: B904 (raised while handling)
    assert isinstance(failed.value.__context__, Interrupted)
    assert swallowed_stop(ValueError("after every block")) is None  # none open now


class _SignalledWhileCollected:
    """An object whose finaliser is running when a signal comes (tqdm's bar, in a walk)."""

    def __init__(self, signum: signal.Signals) -> None:
        self.signum = signum

    def __del__(self) -> None:
        signal.raise_signal(self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_that_came_while_a_finaliser_ran_still_stops_the_work(
    signum: signal.Signals,
) -> None:
    """Python drops what a finaliser raises: a geological survey's Ctrl-C during `detect
    --stack` printed "Exception ignored in: <function tqdm.__del__>" and the scenes went on,
    with the handlers reset, so a SIGTERM after it would have killed the run uncleaned."""
    before = signal.getsignal(signum)
    steps = 0
    start = time.monotonic()
    with pytest.raises(Interrupted) as stopped, interrupt_on_signals():
        _SignalledWhileCollected(signum)  # collected at once: the signal comes in __del__
        while time.monotonic() - start < 5:  # the work that went on
            steps += 1
            time.sleep(0.001)
    assert stopped.value.signum == signum
    assert time.monotonic() - start < 2 and steps > 0  # stopped soon after, not at the end
    assert signal.getsignal(signum) is before
    with interrupt_on_signals():  # a later block is not stopped by that signal again
        time.sleep(0.2)


def test_a_stop_dropped_then_sent_again_does_not_stop_the_clean_up_a_second_time() -> None:
    """Found in review: a SIGTERM dropped in a finaliser, and a second one at once (systemd's,
    or the scheduler's to the group): the second is the stop, and the one taken again later
    struck the clean-up (recording the run interrupted) with the default action, 143, unrecorded.
    In a child: the default action would end the test's own process."""
    script = (
        "import signal, time\n"
        "from models.signals import Interrupted, interrupt_on_signals\n"
        "class Late:\n"
        "    def __del__(self):\n"
        "        signal.raise_signal(signal.SIGTERM)\n"
        "try:\n"
        "    with interrupt_on_signals():\n"
        "        try:\n"
        "            Late()\n"
        "            signal.raise_signal(signal.SIGTERM)  # the second, before the first is back\n"
        "        except Interrupted:\n"
        "            time.sleep(0.5)  # the clean-up, longer than the wait before a stop is back\n"
        "            print('recorded', flush=True)\n"
        "            raise\n"
        "except Interrupted as stop:\n"
        "    raise SystemExit(stop.exit_status)\n"
    )
    done = run_python(script)
    assert (done.returncode, done.stdout) == (143, b"recorded\n"), done.stderr.decode()


def test_models_cli_reads_a_stop_a_library_turned_into_a_value_error_as_a_stop() -> None:
    """``python -m models`` answers a ValueError as an argument to correct (exit 2); torch once
    turned a SIGINT into one while loading members, and a SIGTERM from a batch queue read the
    same way would have said "error: could not determine the shape" and exit 2."""
    script = (
        "import signal, sys\n"
        "import models.cli\n"
        "def info(args):\n"
        "    try:\n"
        "        signal.raise_signal(signal.SIGTERM)\n"
        "    except KeyboardInterrupt:\n"
        "        raise ValueError('could not determine the shape of object type') from None\n"
        "    return 0\n"
        "models.cli._info = info\n"
        "sys.exit(models.cli.main(['info', 'm.json']))\n"
    )
    done = run_python(script)
    assert (done.returncode, done.stderr) == (
        143,
        b"python -m models info: interrupted by SIGTERM\n",
    )
