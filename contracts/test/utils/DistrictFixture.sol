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
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant CANCEL_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
    /// @dev What the fixture's treasurer may mint in total.
    uint256 internal constant TREASURER_ALLOWANCE = 1e30;

    DistrictToken internal token;
    ServicePayments internal payments;

    address internal admin;
    address internal treasurer;
    address internal pauser;
    address internal freezer;
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
        freezer = _makeAddr("freezer");
        registrar = _makeAddr("registrar");
        commons = _makeAddr("commons");
        bakery = _makeAddr("bakery");
        (payer, payerKey) = _account("payer");
        stranger = _makeAddr("stranger");

        token = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, address(0));
        payments = new ServicePayments(address(token), admin, ADMIN_DELAY);
        vm.label(address(token), "DistrictToken");
        vm.label(address(payments), "ServicePayments");

        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.grantRole(token.PAUSER_ROLE(), pauser);
        token.grantRole(token.FREEZER_ROLE(), freezer);
        token.configureMinter(treasurer, TREASURER_ALLOWANCE, 0);
        // Unit tests of other rules redeem small amounts; the minimum has tests of its own.
        token.setMinRedemption(1);
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

    function _tokenDigest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", token.DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev The payer's one signature of a payment: a token ReceiveWithAuthorization to the payments
    /// contract whose nonce is the witness of merchant, payout and reference.
    function _signPayment(
        uint256 key,
        address payer_,
        uint256 merchantId,
        address payout,
        uint256 amount,
        bytes32 ref,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 payerNonce
    ) internal view returns (bytes memory) {
        bytes32 nonce = payments.paymentAuthorizationNonce(merchantId, payout, ref, payerNonce);
        return _signReceive(key, payer_, address(payments), amount, validAfter, validBefore, nonce);
    }

    function _signReceive(
        uint256 key,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes memory) {
        bytes32 digest =
            _tokenDigest(keccak256(abi.encode(RECEIVE_TYPEHASH, from, to, value, validAfter, validBefore, nonce)));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signTransfer(
        uint256 key,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes memory) {
        bytes32 digest =
            _tokenDigest(keccak256(abi.encode(TRANSFER_TYPEHASH, from, to, value, validAfter, validBefore, nonce)));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signCancel(uint256 key, address authorizer, bytes32 nonce) internal view returns (bytes memory) {
        bytes32 digest = _tokenDigest(keccak256(abi.encode(CANCEL_TYPEHASH, authorizer, nonce)));
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
