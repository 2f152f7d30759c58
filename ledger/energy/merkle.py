"""Merkle trees in OpenZeppelin's "standard" format, byte for byte like `@openzeppelin/merkle-tree`.

- leaf = keccak256(keccak256(abi.encode(types, values))) (double hash: a leaf can never be read
  as an inner node);
- an inner node = keccak256 of its two children, the smaller first (sorted pairs), which is what
  OpenZeppelin's `MerkleProof.verify` recomputes;
- layout of `StandardMerkleTree.of(values, types)` (sortLeaves true): leaves sorted by hash, laid
  in a flat array of 2n - 1 nodes from the end (leaf i of the sorted order at 2n - 2 - i), node j
  the hash of nodes 2j + 1 and 2j + 2; a proof lists the siblings from the leaf up to the root.
  Same values, same types, same order: same root, same proofs as the JS library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from ledger.errors import InputError


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """The standard leaf: keccak256(keccak256(abi.encode(values)))."""
    return bytes(keccak(keccak(abi_encode(list(types), list(values)))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """An inner node: the two children hashed smaller first."""
    return bytes(keccak(a + b if a < b else b + a))


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """True when `proof` leads from `leaf` to `root` (as OpenZeppelin's MerkleProof.verify)."""
    return process_proof(leaf, proof) == root


@dataclass(frozen=True)
class StandardMerkleTree:
    """A tree over `values` (tuples of `types`), laid out as the JS library lays it out."""

    types: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    tree: tuple[bytes, ...]
    tree_index: tuple[int, ...]
    """tree_index[i]: where the leaf of values[i] sits in `tree`."""

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], types: Sequence[str]) -> StandardMerkleTree:
        if not values:
            raise InputError("a Merkle tree needs at least one leaf")
        kinds = tuple(types)
        rows = tuple(tuple(v) for v in values)
        hashes = [leaf_hash(kinds, row) for row in rows]
        order = sorted(range(len(rows)), key=lambda i: hashes[i])
        n = len(rows)
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * n
        for position, value_index in enumerate(order):
            tree[size - 1 - position] = hashes[value_index]
            tree_index[value_index] = size - 1 - position
        for j in range(size - 1 - n, -1, -1):
            tree[j] = hash_pair(tree[2 * j + 1], tree[2 * j + 2])
        return cls(kinds, rows, tuple(tree), tuple(tree_index))

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def leaf(self, value_index: int) -> bytes:
        return self.tree[self.tree_index[value_index]]

    def proof(self, value_index: int) -> list[bytes]:
        """Sibling hashes from the leaf of values[value_index] up to the root."""
        j = self.tree_index[value_index]
        proof: list[bytes] = []
        while j > 0:
            proof.append(self.tree[j + 1 if j % 2 else j - 1])
            j = (j - 1) // 2
        return proof

    def verify(self, value_index: int, proof: Sequence[bytes]) -> bool:
        return verify(self.root, leaf_hash(self.types, self.values[value_index]), proof)
