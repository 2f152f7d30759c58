// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../DistrictToken.sol";
import {EnergySettlement} from "../EnergySettlement.sol";
import {IEnergySettlement} from "../interfaces/IEnergySettlement.sol";
import {SettlementLines} from "./utils/SettlementLines.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Drives the settlement as an honest oracle does (commits days and corrections, pays
/// batches, re-runs after a crash), as an adversarial oracle does (off-list lines, wrong amounts,
/// batches replayed from another day, future days: each attempt must revert), and as members do
/// (revoking and restoring mandates). Keeps ghost figures of what the committed lines moved.
contract EnergySettlementHandler is TestBase {
    uint256 internal constant OP = 7;
    uint256 internal constant ONE_M3E = 1e6;
    uint32 internal constant SIZE = 3;
    bytes32 internal constant OTHER = keccak256("other lines");

    EnergySettlement internal immutable _settlement;
    DistrictToken internal immutable _token;
    address internal immutable _oracle;
    address[] internal _members;
    address internal immutable _outsider;

    uint64[] internal _keys; // day << 32 | version
    mapping(uint64 key => IEnergySettlement.MemberTransfer[]) internal _lines;
    uint32 internal _nextDay = 20250602;

    /// @notice Per member: the signed sum of the committed lines processed (debits +, credits -).
    mapping(address member => int256) public ghostProcessed;
    /// @notice Per member: what the operator covered for it.
    mapping(address member => uint256) public ghostCovered;
    /// @notice Per member and window (day, month): what was pulled from it under its mandate.
    mapping(address member => mapping(uint32 day => uint256)) public ghostPulledDay;
    mapping(address member => mapping(uint32 month => uint256)) public ghostPulledMonth;
    uint64[] internal _windows; // member index << 32 | day
    uint256 public adversarialPassed;

    constructor(
        EnergySettlement settlement_,
        DistrictToken token_,
        address oracle,
        address[] memory members,
        address outsider
    ) {
        _settlement = settlement_;
        _token = token_;
        _oracle = oracle;
        _members = members;
        _outsider = outsider;
    }

    function windows() external view returns (uint64[] memory) {
        return _windows;
    }

    function member(uint256 i) external view returns (address) {
        return _members[i];
    }

    function memberCount() external view returns (uint256) {
        return _members.length;
    }

    // --------------------------------------------------------------- honest oracle

    function commit(uint256 seed, uint8 count) external {
        if (_nextDay > 20250628) return;
        uint32 day = _nextDay++;
        _commitVersion(day, 1, seed, count);
    }

    function correct(uint256 keySeed, uint256 seed, uint8 count) external {
        if (_keys.length == 0) return;
        uint64 key = _keys[keySeed % _keys.length];
        uint32 day = uint32(key >> 32);
        uint32 version = uint32(key);
        if (version != _settlement.latestVersion(OP, day)) return;
        IEnergySettlement.Commitment memory c = _settlement.commitment(OP, day, version);
        uint32 batches = uint32((c.totals.transfers + SIZE - 1) / SIZE);
        if (c.nextBatch != batches) return;
        _commitVersion(day, version + 1, seed, count);
    }

    /// @dev Pays the next batch, or re-sends an already paid one (a re-run after a crash).
    function pay(uint256 keySeed, uint256 replaySeed) external {
        if (_keys.length == 0) return;
        uint64 key = _keys[keySeed % _keys.length];
        (uint32 day, uint32 version) = (uint32(key >> 32), uint32(key));
        IEnergySettlement.MemberTransfer[] memory all = _lines[key];
        IEnergySettlement.Commitment memory c = _settlement.commitment(OP, day, version);
        uint32 batches = uint32((all.length + SIZE - 1) / SIZE);
        if (c.voided || batches == 0) return;
        uint32 b = c.nextBatch;
        if (b == batches || replaySeed % 4 == 0) {
            if (b == 0) return;
            b = uint32(replaySeed % b); // already paid: must be a no-op
        }
        bytes32[] memory leaves = SettlementLines.leaves(all, SIZE, OTHER);
        IEnergySettlement.MemberTransfer[] memory batch = SettlementLines.slice(all, SIZE, b);
        uint256[] memory before = _balances();
        vm.prank(_oracle);
        _settlement.pay(OP, day, version, b, batch, SettlementLines.proof(leaves, b));
        if (b < c.nextBatch) {
            uint256[] memory afterReplay = _balances();
            for (uint256 i = 0; i < before.length; ++i) {
                if (before[i] != afterReplay[i]) revert AssertionFailed("replay moved money", 0, 0);
            }
            return;
        }
        for (uint256 i = 0; i < batch.length; ++i) ghostProcessed[batch[i].member] += batch[i].amount;
        _recordPulls(before);
    }

    function collect(uint256 who) external {
        address m = _members[who % _members.length];
        if (_settlement.memberAccount(OP, m).owed <= 0) return;
        uint256[] memory before = _balances();
        vm.prank(_oracle);
        try _settlement.collect(OP, m) {
            _recordPulls(before);
        } catch {}
    }

    function cover(uint256 who) external {
        address m = _members[who % _members.length];
        int96 owed = _settlement.memberAccount(OP, m).owed;
        if (owed <= 0) return;
        vm.prank(_oracle); // the oracle holds the operator's TARIFF_ROLE in this setup
        _settlement.cover(OP, m, uint256(int256(owed)));
        ghostCovered[m] += uint256(int256(owed));
    }

    function release(uint256 who) external {
        address m = _members[who % _members.length];
        if (_settlement.memberAccount(OP, m).owed >= 0 || _settlement.pool(OP) == 0) return;
        _settlement.release(OP, m);
    }

    function setMandate(uint256 who, bool active) external {
        address m = _members[who % _members.length];
        vm.prank(m);
        if (active) _settlement.setMandate(OP, uint48(30 * ONE_M3E), uint48(200 * ONE_M3E));
        else _settlement.revokeMandate(OP);
    }

    // --------------------------------------------------------------- adversarial oracle

    /// @dev The next batch with one line changed (amount, account) or an outsider added: must revert.
    function payForged(uint256 keySeed, uint256 lineSeed, int256 delta, uint8 mode) external {
        if (_keys.length == 0) return;
        uint64 key = _keys[keySeed % _keys.length];
        (uint32 day, uint32 version) = (uint32(key >> 32), uint32(key));
        IEnergySettlement.MemberTransfer[] memory all = _lines[key];
        IEnergySettlement.Commitment memory c = _settlement.commitment(OP, day, version);
        uint32 batches = uint32((all.length + SIZE - 1) / SIZE);
        if (c.voided || c.nextBatch >= batches) return;
        bytes32[] memory leaves = SettlementLines.leaves(all, SIZE, OTHER);
        IEnergySettlement.MemberTransfer[] memory batch = SettlementLines.slice(all, SIZE, c.nextBatch);
        uint256 i = lineSeed % batch.length;
        if (mode % 3 == 0) {
            delta = delta % int256(50 * ONE_M3E);
            if (delta == 0) delta = 1;
            batch[i].amount += delta;
        } else if (mode % 3 == 1) {
            batch[i].member = _outsider;
        } else {
            batch[i].member = _members[(lineSeed >> 8) % _members.length];
            if (batch[i].member == all[c.nextBatch * SIZE + i].member) return;
        }
        vm.prank(_oracle);
        try _settlement.pay(OP, day, version, c.nextBatch, batch, SettlementLines.proof(leaves, c.nextBatch)) {
            adversarialPassed++;
        } catch {}
    }

    /// @dev A batch of one (day, version) sent as the batch of another: must revert.
    function replayElsewhere(uint256 fromSeed, uint256 toSeed) external {
        if (_keys.length < 2) return;
        uint64 from = _keys[fromSeed % _keys.length];
        uint64 to = _keys[toSeed % _keys.length];
        if (from == to) return;
        IEnergySettlement.MemberTransfer[] memory all = _lines[from];
        if (all.length == 0) return;
        (uint32 day, uint32 version) = (uint32(to >> 32), uint32(to));
        IEnergySettlement.Commitment memory c = _settlement.commitment(OP, day, version);
        bytes32[] memory leaves = SettlementLines.leaves(all, SIZE, OTHER);
        uint32 b = c.nextBatch;
        if (b >= (all.length + SIZE - 1) / SIZE) return;
        if (keccak256(abi.encode(_lines[to])) == keccak256(abi.encode(all))) return;
        vm.prank(_oracle);
        try _settlement.pay(OP, day, version, b, SettlementLines.slice(all, SIZE, b), SettlementLines.proof(leaves, b))
        returns (uint32 next) {
            if (next > b) adversarialPassed++;
        } catch {}
    }

    /// @dev A day not ended by the chain's clock: must revert.
    function commitFuture(uint32 ahead) external {
        uint32 day = uint32(20250700 + _bound(ahead, 1, 28));
        vm.prank(_oracle);
        try _settlement.commitDay(OP, day, 1, OTHER, _zeroTotals(), 0) {
            adversarialPassed++;
        } catch {}
    }

    /// @dev The operator sets a schedule with a solidarity component, any day, any figures: it must
    /// never be accepted out of the bounds, on or before a committed day, or on a started day.
    function setSolidarityTariff(uint32 ahead, uint32 peak, uint32 offPeak, uint32 surcharge, uint32 discount)
        external
    {
        uint32 day = uint32(20250700 + _bound(ahead, 1, 28));
        if (ahead % 4 == 0) day = _nextDay; // now and then a day the oracle is committing
        IEnergySettlement.PriceBounds memory b = _settlement.priceBounds();
        bool fits = peak >= b.floor && peak <= b.peakCeiling && offPeak >= b.floor && offPeak <= b.offPeakCeiling
            && uint256(peak) + surcharge <= b.peakCeiling && uint256(offPeak) >= uint256(discount) + b.floor;
        // The chain's clock is 2025-07-01 00:00 UTC: July 2 is the first local day not started.
        bool ahead_ = day > _settlement.lastCommittedDay(OP) && day >= 20250702;
        vm.prank(_oracle);
        try _settlement.setTariffWithSolidarity(OP, day, 80_000, peak, offPeak, surcharge, discount) returns (uint256) {
            if (!fits || !ahead_) adversarialPassed++;
        } catch {}
    }

    // --------------------------------------------------------------- internals

    function _commitVersion(uint32 day, uint32 version, uint256 seed, uint8 count) private {
        uint64 key = (uint64(day) << 32) | version;
        uint256 n = _bound(count, 0, 4); // debtors; one creditor more takes their sum
        uint256 total;
        bool[] memory used = new bool[](_members.length);
        for (uint256 i = 0; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 who = r % _members.length;
            if (used[who]) continue;
            used[who] = true;
            uint256 amount = _bound(r >> 16, 1, 40 * ONE_M3E);
            _lines[key].push(IEnergySettlement.MemberTransfer({member: _members[who], amount: int256(amount)}));
            total += amount;
        }
        if (total != 0) {
            uint256 r = uint256(keccak256(abi.encode(seed, "creditors")));
            uint256 a = r % _members.length;
            while (used[a]) a = (a + 1) % _members.length;
            used[a] = true;
            uint256 b = (a + 1) % _members.length;
            while (used[b] && b != a) b = (b + 1) % _members.length;
            uint256 share = b == a || used[b] ? total : (total * (r >> 128 & 0xff)) / 256;
            if (share == 0) share = total;
            _lines[key].push(IEnergySettlement.MemberTransfer({member: _members[a], amount: -int256(share)}));
            if (share < total) {
                _lines[key].push(IEnergySettlement.MemberTransfer({member: _members[b], amount: -int256(total - share)}));
            }
        }
        IEnergySettlement.MemberTransfer[] memory all = _lines[key];
        IEnergySettlement.Totals memory t = _zeroTotals();
        t.amount = uint128(total);
        t.transfers = uint32(all.length);
        vm.prank(_oracle);
        _settlement.commitDay(
            OP, day, version, SettlementLines.root(SettlementLines.leaves(all, SIZE, OTHER)), t, all.length == 0 ? 0 : SIZE
        );
        _keys.push(key);
    }

    function _zeroTotals() private pure returns (IEnergySettlement.Totals memory) {
        return IEnergySettlement.Totals({producedWh: 10, consumedWh: 9, allocatedWh: 8, surplusWh: 2, amount: 0, transfers: 0});
    }

    function _balances() private view returns (uint256[] memory out) {
        out = new uint256[](_members.length);
        for (uint256 i = 0; i < out.length; ++i) out[i] = _token.balanceOf(_members[i]);
    }

    /// @dev Balances that went down were pulled under the mandate, in the member's current window.
    function _recordPulls(uint256[] memory before) private {
        for (uint256 i = 0; i < before.length; ++i) {
            uint256 now_ = _token.balanceOf(_members[i]);
            if (now_ >= before[i]) continue;
            uint32 window = _settlement.memberAccount(OP, _members[i]).day;
            if (ghostPulledDay[_members[i]][window] == 0) _windows.push((uint64(i) << 32) | window);
            ghostPulledDay[_members[i]][window] += before[i] - now_;
            ghostPulledMonth[_members[i]][window / 100] += before[i] - now_;
        }
    }
}

