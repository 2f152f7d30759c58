// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {CommonsFund} from "../CommonsFund.sol";
import {EnergySettlement} from "../EnergySettlement.sol";
import {ICommonsFund} from "../interfaces/ICommonsFund.sol";
import {IEnergySettlement} from "../interfaces/IEnergySettlement.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";
import {SettlementLines} from "./utils/SettlementLines.sol";

/// @notice The social energy price through the real settlement: the fund is a paying member whose
/// line is proven and pulled like any other, within the allowance the fund gives, which is what
/// is left of the programme's month; what was pulled becomes the programme's outflow.
contract CommonsFundSettlementTest is DistrictFixture {
    uint256 internal constant OP = 1;
    uint32 internal constant TARIFF_DAY = 20250616;
    uint256 internal constant AFTER_DAY = 1_750_550_400; // 2025-06-22 00:00 UTC
    uint256 internal constant JULY_1 = 1_751_328_000;
    uint32 internal constant JUNE_2025 = 2025 * 12 + 5;
    uint128 internal constant BUDGET = 10_000_000; // 10 M3E a month for the social price
    bytes32 internal constant OTHER_LINES = keccak256("the day's other lines");

    EnergySettlement internal settlement;
    CommonsFund internal fund;
    address internal council;
    address internal oracle;
    address internal producer;
    address internal household;
    address internal socialService;
    uint256 internal programmeId;

    function setUp() public override {
        super.setUp();
        council = _makeAddr("council");
        oracle = _makeAddr("oracle");
        producer = _makeAddr("producer");
        household = _makeAddr("household");
        socialService = _makeAddr("social service");
        address tariff = _makeAddr("tariff");
        settlement = new EnergySettlement(address(token), admin, ADMIN_DELAY);
        fund = new CommonsFund(address(token), council, ADMIN_DELAY);
        vm.startPrank(admin);
        settlement.grantRole(settlement.ORACLE_ROLE(), oracle);
        settlement.grantRole(settlement.TARIFF_ROLE(), tariff);
        vm.stopPrank();
        vm.prank(tariff);
        settlement.setTariff(OP, TARIFF_DAY, 80_000, 100_000, 60_000);

        _deposit(household, 100 * ONE_M3E);
        vm.startPrank(household);
        settlement.setMandate(OP, uint48(50 * ONE_M3E), uint48(500 * ONE_M3E));
        token.approve(address(settlement), 500 * ONE_M3E);
        vm.stopPrank();

        _deposit(stranger, 100 * ONE_M3E);
        vm.startPrank(stranger);
        token.approve(address(fund), 100 * ONE_M3E);
        fund.contribute(100 * ONE_M3E, "GIFT");
        vm.stopPrank();

        vm.startPrank(council);
        programmeId = fund.openProgramme("Social energy price", address(settlement), BUDGET);
        fund.grantSettlement(programmeId, address(settlement), OP);
        fund.grantRole(fund.SOCIAL_SERVICE_ROLE(), socialService);
        vm.stopPrank();
        vm.warp(AFTER_DAY);
    }

    function _line(address member, int256 amount) internal pure returns (IEnergySettlement.MemberTransfer memory) {
        return IEnergySettlement.MemberTransfer({member: member, amount: amount});
    }

    /// @dev The household pays `own` at the social price, the fund `subsidy`, the producer gets both.
    function _settleDay(uint32 day, uint256 own, uint256 subsidy) internal {
        _settleDay(day, own, subsidy, address(fund));
    }

    function _settleDay(uint32 day, uint256 own, uint256 subsidy, address payingFund) internal {
        IEnergySettlement.MemberTransfer[] memory t = new IEnergySettlement.MemberTransfer[](3);
        t[0] = _line(household, int256(own));
        t[1] = _line(payingFund, int256(subsidy));
        t[2] = _line(producer, -int256(own + subsidy));
        bytes32[] memory leaves = SettlementLines.leaves(t, 3, OTHER_LINES);
        IEnergySettlement.Totals memory totals = IEnergySettlement.Totals({
            producedWh: 1000, consumedWh: 1000, allocatedWh: 1000, surplusWh: 0,
            amount: uint128(own + subsidy), transfers: 3
        });
        vm.startPrank(oracle);
        settlement.commitDay(OP, day, 1, SettlementLines.root(leaves), totals, 3);
        vm.stopPrank();
        // The second key: the social service approves the fund's part of the committed day.
        vm.prank(socialService);
        CommonsFund(payingFund).approveSettlementDay(day, 1, SettlementLines.root(leaves), subsidy);
        vm.prank(oracle);
        settlement.pay(OP, day, 1, 0, SettlementLines.slice(t, 3, 0), SettlementLines.proof(leaves, 0));
    }

    function _assertBooksEqualBalance() internal view {
        assertEq(fund.totalIn() - fund.totalOut(), token.balanceOf(address(fund)), "in - out = balance");
    }

    function test_GrantingTheSettlementSetsAMandateAndAnAllowanceOfTheMonthLeft() public view {
        assertTrue(settlement.mandate(OP, address(fund)).active, "the fund is a member with a mandate");
        assertEq(token.allowance(address(fund), address(settlement)), BUDGET, "allowance = the month's budget");
        (address granted, uint256 id) = fund.settlementGrant();
        assertEq(granted, address(settlement), "settlement");
        assertEq(id, programmeId, "programme");
    }

    function test_TheFundsProvenLinePaysTheProducerTheDifferenceAndIsRecordedAsAnOutflow() public {
        _settleDay(20250620, 6 * ONE_M3E, 4 * ONE_M3E);
        assertEq(token.balanceOf(producer), 10 * ONE_M3E, "the producer gets the normal price");
        assertEq(token.balanceOf(household), 94 * ONE_M3E, "the household paid the social price");
        assertEq(token.balanceOf(address(fund)), 96 * ONE_M3E, "the fund paid the difference");

        vm.expectEmit(true, true, true, true, address(fund));
        emit ICommonsFund.Disbursed(programmeId, JUNE_2025, address(settlement), 4 * ONE_M3E, fund.REF_SETTLEMENT());
        assertEq(fund.refreshSettlementAllowance(), 6 * ONE_M3E, "what is left of June");
        assertEq(fund.spentIn(programmeId, JUNE_2025), 4 * ONE_M3E, "counted in June");
        _assertBooksEqualBalance();
    }

    function test_ALineBeyondTheMonthsBudgetIsNotPulledTheFundOwesIt() public {
        _settleDay(20250620, 6 * ONE_M3E, 4 * ONE_M3E);
        _settleDay(20250621, 1, 6 * ONE_M3E + 1); // one micro-M3E beyond what is left
        assertEq(token.balanceOf(address(fund)), 96 * ONE_M3E, "nothing more pulled");
        assertTrue(settlement.memberAccount(OP, address(fund)).owed == int256(6 * ONE_M3E + 1), "owed, not paid");
        fund.recordReceived();
        assertEq(fund.spentIn(programmeId, JUNE_2025), 4 * ONE_M3E, "June never beyond its budget");
        _assertBooksEqualBalance();
    }

    function test_AnOutflowOfTheProgrammeLowersWhatTheSettlementMayPull() public {
        vm.prank(council);
        fund.changeProgramme(programmeId, council, BUDGET, true); // the council pays 7 itself
        vm.prank(council);
        fund.disburse(programmeId, producer, 7 * ONE_M3E, "GRANT");
        assertEq(token.allowance(address(fund), address(settlement)), 3 * ONE_M3E, "3 left");
    }

    function test_ALoweredBudgetOrAClosedProgrammeLowersTheAllowanceAtOnce() public {
        vm.prank(council);
        fund.changeProgramme(programmeId, address(settlement), uint128(2 * ONE_M3E), true);
        assertEq(token.allowance(address(fund), address(settlement)), 2 * ONE_M3E, "lowered");
        vm.prank(council);
        fund.changeProgramme(programmeId, address(settlement), BUDGET, false);
        assertEq(token.allowance(address(fund), address(settlement)), 0, "closed");
    }

    function test_ANewMonthGivesTheWholeBudgetBackAfterARefresh() public {
        _settleDay(20250620, 1, BUDGET);
        assertEq(token.allowance(address(fund), address(settlement)), 0, "June spent");
        fund.recordReceived(); // the settlement service records right after each day's payment
        vm.warp(JULY_1);
        assertEq(fund.refreshSettlementAllowance(), BUDGET, "July's budget");
        assertEq(fund.spentIn(programmeId, JUNE_2025), BUDGET, "June's pull counted in June");
    }

    /// @dev A pull recorded only after the month changed counts in the month it is recorded: that
    /// month then has less to spend, never more than its budget.
    function test_APullRecordedLateCountsInTheMonthItIsRecorded() public {
        _settleDay(20250620, 1, 4 * ONE_M3E);
        vm.warp(JULY_1);
        assertEq(fund.refreshSettlementAllowance(), BUDGET - 4 * ONE_M3E, "July less June's late pull");
        assertEq(fund.spentIn(programmeId, JUNE_2025 + 1), 4 * ONE_M3E, "counted in July");
        _assertBooksEqualBalance();
    }

    /// @dev The settlement may pull tokens the fund holds but has not recorded yet (a fee just
    /// arrived): the fee is recorded as an inflow, the pull as an outflow, the books still balance.
    function test_APullOfFeesNotYetRecordedKeepsTheBooksExact() public {
        CommonsFund fresh = new CommonsFund(address(token), council, ADMIN_DELAY);
        vm.startPrank(council);
        uint256 id = fresh.openProgramme("Social energy price", address(settlement), BUDGET);
        fresh.grantSettlement(id, address(settlement), OP);
        fresh.grantRole(fresh.SOCIAL_SERVICE_ROLE(), socialService);
        vm.stopPrank();
        vm.prank(admin);
        token.setCommonsFund(address(fresh));
        _deposit(bakery, 100 * ONE_M3E);
        vm.prank(bakery);
        token.redeem(100 * ONE_M3E, "WIRE-1"); // 3 M3E of fee, not yet recorded
        _settleDay(20250620, 1, 2 * ONE_M3E, address(fresh));
        assertEq(fresh.recordReceived(), 3 * ONE_M3E, "the fee, whole");
        assertEq(fresh.totalOut(), 2 * ONE_M3E, "the pull");
        assertEq(fresh.totalIn() - fresh.totalOut(), token.balanceOf(address(fresh)), "in - out = balance");
    }

    function test_OnlyTheCouncilGrantsTheSettlement() public {
        bytes32 adminRole = fund.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, oracle, adminRole)
        );
        vm.prank(oracle);
        fund.grantSettlement(programmeId, oracle, OP);
    }

    function test_RefreshWithoutAGrantIsRefused() public {
        CommonsFund bare = new CommonsFund(address(token), council, ADMIN_DELAY);
        vm.expectRevert(ICommonsFund.CommonsFundNoSettlement.selector);
        bare.refreshSettlementAllowance();
    }

    // ------------------------------------------------------------------ peak pays for off-peak

    // When a day's surcharges pass the fund's discounts, the fund's member line is a credit. The
    // settlement holds it due to the fund; only the fund releases it, recording it under
    // SOLIDARITY_SURCHARGE, so nothing reaches the fund unannounced.

    /// @dev The household pays `own` plus `surcharge`; the producer gets `own`; the fund `surcharge`.
    function _settleCreditDay(uint32 day, uint256 own, uint256 surcharge) internal {
        IEnergySettlement.MemberTransfer[] memory t = new IEnergySettlement.MemberTransfer[](3);
        t[0] = _line(household, int256(own + surcharge));
        t[1] = _line(address(fund), -int256(surcharge));
        t[2] = _line(producer, -int256(own));
        bytes32[] memory leaves = SettlementLines.leaves(t, 3, OTHER_LINES);
        IEnergySettlement.Totals memory totals = IEnergySettlement.Totals({
            producedWh: 1000, consumedWh: 1000, allocatedWh: 1000, surplusWh: 0,
            amount: uint128(own + surcharge), transfers: 3
        });
        vm.startPrank(oracle);
        settlement.commitDay(OP, day, 1, SettlementLines.root(leaves), totals, 3);
        settlement.pay(OP, day, 1, 0, SettlementLines.slice(t, 3, 0), SettlementLines.proof(leaves, 0));
        vm.stopPrank();
    }

    function test_TheFundsCreditStaysDueUntilItsRecordNamesItASolidaritySurcharge() public {
        assertTrue(settlement.memberAccount(OP, address(fund)).holdsCredits, "granted: the fund holds its credits");
        uint256 held = token.balanceOf(address(fund));
        uint256 inBefore = fund.totalIn();
        _settleCreditDay(20250620, 3 * ONE_M3E, 400_000);
        assertEq(token.balanceOf(producer), 3 * ONE_M3E, "the producer is paid the tariff");
        assertEq(token.balanceOf(address(fund)), held, "nothing reached the fund unannounced");
        assertEq(uint256(-int256(settlement.memberAccount(OP, address(fund)).owed)), 400_000, "due to the fund");
        assertEq(settlement.pool(OP), 400_000, "the pool keeps it");

        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementReleaseByMemberOnly.selector, OP, address(fund)
            )
        );
        settlement.release(OP, address(fund));

        vm.expectEmit(true, true, false, true, address(fund));
        emit ICommonsFund.Inflow(fund.SOURCE_SOLIDARITY_SURCHARGE(), address(settlement), 400_000);
        vm.prank(stranger); // anyone may have the fund record it
        assertEq(fund.recordSettlementCredits(), 400_000, "recorded");
        assertEq(token.balanceOf(address(fund)), held + 400_000, "received");
        assertEq(fund.totalIn(), inBefore + 400_000, "an inflow");
        assertEq(settlement.pool(OP), 0, "the pool is square");
        assertTrue(settlement.memberAccount(OP, address(fund)).owed == 0, "nothing due");
        _assertBooksEqualBalance();
        assertEq(fund.recordSettlementCredits(), 0, "recorded once");
        assertEq(fund.recordReceived(), 0, "and never as a fee");
    }

    function test_APausedSettlementKeepsTheCreditDueAndTheFeesAreStillRecorded() public {
        _settleCreditDay(20250620, ONE_M3E, 250_000);
        _deposit(address(fund), 7); // a plain transfer: a redemption fee
        bytes32 role = settlement.PAUSER_ROLE();
        vm.prank(admin);
        settlement.grantRole(role, pauser);
        vm.prank(pauser);
        settlement.pause();
        assertEq(fund.recordReceived(), 7, "the fee, as a fee");
        assertEq(fund.recordSettlementCredits(), 0, "paused: nothing released");
        assertEq(uint256(-int256(settlement.memberAccount(OP, address(fund)).owed)), 250_000, "still due");
        vm.prank(pauser);
        settlement.unpause();
        assertEq(fund.recordSettlementCredits(), 250_000, "released once unpaused");
        _assertBooksEqualBalance();
    }

    function test_AnotherMembersCreditsArePaidAtOnceAsBefore() public {
        assertFalse(settlement.memberAccount(OP, producer).holdsCredits, "a producer does not hold them");
        _settleCreditDay(20250620, 2 * ONE_M3E, 100_000);
        assertEq(token.balanceOf(producer), 2 * ONE_M3E, "paid in the batch");
        assertTrue(settlement.memberAccount(OP, producer).owed == 0, "nothing left due");
    }

    function test_ANewGrantRecordsTheCreditsTheOldSettlementHeld() public {
        _settleCreditDay(20250620, ONE_M3E, 300_000);
        uint256 inBefore = fund.totalIn();
        EnergySettlement next = new EnergySettlement(address(token), admin, ADMIN_DELAY);
        vm.prank(council);
        fund.grantSettlement(programmeId, address(next), OP);
        assertEq(fund.totalIn(), inBefore + 300_000, "recorded before the grant moved");
        assertTrue(settlement.memberAccount(OP, address(fund)).owed == 0, "nothing left behind");
    }
}
