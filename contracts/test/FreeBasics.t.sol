// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {CommonsFund} from "../CommonsFund.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @notice Free basics: a shared service's free tier is paid to the merchant by the commons fund,
/// within the programme's month and the tier's uses a month; beyond it the resident pays.
contract FreeBasicsTest is DistrictFixture {
    uint256 internal constant JUNE_15 = 1_749_945_600; // 2025-06-15T00:00:00Z
    uint256 internal constant JULY_1 = 1_751_328_000;
    uint32 internal constant JUNE_2025 = 2025 * 12 + 5;
    uint128 internal constant HOUR = 4 * 1e6; // the first co-working hour: 4 M3E
    uint128 internal constant BUDGET = 10 * 1e6;
    bytes32 internal constant REF = "DESK-1";

    CommonsFund internal fund;
    address internal council;
    address internal ruche; // co-working payout
    uint256 internal rucheId;
    uint256 internal programmeId;

    function setUp() public override {
        super.setUp();
        council = _makeAddr("council");
        ruche = _makeAddr("ruche");
        rucheId = _register("La Ruche", IServicePayments.Category.CoWorking, ruche);
        fund = new CommonsFund(address(token), council, ADMIN_DELAY);
        vm.prank(council);
        programmeId = fund.openProgramme("Free basics", address(payments), BUDGET);
        vm.prank(admin);
        payments.setFreeBasicsFund(address(fund), programmeId);
        vm.prank(registrar);
        payments.setFreeTier(rucheId, HOUR, 1);
        _give(100 * ONE_M3E);
        _approvePayments(payer, type(uint256).max);
        vm.warp(JUNE_15);
    }

    function _give(uint256 amount) internal {
        _deposit(stranger, amount);
        vm.prank(stranger);
        token.approve(address(fund), amount);
        vm.prank(stranger);
        fund.contribute(amount, "GIFT");
    }

    function test_TheFirstHourIsPaidByTheFundAndTheRestByTheResident() public {
        uint256 payerBefore = token.balanceOf(payer);
        assertEq(payments.fundCover(rucheId, payer, 10 * ONE_M3E), HOUR, "quote: the first hour");
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.FreeTierCovered(rucheId, payer, REF, 0, JUNE_2025, HOUR);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentMade(rucheId, payer, REF, 6 * ONE_M3E);
        vm.prank(payer);
        payments.pay(rucheId, 10 * ONE_M3E, REF);
        assertEq(token.balanceOf(ruche), 10 * ONE_M3E, "the merchant gets the full price");
        assertEq(payerBefore - token.balanceOf(payer), 6 * ONE_M3E, "the resident pays beyond the hour");
        assertEq(fund.spentIn(programmeId, JUNE_2025), HOUR, "the programme paid the hour");
        assertEq(payments.freeUsesIn(rucheId, payer, JUNE_2025), 1, "one free use counted");
        assertEq(fund.totalIn() - fund.totalOut(), token.balanceOf(address(fund)), "fund books");
    }

    function test_ASmallPaymentIsFreeAndStillRecorded() public {
        uint256 payerBefore = token.balanceOf(payer);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentMade(rucheId, payer, REF, 0);
        vm.prank(payer);
        payments.pay(rucheId, 3 * ONE_M3E, REF);
        assertEq(token.balanceOf(payer), payerBefore, "nothing paid by the resident");
        assertEq(token.balanceOf(ruche), 3 * ONE_M3E, "merchant paid by the fund");
    }

    function test_OneFreeUseAMonthThenTheNormalPriceThenFreeAgainNextMonth() public {
        vm.startPrank(payer);
        payments.pay(rucheId, HOUR, REF);
        assertEq(payments.fundCover(rucheId, payer, HOUR), 0, "quote: the month's use is taken");
        uint256 before = token.balanceOf(payer);
        payments.pay(rucheId, HOUR, "DESK-2");
        assertEq(before - token.balanceOf(payer), HOUR, "second use this month: full price");
        vm.warp(JULY_1);
        before = token.balanceOf(payer);
        payments.pay(rucheId, HOUR, "DESK-3");
        assertEq(token.balanceOf(payer), before, "July: free again");
        vm.stopPrank();
        assertEq(payments.freeUsesIn(rucheId, payer, JUNE_2025), 1, "June: one use");
        assertEq(payments.freeUsesIn(rucheId, payer, JUNE_2025 + 1), 1, "July: one use");
    }

    function test_WhenTheBudgetIsSpentTheResidentPaysTheNormalPriceAndNoUseIsCounted() public {
        // Two residents take 8 of the 10 M3E; the third gets the 2 left, the fourth nothing.
        address[4] memory residents =
            [_makeAddr("r1"), _makeAddr("r2"), _makeAddr("r3"), _makeAddr("r4")];
        uint256[4] memory covered = [uint256(HOUR), HOUR, 2 * ONE_M3E, 0];
        for (uint256 i = 0; i < 4; ++i) {
            _deposit(residents[i], 20 * ONE_M3E);
            _approvePayments(residents[i], type(uint256).max);
            assertEq(payments.fundCover(rucheId, residents[i], HOUR), covered[i], "quote");
            vm.prank(residents[i]);
            payments.pay(rucheId, HOUR, REF);
            assertEq(20 * ONE_M3E - token.balanceOf(residents[i]), HOUR - covered[i], "resident's part");
        }
        assertEq(fund.spentIn(programmeId, JUNE_2025), BUDGET, "exactly the budget");
        assertEq(fund.leftThisMonth(programmeId), 0, "nothing left");
        assertEq(payments.freeUsesIn(rucheId, residents[3], JUNE_2025), 0, "no free use counted at full price");
    }

    function test_AnEmptyFundPaysNothingAndThePaymentGoesThrough() public {
        CommonsFund empty = new CommonsFund(address(token), council, ADMIN_DELAY);
        vm.prank(council);
        uint256 id = empty.openProgramme("Free basics", address(payments), BUDGET);
        vm.prank(admin);
        payments.setFreeBasicsFund(address(empty), id);
        uint256 before = token.balanceOf(payer);
        vm.prank(payer);
        payments.pay(rucheId, HOUR, REF);
        assertEq(before - token.balanceOf(payer), HOUR, "full price");
    }

    function test_TheMerchantPayingItselfGetsNothingFromTheFund() public {
        _deposit(ruche, HOUR);
        _approvePayments(ruche, HOUR);
        assertEq(payments.fundCover(rucheId, ruche, HOUR), 0, "quote");
        vm.prank(ruche);
        payments.pay(rucheId, HOUR, REF);
        assertEq(fund.totalOut(), 0, "the fund paid nothing");
    }

    /// @dev The attack: a merchant refunds a free payment in full to a friendly payer, turning the
    /// fund's money into the payer's. Only the payer's own part may be refunded.
    function test_TheFundsPartCannotBeRefundedToThePayer() public {
        vm.prank(payer);
        payments.pay(rucheId, 10 * ONE_M3E, REF);
        assertEq(payments.netPaid(rucheId, payer), 6 * ONE_M3E, "refundable: the payer's part");
        vm.prank(ruche);
        token.approve(address(payments), type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsRefundAboveNetPaid.selector,
                rucheId, payer, 10 * ONE_M3E, 6 * ONE_M3E
            )
        );
        vm.prank(ruche);
        payments.refund(rucheId, payer, 10 * ONE_M3E, REF);
    }

    function test_ABookingsFreePartReturnsToThePayerFromTheDeposit() public {
        vm.prank(payer);
        uint256 bookingId = payments.openBooking(rucheId, 20 * ONE_M3E, uint64(block.timestamp + 1 days), REF);
        uint256 payerBefore = token.balanceOf(payer);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.FreeTierCovered(rucheId, payer, bytes32(0), bookingId, JUNE_2025, HOUR);
        vm.expectEmit(true, false, false, true, address(payments));
        emit IServicePayments.BookingClosed(bookingId, 10 * ONE_M3E, 14 * ONE_M3E);
        vm.prank(ruche);
        payments.closeBooking(bookingId, 10 * ONE_M3E);
        assertEq(token.balanceOf(ruche), 10 * ONE_M3E, "merchant charged in full");
        assertEq(token.balanceOf(payer) - payerBefore, 14 * ONE_M3E, "deposit minus the paid part back");
        assertEq(token.balanceOf(address(payments)), 0, "escrow empty");
        assertEq(payments.escrowed(), 0, "escrow books empty");
    }

    function test_ABookingClosedWithoutChargeUsesNoFreeUse() public {
        vm.prank(payer);
        uint256 bookingId = payments.openBooking(rucheId, 5 * ONE_M3E, uint64(block.timestamp + 1 days), REF);
        vm.prank(ruche);
        payments.closeBooking(bookingId, 0);
        assertEq(payments.freeUsesIn(rucheId, payer, JUNE_2025), 0, "no use");
        assertEq(fund.totalOut(), 0, "fund untouched");
    }

    function test_ASignedPaymentIsNeverCovered() public {
        uint256 amount = HOUR;
        bytes32 nonce = keccak256("n");
        uint256 validBefore = block.timestamp + 1 hours;
        bytes memory sig = _signPayment(payerKey, payer, rucheId, ruche, amount, REF, 0, validBefore, nonce);
        uint256 before = token.balanceOf(payer);
        payments.payWithAuthorization(payer, rucheId, amount, REF, 0, validBefore, nonce, sig);
        assertEq(before - token.balanceOf(payer), amount, "the signed amount, in full");
        assertEq(fund.totalOut(), 0, "fund untouched");
    }

    function test_OnlySharedServicesGetAFreeTier() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsNotASharedService.selector, bakeryId, IServicePayments.Category.Food
            )
        );
        vm.prank(registrar);
        payments.setFreeTier(bakeryId, HOUR, 1);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsBadFreeTier.selector, HOUR, 0));
        vm.prank(registrar);
        payments.setFreeTier(rucheId, HOUR, 0);
    }

    function test_OnlyTheRegistrarDeclaresAFreeTierAndOnlyTheAdminNamesTheFund() public {
        bytes32 registrarRole = payments.REGISTRAR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ruche, registrarRole)
        );
        vm.prank(ruche);
        payments.setFreeTier(rucheId, type(uint128).max, type(uint32).max);
        bytes32 adminRole = payments.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, registrar, adminRole)
        );
        vm.prank(registrar);
        payments.setFreeBasicsFund(address(fund), programmeId);
    }

    function test_TheFundMustLetThisContractSpendTheProgramme() public {
        vm.prank(council);
        uint256 other = fund.openProgramme("Other", stranger, BUDGET);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsNotFundSpender.selector, address(fund), other)
        );
        vm.prank(admin);
        payments.setFreeBasicsFund(address(fund), other);
    }

    function test_ACouncilThatClosesOrMovesTheProgrammeEndsTheCoverNotThePayments() public {
        vm.prank(council);
        fund.changeProgramme(programmeId, stranger, BUDGET, true);
        uint256 before = token.balanceOf(payer);
        vm.prank(payer);
        payments.pay(rucheId, HOUR, REF);
        assertEq(before - token.balanceOf(payer), HOUR, "moved: full price");
        vm.prank(council);
        fund.changeProgramme(programmeId, address(payments), BUDGET, false);
        before = token.balanceOf(payer);
        vm.prank(payer);
        payments.pay(rucheId, HOUR, "DESK-2");
        assertEq(before - token.balanceOf(payer), HOUR, "closed: full price");
    }
}
