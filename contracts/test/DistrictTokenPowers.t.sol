// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {DistrictToken} from "../DistrictToken.sol";
import {IDistrictToken} from "../interfaces/IDistrictToken.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @notice The token's bounded powers: minter allowances, freezes, ERC-3009 authorizations,
/// rescue, and the retire / carry-over migration.
contract DistrictTokenPowersTest is DistrictFixture {
    bytes32 internal constant REF = keccak256("BANK-1");
    bytes32 internal constant ORDER = keccak256("TJ Lyon 2026-123");
    bytes32 internal constant NONCE = keccak256("random nonce");

    address internal teller; // a second treasurer key

    function setUp() public override {
        super.setUp();
        teller = _makeAddr("teller");
        bytes32 role = token.TREASURER_ROLE();
        vm.prank(admin);
        token.grantRole(role, teller);
    }

    // ------------------------------------------------------------------ minter allowances

    function _configure(address minter_, uint256 allowance, uint256 dailyLimit) internal {
        vm.prank(admin);
        token.configureMinter(minter_, allowance, dailyLimit);
    }

    function _mintAs(address minter_, bytes32 bankRef, uint256 amount) internal {
        vm.prank(minter_);
        token.recordDeposit(bankRef, stranger, amount);
    }

    /// @dev Finding 2: a treasurer could mint any amount (the same call raised the reserve).
    function test_ATreasurerWithoutAllowanceCannotMint() public {
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenMintAboveAllowance.selector, teller, 1, 0)
        );
        _mintAs(teller, REF, 1);
    }

    function test_EachMintConsumesTheAllowanceAndMintingAboveReverts() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit IDistrictToken.MinterConfigured(teller, 100 * ONE_M3E, 0);
        _configure(teller, 100 * ONE_M3E, 0);
        _mintAs(teller, keccak256("a"), 60 * ONE_M3E);
        (uint256 allowance,,) = token.minter(teller);
        assertEq(allowance, 40 * ONE_M3E, "consumed");
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenMintAboveAllowance.selector, teller, 40 * ONE_M3E + 1, 40 * ONE_M3E
            )
        );
        _mintAs(teller, keccak256("b"), 40 * ONE_M3E + 1);
        _mintAs(teller, keccak256("b"), 40 * ONE_M3E);
        (allowance,,) = token.minter(teller);
        assertEq(allowance, 0, "exhausted");
    }

    function test_TheDailyLimitResetsAtUtcMidnight() public {
        _configure(teller, 1_000 * ONE_M3E, 100 * ONE_M3E);
        _mintAs(teller, keccak256("a"), 70 * ONE_M3E);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenMintAboveDailyLimit.selector,
                teller,
                31 * ONE_M3E,
                70 * ONE_M3E,
                100 * ONE_M3E
            )
        );
        _mintAs(teller, keccak256("b"), 31 * ONE_M3E);
        _mintAs(teller, keccak256("b"), 30 * ONE_M3E);
        (, uint256 limit, uint256 today) = token.minter(teller);
        assertEq(limit, 100 * ONE_M3E, "limit");
        assertEq(today, 100 * ONE_M3E, "minted today");
        vm.warp((block.timestamp / 1 days + 1) * 1 days); // next UTC midnight
        (,, today) = token.minter(teller);
        assertEq(today, 0, "a new day");
        _mintAs(teller, keccak256("c"), 100 * ONE_M3E);
        (uint256 allowance,,) = token.minter(teller);
        assertEq(allowance, 800 * ONE_M3E, "the allowance is consumed as well");
    }

    function test_OnlyTheAdminConfiguresMinters() public {
        bytes32 role = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, treasurer, role));
        vm.prank(treasurer);
        token.configureMinter(treasurer, type(uint128).max, 0);
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        vm.prank(admin);
        token.configureMinter(address(0), 1, 0);
    }

    function test_AnAllowanceWithoutTheRoleDoesNotMint() public {
        _configure(stranger, 100 * ONE_M3E, 0);
        bytes32 role = token.TREASURER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role));
        _mintAs(stranger, REF, 1);
    }

    /// forge-config: default.fuzz.runs = 256
    function testFuzz_MintedByAKeyNeverExceedsItsAllowance(uint96 allowance, uint96[4] memory amounts) public {
        _configure(teller, allowance, 0);
        uint256 minted;
        for (uint256 i = 0; i < amounts.length; ++i) {
            uint256 amount = _bound(amounts[i], 1, uint256(allowance) + 1);
            if (minted + amount > allowance) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IDistrictToken.DistrictTokenMintAboveAllowance.selector, teller, amount, allowance - minted
                    )
                );
                _mintAs(teller, keccak256(abi.encode(i)), amount);
            } else {
                _mintAs(teller, keccak256(abi.encode(i)), amount);
                minted += amount;
            }
        }
        (uint256 left,,) = token.minter(teller);
        assertEq(minted + left, allowance, "minted plus left is what was allowed");
    }

    // ------------------------------------------------------------------ freeze

    function _freeze(address account) internal {
        vm.prank(freezer);
        token.freeze(account, ORDER);
    }

    function test_AFrozenAccountCanNeitherSendNorReceive() public {
        vm.expectEmit(true, true, false, false, address(token));
        emit IDistrictToken.AccountFrozen(payer, ORDER);
        _freeze(payer);
        assertTrue(token.isFrozen(payer), "frozen");
        bytes memory frozen = abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, payer);
        vm.expectRevert(frozen);
        vm.prank(payer);
        token.transfer(stranger, 1);
        vm.prank(stranger);
        vm.expectRevert(frozen);
        token.transfer(payer, 0);
        vm.expectRevert(frozen);
        vm.prank(treasurer);
        token.recordDeposit(REF, payer, 1);
        vm.expectRevert(frozen);
        vm.prank(payer);
        token.approve(address(payments), 1);
    }

    function test_AFrozenAccountCannotBeDrainedThroughAnEarlierAllowance() public {
        _approvePayments(payer, type(uint256).max);
        _freeze(payer);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, payer));
        vm.prank(payer);
        payments.pay(bakeryId, ONE_M3E, REF);
        bytes memory sig = _signTransfer(payerKey, payer, stranger, ONE_M3E, 0, block.timestamp + 60, NONCE);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, payer));
        token.transferWithAuthorization(payer, stranger, ONE_M3E, 0, block.timestamp + 60, NONCE, sig);
    }

    function test_AFrozenMerchantCannotRedeemNorBePaid() public {
        vm.prank(payer);
        token.transfer(bakery, 20 * ONE_M3E);
        _freeze(bakery);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, bakery));
        vm.prank(bakery);
        token.redeem(20 * ONE_M3E, REF);
        _approvePayments(payer, type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, bakery));
        vm.prank(payer);
        payments.pay(bakeryId, ONE_M3E, REF);
    }

    function test_FreezingOneAccountLeavesTheOthersFree() public {
        _freeze(stranger);
        vm.prank(payer);
        token.transfer(bakery, ONE_M3E);
        assertEq(token.balanceOf(bakery), ONE_M3E, "others still move");
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, stranger));
        vm.prank(payer);
        token.transfer(stranger, ONE_M3E);
    }

    function test_UnfreezeRestoresTheAccountAndNamesTheOrder() public {
        _freeze(payer);
        vm.expectEmit(true, true, false, false, address(token));
        emit IDistrictToken.AccountUnfrozen(payer, ORDER);
        vm.prank(freezer);
        token.unfreeze(payer, ORDER);
        vm.prank(payer);
        token.transfer(stranger, 1);
        assertEq(token.balanceOf(stranger), 1, "moves again");
    }

    function test_FreezeRulesAndRole() public {
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenFreezeUnchanged.selector, payer, false));
        vm.prank(freezer);
        token.unfreeze(payer, ORDER);
        _freeze(payer);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenFreezeUnchanged.selector, payer, true));
        vm.prank(freezer);
        token.freeze(payer, ORDER);
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        vm.prank(freezer);
        token.freeze(address(0), ORDER);
        bytes32 role = token.FREEZER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        token.freeze(stranger, ORDER);
    }

    // ------------------------------------------------------------------ ERC-3009

    function test_TransferWithAuthorizationMovesOnceAndAnyoneSubmits() public {
        uint256 before_ = block.timestamp + 60;
        bytes memory sig = _signTransfer(payerKey, payer, stranger, 5 * ONE_M3E, 0, before_, NONCE);
        vm.expectEmit(true, true, false, false, address(token));
        emit IDistrictToken.AuthorizationUsed(payer, NONCE);
        vm.prank(bakery);
        token.transferWithAuthorization(payer, stranger, 5 * ONE_M3E, 0, before_, NONCE, sig);
        assertEq(token.balanceOf(stranger), 5 * ONE_M3E, "moved");
        assertTrue(token.authorizationState(payer, NONCE), "used");
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenAuthorizationUsedOrCanceled.selector, payer, NONCE)
        );
        token.transferWithAuthorization(payer, stranger, 5 * ONE_M3E, 0, before_, NONCE, sig);
    }

    function test_ReceiveWithAuthorizationOnlyByThePayee() public {
        uint256 before_ = block.timestamp + 60;
        bytes memory sig = _signReceive(payerKey, payer, stranger, ONE_M3E, 0, before_, NONCE);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenCallerNotPayee.selector, bakery, stranger));
        vm.prank(bakery);
        token.receiveWithAuthorization(payer, stranger, ONE_M3E, 0, before_, NONCE, sig);
        vm.prank(stranger);
        token.receiveWithAuthorization(payer, stranger, ONE_M3E, 0, before_, NONCE, sig);
        assertEq(token.balanceOf(stranger), ONE_M3E, "received");
    }

    function test_AReceiveSignatureIsNoTransferSignature() public {
        uint256 before_ = block.timestamp + 60;
        bytes memory sig = _signReceive(payerKey, payer, stranger, ONE_M3E, 0, before_, NONCE);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        token.transferWithAuthorization(payer, stranger, ONE_M3E, 0, before_, NONCE, sig);
    }

    function test_CancelAuthorizationNeedsTheSignerAndWorksWhilePaused() public {
        (, uint256 otherKey) = _account("other");
        bytes memory forged = _signCancel(otherKey, payer, NONCE);
        bytes memory genuine = _signCancel(payerKey, payer, NONCE);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        token.cancelAuthorization(payer, NONCE, forged);
        vm.prank(pauser);
        token.pause();
        vm.expectEmit(true, true, false, false, address(token));
        emit IDistrictToken.AuthorizationCanceled(payer, NONCE);
        token.cancelAuthorization(payer, NONCE, genuine);
        assertTrue(token.authorizationState(payer, NONCE), "cancelled");
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenAuthorizationUsedOrCanceled.selector, payer, NONCE)
        );
        token.cancelAuthorization(payer, NONCE, genuine);
    }

    function test_AuthorizationsStopWhilePaused() public {
        bytes memory sig = _signTransfer(payerKey, payer, stranger, ONE_M3E, 0, block.timestamp + 60, NONCE);
        vm.prank(pauser);
        token.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.transferWithAuthorization(payer, stranger, ONE_M3E, 0, block.timestamp + 60, NONCE, sig);
        assertFalse(token.authorizationState(payer, NONCE), "still unused");
    }

    // ------------------------------------------------------------------ rescue

    function test_RescueReturnsTokensSentToTheTokenByMistake() public {
        vm.prank(payer);
        token.transfer(address(token), 3 * ONE_M3E);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenRescueAboveBalance.selector, address(token), 3 * ONE_M3E + 1, 3 * ONE_M3E
            )
        );
        vm.prank(admin);
        token.rescue(address(token), payer, 3 * ONE_M3E + 1);
        uint256 before = token.balanceOf(payer);
        vm.expectEmit(true, true, false, true, address(token));
        emit IDistrictToken.TokensRescued(address(token), payer, 3 * ONE_M3E);
        vm.prank(admin);
        token.rescue(address(token), payer, 3 * ONE_M3E);
        assertEq(token.balanceOf(payer), before + 3 * ONE_M3E, "back to the sender");
        bytes32 role = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, pauser, role));
        vm.prank(pauser);
        token.rescue(address(token), pauser, 1);
        vm.startPrank(admin);
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        token.rescue(address(token), address(0), 1);
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAmount.selector);
        token.rescue(address(token), payer, 0);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ retire and carry over

    function _successor() internal returns (DistrictToken next) {
        next = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, address(token));
    }

    function test_RetireThenCarryOverMovesEveryBalanceAndTheWholeReserve() public {
        vm.prank(payer);
        token.transfer(bakery, 100 * ONE_M3E);
        uint256 supply = token.totalSupply();
        uint256 reserve_ = token.reserve();
        DistrictToken next = _successor();
        assertEq(next.predecessor(), address(token), "predecessor");

        address[] memory holders = new address[](2);
        holders[0] = payer;
        holders[1] = bakery;
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenPredecessorNotRetired.selector, address(token), address(0)
            )
        );
        next.carryOver(holders);

        vm.expectEmit(true, false, false, true, address(token));
        emit IDistrictToken.Retired(address(next), supply, reserve_);
        vm.prank(admin);
        token.retire(address(next));
        assertEq(token.successor(), address(next), "successor");

        bytes memory retired = abi.encodeWithSelector(IDistrictToken.DistrictTokenIsRetired.selector, address(next));
        vm.expectRevert(retired);
        vm.prank(payer);
        token.transfer(stranger, 1);
        vm.expectRevert(retired);
        vm.prank(treasurer);
        token.recordDeposit(REF, stranger, 1);
        vm.expectRevert(retired);
        vm.prank(payer);
        token.approve(stranger, 1);
        assertTrue(token.paused(), "a retired token is paused");
        vm.expectRevert(retired); // and nobody lifts that pause
        vm.prank(pauser);
        token.unpause();
        vm.expectRevert(retired);
        vm.prank(pauser);
        token.pause();

        vm.prank(stranger); // anyone may carry balances over
        next.carryOver(holders);
        assertEq(next.reserve(), reserve_, "the whole reserve came over");
        assertEq(next.balanceOf(payer), token.balanceOf(payer), "payer");
        assertEq(next.balanceOf(bakery), 100 * ONE_M3E, "merchant");
        assertEq(next.totalSupply(), supply, "supply");
        assertTrue(next.carriedOver(payer), "marked");
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAlreadyCarriedOver.selector, payer));
        next.carryOver(holders);
    }

    function test_RetireIsRefusedWhileThePaymentsContractHoldsDeposits() public {
        _approvePayments(payer, type(uint256).max);
        vm.prank(payer);
        uint256 id = payments.openBooking(bakeryId, 5 * ONE_M3E, uint64(block.timestamp + 1 days), REF);
        DistrictToken next = _successor();
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenEscrowNotEmpty.selector, address(payments), 5 * ONE_M3E
            )
        );
        vm.prank(admin);
        token.retire(address(next));
        vm.prank(bakery);
        payments.closeBooking(id, 0);
        vm.prank(admin);
        token.retire(address(next));
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenIsRetired.selector, address(next)));
        vm.prank(admin);
        token.retire(address(next));
    }

    function test_CarryOverNeedsAPredecessorAndRetireNeedsTheAdmin() public {
        address[] memory holders = new address[](0);
        vm.expectRevert(IDistrictToken.DistrictTokenNoPredecessor.selector);
        token.carryOver(holders);
        bytes32 role = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, pauser, role));
        vm.prank(pauser);
        token.retire(stranger);
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        vm.prank(admin);
        token.retire(address(0));
    }
}
