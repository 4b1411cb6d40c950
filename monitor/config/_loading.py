"""Reading the configuration file: :func:`load_config` and :class:`ConfigError`.

The YAML is parsed twice: into plain data for pydantic, and into a node tree that maps each
pydantic error location (``regions[1].geometry``) back to its line. Keys given twice, which a
YAML loader silently collapses, are found in the node tree too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from monitor.config._base import refuse_variables
from monitor.config.file import MonitorConfig

__all__ = ["ConfigError", "load_config"]


class ConfigError(ValueError):
    """A configuration that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, path: Path | str, problems: Sequence[str], note: str = "") -> None:
        self.path = Path(path)
        self.problems = list(problems)
        self.note = note  # said after the problems, not one of them
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"invalid configuration {self.path} ({len(self.problems)} {noun}):\n{lines}"
            + (f"\n{note}" if note else "")
        )


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate the configuration file at ``path``.

    Raises :class:`ConfigError` listing every problem, each with its line and field."""
    path = Path(path)
    root, data = _read_document(path)
    # top-level keys starting "x-" hold what YAML anchors share (x-defaults: &defaults, then
    # `<<: *defaults` in each region), as in Compose files; the configuration reads none
    # (found in a survey's walk: such a holder was refused as an unknown field)
    data = {key: value for key, value in data.items() if not str(key).startswith("x-")}
    duplicates = _duplicate_keys(root)  # reported with the rest: each hides nothing
    config_dir = path.resolve().parent
    base = data.get("base_dir")
    if base is not None and "\0" in str(base):  # resolve() raised "embedded null byte"
        try:  # refused as the validation would (with no line: it stops the loading here)
            refuse_variables(Path(str(base)))
        except ValueError as exc:
            raise ConfigError(path, [f"base_dir: {exc}"]) from None
    base_dir = config_dir if base in (None, "") else (config_dir / Path(str(base)).expanduser())
    try:
        config = MonitorConfig.model_validate(data, context={"base_dir": base_dir.resolve()})
    except ValidationError as exc:
        problems = _in_file_order([*duplicates, *_located_problems(root, exc)])
        note = ""
        under = f"{base_dir.resolve()}{os.sep}"
        if base not in (None, "") and any("does not exist" in p and under in p for p in problems):
            # a configuration copied elsewhere keeps its base_dir (the demo's `../..`): say where
            # relative paths were read from (found by a walkthrough: the demo's configuration,
            # then config/demo.yaml with `base_dir: ..`, copied to the repository's root looked
            # for the manifest in the folder above it); only for a
            # missing file under it, a relative path
            note = (
                f"(relative paths are read from base_dir {base!r}, which is {base_dir.resolve()} "
                f"from this file's folder {config_dir}; a copy of a configuration moved to "
                "another folder may need its base_dir changed)"
            )
        raise ConfigError(path, problems, note) from None
    if duplicates:
        raise ConfigError(path, [text for _, text in duplicates])
    config._path = path
    return config


def _in_file_order(located: list[tuple[int, str]]) -> list[str]:
    return [text for _, text in sorted(located, key=lambda p: p[0])]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a date-like scalar that is no date (``2024-02-30``,
    ``2024-13-01``) is kept as its text: PyYAML raises a bare ``ValueError`` for it, which
    names neither the line nor the field; as text, the field's validation reports it with
    both (``regions[0].windows.event_date: ... day value is outside expected range``)."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _at(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """The parser's message placed where it noticed the problem, and the context's own place
    where that is another line: a key missing its colon is noticed on the line after it ("while
    scanning a simple key (line 7, column 5): could not find expected ':'" at line 8)."""
    mark = exc.problem_mark or exc.context_mark
    context, where = exc.context, exc.context_mark
    if context and where is not None and mark is not None and where.line != mark.line:
        context = f"{context} ({_at(where)})"
    problem = ": ".join(p for p in (context, exc.problem) if p)
    # found in a config audit: the two a hand-written file meets most said what YAML saw, not
    # what to write
    if "'\\t' that cannot start any token" in problem:
        problem += "; indent with spaces, not tabs"
    elif context and context.startswith("while scanning an a"):  # an alias, an anchor
        problem += "; a value that starts with * or & is YAML's: quote it ('*/30 6 * * *')"
    return f"{_at(mark)}: malformed YAML: {problem}" if mark else f"malformed YAML: {problem}"


def _read_document(path: Path) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The file's YAML node tree and its data, a mapping; :class:`ConfigError` when the file
    cannot be read, is not YAML or is not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["the configuration file does not exist"]) from None
    except UnicodeDecodeError as exc:  # found in a survey's walk: a Latin-1 "ì" in a comment
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path,
            [
                f"line {line}: byte 0x{exc.object[exc.start]:02x} is not UTF-8: the file was "
                "saved in another encoding (Latin-1, Windows-1252?); save it as UTF-8"
            ],
        ) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the configuration file: {exc}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(path, [_yaml_problem(exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"malformed YAML: {exc}"]) from None
    if data is None:
        raise ConfigError(path, ["the configuration file is empty"])
    if not isinstance(data, dict):
        raise ConfigError(path, ["the top level must be a mapping of sections (source, regions…)"])
    return root, data


# A cross-field check names the field it is about first: "regions[3].name: region name 'x' is
# used twice" (of the whole configuration) is placed on regions[3].name's line, and "cron: ..."
# of the schedule section on schedule.cron's, where the file holds that field (as
# _loc_to_place finds it).
_FIELD_FIRST = re.compile(r"^(\w+(?:\[\d+\]|\.\w+)*): (.+)$", re.DOTALL)


def _located_problems(root: yaml.Node | None, exc: ValidationError) -> list[tuple[int, str]]:
    """(line, ``line N: field: message``) per validation error."""
    located: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False):
        for message in _apart(_message(error)):
            located.append(_located(root, tuple(error["loc"]), message))
    return located


