// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {EnergySettlement} from "../EnergySettlement.sol";
import {IEnergySettlement} from "../interfaces/IEnergySettlement.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @dev The solidarity component of a tariff: a peak surcharge and an off-peak discount, each
/// keeping the consumer's price within the bounds, never retroactive, set by the operator only.
contract EnergySettlementSolidarityTest is DistrictFixture {
    uint256 internal constant OP = 1;
    uint256 internal constant AFTER_DAY = 1_750_550_400; // 2025-06-22 00:00 UTC
    uint32 internal constant NEXT = 20250701;

    EnergySettlement internal settlement;
    address internal operator;
    address internal oracle;

    function setUp() public override {
        super.setUp();
        operator = _makeAddr("operator");
        oracle = _makeAddr("oracle");
        settlement = new EnergySettlement(address(token), admin, ADMIN_DELAY);
        vm.startPrank(admin);
        settlement.grantRole(settlement.TARIFF_ROLE(), operator);
        settlement.grantRole(settlement.ORACLE_ROLE(), oracle);
        vm.stopPrank();
        vm.warp(AFTER_DAY);
    }

    function test_ASolidarityTariffIsStoredBesideItsPricesAndAnnounced() public {
        vm.prank(operator);
        vm.expectEmit(true, true, true, true, address(settlement));
        emit IEnergySettlement.EnergySettlementTariffSet(OP, 1, NEXT, 80_000, 100_000, 60_000);
        vm.expectEmit(true, true, true, true, address(settlement));
        emit IEnergySettlement.EnergySettlementTariffSolidaritySet(OP, 1, 20_000, 15_000);
        uint256 id = settlement.setTariffWithSolidarity(OP, NEXT, 80_000, 100_000, 60_000, 20_000, 15_000);
        assertEq(id, 1, "first id");
        (uint32 surcharge, uint32 discount) = settlement.tariffSolidarity(OP, id);
        assertEq(surcharge, 20_000, "surcharge");
        assertEq(discount, 15_000, "discount");
        // The schedule's prices are the producer's: unchanged by the component.
        (uint256 inForce, IEnergySettlement.Tariff memory t) = settlement.tariffAt(OP, NEXT);
        assertEq(inForce, 1, "in force");
        assertEq(t.peakPrice, 100_000, "peak price");
        assertEq(t.offPeakPrice, 60_000, "off-peak price");
    }

    function test_APlainTariffCarriesNoSolidarity() public {
        vm.startPrank(operator);
        settlement.setTariffWithSolidarity(OP, NEXT, 80_000, 100_000, 60_000, 20_000, 15_000);
        uint256 id = settlement.setTariff(OP, NEXT + 1, 80_000, 100_000, 60_000);
        vm.stopPrank();
        (uint32 surcharge, uint32 discount) = settlement.tariffSolidarity(OP, id);
        assertEq(surcharge, 0, "no surcharge after a plain schedule");
        assertEq(discount, 0, "no discount after a plain schedule");
        (surcharge,) = settlement.tariffSolidarity(OP, 99);
        assertEq(surcharge, 0, "unknown id");
    }

    function test_TheSurchargeStopsAtThePeakCeilingAndTheDiscountAtTheFloor() public {
        uint32 peakCeiling = settlement.DEFAULT_PEAK_CEILING();
        uint32 floor = settlement.DEFAULT_FLOOR();
        vm.startPrank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementSolidarityOutOfBounds.selector,
                IEnergySettlement.Band.Peak,
                uint32(100_000),
                peakCeiling - 100_000 + 1,
                peakCeiling
            )
        );
        settlement.setTariffWithSolidarity(OP, NEXT, 80_000, 100_000, 60_000, peakCeiling - 100_000 + 1, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementSolidarityOutOfBounds.selector,
                IEnergySettlement.Band.OffPeak,
                uint32(60_000),
                60_000 - floor + 1,
                floor
            )
        );
        settlement.setTariffWithSolidarity(OP, NEXT, 80_000, 100_000, 60_000, 0, 60_000 - floor + 1);
        // Exactly at the bounds is accepted, and nothing was stored by the refusals.
        uint256 id =
            settlement.setTariffWithSolidarity(OP, NEXT, 80_000, 100_000, 60_000, peakCeiling - 100_000, 60_000 - floor);
        vm.stopPrank();
        assertEq(id, 1, "the refused schedules left no id behind");
        assertEq(settlement.tariffCount(OP), 1, "one schedule");
    }

    /// @dev Any component: accepted exactly when the consumer's peak and off-peak prices stay in bounds.
    function testFuzz_AComponentIsAcceptedExactlyWithinTheBounds(
        uint32 peak,
        uint32 offPeak,
        uint32 surcharge,
        uint32 discount
    ) public {
        peak = uint32(_bound(peak, settlement.DEFAULT_FLOOR(), settlement.DEFAULT_PEAK_CEILING()));
        offPeak = uint32(_bound(offPeak, settlement.DEFAULT_FLOOR(), settlement.DEFAULT_OFF_PEAK_CEILING()));
        bool fits = uint256(peak) + surcharge <= settlement.DEFAULT_PEAK_CEILING()
            && uint256(offPeak) >= uint256(discount) + settlement.DEFAULT_FLOOR();
        vm.prank(operator);
        try settlement.setTariffWithSolidarity(OP, NEXT, 80_000, peak, offPeak, surcharge, discount) returns (uint256) {
            assertTrue(fits, "accepted out of bounds");
            (uint32 storedSurcharge, uint32 storedDiscount) = settlement.tariffSolidarity(OP, 1);
            assertEq(storedSurcharge, surcharge, "stored surcharge");
            assertEq(storedDiscount, discount, "stored discount");
        } catch (bytes memory reason) {
            assertFalse(fits, "refused within bounds");
            assertEq(bytes4(reason), IEnergySettlement.EnergySettlementSolidarityOutOfBounds.selector, "its error");
            assertEq(settlement.tariffCount(OP), 0, "nothing stored");
        }
    }

    function test_ASolidarityTariffIsNeverRetroactiveNorSetByOthers() public {
        vm.warp(AFTER_DAY - 7 days);
        vm.prank(operator);
        settlement.setTariff(OP, 20250616, 80_000, 100_000, 60_000);
        vm.warp(AFTER_DAY);
        IEnergySettlement.Totals memory none;
        vm.prank(oracle);
        settlement.commitDay(OP, 20250620, 1, keccak256("lines"), none, 0);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementTariffRetroactive.selector, OP, uint32(20250620), uint32(20250620)
            )
        );
        settlement.setTariffWithSolidarity(OP, 20250620, 80_000, 100_000, 60_000, 1_000, 1_000);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergySettlement.EnergySettlementTariffNotInFuture.selector,
                OP,
                uint32(20250622),
                AFTER_DAY - 2 hours,
                AFTER_DAY
            )
        );
        settlement.setTariffWithSolidarity(OP, 20250622, 80_000, 100_000, 60_000, 1_000, 1_000);
        bytes32 role = settlement.TARIFF_ROLE();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role));
        settlement.setTariffWithSolidarity(OP, NEXT, 80_000, 100_000, 60_000, 1_000, 1_000);
        (uint32 stored,) = settlement.tariffSolidarity(OP, 2);
        assertEq(stored, 0, "nothing stored");
    }
}
