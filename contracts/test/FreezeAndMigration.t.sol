// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../DistrictToken.sol";
import {IDistrictToken} from "../interfaces/IDistrictToken.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @notice Freezes and the migration path (retire + carryOver) hold against an outside review's
/// attacks: each test was written as the attack first, failed, and passes since the fix.
contract FreezeAndMigrationTest is DistrictFixture {
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
    function test_AFrozenSpenderCannotSpendEvenAnUnlimitedAllowance() public {
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
    function test_AFrozenPaymentsContractCannotPullEvenAnUnlimitedAllowance() public {
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
    function test_CarryOverKeepsAFreezeOfThePredecessor() public {
        _freeze(token, payer);
        DistrictToken next = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(next));

        vm.prank(payer); // the frozen holder carries itself over
        try next.carryOver(_one(payer)) {
            uint256 carried = next.balanceOf(payer); // read before the prank and expectRevert
            assertTrue(carried != 0, "carried");
            vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, payer));
            vm.prank(payer);
            next.transfer(stranger, carried);
        } catch {
            // Refusing to carry a frozen balance over also keeps the order.
        }
    }

    // ------------------------------------------------------------------ migration path

    /// @dev Promise: immutable contracts with a migration path (retire + carryOver). `retire`
    /// waits for the open booking deposits; `openBooking` used to accept any expiry up to
    /// 2**64 - 1, so a booking nobody closes (a merchant colluding with a second address, a
    /// merchant that lost its key, or a hostile one) held the migration hostage for ever. Now an
    /// expiry is at most MAX_BOOKING_DURATION (90 days) away, after which the payer reclaims.
    function test_AnUnclosedBookingHoldsTheMigrationAtMostNinetyDays() public {
        _approvePayments(payer, type(uint256).max);
        uint256 latest = block.timestamp + payments.MAX_BOOKING_DURATION();
        assertEq(payments.MAX_BOOKING_DURATION(), 90 days, "the stated maximum");
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsExpiryTooFar.selector, type(uint64).max, latest
            )
        );
        vm.prank(payer);
        payments.openBooking(bakeryId, 1, type(uint64).max, REF);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsExpiryTooFar.selector, uint64(latest + 1), latest)
        );
        vm.prank(payer);
        payments.openBooking(bakeryId, 1, uint64(latest + 1), REF);
        vm.prank(payer);
        uint256 id = payments.openBooking(bakeryId, 1, uint64(latest), REF); // the longest allowed

        DistrictToken early = _successorOf(address(token));
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenEscrowNotEmpty.selector, address(payments), 1)
        );
        vm.prank(admin);
        token.retire(address(early));

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

    // ------------------------------------------------------------------ the chosen behaviours, strictly

    /// @dev The freeze follows the balance (not a refusal): the holder is carried over frozen, under
    /// the predecessor's order reference, and only the successor's freezer lifts it.
    function test_AHolderFrozenInThePredecessorIsCarriedOverFrozenUnderTheSameOrder() public {
        uint256 balance = token.balanceOf(payer);
        _freeze(token, payer);
        assertEq(token.freezeOrder(payer), ORDER, "the order is kept");
        DistrictToken next = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(next));

        vm.expectEmit(true, true, false, true, address(next));
        emit IDistrictToken.AccountFrozen(payer, ORDER);
        next.carryOver(_one(payer));
        assertEq(next.balanceOf(payer), balance, "the balance arrived");
        assertTrue(next.isFrozen(payer), "frozen in the successor");
        assertEq(next.freezeOrder(payer), ORDER, "under the same order");
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAccountFrozen.selector, payer));
        vm.prank(payer);
        next.transfer(stranger, 1);

        bytes32 role = next.FREEZER_ROLE();
        vm.prank(admin);
        next.grantRole(role, freezer);
        vm.prank(freezer);
        next.unfreeze(payer, ORDER);
        assertEq(next.freezeOrder(payer), bytes32(0), "no order once lifted");
        vm.prank(payer);
        next.transfer(stranger, 1);
        assertEq(next.balanceOf(stranger), 1, "moves once the order is lifted");
    }

    /// @dev An account the operator froze in the successor before the carry-over still receives
    /// its predecessor balance (it stays frozen there): the carry-over of a batch never fails on it.
    function test_AHolderFrozenInTheSuccessorBeforeTheCarryOverStillReceivesItsBalance() public {
        uint256 balance = token.balanceOf(payer);
        DistrictToken next = _successorOf(address(token));
        bytes32 role = next.FREEZER_ROLE();
        vm.prank(admin);
        next.grantRole(role, freezer);
        _freeze(next, payer);
        vm.prank(admin);
        token.retire(address(next));
        next.carryOver(_one(payer));
        assertEq(next.balanceOf(payer), balance, "carried");
        assertTrue(next.isFrozen(payer), "still frozen");
        assertEq(next.carriedTotal(), balance, "counted as carried");
    }

    /// @dev The strict form of the chained-retire promise: B refuses to retire, naming what is
    /// missing, until every A balance was carried over; then C receives everything.
    function test_ASuccessorRefusesToRetireUntilItsCarryOverIsComplete() public {
        vm.prank(payer);
        token.transfer(bakery, 100 * ONE_M3E);
        uint256 supplyA = token.totalSupply();
        uint256 bakeryInA = token.balanceOf(bakery);

        DistrictToken b = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(b));
        DistrictToken c = _successorOf(address(b));

        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenCarryOverUnfinished.selector, address(token), 0, supplyA)
        );
        vm.prank(admin);
        b.retire(address(c));

        b.carryOver(_one(payer));
        uint256 carried = b.carriedTotal();
        assertEq(carried, token.balanceOf(payer), "the payer's balance is counted");
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenCarryOverUnfinished.selector, address(token), carried, supplyA
            )
        );
        vm.prank(admin);
        b.retire(address(c));

        address[] memory rest = new address[](2);
        rest[0] = bakery;
        rest[1] = commons; // holds no tokens: carried as zero
        b.carryOver(rest);
        assertEq(b.carriedTotal(), supplyA, "every balance carried");
        vm.prank(admin);
        b.retire(address(c));

        address[] memory holders = new address[](2);
        holders[0] = payer;
        holders[1] = bakery;
        c.carryOver(holders);
        assertEq(c.balanceOf(bakery), bakeryInA, "the bakery's balance reached the last token");
        assertEq(c.totalSupply(), c.reserve(), "no euro without its token");
    }

    /// @dev A successor whose predecessor held nothing still takes the (zero) reserve before it
    /// retires: one carryOver call with no holder ends it.
    function test_AnEmptyCarryOverEndsTheMigrationOfAnEmptyPredecessor() public {
        DistrictToken empty = _successorOf(address(0));
        DistrictToken b = _successorOf(address(empty));
        vm.prank(admin);
        empty.retire(address(b));
        DistrictToken c = _successorOf(address(b));
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenCarryOverUnfinished.selector, address(empty), 0, 0)
        );
        vm.prank(admin);
        b.retire(address(c));
        b.carryOver(new address[](0));
        vm.prank(admin);
        b.retire(address(c));
        assertEq(b.successor(), address(c), "retired");
    }

    /// @dev Only a predecessor retired to THIS token can strand balances in it: while the
    /// predecessor is still active (or retired elsewhere), its holders keep their tokens there.
    function test_ASuccessorWhosePredecessorIsStillActiveMayRetire() public {
        DistrictToken b = _successorOf(address(token));
        DistrictToken c = _successorOf(address(b));
        vm.prank(admin);
        b.retire(address(c));
        assertEq(b.successor(), address(c), "retired");
        assertEq(token.successor(), address(0), "the first token is untouched");
    }

    /// @dev The record of bank references follows the whole chain of predecessors.
    function test_ABankReferenceMintedTwoMigrationsAgoCannotMintAgain() public {
        bytes32 bankRef = _deposit(stranger, 50 * ONE_M3E);
        DistrictToken b = _successorOf(address(token));
        vm.prank(admin);
        token.retire(address(b));
        address[] memory holders = new address[](3);
        holders[0] = payer;
        holders[1] = stranger;
        holders[2] = commons;
        b.carryOver(holders);
        DistrictToken c = _successorOf(address(b));
        vm.prank(admin);
        b.retire(address(c));
        assertTrue(c.depositRecorded(bankRef), "recorded two tokens back");
        assertFalse(c.depositRecorded(keccak256("a new deposit")), "a new reference is free");

        bytes32 role = c.TREASURER_ROLE();
        vm.startPrank(admin);
        c.grantRole(role, treasurer);
        c.configureMinter(treasurer, TREASURER_ALLOWANCE, 0);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenDepositAlreadyRecorded.selector, bankRef));
        vm.prank(treasurer);
        c.recordDeposit(bankRef, stranger, 50 * ONE_M3E);
    }

    // ------------------------------------------------------------------ minter keys

    /// @dev Revoking TREASURER_ROLE zeroes the key's allowance: granting the role again later does
    /// not revive an old allowance.
    function test_RevokingTheTreasurerRoleZeroesItsMinterAllowance() public {
        bytes32 role = token.TREASURER_ROLE();
        vm.expectEmit(true, false, false, true, address(token));
        emit IDistrictToken.MinterConfigured(treasurer, 0, 0);
        vm.prank(admin);
        token.revokeRole(role, treasurer);
        (uint256 allowance, uint256 dailyLimit,) = token.minter(treasurer);
        assertEq(allowance, 0, "allowance zeroed");
        assertEq(dailyLimit, 0, "daily limit zeroed");

        vm.prank(admin);
        token.grantRole(role, treasurer);
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenMintAboveAllowance.selector, treasurer, ONE_M3E, 0)
        );
        vm.prank(treasurer);
        token.recordDeposit(keccak256("after the role came back"), payer, ONE_M3E);
    }

    /// @dev A key renouncing its own role is zeroed too (renounceRole goes through _revokeRole).
    function test_ATreasurerRenouncingItsRoleKeepsNoAllowance() public {
        bytes32 role = token.TREASURER_ROLE();
        vm.prank(treasurer);
        token.renounceRole(role, treasurer);
        (uint256 allowance,,) = token.minter(treasurer);
        assertEq(allowance, 0, "allowance zeroed");
    }

    /// @dev Compare-and-set: the admin lowers a key's allowance from 100 to 10 M3E; the key mints
    /// 90 first (front-running); the lowering then fails instead of granting 10 more on top.
    function test_ConfigureMinterIfUnchangedFailsWhenTheKeyMintedInBetween() public {
        vm.prank(admin);
        token.configureMinter(treasurer, 100 * ONE_M3E, 0);
        vm.prank(treasurer);
        token.recordDeposit(keccak256("front-run"), payer, 90 * ONE_M3E);

        vm.expectRevert(
            abi.encodeWithSelector(
                IDistrictToken.DistrictTokenMinterAllowanceChanged.selector, treasurer, 100 * ONE_M3E, 10 * ONE_M3E
            )
        );
        vm.prank(admin);
        token.configureMinterIfUnchanged(treasurer, 100 * ONE_M3E, 10 * ONE_M3E, 0);

        vm.prank(admin);
        token.configureMinterIfUnchanged(treasurer, 10 * ONE_M3E, 0, 0);
        (uint256 allowance,,) = token.minter(treasurer);
        assertEq(allowance, 0, "set from what the key could still mint");
    }

    /// @dev Only the admin configures a key, with or without the compare-and-set.
    function test_OnlyTheAdminConfiguresAMinterIfUnchanged() public {
        bytes32 adminRole = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSignature("AccessControlUnauthorizedAccount(address,bytes32)", treasurer, adminRole)
        );
        vm.prank(treasurer);
        token.configureMinterIfUnchanged(treasurer, TREASURER_ALLOWANCE, type(uint128).max, 0);
    }
}
