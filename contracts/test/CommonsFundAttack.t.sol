// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {CommonsFund} from "../CommonsFund.sol";
import {EnergySettlement} from "../EnergySettlement.sol";
import {IEnergySettlement} from "../interfaces/IEnergySettlement.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";
import {SettlementLines} from "./utils/SettlementLines.sol";

/// @notice Attacks on the commons fund through the energy settlement. The promise: the fund pays
/// only the discount of eligible households, and no single key spends its money.
contract CommonsFundAttackTest is DistrictFixture {
    uint256 internal constant OP = 1;
    uint32 internal constant TARIFF_DAY = 20250616;
    uint256 internal constant AFTER_DAY = 1_750_550_400; // 2025-06-22 00:00 UTC
    uint128 internal constant BUDGET = 10_000_000;

    EnergySettlement internal settlement;
    CommonsFund internal fund;
    address internal council;
    address internal oracle;
    address internal accomplice;

    function setUp() public override {
        super.setUp();
        council = _makeAddr("council");
        oracle = _makeAddr("oracle");
        accomplice = _makeAddr("accomplice");
        address tariff = _makeAddr("tariff");
        settlement = new EnergySettlement(address(token), admin, ADMIN_DELAY);
        fund = new CommonsFund(address(token), council, ADMIN_DELAY);
        vm.startPrank(admin);
        settlement.grantRole(settlement.ORACLE_ROLE(), oracle);
        settlement.grantRole(settlement.TARIFF_ROLE(), tariff);
        vm.stopPrank();
        vm.prank(tariff);
        settlement.setTariff(OP, TARIFF_DAY, 80_000, 100_000, 60_000);
        _deposit(stranger, 100 * ONE_M3E);
        vm.startPrank(stranger);
        token.approve(address(fund), 100 * ONE_M3E);
        fund.contribute(100 * ONE_M3E, "GIFT");
        vm.stopPrank();
        vm.startPrank(council);
        uint256 programmeId = fund.openProgramme("Social energy price", address(settlement), BUDGET);
        fund.grantSettlement(programmeId, address(settlement), OP);
        vm.stopPrank();
        vm.warp(AFTER_DAY);
    }

    /// @dev The settlement proves only that the oracle committed a line, not that a fund line
    /// matches an eligible household's discount: the oracle key alone commits a day where the fund
    /// "pays" an address that bought nothing. The fund's line of a day is pulled only within what
    /// the social service approved for that committed root, so the batch reverts and nothing moves.
    function test_Attack_TheOracleAloneCannotMakeTheFundPayANonEligibleAddress() public {
        IEnergySettlement.MemberTransfer[] memory t = new IEnergySettlement.MemberTransfer[](2);
        t[0] = IEnergySettlement.MemberTransfer({member: address(fund), amount: int256(uint256(BUDGET))});
        t[1] = IEnergySettlement.MemberTransfer({member: accomplice, amount: -int256(uint256(BUDGET))});
        bytes32[] memory leaves = SettlementLines.leaves(t, 2, keccak256("no energy was sold"));
        IEnergySettlement.Totals memory totals = IEnergySettlement.Totals({
            producedWh: 0, consumedWh: 0, allocatedWh: 0, surplusWh: 0, amount: BUDGET, transfers: 2
        });
        vm.startPrank(oracle);
        settlement.commitDay(OP, 20250620, 1, SettlementLines.root(leaves), totals, 2);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementDayNotApproved.selector, OP, address(fund), 20250620, 1, BUDGET, 0
            )
        );
        settlement.pay(OP, 20250620, 1, 0, SettlementLines.slice(t, 2, 0), SettlementLines.proof(leaves, 0));
        // Nor does the oracle turn the refused line into a debt it then collects.
        vm.expectRevert(
            abi.encodeWithSelector(IEnergySettlement.EnergySettlementNothingOwed.selector, OP, address(fund), 0)
        );
        settlement.collect(OP, address(fund));
        vm.stopPrank();
        assertEq(token.balanceOf(accomplice), 0, "the fund paid an address that is not eligible");
        assertEq(token.balanceOf(address(fund)), 100 * ONE_M3E, "the fund kept its money");
    }

    /// @dev An approval binds the root that was committed and the amount: an approval of an honest
    /// root covers neither a later version nor more than approved, and only the social service
    /// gives it.
    function test_Attack_AnApprovalCoversOnlyItsCommittedRootAndAmountAndOnlyTheSocialServiceGivesIt() public {
        address socialService = _makeAddr("social service");
        bytes32 socialServiceRole = fund.SOCIAL_SERVICE_ROLE();
        vm.prank(council);
        fund.grantRole(socialServiceRole, socialService);
        IEnergySettlement.MemberTransfer[] memory t = new IEnergySettlement.MemberTransfer[](2);
        t[0] = IEnergySettlement.MemberTransfer({member: address(fund), amount: int256(uint256(BUDGET))});
        t[1] = IEnergySettlement.MemberTransfer({member: accomplice, amount: -int256(uint256(BUDGET))});
        bytes32[] memory leaves = SettlementLines.leaves(t, 2, keccak256("no energy was sold"));
        bytes32 root = SettlementLines.root(leaves);
        IEnergySettlement.Totals memory totals = IEnergySettlement.Totals({
            producedWh: 0, consumedWh: 0, allocatedWh: 0, surplusWh: 0, amount: BUDGET, transfers: 2
        });

        // Before the commit there is no root to approve; the oracle cannot approve for the fund.
        vm.prank(socialService);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergySettlement.EnergySettlementRootMismatch.selector, OP, 20250620, 1, root)
        );
        fund.approveSettlementDay(20250620, 1, root, BUDGET);
        vm.startPrank(oracle);
        settlement.commitDay(OP, 20250620, 1, root, totals, 2);
        vm.expectRevert();
        fund.approveSettlementDay(20250620, 1, root, BUDGET);
        // An approval the oracle gives in its own name binds nobody but itself.
        settlement.approveDay(OP, 20250620, 1, root, BUDGET);
        vm.stopPrank();
        assertEq(settlement.dayApproval(OP, address(fund), 20250620, 1), 0, "nothing approved for the fund");

        // The social service approves less than the line: still refused, nothing moves.
        vm.prank(socialService);
        fund.approveSettlementDay(20250620, 1, root, BUDGET - 1);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementDayNotApproved.selector,
                OP, address(fund), 20250620, 1, BUDGET, BUDGET - 1
            )
        );
        settlement.pay(OP, 20250620, 1, 0, SettlementLines.slice(t, 2, 0), SettlementLines.proof(leaves, 0));
        assertEq(token.balanceOf(accomplice), 0, "nothing paid below the line");
    }
}