/// @notice Whatever an honest or adversarial oracle and the members do: no value moves off the
/// committed list, no forged batch passes, every member pays at most its mandate, and the pool
/// plus what members owe equals what is due to members.
contract EnergySettlementInvariantsTest is TestBase {
    uint256 internal constant OP = 7;
    uint256 internal constant START = 1_000_000e6;
    DistrictToken internal token;
    EnergySettlement internal settlement;
    EnergySettlementHandler internal handler;
    address[] internal _targets;

    function setUp() public {
        vm.warp(1_748_700_000); // 2025-05-31 14:00 UTC
        address admin = _makeAddr("admin");
        address treasurer = _makeAddr("treasurer");
        address oracle = _makeAddr("oracle");
        token = new DistrictToken("Monnaie du 3e", "M3E", admin, 3 days, _makeAddr("commons"), 300, address(0));
        settlement = new EnergySettlement(address(token), admin, 3 days);
        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.configureMinter(treasurer, 1e30, 0);
        settlement.grantRole(settlement.ORACLE_ROLE(), oracle);
        settlement.grantRole(settlement.TARIFF_ROLE(), oracle);
        vm.stopPrank();
        vm.prank(oracle);
        settlement.setTariff(OP, 20250601, 80_000, 100_000, 60_000);
        vm.warp(1_751_328_000); // 2025-07-01 00:00 UTC: June has ended

        address[] memory members = new address[](5);
        for (uint256 i = 0; i < members.length; ++i) {
            members[i] = _makeAddr(string(abi.encodePacked("member ", bytes1(uint8(48 + i)))));
            vm.prank(treasurer);
            // member 0 is poor: it runs short after a few lines
            token.recordDeposit(keccak256(abi.encode(i)), members[i], i == 0 ? 50e6 : 5_000e6);
            vm.startPrank(members[i]);
            token.approve(address(settlement), type(uint256).max);
            settlement.setMandate(OP, 30e6, 200e6);
            vm.stopPrank();
        }
        address outsider = _makeAddr("outsider");
        vm.prank(treasurer);
        token.recordDeposit(keccak256("outsider"), outsider, 5_000e6);
        vm.startPrank(outsider);
        token.approve(address(settlement), type(uint256).max);
        settlement.setMandate(OP, 30e6, 200e6);
        vm.stopPrank();
        vm.prank(treasurer);
        token.recordDeposit(keccak256("operator"), oracle, START);
        vm.prank(oracle);
        token.approve(address(settlement), type(uint256).max);

        handler = new EnergySettlementHandler(settlement, token, oracle, members, outsider);
        _targets.push(address(handler));
    }

    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    /// @notice Per member: what its balance lost, plus what it owes, plus what the operator covered
    /// for it, equals the signed sum of the committed lines processed for it. Nothing else moves.
    function invariant_NoValueMovesOffTheCommittedList() public view {
        uint256 n = handler.memberCount();
        for (uint256 i = 0; i < n; ++i) {
            address m = handler.member(i);
            uint256 start = i == 0 ? 50e6 : 5_000e6;
            int256 lost = int256(start) - int256(token.balanceOf(m));
            int256 owed = settlement.memberAccount(OP, m).owed;
            int256 expected = handler.ghostProcessed(m);
            if (lost + owed + int256(handler.ghostCovered(m)) != expected) {
                revert AssertionFailed("member moved off the list", bytes32(uint256(lost + owed)), bytes32(uint256(expected)));
            }
        }
        assertEq(handler.adversarialPassed(), 0, "a forged batch, a replay, a future day or a bad tariff passed");
    }

    /// @notice The pool is exactly the contract's tokens, and pool + owed by members = due to members.
    function invariant_PoolBalancesWhatIsOwedAndDue() public view {
        assertEq(token.balanceOf(address(settlement)), settlement.pool(OP), "pool is the contract's tokens");
        int256 sum;
        uint256 n = handler.memberCount();
        for (uint256 i = 0; i < n; ++i) sum += settlement.memberAccount(OP, handler.member(i)).owed;
        int256 processed;
        for (uint256 i = 0; i < n; ++i) processed += handler.ghostProcessed(handler.member(i));
        // processed debits - credits = pool + owed (a cover moves owed into the pool)
        if (int256(settlement.pool(OP)) + sum != processed) {
            revert AssertionFailed("pool + owed != processed", bytes32(settlement.pool(OP)), bytes32(uint256(processed)));
        }
    }

    /// @notice Every schedule keeps the consumer's price within the bounds, its solidarity
    /// component included (bounds are not changed in this run).
    function invariant_SolidarityTariffsKeepTheConsumersPriceInBounds() public view {
        IEnergySettlement.PriceBounds memory b = settlement.priceBounds();
        uint256 count = settlement.tariffCount(OP);
        for (uint256 id = 1; id <= count; ++id) {
            IEnergySettlement.Tariff memory t = settlement.tariff(OP, id);
            (uint32 surcharge, uint32 discount) = settlement.tariffSolidarity(OP, id);
            assertLe(uint256(t.peakPrice) + surcharge, b.peakCeiling, "peak price + surcharge <= ceiling");
            assertLe(uint256(discount) + b.floor, t.offPeakPrice, "off-peak price - discount >= floor");
        }
    }

    /// @notice No member paid more than its mandate in any day window or month.
    function invariant_EveryMemberPaysAtMostItsMandate() public view {
        uint64[] memory w = handler.windows();
        for (uint256 i = 0; i < w.length; ++i) {
            address m = handler.member(uint256(w[i] >> 32));
            uint32 day = uint32(w[i]);
            assertLe(handler.ghostPulledDay(m, day), 30e6, "daily cap");
            assertLe(handler.ghostPulledMonth(m, day / 100), 200e6, "monthly cap");
        }
    }
}
