"""Imports run one way: a stage imports only stages below it, and only what they export.

The stages, lowest first, are ``LAYERS`` (docs/architecture.md draws the same
picture). Within a stage anything goes. Across stages a module imports the
other stage's package (``from outreach.delivery import send_test``), never one
of its submodules, except the public plug-in bases in ``PUBLIC``. The imports
of private modules that predate this rule are listed in
``tests/import_debts.txt``; the list may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "outreach"
DEBTS = Path(__file__).parent / "import_debts.txt"

#: Lowest first; a stage may import the stages of the rows before its own.
LAYERS: list[set[str]] = [
    {"l10n", "transactional"},
    {"errors"},  # an error's message in the reader's language comes from l10n
    {"settings", "tokens", "linkids", "sandbox", "runtime", "logthrottle", "process_setting"},
    {"validation", "db", "plugins", "dkim", "verp"},
    {"models"},
    {"suppression"},
    {"sources"},
    {"campaigns"},
    {"issues"},
    {"render"},
    {"subscriptions"},
    {"delivery"},
    {"checks", "bounces", "retention", "publish"},
    {"stats"},
    {"scheduler"},
    {"staff"},
    {"demo"},
    {"web"},
    {"cli"},
    {"__main__"},
]
RANK = {stage: n for n, layer in enumerate(LAYERS) for stage in layer}

#: Submodules other stages may import besides the package: plug-in bases.
PUBLIC = {"outreach.sources.base", "outreach.delivery.backends"}


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def stage_of(module: str) -> str | None:
    """``outreach.delivery.outbox`` → ``delivery``; None outside the package or for a
    name of the package itself (``outreach.__version__``)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "outreach":
        return None
    path = PACKAGE / parts[1]
    return parts[1] if path.is_dir() or path.with_suffix(".py").exists() else None


def private_module(name: str, attribute: bool = False) -> str | None:
    """The submodule ``name`` reaches into (``outreach.delivery.outbox``), or None
    when it names the stage itself or something its package exports. ``attribute``:
    ``name`` was taken from the package (``from outreach.delivery import preview``)
    rather than imported as a module (``from outreach.delivery.preview import …``)."""
    parts = name.split(".")
    if len(parts) < 3:
        return None
    sub = PACKAGE.joinpath(*parts[1:3])
    if not (sub.is_dir() or sub.with_suffix(".py").exists()):
        return None  # ``from outreach.delivery import send_test``
    if attribute and len(parts) == 3 and parts[2] in exported(parts[1]):
        return None  # the package rebinds the name to what it exports
    module = ".".join(parts[:3])
    return None if module in PUBLIC else module


def exported(stage: str) -> set[str]:
    """The names in ``__all__`` of a stage package's ``__init__``."""
    init = PACKAGE / stage / "__init__.py"
    if not init.exists():
        return set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {ast.literal_eval(e) for e in getattr(node.value, "elts", [])}
    return set()


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """Every ``outreach`` name ``path`` imports, with ``from a import b`` as ``a.b``,
    and whether it was taken as an attribute (``b``) rather than a module (``a``)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name, False))
            found += [(node.lineno, f"{name}.{alias.name}", True) for alias in node.names]
    return [entry for entry in found if entry[1].startswith("outreach.")]


def scan() -> tuple[list[str], set[tuple[str, str]]]:
    """Upward imports, and (importer, private module) pairs across stages."""
    upward: list[str] = []
    private: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        own = stage_of(module)
        if own is None:
            continue
        for line, name, attribute in imports(path):
            verdict = classify(own, name, attribute)
            if verdict is None:
                continue
            if verdict.startswith("outreach."):
                private.add((module, verdict))
            else:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {verdict}")
    return upward, private


def classify(own: str, name: str, attribute: bool = False) -> str | None:
    """None when stage ``own`` may import ``name``; the private module it reaches
    into; or what is wrong."""
    other = stage_of(name)
    if other is None or other == own:
        return None
    if own not in RANK or other not in RANK:
        return f"add {own!r} and {other!r} to LAYERS"
    if RANK[other] >= RANK[own]:
        return f"{own} imports {name}, which is not below it"
    return private_module(name, attribute)


def debts() -> set[tuple[str, str]]:
    lines = DEBTS.read_text(encoding="utf-8").splitlines()
    return {
        (a, b) for a, b in (line.split() for line in lines if line and not line.startswith("#"))
    }


def test_no_stage_imports_one_above_it() -> None:
    upward, _ = scan()
    assert not upward, "\n".join(upward)


def test_no_new_import_of_another_stages_private_module() -> None:
    _, private = scan()
    new = sorted(private - debts())
    assert not new, "export these from the stage's __init__ instead:\n" + "\n".join(
        f"{a} imports {b}" for a, b in new
    )


def test_paid_debts_leave_the_list() -> None:
    _, private = scan()
    paid = sorted(debts() - private)
    assert not paid, f"delete these lines from {DEBTS.name}:\n" + "\n".join(
        f"{a} {b}" for a, b in paid
    )


@pytest.mark.parametrize("stage", sorted(RANK))
def test_every_layer_names_a_stage_that_exists(stage: str) -> None:
    assert (PACKAGE / stage).is_dir() or (PACKAGE / f"{stage}.py").exists()


def test_the_rule_itself() -> None:
    assert classify("sources", "outreach.delivery.send_test") == (
        "sources imports outreach.delivery.send_test, which is not below it"
    )
    assert classify("issues", "outreach.render") is not None  # same layer or above
    assert classify("delivery", "outreach.render.env") == "outreach.render.env"
    assert classify("delivery", "outreach.render.render_issue") is None  # an export
    assert classify("staff", "outreach.delivery.preview", attribute=True) is None
    assert classify("staff", "outreach.delivery.preview") == "outreach.delivery.preview"
    assert classify("delivery", "outreach.sources.base") is None  # a public plug-in base
    assert classify("web", "outreach.web.app") is None  # within a stage
    assert classify("cli", "outreach.__version__") is None
