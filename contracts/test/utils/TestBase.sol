// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Vm} from "./Vm.sol";

/// @notice The cheatcode handle and a few assertions: a failed assertion reverts with a message,
/// which fails the test.
abstract contract TestBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    error AssertionFailed(string message, bytes32 left, bytes32 right);

    // The order of the secp256k1 group: private keys live in [1, SECP256K1_N - 1].
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert AssertionFailed(message, bytes32(0), bytes32(uint256(1)));
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) revert AssertionFailed(message, bytes32(uint256(1)), bytes32(0));
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) revert AssertionFailed(message, bytes32(left), bytes32(right));
    }

    function assertEq(address left, address right, string memory message) internal pure {
        if (left != right) {
            revert AssertionFailed(message, bytes32(uint256(uint160(left))), bytes32(uint256(uint160(right))));
        }
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        if (left != right) revert AssertionFailed(message, left, right);
    }

    function assertEq(string memory left, string memory right, string memory message) internal pure {
        if (keccak256(bytes(left)) != keccak256(bytes(right))) {
            revert AssertionFailed(message, keccak256(bytes(left)), keccak256(bytes(right)));
        }
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) revert AssertionFailed(message, bytes32(left), bytes32(right));
    }

    /// @dev Maps any fuzzed value into [min, max] (inclusive) without rejecting runs.
    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert AssertionFailed("bad bound", bytes32(min), bytes32(max));
        if (min == 0 && max == type(uint256).max) return x;
        return min + x % (max - min + 1);
    }

    /// @dev A labelled address whose private key is derived from its name.
    function _account(string memory name) internal returns (address account, uint256 key) {
        key = uint256(keccak256(bytes(name))) % (SECP256K1_N - 1) + 1;
        account = vm.addr(key);
        vm.label(account, name);
    }

    function _makeAddr(string memory name) internal returns (address account) {
        (account,) = _account(name);
    }
}
