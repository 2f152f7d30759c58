// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergySettlement} from "../../interfaces/IEnergySettlement.sol";

/// @notice Builds what the oracle commits for a list of member lines: their batch leaves (as
/// `EnergySettlement.pay` recomputes them), a Merkle root over those leaves plus one extra leaf
/// (the day's other lines stand behind it) and the proof of each batch (sorted pairs, an odd node
/// carried up as OpenZeppelin's MerkleProof accepts).
library SettlementLines {
    uint8 internal constant BATCH_KIND = 6;

    function chain(IEnergySettlement.MemberTransfer[] memory lines, uint256 from, uint256 count)
        internal
        pure
        returns (bytes32 h)
    {
        for (uint256 i = from; i < from + count; ++i) h = keccak256(abi.encode(h, lines[i].member, lines[i].amount));
    }

    function batchLeaf(uint32 batch, uint256 count, bytes32 h) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(abi.encode(BATCH_KIND, batch, uint64(0), address(0), address(0), uint64(count), uint256(h)))
            )
        );
    }

    /// @dev Leaves: one per batch of `size` lines, then `extra`.
    function leaves(IEnergySettlement.MemberTransfer[] memory lines, uint32 size, bytes32 extra)
        internal
        pure
        returns (bytes32[] memory out)
    {
        uint256 batches = size == 0 ? 0 : (lines.length + size - 1) / size;
        out = new bytes32[](batches + 1);
        for (uint256 b = 0; b < batches; ++b) {
            uint256 from = b * size;
            uint256 count = lines.length - from < size ? lines.length - from : size;
            out[b] = batchLeaf(uint32(b), count, chain(lines, from, count));
        }
        out[batches] = extra;
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function root(bytes32[] memory nodes) internal pure returns (bytes32) {
        uint256 n = nodes.length;
        bytes32[] memory layer = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) layer[i] = nodes[i];
        while (n > 1) {
            uint256 m = (n + 1) / 2;
            for (uint256 i = 0; i < m; ++i) {
                layer[i] = 2 * i + 1 < n ? hashPair(layer[2 * i], layer[2 * i + 1]) : layer[2 * i];
            }
            n = m;
        }
        return layer[0];
    }

    function proof(bytes32[] memory nodes, uint256 index) internal pure returns (bytes32[] memory out) {
        uint256 n = nodes.length;
        bytes32[] memory layer = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) layer[i] = nodes[i];
        bytes32[] memory siblings = new bytes32[](64);
        uint256 depth;
        while (n > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < n) siblings[depth++] = layer[sibling];
            uint256 m = (n + 1) / 2;
            for (uint256 i = 0; i < m; ++i) {
                layer[i] = 2 * i + 1 < n ? hashPair(layer[2 * i], layer[2 * i + 1]) : layer[2 * i];
            }
            n = m;
            index /= 2;
        }
        out = new bytes32[](depth);
        for (uint256 i = 0; i < depth; ++i) out[i] = siblings[i];
    }

    /// @dev The lines of batch `b`.
    function slice(IEnergySettlement.MemberTransfer[] memory lines, uint32 size, uint32 b)
        internal
        pure
        returns (IEnergySettlement.MemberTransfer[] memory out)
    {
        uint256 from = uint256(b) * size;
        uint256 count = lines.length - from < size ? lines.length - from : size;
        out = new IEnergySettlement.MemberTransfer[](count);
        for (uint256 i = 0; i < count; ++i) out[i] = lines[from + i];
    }
}
