// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../DistrictToken.sol";
import {EnergySettlement} from "../EnergySettlement.sol";
import {IEnergySettlement} from "../interfaces/IEnergySettlement.sol";
import {IDistrictToken} from "../interfaces/IDistrictToken.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @notice An outside review's confirmed problems. Each test asserts a PROMISED behaviour and so
/// FAILS on the contracts as they are; it passes once the problem is fixed.
contract AttackTest is DistrictFixture {
    bytes32 internal constant ORDER = keccak256("TJ Lyon 2026-999");
    bytes32 internal constant REF = keccak256("attack ref");

    function _freeze(DistrictToken t, address account) internal {
        vm.prank(freezer);
        t.freeze(account, ORDER);
    }

    function _successorOf(address predecessor_) internal returns (DistrictToken next) {
        next = new DistrictToken("Monnaie du 3e", "M3E", admin, ADMIN_DELAY, commons, FEE_BPS, predecessor_);
    }

    function _one(address a) internal pure returns (address[] memory holders) {
        holders = new address[](1);
        holders[0] = a;
    }

    // ------------------------------------------------------------------ freeze bypasses

    /// @dev Promise: a frozen account neither sends nor receives; `_approve` says "a frozen owner
    /// or spender is refused" for the allowance spent by transferFrom. OpenZeppelin's
    /// `_spendAllowance` skips `_approve` when the allowance is type(uint256).max, and `_update`
    /// checks only `from` and `to`: a frozen SPENDER holding an unlimited allowance keeps moving
    /// the owner's tokens. (With a finite allowance the same call is refused.)
    function test_AFrozenSpenderCannotSpendAnUnlimitedAllowance() public {
        vm.prank(payer);
        token.transfer(bakery, 10 * ONE_M3E);
        vm.prank(bakery);
        token.approve(stranger, 10 * ONE_M3E); // finite
        vm.prank(payer);
        token.approve(stranger, type(uint256).max); // unlimited
        _freeze(token, stranger);
        // Control: the finite allowance is refused, as promised...
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, stranger));
        vm.prank(stranger);
        token.transferFrom(bakery, commons, ONE_M3E);
        // ...the unlimited one is not.
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, stranger));
        vm.prank(stranger);
        token.transferFrom(payer, bakery, 100 * ONE_M3E);
    }

    /// @dev The same hole through the payments contract: once the payments contract is frozen,
    /// payers who gave it an unlimited allowance (what wallets do by default) still pay through
    /// it, while payers with a finite allowance are refused.
    function test_AFrozenPaymentsContractCannotPullAnUnlimitedAllowance() public {
        _approvePayments(payer, type(uint256).max);
        _freeze(token, address(payments));
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, address(payments)));
        vm.prank(payer);
        payments.pay(bakeryId, ONE_M3E, REF);
    }

    /// @dev Promise: a frozen account can neither send nor receive until the operator lifts the
    /// order. The freeze lives only in the retired token; `carryOver` (callable by anyone,
    /// including the frozen holder) mints the frozen balance in the successor to an account that
    /// is not frozen there: migration silently lifts every court / AML order. The README says
    /// freezes "are not carried (the operator sets them again)", but nothing makes the operator
    /// freeze in the successor BEFORE `retire`, and after it the frozen holder wins the race.
    /// Either the carry-over of a frozen holder must be refused, or the freeze must follow it.
    function test_CarryOverDoesNotLiftAFreezeOfThePredecessor() public {
        _freeze(token, payer);
        DistrictToken next = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(next));

        vm.prank(payer); // the frozen holder carries itself over
        try next.carryOver(_one(payer)) {
            assertTrue(next.balanceOf(payer) != 0, "carried");
            vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, payer));
            vm.prank(payer);
            next.transfer(stranger, next.balanceOf(payer));
        } catch {
            // Refusing to carry a frozen balance over also keeps the order.
        }
    }

    // ------------------------------------------------------------------ migration path

    /// @dev Promise: immutable contracts with a migration path (retire + carryOver). `retire`
    /// refuses while the payments contract holds ANY token, and `openBooking` accepts any expiry up
    /// to 2**64 - 1. A booking nobody closes (a merchant colluding with a second address, a
    /// merchant that lost its key, or a hostile one) holds the migration hostage for ever: the
    /// payer cannot reclaim before expiry, and neither the admin nor anyone else can release it.
    function test_AnUnclosedBookingCannotBlockTheMigrationForEver() public {
        _approvePayments(payer, type(uint256).max);
        vm.prank(payer);
        uint256 id = payments.openBooking(bakeryId, 1, type(uint64).max, REF);

        vm.warp(block.timestamp + 366 days); // a year later the merchant has still not closed it
        DistrictToken next = _successorOf(address(token));
        // Some path must release the deposit without the merchant: here, the payer's reclaim.
        vm.prank(payer);
        payments.reclaimBooking(id);
        vm.prank(admin);
        token.retire(address(next));
        assertEq(token.successor(), address(next), "retired");
    }

    /// @dev `retire` compares the payments contract's BALANCE to zero, not its open deposits
    /// (`escrowed()`): one micro-M3E sent to the payments contract by anyone blocks retirement
    /// although no booking is open. The admin can rescue it, but on a zero-gas chain anyone can
    /// send it again between the rescue and the retire (unless the admin batches both).
    function test_ADonationToThePaymentsContractDoesNotBlockRetirement() public {
        vm.prank(payer); // any holder
        token.transfer(address(payments), 1);
        assertEq(payments.escrowed(), 0, "no booking is open");

        DistrictToken next = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(next));
        assertEq(token.successor(), address(next), "retired");
    }

    /// @dev Promise: the migration carries the reserve and balances exactly once. Nothing stops a
    /// successor B from being retired (to C) before every holder of A was carried over into B: C
    /// takes B's whole reserve (which includes A's reserve), but an A holder not yet carried over
    /// can no longer reach B (retired, paused) nor C (its B balance is 0): the balance is lost
    /// while its euros sit in C's reserve. Either B refuses to retire while its carry-over is
    /// incomplete, or the balance must reach C.
    function test_ASuccessorRetiredBeforeItsCarryOverEndsDoesNotStrandBalances() public {
        vm.prank(payer);
        token.transfer(bakery, 100 * ONE_M3E);
        uint256 bakeryInA = token.balanceOf(bakery);

        DistrictToken b = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(b));
        b.carryOver(_one(payer)); // the bakery has not been carried over yet

        DistrictToken c = _successorOf(address(b));
        vm.prank(admin);
        try b.retire(address(c)) {
            address[] memory holders = new address[](2);
            holders[0] = payer;
            holders[1] = bakery;
            c.carryOver(holders);
            assertEq(c.balanceOf(bakery), bakeryInA, "the bakery's balance reached the last token");
            assertEq(c.totalSupply(), c.reserve(), "no euro without its token");
        } catch {
            // Refusing to retire an unfinished carry-over also keeps the promise.
        }
    }
    /// @dev Promise (IDistrictToken): "each bank reference mints once, ever". The record of used
    /// bank references lives only in the retired token; the successor starts empty, so a bank
    /// deposit already minted before the migration mints AGAIN after it (a ledger retry, a replayed
    /// job, or a hostile treasurer key within its allowance), and the reserve grows with it: one
    /// euro then backs two tokens while `supply <= reserve` still holds on paper.
    function test_ABankReferenceMintedBeforeTheMigrationCannotMintAgainAfterIt() public {
        bytes32 bankRef = _deposit(stranger, 50 * ONE_M3E);
        assertTrue(token.depositRecorded(bankRef), "recorded in the old token");

        DistrictToken next = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(next));
        address[] memory holders = new address[](3);
        holders[0] = payer;
        holders[1] = stranger;
        holders[2] = commons;
        next.carryOver(holders);
        bytes32 role = next.TREASURER_ROLE();
        vm.startPrank(admin);
        next.grantRole(role, treasurer);
        next.configureMinter(treasurer, TREASURER_ALLOWANCE, 0);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenDepositAlreadyRecorded.selector, bankRef));
        vm.prank(treasurer);
        next.recordDeposit(bankRef, stranger, 50 * ONE_M3E);
    }
}

