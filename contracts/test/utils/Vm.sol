// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The cheatcodes these tests use, as Hardhat 3 (EDR) answers them at the well-known
/// address `address(uint160(uint256(keccak256("hevm cheat code"))))`.
interface Vm {
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function label(address account, string calldata newLabel) external;
    function assume(bool condition) external pure;

    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;

    function warp(uint256 newTimestamp) external;
    function skip(bool skipTest, string calldata reason) external;
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    function store(address target, bytes32 slot, bytes32 value) external;

    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
}
