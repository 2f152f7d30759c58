"""solc's output is reused only for the very same input: the sources' content, the settings and
the compiler. A changed source, a torn kept file or `reuse=False` compiles again with the real
compiler (the npm solc here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.chain import solc as solc_module
from ledger.chain.solc import compile_cache_dir, compile_entries, find_solc, project_root

SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
contract Probe { function answer() external pure returns (uint256) { return %d; } }
"""


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real compiler's runs."""
    import solcx

    runs: list[int] = []
    real = solcx.compile_standard

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(solcx, "compile_standard", counted)
    return runs


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "Probe.sol").write_text(SOURCE % 41)
    return tmp_path


def _runtime(root: Path, compiler: str, *, reuse: bool = True) -> str:
    built = compile_entries(["contracts/Probe.sol"], compiler, root, reuse=reuse)
    return built.contracts["Probe"].runtime_bytecode


def test_the_same_sources_reuse_the_kept_output_and_a_change_compiles_again(
    root: Path, compiles: list[int]
) -> None:
    compiler = str(find_solc(root=project_root()))
    first = _runtime(root, compiler)
    assert len(compiles) == 1 and list(compile_cache_dir(root).glob("*.json"))
    assert _runtime(root, compiler) == first and len(compiles) == 1  # reused
    (root / "contracts" / "Probe.sol").write_text(SOURCE % 42)  # one constant changed
    changed = _runtime(root, compiler)
    assert len(compiles) == 2 and changed != first, "a changed source was answered from the kept output"
    assert _runtime(root, compiler, reuse=False) == changed and len(compiles) == 3


def test_a_torn_kept_output_is_compiled_again_not_trusted(root: Path, compiles: list[int]) -> None:
    compiler = str(find_solc(root=project_root()))
    first = _runtime(root, compiler)
    for kept in compile_cache_dir(root).glob("*.json"):
        kept.write_text(kept.read_text()[:100])  # a crash mid-write, or a disk full
    assert _runtime(root, compiler) == first and len(compiles) == 2


def test_other_compiler_settings_do_not_reuse_the_output(
    root: Path, compiles: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    compiler = str(find_solc(root=project_root()))
    _runtime(root, compiler)
    monkeypatch.setitem(solc_module.RUNS_OVERRIDES, "Probe", 1)
    _runtime(root, compiler)
    assert len(compiles) == 2
