// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {DistrictToken} from "../DistrictToken.sol";
import {IDistrictToken} from "../interfaces/IDistrictToken.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

contract DistrictTokenTest is DistrictFixture {
    bytes32 internal constant REF = keccak256("VIR-2025-0001");

    // ------------------------------------------------------------------ deployment

    function test_DeploymentSetsMetadataFeeFundAndAdmin() public view {
        assertEq(token.name(), "Monnaie du 3e", "name");
        assertEq(token.symbol(), "M3E", "symbol");
        assertEq(token.decimals(), 6, "decimals");
        assertEq(token.redemptionFeeBps(), FEE_BPS, "fee");
        assertEq(token.commonsFund(), commons, "commons fund");
        assertEq(token.merchantDirectory(), address(payments), "directory");
        assertEq(token.defaultAdmin(), admin, "admin");
        assertEq(token.defaultAdminDelay(), ADMIN_DELAY, "admin delay");
        assertEq(token.MAX_FEE_BPS(), 1000, "fee cap");
        assertEq(token.TREASURER_ROLE(), keccak256("TREASURER_ROLE"), "treasurer role");
        assertEq(token.PAUSER_ROLE(), keccak256("PAUSER_ROLE"), "pauser role");
        assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), admin), "admin role");
        assertEq(token.redemptionCount(), 0, "no redemption yet");
    }

    function test_DeploymentRevertsOnZeroCommonsFund() public {
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, address(0), FEE_BPS, address(0));
    }

    function test_DeploymentRevertsOnFeeAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenFeeAboveCap.selector, 1001, 1000));
        new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, 1001, address(0));
    }

    function test_DeploymentRevertsOnZeroAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0))
        );
        new DistrictToken("Monnaie du 3e", "M3E", address(0), ADMIN_DELAY, commons, FEE_BPS, address(0));
    }

    // ------------------------------------------------------------------ deposits

    function test_RecordDepositMintsToBeneficiaryAndRaisesReserve() public {
        uint256 supplyBefore = token.totalSupply();
        uint256 reserveBefore = token.reserve();
        vm.expectEmit(true, true, false, true, address(token));
        emit IDistrictToken.DepositRecorded(REF, stranger, 25 * ONE_M3E, reserveBefore + 25 * ONE_M3E);
        vm.prank(treasurer);
        token.recordDeposit(REF, stranger, 25 * ONE_M3E);

        assertEq(token.balanceOf(stranger), 25 * ONE_M3E, "minted");
        assertEq(token.totalSupply(), supplyBefore + 25 * ONE_M3E, "supply");
        assertEq(token.reserve(), reserveBefore + 25 * ONE_M3E, "reserve");
        assertTrue(token.depositRecorded(REF), "recorded");
    }

    function test_RecordDepositRevertsWhenBankRefAlreadyMinted() public {
        vm.startPrank(treasurer);
        token.recordDeposit(REF, stranger, ONE_M3E);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenDepositAlreadyRecorded.selector, REF));
        token.recordDeposit(REF, payer, 2 * ONE_M3E);
        vm.stopPrank();
    }

    function test_RecordDepositRevertsForNonTreasurer() public {
        bytes32 role = token.TREASURER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role)
        );
        vm.prank(admin);
        token.recordDeposit(REF, stranger, ONE_M3E);
    }

    function test_RecordDepositRevertsOnZeroAmount() public {
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAmount.selector);
        vm.prank(treasurer);
        token.recordDeposit(REF, stranger, 0);
    }

    function test_RecordDepositRevertsOnZeroBeneficiary() public {
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        vm.prank(treasurer);
        token.recordDeposit(REF, address(0), ONE_M3E);
    }

    function test_RecordDepositRevertsWhilePaused() public {
        vm.prank(pauser);
        token.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(treasurer);
        token.recordDeposit(REF, stranger, ONE_M3E);
    }

    function test_RecordDepositRevertsWhenSupplyWouldExceedReserve() public {
        // Corrupt the reserve (as a faulty upgrade or storage bug would): the defensive check fires.
        uint256 reserve_ = token.reserve();
        bytes32 slot = _reserveSlot();
        vm.store(address(token), slot, bytes32(reserve_ - 1));
        uint256 supply = token.totalSupply();
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenSupplyAboveReserve.selector, supply + ONE_M3E, reserve_ - 1 + ONE_M3E
            )
        );
        vm.prank(treasurer);
        token.recordDeposit(REF, stranger, ONE_M3E);
    }

    // ------------------------------------------------------------------ redemptions

    function _fundBakery(uint256 amount) internal {
        vm.prank(payer);
        token.transfer(bakery, amount);
    }

    function test_RedeemBurnsNetOfFeePaysCommonsAndLowersReserve() public {
        _fundBakery(100 * ONE_M3E);
        uint256 supplyBefore = token.totalSupply();
        uint256 reserveBefore = token.reserve();
        uint256 fee = 3 * ONE_M3E; // 3 % of 100
        uint256 euros = 97 * ONE_M3E;

        vm.expectEmit(true, true, false, true, address(token));
        emit IDistrictToken.Redeemed(1, bakery, 100 * ONE_M3E, fee, euros, REF, reserveBefore - euros);
        vm.prank(bakery);
        uint256 id = token.redeem(100 * ONE_M3E, REF);

        assertEq(id, 1, "first redemption id");
        assertEq(token.redemptionCount(), 1, "count");
        assertEq(token.balanceOf(bakery), 0, "merchant balance");
        assertEq(token.balanceOf(commons), fee, "fee to commons");
        assertEq(token.totalSupply(), supplyBefore - euros, "supply");
        assertEq(token.reserve(), reserveBefore - euros, "reserve");
    }

    function test_RedeemIdsAreSequential() public {
        _fundBakery(10 * ONE_M3E);
        vm.startPrank(bakery);
        assertEq(token.redeem(ONE_M3E, REF), 1, "id 1");
        assertEq(token.redeem(ONE_M3E, REF), 2, "id 2");
        assertEq(token.redeem(ONE_M3E, REF), 3, "id 3");
        vm.stopPrank();
        assertEq(token.redemptionCount(), 3, "count");
    }

    /// @dev Finding 4: the fee rounded down, so at 300 bps 33 micro-M3E or less paid nothing.
    function test_RedeemRoundsTheFeeUp() public {
        _fundBakery(133);
        vm.startPrank(bakery);
        token.redeem(99, REF); // 99 * 300 / 10000 = 2.97 -> 3
        assertEq(token.balanceOf(commons), 3, "fee rounded up");
        token.redeem(33, REF); // 0.99 -> 1
        assertEq(token.balanceOf(commons), 4, "a small redemption pays a fee too");
        token.redeem(1, REF); // 0.03 -> 1: the whole micro-M3E is the fee
        vm.stopPrank();
        assertEq(token.balanceOf(commons), 5, "never nothing");
    }

    /// @dev Finding 4: there was no minimum redemption, though each one is a bank wire.
    function test_RedeemRevertsBelowTheMinimum() public {
        vm.prank(admin);
        token.setMinRedemption(10 * ONE_M3E);
        _fundBakery(20 * ONE_M3E);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenRedemptionBelowMinimum.selector, 10 * ONE_M3E - 1, 10 * ONE_M3E
            )
        );
        vm.prank(bakery);
        token.redeem(10 * ONE_M3E - 1, REF);
        vm.prank(bakery);
        token.redeem(10 * ONE_M3E, REF);
    }

    function test_TheDefaultMinimumIsTenM3EAndTheCapHolds() public {
        DistrictToken fresh =
            new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, address(0));
        assertEq(fresh.minRedemption(), 10 * ONE_M3E, "default");
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenMinRedemptionAboveCap.selector, 1_000 * ONE_M3E + 1, 1_000 * ONE_M3E
            )
        );
        vm.prank(admin);
        token.setMinRedemption(1_000 * ONE_M3E + 1);
        vm.expectEmit(false, false, false, true, address(token));
        emit IDistrictToken.MinRedemptionChanged(1, 1_000 * ONE_M3E);
        vm.prank(admin);
        token.setMinRedemption(1_000 * ONE_M3E);
        bytes32 role = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, treasurer, role)
        );
        vm.prank(treasurer);
        token.setMinRedemption(0);
    }

    /// @dev Audit: the commons fund, registered as a merchant to convert the fees it collected,
    /// paid a "fee" to itself: the tokens never moved, the event reported fee income that did not
    /// exist, and the fund could never convert its whole balance. It now pays no fee.
    function test_TheCommonsFundRedeemsWithoutPayingAFeeToItself() public {
        _register("Fonds commun du 3e", IServicePayments.Category.Other, commons);
        vm.prank(payer);
        token.transfer(commons, 100 * ONE_M3E);
        uint256 reserveBefore = token.reserve();
        vm.expectEmit(true, true, false, true, address(token));
        emit IDistrictToken.Redeemed(1, commons, 100 * ONE_M3E, 0, 100 * ONE_M3E, REF, reserveBefore - 100 * ONE_M3E);
        vm.prank(commons);
        token.redeem(100 * ONE_M3E, REF);
        assertEq(token.balanceOf(commons), 0, "the whole balance converted");
        assertEq(token.reserve(), reserveBefore - 100 * ONE_M3E, "reserve");
        assertLe(token.totalSupply(), token.reserve(), "backed");
    }

    function test_RedeemWithZeroFeeBurnsEverything() public {
        vm.prank(admin);
        token.setRedemptionFee(0);
        _fundBakery(5 * ONE_M3E);
        uint256 reserveBefore = token.reserve();
        vm.prank(bakery);
        token.redeem(5 * ONE_M3E, REF);
        assertEq(token.balanceOf(commons), 0, "no fee");
        assertEq(token.reserve(), reserveBefore - 5 * ONE_M3E, "reserve");
    }

    function test_RedeemRevertsForNonMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenNotMerchant.selector, payer));
        vm.prank(payer);
        token.redeem(ONE_M3E, REF);
    }

    function test_RedeemRevertsForSuspendedMerchant() public {
        _fundBakery(ONE_M3E);
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, false);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenNotMerchant.selector, bakery));
        vm.prank(bakery);
        token.redeem(ONE_M3E, REF);
    }

    function test_RedeemRevertsOnZeroAmount() public {
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAmount.selector);
        vm.prank(bakery);
        token.redeem(0, REF);
    }

    function test_RedeemRevertsAboveBalance() public {
        _fundBakery(ONE_M3E);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, bakery, ONE_M3E, ONE_M3E + 1)
        );
        vm.prank(bakery);
        token.redeem(ONE_M3E + 1, REF);
    }

    function test_RedeemRevertsBeforeMerchantDirectoryIsSet() public {
        DistrictToken fresh = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, address(0));
        vm.expectRevert(IDistrictToken.DistrictTokenMerchantDirectoryNotSet.selector);
        vm.prank(bakery);
        fresh.redeem(10 * ONE_M3E, REF);
    }

    function test_RedeemRevertsWhilePaused() public {
        _fundBakery(ONE_M3E);
        vm.prank(pauser);
        token.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(bakery);
        token.redeem(ONE_M3E, REF);
    }

    function test_RedeemRevertsWhenSupplyWouldExceedReserve() public {
        _fundBakery(10 * ONE_M3E);
        uint256 reserve_ = token.reserve();
        bytes32 slot = _reserveSlot();
        vm.store(address(token), slot, bytes32(reserve_ - 1));
        uint256 euros = 10 * ONE_M3E - (10 * ONE_M3E * FEE_BPS + 9_999) / 10_000;
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenSupplyAboveReserve.selector,
                token.totalSupply() - euros,
                reserve_ - 1 - euros
            )
        );
        vm.prank(bakery);
        token.redeem(10 * ONE_M3E, REF);
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_RedeemSplitsAmountIntoCeilingFeeAndBurnedEuros(uint256 amount, uint256 feeBps) public {
        feeBps = _bound(feeBps, 0, 1000);
        amount = _bound(amount, 1, 1_000 * ONE_M3E);
        vm.prank(admin);
        token.setRedemptionFee(feeBps);
        _fundBakery(amount);
        uint256 supplyBefore = token.totalSupply();
        uint256 reserveBefore = token.reserve();

        vm.prank(bakery);
        token.redeem(amount, REF);

        uint256 fee = token.balanceOf(commons);
        assertEq(fee, (amount * feeBps + 9_999) / 10_000, "fee is the ceiling");
        assertLe(amount * feeBps, fee * 10_000, "fee never rounds down");
        assertLe(fee * 10_000, amount * feeBps + 9_999, "by less than one unit");
        assertEq(supplyBefore - token.totalSupply(), amount - fee, "burned");
        assertEq(reserveBefore - token.reserve(), amount - fee, "reserve follows the burn");
        assertLe(token.totalSupply(), token.reserve(), "backed");
    }

    // ------------------------------------------------------------------ administration

    function test_SetRedemptionFeeChangesFeeUpToCap() public {
        vm.expectEmit(false, false, false, true, address(token));
        emit IDistrictToken.RedemptionFeeChanged(FEE_BPS, 1000);
        vm.prank(admin);
        token.setRedemptionFee(1000);
        assertEq(token.redemptionFeeBps(), 1000, "fee");
    }

    function test_SetRedemptionFeeRevertsAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenFeeAboveCap.selector, 1001, 1000));
        vm.prank(admin);
        token.setRedemptionFee(1001);
    }

    function test_SetRedemptionFeeRevertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, treasurer, bytes32(0))
        );
        vm.prank(treasurer);
        token.setRedemptionFee(100);
    }

    function test_SetCommonsFundMovesFutureFees() public {
        address fund = _makeAddr("new fund");
        vm.expectEmit(true, true, false, true, address(token));
        emit IDistrictToken.CommonsFundChanged(commons, fund);
        vm.prank(admin);
        token.setCommonsFund(fund);
        assertEq(token.commonsFund(), fund, "fund");

        _fundBakery(100 * ONE_M3E);
        vm.prank(bakery);
        token.redeem(100 * ONE_M3E, REF);
        assertEq(token.balanceOf(fund), 3 * ONE_M3E, "fee to the new fund");
    }

    function test_SetCommonsFundRevertsOnZeroAddress() public {
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        vm.prank(admin);
        token.setCommonsFund(address(0));
    }

    function test_SetCommonsFundRevertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, bytes32(0))
        );
        vm.prank(stranger);
        token.setCommonsFund(stranger);
    }

    function test_SetMerchantDirectoryWorksOnceOnly() public {
        DistrictToken fresh = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, address(0));
        vm.expectEmit(true, false, false, true, address(fresh));
        emit IDistrictToken.MerchantDirectorySet(address(payments));
        vm.startPrank(admin);
        fresh.setMerchantDirectory(address(payments));
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenMerchantDirectoryAlreadySet.selector, address(payments)
            )
        );
        fresh.setMerchantDirectory(stranger);
        vm.stopPrank();
        assertEq(fresh.merchantDirectory(), address(payments), "directory");
    }

    function test_SetMerchantDirectoryRevertsOnZeroAddress() public {
        DistrictToken fresh = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, address(0));
        vm.expectRevert(IDistrictToken.DistrictTokenZeroAddress.selector);
        vm.prank(admin);
        fresh.setMerchantDirectory(address(0));
    }

    function test_SetMerchantDirectoryRevertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, registrar, bytes32(0))
        );
        vm.prank(registrar);
        token.setMerchantDirectory(stranger);
    }

    // ------------------------------------------------------------------ pause

    function test_PauseBlocksTransfersAndUnpauseRestoresThem() public {
        vm.prank(pauser);
        token.pause();
        assertTrue(token.paused(), "paused");
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        token.transfer(stranger, ONE_M3E);

        vm.prank(pauser);
        token.unpause();
        vm.prank(payer);
        token.transfer(stranger, ONE_M3E);
        assertEq(token.balanceOf(stranger), ONE_M3E, "transfer after unpause");
    }

    function test_PauseRevertsForNonPauser() public {
        bytes32 role = token.PAUSER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        token.pause();
    }

    function test_UnpauseRevertsForNonPauser() public {
        vm.prank(pauser);
        token.pause();
        bytes32 role = token.PAUSER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        token.unpause();
    }

    function test_UnpauseRevertsWhenNotPaused() public {
        vm.expectRevert(Pausable.ExpectedPause.selector);
        vm.prank(pauser);
        token.unpause();
    }

    // ------------------------------------------------------------------ permit (EIP-2612)

    /// @dev Finding 5: permit and approve worked while paused.
    function test_ApproveAndPermitRevertWhilePaused() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(payerKey, payer, 7 * ONE_M3E, 0, deadline);
        vm.prank(pauser);
        token.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.permit(payer, address(payments), 7 * ONE_M3E, deadline, v, r, s);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        token.approve(stranger, ONE_M3E);
        assertEq(token.allowance(payer, address(payments)), 0, "no allowance");
        assertEq(token.nonces(payer), 0, "nonce not spent");
    }

    function test_PermitSetsAllowanceAndSpendsTheNonce() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(payerKey, payer, 7 * ONE_M3E, 0, deadline);
        token.permit(payer, address(payments), 7 * ONE_M3E, deadline, v, r, s);
        assertEq(token.allowance(payer, address(payments)), 7 * ONE_M3E, "allowance");
        assertEq(token.nonces(payer), 1, "nonce spent");
    }

    function test_PermitRevertsAfterDeadline() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(payerKey, payer, ONE_M3E, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(payer, address(payments), ONE_M3E, deadline, v, r, s);
    }

    function test_PermitRevertsWhenSignedByAnotherKey() public {
        (address other, uint256 otherKey) = _account("other");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(otherKey, payer, ONE_M3E, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, other, payer));
        token.permit(payer, address(payments), ONE_M3E, deadline, v, r, s);
    }

    function test_PermitDomainIsTheTokenNameVersionOneAndDistrictChain() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = token.eip712Domain();
        assertEq(name, "Monnaie du 3e", "domain name");
        assertEq(version, "1", "domain version");
        assertEq(chainId, block.chainid, "chain id");
        assertEq(verifying, address(token), "verifying contract");
    }

    // ------------------------------------------------------------------ two-step admin transfer

    function test_AdminTransferTakesTwoStepsAndTheDelay() public {
        address newAdmin = _makeAddr("new admin");
        vm.prank(admin);
        token.beginDefaultAdminTransfer(newAdmin);
        (address pending, uint48 schedule) = token.pendingDefaultAdmin();
        assertEq(pending, newAdmin, "pending admin");
        assertEq(schedule, block.timestamp + ADMIN_DELAY, "schedule");

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule)
        );
        vm.prank(newAdmin);
        token.acceptDefaultAdminTransfer();

        vm.warp(uint256(schedule) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, stranger)
        );
        vm.prank(stranger);
        token.acceptDefaultAdminTransfer();

        vm.prank(newAdmin);
        token.acceptDefaultAdminTransfer();
        assertEq(token.defaultAdmin(), newAdmin, "new admin");
        assertFalse(token.hasRole(bytes32(0), admin), "old admin lost the role");
    }

    function test_AdminRoleCannotBeGrantedDirectly() public {
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        token.grantRole(bytes32(0), stranger);
    }

    // ------------------------------------------------------------------ supply and reserve

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_DepositsAndTransfersKeepSupplyWithinReserve(uint96 a, uint96 b, uint96 moved) public {
        vm.assume(a > 0 && b > 0);
        _deposit(stranger, a);
        _deposit(bakery, b);
        uint256 m = _bound(moved, 0, a);
        vm.prank(stranger);
        token.transfer(bakery, m);
        assertEq(token.totalSupply(), token.reserve(), "no redemption yet: supply equals reserve");
        assertEq(token.balanceOf(stranger) + token.balanceOf(bakery) + token.balanceOf(payer), token.totalSupply(), "sum");
    }

    function test_MerchantRegisteredInServicePaymentsIsTheOneThatRedeems() public {
        address parking = _makeAddr("parking");
        _register("Parking Part-Dieu", IServicePayments.Category.Parking, parking);
        vm.prank(payer);
        token.transfer(parking, 10 * ONE_M3E);
        vm.prank(parking);
        token.redeem(10 * ONE_M3E, REF);
        assertEq(token.balanceOf(parking), 0, "redeemed");
    }
}