def _apart(message: str) -> list[str]:
    """The problems of one error: the configuration's checks that relate fields to each other
    raise them together, a line ``field: message`` each (``MonitorConfig._fields_agree``)."""
    lines = message.split("\n")
    if len(lines) > 1 and all(_FIELD_FIRST.match(line) for line in lines):
        return lines
    return [message]


def _located(root: yaml.Node | None, loc: tuple[int | str, ...], message: str) -> tuple[int, str]:
    """(line, ``line N: field: message``) of one problem at ``loc``, or at the field that
    ``message`` names first (a model validator's)."""
    if named := _FIELD_FIRST.match(message):
        within = tuple(
            int(part[1:-1]) if part.startswith("[") else part
            for part in re.findall(r"\w+|\[\d+\]", named.group(1))
        )
        if not loc or _loc_to_place(root, (*loc, *within))[2]:
            loc, message = (*loc, *within), named.group(2)
    field, line, _ = _loc_to_place(root, loc)
    where = f"line {line}: " if line is not None else ""
    return (line or 0, f"{where}{field}: {message}")


def _loc_to_place(root: yaml.Node | None, loc: Sequence[int | str]) -> tuple[str, int | None, bool]:
    """The dotted field path and the YAML line of a pydantic error location, and whether the
    document holds its last key or index.

    Discriminator tags and union member names that pydantic inserts in ``loc`` are not keys of
    the document; they are skipped, except a last element naming a missing field."""
    parts: list[str] = []
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    held = True
    for i, item in enumerate(loc):
        last = i == len(loc) - 1
        found = False
        if isinstance(node, yaml.MappingNode) and isinstance(item, str):
            match = next((v for k, v in node.value if k.value == item), None)
            key = next((k for k, _ in node.value if k.value == item), None)
            if match is not None and key is not None:
                parts.append(f".{item}")
                node, line, found = match, key.start_mark.line + 1, True
            elif last:
                parts.append(f".{item}")
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int):
            if 0 <= item < len(node.value):
                parts.append(f"[{item}]")
                node, found = node.value[item], True
                line = node.start_mark.line + 1
        elif node is None and last:
            parts.append(f".{item}" if isinstance(item, str) else f"[{item}]")
        if last:
            held = found
    return ("".join(parts).lstrip(".") or "(top level)", line, held)


