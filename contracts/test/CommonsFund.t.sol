// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {CommonsFund} from "../CommonsFund.sol";
import {ICommonsFund} from "../interfaces/ICommonsFund.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @notice The commons fund: only the council opens and changes programmes, a programme's spender
/// pays within the month's budget, every inflow and outflow is an event, the books equal the
/// balance; the token's redemption fee lands in the fund.
contract CommonsFundTest is DistrictFixture {
    // 2025-06-15T00:00:00Z and the first second of July 2025 (UTC).
    uint256 internal constant JUNE_15 = 1_749_945_600;
    uint256 internal constant JULY_1 = 1_751_328_000;
    uint32 internal constant JUNE_2025 = 2025 * 12 + 5;
    uint128 internal constant BUDGET = 50_000_000; // 50 M3E a month
    bytes32 internal constant REF = keccak256("ref");

    CommonsFund internal fund;
    address internal council;
    address internal spender;
    address internal social;
    address internal merchant;
    uint256 internal programmeId;

    function setUp() public override {
        super.setUp();
        council = _makeAddr("council");
        spender = _makeAddr("spender");
        social = _makeAddr("social");
        merchant = _makeAddr("merchant");
        fund = new CommonsFund(address(token), council, ADMIN_DELAY);
        bytes32 socialRole = fund.SOCIAL_SERVICE_ROLE();
        vm.startPrank(council);
        fund.grantRole(socialRole, social);
        programmeId = fund.openProgramme("Free basics", spender, BUDGET);
        vm.stopPrank();
        vm.prank(admin);
        token.setCommonsFund(address(fund));
        vm.warp(JUNE_15);
    }

    function _give(uint256 amount) internal {
        _deposit(stranger, amount);
        vm.prank(stranger);
        token.approve(address(fund), amount);
        vm.prank(stranger);
        fund.contribute(amount, "GIFT");
    }

    function _assertBooksEqualBalance() internal view {
        assertEq(fund.totalIn() - fund.totalOut(), token.balanceOf(address(fund)), "in - out = balance");
    }

    // ------------------------------------------------------------------ calendar

    function test_MonthOfReadsTheUtcCalendar() public view {
        assertEq(fund.monthOf(0), 1970 * 12, "1970-01");
        assertEq(fund.monthOf(JUNE_15), JUNE_2025, "2025-06-15");
        assertEq(fund.monthOf(JULY_1 - 1), JUNE_2025, "2025-06-30T23:59:59Z is June");
        assertEq(fund.monthOf(JULY_1), JUNE_2025 + 1, "2025-07-01T00:00:00Z is July");
        assertEq(fund.monthOf(951_782_400), 2000 * 12 + 1, "2000-02-29 (a leap day)");
        assertEq(fund.monthOf(951_868_800), 2000 * 12 + 2, "2000-03-01");
        assertEq(fund.monthOf(4_107_542_399), 2100 * 12 + 1, "2100-02-28T23:59:59Z (no leap day)");
        assertEq(fund.monthOf(4_107_542_400), 2100 * 12 + 2, "2100-03-01");
        assertEq(fund.monthOf(1_767_225_599), 2025 * 12 + 11, "2025-12-31T23:59:59Z");
        assertEq(fund.monthOf(1_767_225_600), 2026 * 12, "2026-01-01");
    }

    // ------------------------------------------------------------------ council

    function test_OnlyTheCouncilOpensAProgramme() public {
        bytes32 adminRole = fund.DEFAULT_ADMIN_ROLE();
        address[4] memory outsiders = [spender, social, admin, stranger];
        for (uint256 i = 0; i < outsiders.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IAccessControl.AccessControlUnauthorizedAccount.selector, outsiders[i], adminRole
                )
            );
            vm.prank(outsiders[i]);
            fund.openProgramme("Mine", outsiders[i], type(uint128).max);
        }
        assertEq(fund.programmeCount(), 1, "still one programme");
    }

    function test_OnlyTheCouncilChangesAProgramme() public {
        bytes32 adminRole = fund.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, spender, adminRole)
        );
        vm.prank(spender);
        fund.changeProgramme(programmeId, spender, type(uint128).max, true);
        assertEq(fund.programme(programmeId).monthlyBudget, BUDGET, "budget unchanged");
    }

    function test_OpenProgrammeNumbersFromOneAndEmits() public {
        vm.expectEmit(true, true, false, true, address(fund));
        emit ICommonsFund.ProgrammeOpened(2, stranger, 7, "Social energy price");
        vm.prank(council);
        assertEq(fund.openProgramme("Social energy price", stranger, 7), 2, "second id");
        ICommonsFund.Programme memory p = fund.programme(2);
        assertEq(p.spender, stranger, "spender");
        assertEq(p.monthlyBudget, 7, "budget");
        assertTrue(p.active, "active");
    }

    function test_OpenProgrammeRefusesAnEmptyOrLongNameAndNoSpender() public {
        vm.startPrank(council);
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundBadName.selector, 0));
        fund.openProgramme("", spender, 1);
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundBadName.selector, 65));
        fund.openProgramme(string(new bytes(65)), spender, 1);
        vm.expectRevert(ICommonsFund.CommonsFundZeroAddress.selector);
        fund.openProgramme("x", address(0), 1);
        vm.stopPrank();
    }

    function test_UnknownProgrammeIsRefusedWithItsId() public {
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundUnknownProgramme.selector, 9));
        fund.programme(9);
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundUnknownProgramme.selector, 9));
        vm.prank(council);
        fund.changeProgramme(9, spender, 1, true);
    }

    /// @dev The council as a real TimelockController: a programme opens only once the delay has
    /// passed after a proposal, and nobody else can open one.
    function test_ACouncilTimelockOpensAProgrammeAfterItsDelay() public {
        address[] memory councillors = new address[](1);
        councillors[0] = council;
        TimelockController timelock = new TimelockController(2 days, councillors, councillors, address(0));
        CommonsFund governed = new CommonsFund(address(token), address(timelock), ADMIN_DELAY);
        bytes memory call = abi.encodeCall(CommonsFund.openProgramme, ("Social energy price", spender, BUDGET));
        vm.prank(council);
        timelock.schedule(address(governed), 0, call, bytes32(0), bytes32(0), 2 days);
        vm.expectRevert();
        vm.prank(council);
        timelock.execute(address(governed), 0, call, bytes32(0), bytes32(0));
        vm.warp(block.timestamp + 2 days);
        vm.prank(council);
        timelock.execute(address(governed), 0, call, bytes32(0), bytes32(0));
        assertEq(governed.programmeCount(), 1, "opened through the timelock");
        assertEq(governed.programme(1).spender, spender, "with the proposed spender");
    }

    // ------------------------------------------------------------------ spending

    function test_SpenderPaysWithinTheMonthAndEveryPaymentIsAnEvent() public {
        _give(200 * ONE_M3E);
        vm.expectEmit(true, true, true, true, address(fund));
        emit ICommonsFund.Disbursed(programmeId, JUNE_2025, merchant, 30 * ONE_M3E, REF);
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 30 * ONE_M3E, REF);
        assertEq(token.balanceOf(merchant), 30 * ONE_M3E, "merchant paid");
        assertEq(fund.spentIn(programmeId, JUNE_2025), 30 * ONE_M3E, "spent in June");
        assertEq(fund.leftThisMonth(programmeId), 20 * ONE_M3E, "left in June");
        _assertBooksEqualBalance();
    }

    function test_SpendingBeyondTheMonthsBudgetIsRefused() public {
        _give(200 * ONE_M3E);
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 40 * ONE_M3E, REF);
        vm.expectRevert(
            abi.encodeWithSelector(ICommonsFund.CommonsFundOverBudget.selector, programmeId, 10 * ONE_M3E + 1, 10 * ONE_M3E)
        );
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 10 * ONE_M3E + 1, REF);
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 10 * ONE_M3E, REF);
        assertEq(fund.leftThisMonth(programmeId), 0, "June spent");
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundOverBudget.selector, programmeId, 1, 0));
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 1, REF);
    }

    function test_TheBudgetComesBackOnTheFirstSecondOfTheNextUtcMonth() public {
        _give(200 * ONE_M3E);
        vm.prank(spender);
        fund.disburse(programmeId, merchant, BUDGET, REF);
        vm.warp(JULY_1 - 1);
        assertEq(fund.leftThisMonth(programmeId), 0, "still June");
        vm.warp(JULY_1);
        assertEq(fund.leftThisMonth(programmeId), BUDGET, "July's budget");
        vm.prank(spender);
        fund.disburse(programmeId, merchant, BUDGET, REF);
        assertEq(fund.spentIn(programmeId, JUNE_2025 + 1), BUDGET, "spent in July");
    }

    function test_OnlyTheProgrammesSpenderPays() public {
        _give(200 * ONE_M3E);
        address[3] memory others = [council, social, stranger];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(ICommonsFund.CommonsFundNotSpender.selector, programmeId, others[i])
            );
            vm.prank(others[i]);
            fund.disburse(programmeId, others[i], 1, REF);
        }
    }

    function test_AClosedProgrammePaysNothingUntilReopened() public {
        _give(200 * ONE_M3E);
        vm.prank(council);
        fund.changeProgramme(programmeId, spender, BUDGET, false);
        assertEq(fund.leftThisMonth(programmeId), 0, "nothing left while closed");
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundProgrammeClosed.selector, programmeId));
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 1, REF);
        vm.prank(council);
        fund.changeProgramme(programmeId, spender, BUDGET, true);
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 1, REF);
    }

    function test_ABudgetLoweredBelowWhatWasSpentLeavesNothingThisMonth() public {
        _give(200 * ONE_M3E);
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 30 * ONE_M3E, REF);
        vm.expectEmit(true, true, false, true, address(fund));
        emit ICommonsFund.ProgrammeChanged(programmeId, spender, uint128(20 * ONE_M3E), true);
        vm.prank(council);
        fund.changeProgramme(programmeId, spender, uint128(20 * ONE_M3E), true);
        assertEq(fund.leftThisMonth(programmeId), 0, "nothing left");
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundOverBudget.selector, programmeId, 1, 0));
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 1, REF);
    }

    function test_AReplacedSpenderNoLongerPays() public {
        _give(200 * ONE_M3E);
        vm.prank(council);
        fund.changeProgramme(programmeId, stranger, BUDGET, true);
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundNotSpender.selector, programmeId, spender));
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 1, REF);
    }

    function test_TheFundNeverPaysMoreThanItHolds() public {
        _give(10 * ONE_M3E);
        vm.expectRevert(
            abi.encodeWithSelector(ICommonsFund.CommonsFundInsufficientBalance.selector, 10 * ONE_M3E + 1, 10 * ONE_M3E)
        );
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 10 * ONE_M3E + 1, REF);
        assertEq(fund.spentIn(programmeId, JUNE_2025), 0, "nothing counted as spent");
    }

    function test_DisburseRefusesZeroAmountAndZeroRecipient() public {
        _give(10 * ONE_M3E);
        vm.startPrank(spender);
        vm.expectRevert(ICommonsFund.CommonsFundZeroAmount.selector);
        fund.disburse(programmeId, merchant, 0, REF);
        vm.expectRevert(ICommonsFund.CommonsFundZeroAddress.selector);
        fund.disburse(programmeId, address(0), 1, REF);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ inflows

    function test_ARedemptionFeeLandsInTheFundAndIsRecordedAsAnInflow() public {
        _deposit(bakery, 100 * ONE_M3E);
        vm.prank(bakery);
        token.redeem(100 * ONE_M3E, "WIRE-1");
        uint256 fee = 3 * ONE_M3E;
        assertEq(token.balanceOf(address(fund)), fee, "fee in the fund");
        vm.expectEmit(true, true, false, true, address(fund));
        emit ICommonsFund.Inflow(fund.SOURCE_REDEMPTION_FEES(), address(0), fee);
        assertEq(fund.recordReceived(), fee, "recorded");
        assertEq(fund.recordReceived(), 0, "recorded once");
        _assertBooksEqualBalance();
    }

    function test_ADisbursementRecordsTheFeesReceivedFirst() public {
        _deposit(bakery, 1_000 * ONE_M3E);
        vm.prank(bakery);
        token.redeem(1_000 * ONE_M3E, "WIRE-1");
        vm.prank(spender);
        fund.disburse(programmeId, merchant, 20 * ONE_M3E, REF);
        assertEq(fund.totalIn(), 30 * ONE_M3E, "the fee recorded");
        _assertBooksEqualBalance();
    }

    function test_ContributeRecordsItsSourceAndRefusesZeroOrNoSource() public {
        _deposit(stranger, 5 * ONE_M3E);
        vm.startPrank(stranger);
        token.approve(address(fund), 5 * ONE_M3E);
        vm.expectRevert(ICommonsFund.CommonsFundZeroAmount.selector);
        fund.contribute(0, "GIFT");
        vm.expectRevert(ICommonsFund.CommonsFundNoSource.selector);
        fund.contribute(1, bytes32(0));
        vm.expectEmit(true, true, false, true, address(fund));
        emit ICommonsFund.Inflow("SOLIDARITY_SURCHARGE", stranger, 5 * ONE_M3E);
        fund.contribute(5 * ONE_M3E, "SOLIDARITY_SURCHARGE");
        vm.stopPrank();
        _assertBooksEqualBalance();
    }

    // ------------------------------------------------------------------ eligibility

    function test_TheSocialServiceRecordsAnEligibilityThatExpires() public {
        address household = _makeAddr("household");
        uint64 until = uint64(JUNE_15 + 30 days);
        vm.expectEmit(true, false, false, true, address(fund));
        emit ICommonsFund.EligibilitySet(household, until);
        vm.prank(social);
        fund.setEligibility(household, until);
        assertTrue(fund.isEligible(household), "eligible");
        vm.warp(until - 1);
        assertTrue(fund.isEligible(household), "eligible until the last second");
        vm.warp(until);
        assertFalse(fund.isEligible(household), "expired");
    }

    function test_TheSocialServiceWithdrawsAnEligibility() public {
        address household = _makeAddr("household");
        vm.prank(social);
        fund.setEligibility(household, uint64(JUNE_15 + 30 days));
        vm.prank(social);
        fund.setEligibility(household, 0);
        assertFalse(fund.isEligible(household), "withdrawn");
    }

    function test_OnlyTheSocialServiceSetsEligibilityAndNeverInThePast() public {
        address household = _makeAddr("household");
        bytes32 role = fund.SOCIAL_SERVICE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, council, role)
        );
        vm.prank(council);
        fund.setEligibility(household, uint64(JUNE_15 + 1));
        vm.expectRevert(abi.encodeWithSelector(ICommonsFund.CommonsFundEligibilityInThePast.selector, uint64(JUNE_15)));
        vm.prank(social);
        fund.setEligibility(household, uint64(JUNE_15));
        vm.expectRevert(ICommonsFund.CommonsFundZeroAddress.selector);
        vm.prank(social);
        fund.setEligibility(address(0), uint64(JUNE_15 + 1));
    }

    function test_DeploymentRefusesAZeroToken() public {
        vm.expectRevert(ICommonsFund.CommonsFundZeroAddress.selector);
        new CommonsFund(address(0), council, ADMIN_DELAY);
    }
}
