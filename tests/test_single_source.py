"""Facts sdkgen keeps in one place: a second definition elsewhere would drift from the first.

Byte units live in sdk_gen/units.py, the default context in sdk_gen/planner.py, the model
families in sdk_gen/model/families.py, the tokenizer files in sdk_gen/model/inspect.py and the
parts of the memory budget in MemoryBudget.rows() (sdk_gen/budget.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO
from sdk_gen.budget import SAFETY_MARGIN, MemoryBudget
from sdk_gen.model.families import FAMILY_KEYS
from sdk_gen.model.inspect import TOKENIZER_FILES
from sdk_gen.runtimes import all_runtimes

BYTE_UNITS = {"KIB", "MIB", "GIB", "TIB", "KB", "MB", "GB", "TB"}
# Each single-sourced name and the one file allowed to assign it.
HOMES = {**{unit: "sdk_gen/units.py" for unit in BYTE_UNITS}, "DEFAULT_CONTEXT": "sdk_gen/planner.py"}


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (REPO / folder).rglob("*.py"))


def assigned_names(tree: ast.AST):
    """Every name a module binds by assignment, at any depth, with its line."""
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    yield name.id, node.lineno


def string_collections(tree: ast.AST):
    """The string constants of every tuple, list and set literal, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            strings = {elt.value for elt in node.elts if isinstance(elt, ast.Constant) and isinstance(elt.value, str)}
            if strings:
                yield strings, node.lineno


def test_byte_units_and_the_default_context_are_defined_once():
    found = []
    for path in python_files("sdk_gen", "tests", "bench", "scripts"):
        relative = path.relative_to(REPO).as_posix()
        for name, line in assigned_names(ast.parse(path.read_text(encoding="utf-8"))):
            # _MIB, Mib and MIB are the same fact under another spelling.
            home = HOMES.get(name.lstrip("_").upper())
            if home and relative != home:
                found.append(f"{relative}:{line} defines {name} (import it from {home})")
    assert not found, "\n".join(found)


def test_the_family_and_tokenizer_lists_are_written_once():
    found = []
    for path in python_files("sdk_gen"):
        relative = path.relative_to(REPO).as_posix()
        for strings, line in string_collections(ast.parse(path.read_text(encoding="utf-8"))):
            if set(FAMILY_KEYS) <= strings:
                found.append(f"{relative}:{line} lists every model family (use FAMILY_KEYS)")
            if {"tokenizer.json", "tokenizer_config.json", "tokenizer.model"} <= strings and relative != "sdk_gen/model/inspect.py":
                found.append(f"{relative}:{line} lists the tokenizer files (use TOKENIZER_FILES)")
    assert not found, "\n".join(found)
    assert "tokenizer.json" in TOKENIZER_FILES
    assert all(set(runtime.families) <= set(FAMILY_KEYS) for runtime in all_runtimes())


def budget_of(**changes) -> MemoryBudget:
    figures = dict(
        weights_bytes=1_000_000, kv_cache_bytes=200_000, working_bytes=30_000, overhead_bytes=4_000, budget_bytes=10_000_000,
        budget_source="app_memory", weights_source="artifact", bits_per_param=4.5, kv_bytes_per_element=2, load_copy_factor=0.25,
    )
    return MemoryBudget(**{**figures, **changes})


def test_the_budget_rows_sum_to_the_total_and_name_the_json_fields():
    budget = budget_of()
    rows = budget.rows()
    assert [row.key for row in rows] == ["weights", "load_copy", "kv_cache", "working", "overhead"]
    assert sum(row.bytes for row in rows) == budget.total_bytes == 1_484_000
    figures = budget.to_json()
    for row in rows:
        assert figures[f"{row.key}_bytes"] == row.bytes, row.key
    assert len({row.label for row in rows}) == len(rows)
    assert {row.key: row.source for row in rows}["weights"] == "artifact"


@pytest.mark.parametrize("spare", [0, -1, 1])
def test_headroom_is_what_the_margin_leaves_and_agrees_with_fits(spare):
    total = budget_of().total_bytes
    budget_bytes = 10_000_000
    margin = int(budget_bytes * SAFETY_MARGIN)
    # Move the overhead so that the total plus the margin is exactly `spare` bytes under the budget.
    budget = budget_of(overhead_bytes=4_000 + budget_bytes - margin - total - spare)
    assert budget.headroom_bytes == budget.budget_bytes - budget.margin_bytes - budget.total_bytes == spare
    assert budget.fits == (budget.headroom_bytes >= 0)
    assert budget.to_json()["headroom_bytes"] == spare