def _fields_at(loc: Sequence[int | str]) -> set[str]:
    """The field names the configuration takes at ``loc`` (a pydantic error's location less
    its last key): of a union, the member whose tag (``type: gee``, ``mode: event``) the
    location names, as pydantic inserts it; every member's where it names none."""
    return {name for model in _models_at(loc) for name in getattr(model, "model_fields", {})}


# A region's fields that no one would write as a default for all regions
_REGION_OWN = frozenset({"name", "geometry", "layer", "feature"})


def _field_elsewhere(loc: Sequence[int | str]) -> str | None:
    """Where the unknown field at ``loc`` is a field of a region while it stands where a default
    for all regions would be written (``masks:`` at the top level, ``model.filter_cut``), or of
    the top level while it stands in a region (``regions[0].trigger``); None otherwise. Found
    in a survey's walk: a default for every region written at the top level read "unknown
    field (did you mean dask?)"."""
    from monitor.config.regions import RegionConfig

    name = str(loc[-1])
    in_a_region = len(loc) == 3 and loc[0] == "regions"
    # where a default for every region would be written: the top level, or the model's section
    # (a region's threshold and filter_cut are the model's cut); not its name or polygon
    default_spot = len(loc) == 1 or (len(loc) == 2 and loc[0] == "model")
    if default_spot and name in RegionConfig.model_fields and name not in _REGION_OWN:
        return f"a field of each region (regions[].{name}): set it in each region that needs it"
    if in_a_region and name in MonitorConfig.model_fields:
        return f"a field of the configuration's top level ({name}:), not of a region"
    return None


def _other_member(loc: Sequence[int | str]) -> str | None:
    """Where the unknown field at ``loc`` (a tagged union member's, such as ``source.gee.path``)
    is a field of another member of that union: the two tags as written (``type: archive, not
    of type: gee``); else None (found in an adopter's walk: ``source.path: unknown field`` after
    switching to Earth Engine did not say that the field is the archive's)."""
    if len(loc) < 2 or not isinstance(loc[-2], str):
        return None
    name, tag = loc[-1], loc[-2]
    members = _models_at(loc[:-2])
    if not any(tag in _tags(member) for member in members):  # no union's tag: a section's name
        return None
    for member in members:
        fields = getattr(member, "model_fields", {})
        if name not in fields or tag in _tags(member):
            continue
        for key, field in fields.items():
            values = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
            if len(values) == 1 and tag not in values and key in ("type", "mode"):
                return f"{key}: {values[0]}, not of {key}: {tag}"
    return None


def _models_at(loc: Sequence[int | str]) -> list[Any]:
    """The models of the configuration at ``loc`` (see :func:`_fields_at`)."""
    models: list[Any] = [MonitorConfig]
    for part in loc:
        if isinstance(part, int):  # a list's item: its model, as it is
            continue
        found = [
            m
            for model in models
            if part in getattr(model, "model_fields", {})
            for m in _models_of(model.model_fields[part].annotation)
        ]
        if not found:  # a union member's tag: the member whose Literal field holds it
            tagged = [m for m in models if _tags(m) and part in _tags(m)]
            found = tagged or models
        models = found
    return models


def _tags(model: Any) -> set[Any]:
    """The values of a model's Literal fields: a union member's tags."""
    return {
        value
        for field in getattr(model, "model_fields", {}).values()
        if get_origin(field.annotation) is Literal
        for value in get_args(field.annotation)
    }


