"""The public modules' ``__all__`` lists say what the rest of the project uses of them
(docs/CONTRIBUTING.md: a small explicit public API, private ``_modules`` for internals).

Read from the source, without importing: a name that one module of the three packages (or a
bench script) imports from a public module of another is in that module's ``__all__``, and
every name of an ``__all__`` is defined or imported at the module's top level. Tests may reach
past ``__all__``; they are not counted."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("monitor", "models", "gee_scripts")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        for sub in ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node]:
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(sub.name)
            elif isinstance(sub, ast.Import | ast.ImportFrom):
                names.update((a.asname or a.name).split(".")[0] for a in sub.names)
            elif isinstance(sub, ast.Assign | ast.AnnAssign):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                for target in targets:
                    elts = target.elts if isinstance(target, ast.Tuple) else [target]
                    names.update(e.id for e in elts if isinstance(e, ast.Name))
    return names


def _declared(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            assert isinstance(node.value, ast.List | ast.Tuple)
            return [cast(str, e.value) for e in node.value.elts if isinstance(e, ast.Constant)]
    return None


def _modules() -> dict[str, ast.Module]:
    files = [f for p in PACKAGES for f in sorted((ROOT / p).rglob("*.py"))]
    return {_module_name(f): ast.parse(f.read_text(encoding="utf-8")) for f in files}


def _is_public(module: str) -> bool:
    return not any(part.startswith("_") for part in module.split("."))


def test_every_name_of_an_all_is_defined() -> None:
    undefined = [
        f"{name}.{item}"
        for name, tree in _modules().items()
        if (declared := _declared(tree)) is not None
        for item in declared
        if item not in _top_level_names(tree)
    ]
    assert undefined == []


def test_what_other_modules_import_is_in_the_all() -> None:
    modules = _modules()
    users = dict(modules)
    for script in sorted((ROOT / "bench").glob("*.py")):
        users[f"bench.{script.stem}"] = ast.parse(script.read_text(encoding="utf-8"))
    missing: set[str] = set()
    for user, tree in users.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module == user:
                continue
            target = node.module or ""
            if target not in modules or not _is_public(target):
                continue
            declared = _declared(modules[target])
            if declared is None:
                continue
            defined = _top_level_names(modules[target])
            for alias in node.names:
                public = not alias.name.startswith("_")
                if public and alias.name in defined and alias.name not in declared:
                    missing.add(f"{target}.{alias.name} (imported by {user})")
    assert sorted(missing) == []
