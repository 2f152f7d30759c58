// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../../DistrictToken.sol";
import {ServicePayments} from "../../ServicePayments.sol";
import {IServicePayments} from "../../interfaces/IServicePayments.sol";
import {TestBase} from "./TestBase.sol";

/// @notice A deployed district: the token, the payments contract as its merchant directory, the
/// operator's role holders, one registered merchant and a funded payer with a known key.
abstract contract DistrictFixture is TestBase {
    uint48 internal constant ADMIN_DELAY = 3 days;
    uint256 internal constant FEE_BPS = 300; // 3 %
    uint256 internal constant ONE_M3E = 1e6;
    uint256 internal constant START_TIME = 1_750_000_000;

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    DistrictToken internal token;
    ServicePayments internal payments;

    address internal admin;
    address internal treasurer;
    address internal pauser;
    address internal registrar;
    address internal commons;
    address internal bakery; // payout address of merchant 1
    address internal payer;
    uint256 internal payerKey;
    address internal stranger;

    uint256 internal bakeryId;
    uint256 private _bankRefNonce;

    function setUp() public virtual {
        vm.warp(START_TIME);
        admin = _makeAddr("admin");
        treasurer = _makeAddr("treasurer");
        pauser = _makeAddr("pauser");
        registrar = _makeAddr("registrar");
        commons = _makeAddr("commons");
        bakery = _makeAddr("bakery");
        (payer, payerKey) = _account("payer");
        stranger = _makeAddr("stranger");

        token = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS);
        payments = new ServicePayments(address(token), admin, ADMIN_DELAY);
        vm.label(address(token), "DistrictToken");
        vm.label(address(payments), "ServicePayments");

        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.grantRole(token.PAUSER_ROLE(), pauser);
        token.setMerchantDirectory(address(payments));
        payments.grantRole(payments.REGISTRAR_ROLE(), registrar);
        payments.grantRole(payments.PAUSER_ROLE(), pauser);
        vm.stopPrank();

        bakeryId = _register("Boulangerie Saxe", IServicePayments.Category.Food, bakery);
        _deposit(payer, 1_000 * ONE_M3E);
    }

    function _register(string memory name, IServicePayments.Category category, address payout)
        internal
        returns (uint256 merchantId)
    {
        vm.prank(registrar);
        merchantId = payments.registerMerchant(name, category, payout);
    }

    function _nextBankRef() internal returns (bytes32) {
        return keccak256(abi.encode("bank", ++_bankRefNonce));
    }

    function _deposit(address to, uint256 amount) internal returns (bytes32 bankRef) {
        bankRef = _nextBankRef();
        vm.prank(treasurer);
        token.recordDeposit(bankRef, to, amount);
    }

    function _approvePayments(address owner, uint256 amount) internal {
        vm.prank(owner);
        token.approve(address(payments), amount);
    }

    function _permitDigest(address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked(hex"1901", token.DOMAIN_SEPARATOR(), structHash));
    }

    function _signPermit(uint256 key, address owner, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        return vm.sign(key, _permitDigest(owner, address(payments), value, nonce, deadline));
    }

    function _signIntent(
        uint256 key,
        address payer_,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes memory) {
        bytes32 digest = payments.paymentIntentDigest(payer_, merchantId, amount, ref, nonce, deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev The storage slot of the token's reserve, found by probing (write a marker, read it back
    /// through `reserve()`, restore), so the tests do not hard-code the inherited layout.
    function _reserveSlot() internal returns (bytes32) {
        uint256 reserve_ = token.reserve();
        for (uint256 i = 0; i < 64; ++i) {
            bytes32 slot = bytes32(i);
            bytes32 original = vm.load(address(token), slot);
            if (uint256(original) != reserve_) continue;
            vm.store(address(token), slot, bytes32(reserve_ + 1));
            bool found = token.reserve() == reserve_ + 1;
            vm.store(address(token), slot, original);
            if (found) return slot;
        }
        revert AssertionFailed("reserve slot not found", bytes32(reserve_), bytes32(0));
    }
}