def _models_of(annotation: Any) -> list[Any]:
    """The pydantic models an annotation holds (through Optional, unions, lists, tuples)."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_of(arg)]


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        # found in a config audit: a typo was "unknown field" without the name meant
        loc = tuple(error["loc"])
        if other := _other_member(loc):
            return f"unknown field: a field of {other}"
        if elsewhere := _field_elsewhere(loc):
            return f"unknown field here: {elsewhere}"
        names = sorted(_fields_at(loc[:-1]) - {loc[-1]})
        meant = get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
        if meant:
            return f"unknown field (did you mean {meant[0]}?)"
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "too_short" and (error.get("ctx") or {}).get("actual_length") == 0:
        # "List should have at least 1 item after validation, not 0" (a config audit)
        return f"an empty list: give at least {error['ctx']['min_length']}"
    if shape := _shape_message(error):
        return shape
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    given = error.get("input")
    if kind == "string_type" and isinstance(given, bool | int | float):
        # found in a config audit: `name: NO` (YAML's false), `project: 123456789012` said
        # only "Input should be a valid string"
        read = str(given).lower() if isinstance(given, bool) else repr(given)
        message += f"; YAML read the value as {read}: quote it to keep it text ('...')"
    if kind in _BOUNDS and (what := _description(tuple(error["loc"]))):
        # found in an adopter's walk: "threshold: Input should be less than 1" did not say
        # what the number is
        message += f": {what}"
    return message


def _shape_message(error: ErrorDetails) -> str | None:
    """The YAML to write where a value has the wrong shape, in place of pydantic's words
    (found in a survey's walk: "Input should be a valid tuple" for ``storms: 2024-08-17``,
    "Input tag 'Monitoring' found using 'mode' does not match any of the expected tags")."""
    kind, given = error["type"], error.get("input")
    got = "nothing (an empty value)" if given is None else _shown_input(given)
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"expected a list ([a, b], or one '- item' a line under it), got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a section (its fields as 'key: value' lines indented under it), got {got}"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        field = str(ctx.get("discriminator", "the tag")).strip("'")  # pydantic quotes it
        return (
            f"{field}: {ctx.get('tag')!r} is none of {ctx.get('expected_tags')} (written as "
            "shown: the case matters)"
        )
    return None


# What a YAML value is called in a message (a date is "the date", by its type's name)
_KINDS: dict[type, str] = {
    dict: "a section",
    list: "a list",
    str: "the text",
    bool: "the boolean",
    int: "the number",
    float: "the number",
}


def _shown_input(given: object) -> str:
    """A value a configuration gave, for a message: its YAML kind and, where short, itself."""
    kind = _KINDS.get(type(given), f"the {type(given).__name__}")
    text = repr(given) if isinstance(given, str) else str(given)
    return kind if isinstance(given, dict | list) or len(text) > 60 else f"{kind} {text}"


# pydantic's error kinds of a number out of its field's range
_BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _description(loc: Sequence[int | str]) -> str | None:
    """The ``description`` of the field at ``loc``, where the configuration's models give one."""
    if not loc or not isinstance(loc[-1], str):
        return None
    for model in _models_at(loc[:-1]):
        field = getattr(model, "model_fields", {}).get(loc[-1])
        if field is not None and field.description:
            return str(field.description)
    return None


def _duplicate_keys(node: yaml.Node | None, prefix: str = "") -> list[tuple[int, str]]:
    """(line, problem) per key given twice in a mapping (YAML keeps the last silently)."""
    problems: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            where = f"{prefix}.{key.value}".lstrip(".")
            if key.value in seen:
                line = key.start_mark.line + 1
                problems.append((line, f"line {line}: {where}: field given twice"))
            seen.add(key.value)
            problems.extend(_duplicate_keys(value, where))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, f"{prefix}[{i}]"))
    return problems
