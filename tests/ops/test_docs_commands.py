"""Every command line of README.md and docs/*.md parses with the command it names.

A user copies these lines into a shell; one with a flag, a subcommand or a value the command no
longer takes (renamed, removed, misspelt) fails here rather than on the user's machine. Only the
arguments are checked: each command's ``main`` runs with argparse's parsing patched so that a
parse that succeeds raises a private exception at once, before any work (no file read or
written, no network), and one that fails names the doc's file, line and command.

The rules, so that the docs may stay readable:

* a command is a line of a fenced code block or an inline code span of README.md or
  docs/*.md (not docs/measurements/, a dated log) that starts with ``landslide-monitor``,
  ``python -m monitor``, ``python -m monitor.<module>``, ``python -m models`` or
  ``[python] bench/<script>.py``, possibly after a ``$`` prompt, environment assignments
  (``OMP_NUM_THREADS=1``), ``nice`` or ``time``, and with the interpreter or the console script
  under a folder (``.venv/bin/``, ``$(BIN)/``); ``&&``, ``||``, ``;`` and ``|`` separate
  commands; a fenced line ending in ``\\`` continues on the next; ``# comments`` are dropped;
* a fenced block with ``$`` prompts holds commands on its prompted lines only (the others are
  their output); a line as the CLI prints its errors (``landslide-monitor run: error: ...``) is
  output, not a command;
* a synopsis is read as a command: ``[optional]`` brackets are dropped and what they hold is
  kept, ``a|b`` (``a\\|b`` in a table) gives one command per alternative, and the placeholders
  of :data:`PLACEHOLDERS` get values the parsers accept (every other placeholder, ``F``,
  ``my.yaml``, ``DIR``, ``FOLDER``, is a path or a name, which argparse takes as it is);
* the program named alone (``landslide-monitor``, ``python -m models``) is no command; a span
  that starts with ``...`` (``... dismiss --config F ID``, after a whole command) names no
  program and is not checked;
* an inline span mentions a command more often than it gives it whole (``landslide-monitor
  detect --stack``): there, and in a command with a ``...`` standing for the rest, the arguments
  given must exist and take what they are given, but a required one may be left out, and so may
  the value of an option that ends the span;
* an option is spelt in full: argparse's abbreviations are refused (``--size`` for ``--sizes``
  stops working the day another option starts with ``--size``).

Every entry's ``main`` parses before it does anything else (the CLIs build their parsers and
parse first; ``landslide-monitor`` imports the module of the command named, no more), so no
command needs an exception here; one that did work first would fail this test with what it
raised.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: The documented placeholders whose text the parsers refuse, and a value they accept; a
#: ``PLACEHOLDER...`` (repeatable) is given one value.
PLACEHOLDERS = {
    "D": "2024-09-15",  # --date D, --since D: YYYY-MM-DD
    "N": "5",  # --sent N, --seeds N: a count
    "ID": "17",  # an alert id (an int), a landslide's fid
}
#: What stands before the command on its line and is no part of its arguments.
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = {"nice", "time"}
_SEPARATORS = {"&&", "||", ";", "|"}
#: Lines a command prints: ``landslide-monitor run: error: ...``, ``python -m models train: ...``.
_OUTPUT = re.compile(r"^(landslide-monitor|python -m [\w.]+)( [\w-]+)?: ")
_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_TEMPLATE = {"...", "…"}


@dataclass(frozen=True)
class Documented:
    """One command of the docs, as its parser is given it."""

    where: str  # file:line
    text: str  # as the docs write it (a continued line joined)
    entry: str  # "monitor.cli", "models.cli", "monitor.ops.filter_fit", "bench/x.py"
    argv: tuple[str, ...]
    partial: bool  # a mention: required arguments may be left out

    @property
    def id(self) -> str:
        program = {"monitor.cli": "landslide-monitor", "models.cli": "models"}
        return f"{self.where} {program.get(self.entry, self.entry)} {' '.join(self.argv)}"[:120]


def _entry(words: list[str]) -> tuple[str, list[str]] | None:
    """The entry module of ``words`` (a command without its prefixes) and its arguments."""
    while words and (_ENV.match(words[0]) or words[0] in _WRAPPERS or words[0] == "$"):
        words = words[1:]
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if program == "landslide-monitor":
        return "monitor.cli", words[1:]
    if re.fullmatch(r"bench/\w+\.py", words[0]):
        return words[0], words[1:]
    if program not in ("python", "python3") or len(words) < 2:
        return None
    if re.fullmatch(r"bench/\w+\.py", words[1]):
        return words[1], words[2:]
    if words[1] != "-m" or len(words) < 3:
        return None
    module = words[2]
    if module == "monitor":
        return "monitor.cli", words[3:]
    if module == "models":
        return "models.cli", words[3:]
    if module.startswith("monitor."):
        return module, words[3:]
    return None


def _variants(words: list[str]) -> Iterator[tuple[list[str], bool]]:
    """The commands a synopsis stands for (brackets dropped, ``a|b`` expanded, placeholders
    given values), each with whether it leaves the rest out (``...``)."""
    partial = any(word in _TEMPLATE for word in words)
    choices = []
    for word in words:
        if word in _TEMPLATE:
            continue
        word = word.replace("[", "").replace("]", "")
        if not word:
            continue
        bare = [option.removesuffix("...").removesuffix("…") for option in word.split("|")]
        choices.append([PLACEHOLDERS.get(option, option) for option in bare if option])
    for combination in itertools.product(*choices):
        yield list(combination), partial


def _commands(text: str, where: str, partial: bool) -> Iterator[Documented]:
    """The commands of one line (or span) ``text``; none when it is output or no command."""
    if _OUTPUT.match(text):
        return
    try:
        words = shlex.split(text.replace("\\|", "|"), comments=True)
    except ValueError:  # an unclosed quote: prose, not a command
        return
    segment: list[str] = []
    for word in [*words, ";"]:
        if word not in _SEPARATORS:
            segment.append(word)
            continue
        found = _entry(segment)
        segment = []
        if found is None:
            continue
        entry, args = found
        if entry in ("monitor.cli", "models.cli") and not args:
            continue  # the program named, no command line
        for argv, template in _variants(args):
            yield Documented(where, text, entry, tuple(argv), partial or template)


def _fenced(text: str, path: str) -> Iterator[Documented]:
    for block in _FENCE.finditer(text):
        first = text.count("\n", 0, block.start(2)) + 1
        lines = block.group(2).split("\n")
        prompted = any(line.lstrip().startswith("$ ") for line in lines)
        joined: list[tuple[int, str]] = []  # (number of its first line, the command)
        continued = False
        for number, line in enumerate(lines, first):
            line = line.strip()
            if continued:
                joined[-1] = (joined[-1][0], f"{joined[-1][1]} {line}")
            else:
                joined.append((number, line))
            continued = line.endswith("\\")
            if continued:
                joined[-1] = (joined[-1][0], joined[-1][1].removesuffix("\\"))
        for number, line in joined:
            if prompted and not line.startswith("$ "):
                continue
            yield from _commands(line.removeprefix("$ "), f"{path}:{number}", partial=False)


def _inline(text: str, path: str) -> Iterator[Documented]:
    # the fences blanked (their line breaks kept, for the line numbers)
    prose = _FENCE.sub(lambda block: "\n" * block.group(0).count("\n"), text)
    for span in _SPAN.finditer(prose):
        if "\n\n" in span.group(2):  # a stray backtick paired across paragraphs
            continue
        line = prose.count("\n", 0, span.start()) + 1
        code = " ".join(span.group(2).split())
        yield from _commands(code, f"{path}:{line}", partial=True)


def _documented() -> list[Documented]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        path = str(doc.relative_to(ROOT))
        found += [*_fenced(text, path), *_inline(text, path)]
    return found


COMMANDS = _documented()

#: Commands found per file when this test was written (fenced and inline, an ``a|b`` synopsis
#: counted once per alternative); fewer means the extraction broke, not that the docs shrank.
MINIMUM = {
    "README.md": 34,
    "docs/CONTRIBUTING.md": 2,
    "docs/DESIGN.md": 5,
    "docs/alerts.md": 10,
    "docs/archive.md": 3,
    "docs/configuration.md": 4,
    "docs/earth_engine.md": 7,
    "docs/models.md": 45,
    "docs/operations.md": 36,
}


def test_the_commands_are_found() -> None:
    """The extraction itself works, in every file that has commands (2026-12-04: 146 commands,
    the counts of :data:`MINIMUM`), so that a change of fence, prefix or folder cannot leave
    the test checking nothing."""
    counts: dict[str, int] = {}
    for command in COMMANDS:
        path = command.where.rsplit(":", 1)[0]
        counts[path] = counts.get(path, 0) + 1
    assert sorted(counts) == sorted(MINIMUM)
    for path, minimum in MINIMUM.items():
        assert counts[path] >= minimum, f"{path}: {counts[path]} commands, expected {minimum}+"


class _Parsed(Exception):
    """Raised in place of a successful parse: nothing past the parsing runs."""


class _Refused(Exception):
    """Raised in place of argparse's exit 2: the parser's message."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: error: {message}")
        self.message = message