/// @notice The same review, on the energy settlement: a freeze order on one resident.
contract AttackSettlementTest is DistrictFixture {
    uint256 internal constant OP = 1;
    uint32 internal constant DAY = 20250615;

    EnergySettlement internal settlement;
    address internal oracle;
    address internal producer;
    address internal producer2;
    address internal consumer;
    address internal consumer2;

    function setUp() public override {
        super.setUp();
        oracle = _makeAddr("oracle");
        producer = _makeAddr("producer");
        producer2 = _makeAddr("producer 2");
        consumer = _makeAddr("consumer");
        consumer2 = _makeAddr("consumer 2");
        settlement = new EnergySettlement(address(token), admin, ADMIN_DELAY);
        address operator = _makeAddr("operator");
        vm.startPrank(admin);
        settlement.grantRole(settlement.ORACLE_ROLE(), oracle);
        settlement.grantRole(settlement.TARIFF_ROLE(), operator);
        vm.stopPrank();
        vm.prank(operator);
        settlement.setTariff(OP, 20250601, 80_000, 100_000, 60_000);
        _deposit(consumer, 100 * ONE_M3E);
        _deposit(consumer2, 100 * ONE_M3E);
        vm.prank(consumer);
        token.approve(address(settlement), type(uint256).max);
        vm.prank(consumer2);
        token.approve(address(settlement), type(uint256).max);
    }

    /// @dev A freeze order on ONE producer (or consumer) after the oracle committed a day makes
    /// `_pull` revert with DistrictTokenAccountFrozen, which is neither of the two errors turned
    /// into a shortfall: the whole batch reverts, lines are paid strictly in order, and a
    /// correction cannot be committed while the version is open. Every other household of that
    /// operation and day stays unpaid for as long as the order lasts (court orders last months).
    /// Expected: the frozen line is reported (like a shortfall) and the batch goes on.
    function test_AFreezeOnOneResidentDoesNotStallTheWholeDaysSettlement() public {
        IEnergySettlement.Transfer[] memory t = new IEnergySettlement.Transfer[](2);
        t[0] = IEnergySettlement.Transfer({payer: consumer, payee: producer, amount: ONE_M3E});
        t[1] = IEnergySettlement.Transfer({payer: consumer2, payee: producer2, amount: 2 * ONE_M3E});
        bytes32 h;
        for (uint256 i = 0; i < t.length; ++i) h = keccak256(abi.encode(h, t[i].payer, t[i].payee, t[i].amount));
        IEnergySettlement.Totals memory totals = IEnergySettlement.Totals({
            producedWh: 1000,
            consumedWh: 1200,
            allocatedWh: 900,
            surplusWh: 100,
            amount: uint128(3 * ONE_M3E),
            transfers: 2
        });
        vm.prank(oracle);
        settlement.commitDay(OP, DAY, 1, keccak256("root"), totals, h);

        vm.prank(freezer);
        token.freeze(producer, keccak256("TJ Lyon 2026-777"));

        vm.prank(oracle);
        try settlement.pay(OP, DAY, 1, 0, t) {} catch {}
        assertEq(token.balanceOf(producer2), 2 * ONE_M3E, "the other household was paid");
        assertEq(token.balanceOf(producer), 0, "the frozen account received nothing");
    }
}
