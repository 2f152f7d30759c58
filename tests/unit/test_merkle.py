"""Our standard Merkle tree matches OpenZeppelin's `@openzeppelin/merkle-tree` byte for byte."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.energy.merkle import StandardMerkleTree, hash_pair, leaf_hash, verify
from ledger.energy.settlement import LEAF_TYPES

ROOT = Path(__file__).resolve().parents[2]
A = "0x1111111111111111111111111111111111111111"
B = "0x2222222222222222222222222222222222222222"
Z = "0x0000000000000000000000000000000000000000"

lines = st.tuples(
    st.integers(0, 5),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.sampled_from([A, B, Z]),
    st.sampled_from([A, B, Z]),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**256 - 1),
)


def js_tree(values: list[tuple[object, ...]]) -> dict[str, object]:
    script = (
        "const {StandardMerkleTree} = require('@openzeppelin/merkle-tree');"
        "const d = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const t = StandardMerkleTree.of(d.values, d.types);"
        "const proofs = d.values.map((_, i) => t.getProof(i));"
        "const ok = d.values.every((v, i) => StandardMerkleTree.verify(t.root, d.types, v, proofs[i]));"
        "console.log(JSON.stringify({root: t.root, proofs, ok, tree: t.dump().tree}));"
    )
    payload = {
        "types": list(LEAF_TYPES),
        "values": [[str(x) if isinstance(x, int) else x for x in v] for v in values],
    }
    out = subprocess.run(
        [str(ROOT / "node_modules/.bin/node"), "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_leaf_is_the_double_keccak_of_the_abi_encoding_and_pairs_hash_sorted() -> None:
    leaf = leaf_hash(LEAF_TYPES, (3, 0, 0, A, B, 0, 3))
    assert len(leaf) == 32
    other = leaf_hash(LEAF_TYPES, (3, 1, 0, A, B, 0, 3))
    assert hash_pair(leaf, other) == hash_pair(other, leaf)


def test_a_single_line_is_its_own_root_with_an_empty_proof() -> None:
    tree = StandardMerkleTree.of([(0, 0, 0, Z, Z, 0, 0)], LEAF_TYPES)
    assert tree.root == tree.leaf(0) and tree.proof(0) == []
    assert tree.verify(0, [])


def test_root_and_proofs_equal_those_of_the_javascript_library() -> None:
    for size in (1, 2, 3, 5, 8, 13):
        values = [
            (i % 6, i, 1_750_000_000 + 900 * i, A, B if i % 2 else Z, 100 + i, 10**18 + i)
            for i in range(size)
        ]
        ours = StandardMerkleTree.of(values, LEAF_TYPES)
        theirs = js_tree(values)
        assert theirs["ok"] is True
        assert "0x" + ours.root.hex() == theirs["root"], size
        assert [["0x" + p.hex() for p in ours.proof(i)] for i in range(size)] == theirs["proofs"]
        assert ["0x" + n.hex() for n in ours.tree] == theirs["tree"]


def test_the_known_root_of_the_solidity_test_is_the_one_python_computes() -> None:
    values = [
        (3, 0, 0, A, B, 0, 3),
        (1, 5, 1_750_000_000, A, B, 100, 8_000_000),
        (0, 1, 1_750_000_000, Z, Z, 100, 3),
    ]
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    assert tree.root.hex() == "7a24db8c51b73953b85330af58b8953980d464832ae7d2d2c48cb017dfcde81b"
    assert [p.hex() for p in tree.proof(0)] == [
        "90028db65e88741cb31b4135e1ea20d02c9cae5f8e20be9280e720912ae47935"
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(lines, min_size=1, max_size=40))
def test_every_proof_verifies_and_a_changed_line_does_not(
    values: list[tuple[int, int, int, str, str, int, int]],
) -> None:
    tree = StandardMerkleTree.of(values, LEAF_TYPES)
    for i, value in enumerate(values):
        proof = tree.proof(i)
        assert verify(tree.root, leaf_hash(LEAF_TYPES, value), proof)
        changed = (*value[:6], (value[6] + 1) % 2**256)
        if changed not in values:
            assert not verify(tree.root, leaf_hash(LEAF_TYPES, changed), proof)