def _as_documented(parser: argparse.ArgumentParser, relaxed: bool) -> None:
    """``parser`` and its subcommands' parsers taking no abbreviated option (a doc spells each
    in full: ``--size`` for ``--sizes`` breaks once another option starts so) and, for a
    mention, requiring nothing."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if relaxed:
            action.required = False
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _as_documented(sub, relaxed)
    for group in parser._mutually_exclusive_groups:
        group.required = group.required and not relaxed


def _parse_only(monkeypatch: pytest.MonkeyPatch, relaxed: bool) -> None:
    """argparse raising :class:`_Parsed` when the outermost parse succeeds (a subcommand's
    parser's own parse is a step of it) and :class:`_Refused` instead of exiting 2."""
    parse_args = argparse.ArgumentParser.parse_args
    parse_known_args = argparse.ArgumentParser.parse_known_args
    depth = [0]

    def outermost(call: Callable[..., Any]) -> Callable[..., Any]:
        def parse(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return call(self, *args, **kwargs)
            _as_documented(self, relaxed)
            depth[0] += 1
            try:
                call(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            raise _Parsed

        return parse

    def error(self: argparse.ArgumentParser, message: str) -> NoReturn:
        raise _Refused(self.prog, message)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", outermost(parse_args))
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", outermost(parse_known_args))
    monkeypatch.setattr(argparse.ArgumentParser, "error", error)


_BENCH: dict[str, ModuleType] = {}


def _bench_module(script: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A bench script imported as a module (its ``__main__`` block not run), with its own
    folder importable as when run (bench_stormfree_draws imports bench_filter_ablation)."""
    if script not in _BENCH:
        path = ROOT / script
        if not path.is_file():
            pytest.fail(f"{script}: no such script")
        monkeypatch.syspath_prepend(str(path.parent))
        spec = importlib.util.spec_from_file_location(f"_documented_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        _BENCH[script] = module
    return _BENCH[script]


def _main(command: Documented, monkeypatch: pytest.MonkeyPatch) -> Callable[[], object]:
    """The call of ``command``'s ``main`` with its arguments (a bench script's reads them from
    ``sys.argv``, as when run)."""
    argv = list(command.argv)
    if command.entry.startswith("bench/"):
        script = _bench_module(command.entry, monkeypatch)
        monkeypatch.setattr(sys, "argv", [str(ROOT / command.entry), *argv])
        return lambda: script.main()
    try:
        module = importlib.import_module(command.entry)
    except ImportError as exc:
        pytest.fail(f"{command.where}: `{command.text}`: {exc}")
    main: Callable[[Sequence[str]], object] | None = getattr(module, "main", None)
    if main is None:
        pytest.fail(f"{command.where}: `{command.text}`: {command.entry} has no main(argv)")
    return lambda: main(argv)


#: "argument --stack: expected one argument": the option (its names joined by "/") lacks a value.
_NO_VALUE = re.compile(r"argument (\S+): expected (one|at least one) argument")


@pytest.mark.parametrize("command", COMMANDS, ids=[command.id for command in COMMANDS])
def test_documented_command_parses(command: Documented, monkeypatch: pytest.MonkeyPatch) -> None:
    call = _main(command, monkeypatch)
    _parse_only(monkeypatch, relaxed=command.partial)
    try:
        call()
    except _Parsed:
        return
    except _Refused as refused:
        # a mention may end on an option whose value it leaves out (`detect --stack`)
        option = _NO_VALUE.match(refused.message)
        if command.partial and option and command.argv[-1] in option.group(1).split("/"):
            return
        pytest.fail(
            f"{command.where}: `{command.text}` does not parse ({command.entry} "
            f"{' '.join(command.argv)}):\n{refused}"
        )
    except (Exception, SystemExit) as exc:  # work before the parse, or an exit of its own
        pytest.fail(f"{command.where}: `{command.text}`: {type(exc).__name__}: {exc}")
    pytest.fail(f"{command.where}: `{command.text}`: {command.entry}'s main returned unparsed")
