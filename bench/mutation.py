"""Mutation check of the district invariants: plant known bugs one at a time, run ONLY the
invariant tests (contracts/test/Invariants.t.sol), and show which invariant kills each mutant.

Each mutant removes one guard from a temporary copy of the contracts (the working tree is never
touched); a mutant is killed when at least one invariant fails. The unmutated copy runs first and
must pass, or the table would mean nothing.
Run: .venv/bin/python bench/mutation.py [--runs N] [--only NAME ...]
(N invariant runs per invariant for each mutant, 150 by default; the suite itself uses 1,200.)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INVARIANTS = "contracts/test/Invariants.t.sol"
RUNS_PATTERN = re.compile(r"default\.invariant\.runs = \d+")
FAILED = re.compile(r"^\s*\d+\) \w+#(invariant_\w+)\(\)", re.MULTILINE)
TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    guard: str  # exact text removed (must occur once)
    what: str


MUTANTS = (
    Mutant(
        "refund-bound",
        "contracts/ServicePayments.sol",
        "if (amount > paid) revert ServicePaymentsRefundAboveNetPaid(merchantId, payer, amount, paid);",
        "refund no longer bounded by the net amount paid",
    ),
    Mutant(
        "authorization-used",
        "contracts/DistrictToken.sol",
        "if (_authorizationState[from][nonce]) revert DistrictTokenAuthorizationUsedOrCanceled(from, nonce);",
        "an ERC-3009 nonce may be used again",
    ),
    Mutant(
        "minter-allowance",
        "contracts/DistrictToken.sol",
        "if (amount > allowance) revert DistrictTokenMintAboveAllowance(account, amount, allowance);",
        "a treasurer may mint past its allowance",
    ),
    Mutant(
        "freeze",
        "contracts/DistrictToken.sol",
        "if (_frozen[from]) revert DistrictTokenAccountFrozen(from);",
        "a frozen account may send",
    ),
    Mutant(
        "booking-expiry",
        "contracts/ServicePayments.sol",
        "if (charge != 0 && block.timestamp > expiresAt) {\n"
        "            revert ServicePaymentsBookingExpired(bookingId, expiresAt, charge);\n"
        "        }",
        "a merchant may charge an expired booking",
    ),
    Mutant(
        "cancel-not-recorded",
        "contracts/DistrictToken.sol",
        "_authorizationState[authorizer][nonce] = true;",
        "a cancelled authorization is not marked",
    ),
    Mutant(
        "escrow-count",
        "contracts/ServicePayments.sol",
        "_escrowed += deposit;",
        "a booking deposit is not counted in the escrow",
    ),
)


def _copy_project(source: Path, dest: Path) -> None:
    """The sources the invariant tests need (and only those, so each mutant compiles fast)."""
    for name in ("hardhat.config.js", "package.json"):
        shutil.copy2(source / name, dest / name)
    contracts = dest / "contracts"
    contracts.mkdir()
    for name in ("DistrictToken.sol", "ServicePayments.sol"):
        shutil.copy2(source / "contracts" / name, contracts / name)
    shutil.copytree(source / "contracts" / "interfaces", contracts / "interfaces")
    tests = contracts / "test"
    shutil.copytree(source / "contracts" / "test" / "utils", tests / "utils")
    shutil.copy2(source / INVARIANTS, dest / INVARIANTS)


def _set_runs(dest: Path, runs: int) -> None:
    path = dest / INVARIANTS
    text = path.read_text()
    if not RUNS_PATTERN.search(text):
        raise SystemExit(f"{INVARIANTS} has no inline invariant runs to override")
    path.write_text(RUNS_PATTERN.sub(f"default.invariant.runs = {runs}", text))


def _plant(dest: Path, mutant: Mutant) -> None:
    path = dest / mutant.path
    text = path.read_text()
    count = text.count(mutant.guard)
    if count != 1:
        raise SystemExit(f"mutant {mutant.name}: the guard occurs {count} times in {mutant.path}, not once")
    path.write_text(text.replace(mutant.guard, "", 1))


def _run(dest: Path) -> tuple[str, list[str], float]:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    started = time.monotonic()
    proc = subprocess.run(
        ["hardhat", "test", "solidity", INVARIANTS],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    elapsed = time.monotonic() - started
    out = proc.stdout + proc.stderr
    failed = sorted(set(FAILED.findall(out)))
    if "Compilation failed" in out or "HHE910" in out:
        return "does not compile", failed, elapsed
    if proc.returncode == 0:
        return "survived", failed, elapsed
    return ("killed" if failed else "error"), failed, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=150, help="invariant runs per invariant (default 150)")
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if args.only is None or m.name in args.only]
    rows: list[tuple[str, str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="district-mutation-") as tmp:
        # One snapshot of the sources first: edits in the working tree during the run change nothing.
        snapshot = Path(tmp) / "snapshot"
        snapshot.mkdir()
        _copy_project(ROOT, snapshot)
        for mutant in (None, *chosen):
            work = Path(tmp) / (mutant.name if mutant else "baseline")
            work.mkdir()
            _copy_project(snapshot, work)
            (work / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
            _set_runs(work, args.runs)
            if mutant:
                _plant(work, mutant)
            verdict, failed, elapsed = _run(work)
            name = mutant.name if mutant else "(none: baseline)"
            what = mutant.what if mutant else "the contracts as they are"
            print(f"{name}: {verdict} in {elapsed:.0f} s {' '.join(failed)}", file=sys.stderr, flush=True)
            if mutant is None and verdict != "survived":
                print(f"the unmutated contracts do not pass the invariants ({verdict}): {failed}")
                return 2
            if mutant is None:
                verdict = "passes"
            rows.append((name, what, verdict + (": " + ", ".join(failed) if failed else ""), elapsed))
    width = max(len(r[0]) for r in rows)
    what_width = max(len(r[1]) for r in rows)
    print(f"invariant runs per invariant: {args.runs} (depth from hardhat.config.js)")
    print(f"{'mutant':<{width}}  {'bug planted':<{what_width}}  {'seconds':>7}  result")
    for name, what, verdict, elapsed in rows:
        print(f"{name:<{width}}  {what:<{what_width}}  {elapsed:>7.0f}  {verdict}")
    killed = sum(1 for r in rows[1:] if r[2].startswith("killed"))
    print(f"killed {killed} of {len(rows) - 1} mutants by an invariant")
    return 0 if killed == len(rows) - 1 else 1


if __name__ == "__main__":
    sys.exit(main())
