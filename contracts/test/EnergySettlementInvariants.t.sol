// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../DistrictToken.sol";
import {EnergySettlement} from "../EnergySettlement.sol";
import {IEnergySettlement} from "../interfaces/IEnergySettlement.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Drives the settlement as the oracle does, and as a crashing oracle does: commits days,
/// pays batches starting anywhere at or below the paid-up-to index (a re-run after a crash),
/// corrections, and consumers who revoke or restore their allowance. Keeps ghost totals.
contract EnergySettlementHandler is TestBase {
    uint256 internal constant OP = 7;
    uint256 internal constant ONE_M3E = 1e6;

    EnergySettlement internal immutable _settlement;
    DistrictToken internal immutable _token;
    address internal immutable _oracle;
    address[] internal _consumers;
    address[] internal _producers;

    uint64[] internal _keys; // day << 32 | version
    mapping(uint64 key => IEnergySettlement.Transfer[]) internal _lines;
    mapping(uint64 key => uint256) public ghostMoved;
    uint32 internal _nextDay = 20250602;
    uint256 public calls;

    constructor(
        EnergySettlement settlement_,
        DistrictToken token_,
        address oracle,
        address[] memory consumers,
        address[] memory producers
    ) {
        _settlement = settlement_;
        _token = token_;
        _oracle = oracle;
        _consumers = consumers;
        _producers = producers;
    }

    function keys() external view returns (uint64[] memory) {
        return _keys;
    }

    function lines(uint64 key) external view returns (IEnergySettlement.Transfer[] memory) {
        return _lines[key];
    }

    function commit(uint256 seed, uint8 count, uint256 slack) external {
        if (_nextDay > 20250628) return;
        uint32 day = _nextDay++;
        _commitVersion(day, 1, seed, count, slack);
    }

    function correct(uint256 keySeed, uint256 seed, uint8 count) external {
        if (_keys.length == 0) return;
        uint64 key = _keys[keySeed % _keys.length];
        uint32 day = uint32(key >> 32);
        uint32 version = uint32(key);
        if (version != _settlement.latestVersion(OP, day)) return;
        IEnergySettlement.Commitment memory c = _settlement.commitment(OP, day, version);
        if (c.paidUpTo != c.totals.transfers) return;
        _commitVersion(day, version + 1, seed, count, 0);
    }

    function pay(uint256 keySeed, uint256 fromSeed, uint256 lengthSeed) external {
        if (_keys.length == 0) return;
        calls++;
        uint64 key = _keys[keySeed % _keys.length];
        uint32 day = uint32(key >> 32);
        uint32 version = uint32(key);
        IEnergySettlement.Transfer[] storage all = _lines[key];
        uint32 paidUpTo = _settlement.commitment(OP, day, version).paidUpTo;
        if (all.length == 0) return;
        uint256 from = _bound(fromSeed, 0, paidUpTo < all.length ? paidUpTo : all.length - 1);
        uint256 length = _bound(lengthSeed, 1, all.length - from);
        IEnergySettlement.Transfer[] memory batch = new IEnergySettlement.Transfer[](length);
        for (uint256 i = 0; i < length; ++i) batch[i] = all[from + i];
        uint256 before = _producerBalances();
        vm.prank(_oracle);
        _settlement.pay(OP, day, version, uint32(from), batch);
        ghostMoved[key] += _producerBalances() - before;
    }

    function setAllowance(uint256 who, bool allow) external {
        vm.prank(_consumers[who % _consumers.length]);
        _token.approve(address(_settlement), allow ? type(uint256).max : 0);
    }

    /// @dev The committed amount is exactly what the lines move (the last batch must add up to it),
    /// so the former slack argument is ignored.
    function _commitVersion(uint32 day, uint32 version, uint256 seed, uint8 count, uint256) private {
        uint64 key = (uint64(day) << 32) | version;
        uint256 n = _bound(count, 0, 12);
        uint256 total;
        bytes32 chain;
        for (uint256 i = 0; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 amount = _bound(r, 1, 40 * ONE_M3E);
            _lines[key].push(
                IEnergySettlement.Transfer({
                    payer: _consumers[r % _consumers.length],
                    payee: _producers[(r >> 8) % _producers.length],
                    amount: amount
                })
            );
            total += amount;
            IEnergySettlement.Transfer storage line = _lines[key][i];
            chain = keccak256(abi.encode(chain, line.payer, line.payee, line.amount));
        }
        IEnergySettlement.Totals memory t = IEnergySettlement.Totals({
            producedWh: 10_000,
            consumedWh: 9_000,
            allocatedWh: 8_000,
            surplusWh: 2_000,
            amount: uint128(total),
            transfers: uint32(n)
        });
        vm.prank(_oracle);
        _settlement.commitDay(OP, day, version, keccak256(abi.encode(key)), t, chain);
        _keys.push(key);
    }

    function _producerBalances() private view returns (uint256 sum) {
        for (uint256 i = 0; i < _producers.length; ++i) sum += _token.balanceOf(_producers[i]);
    }
}

/// @notice Whatever the order of commits, batches, re-runs and revoked allowances: the money
/// paid for a (day, version) never exceeds what was committed, and no line is paid twice.
contract EnergySettlementInvariantsTest is TestBase {
    uint256 internal constant OP = 7;
    DistrictToken internal token;
    EnergySettlement internal settlement;
    EnergySettlementHandler internal handler;
    address[] internal _targets;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = _makeAddr("admin");
        address treasurer = _makeAddr("treasurer");
        address oracle = _makeAddr("oracle");
        token = new DistrictToken("Monnaie du 3e", "M3E", admin, 3 days, _makeAddr("commons"), 300, address(0));
        settlement = new EnergySettlement(address(token), admin, 3 days);
        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.configureMinter(treasurer, 1e30, 0);
        settlement.grantRole(settlement.ORACLE_ROLE(), oracle);
        settlement.grantRole(settlement.TARIFF_ROLE(), admin);
        settlement.setTariff(OP, 20250601, 80_000, 100_000, 60_000);
        vm.stopPrank();

        address[] memory consumers = new address[](4);
        address[] memory producers = new address[](2);
        for (uint256 i = 0; i < consumers.length; ++i) {
            consumers[i] = _makeAddr(string(abi.encodePacked("consumer ", bytes1(uint8(48 + i)))));
            vm.prank(treasurer);
            // consumer 0 is poor: it runs short after a few lines
            token.recordDeposit(keccak256(abi.encode(i)), consumers[i], i == 0 ? 50e6 : 5_000e6);
            vm.prank(consumers[i]);
            token.approve(address(settlement), type(uint256).max);
        }
        producers[0] = _makeAddr("producer 0");
        producers[1] = _makeAddr("producer 1");
        handler = new EnergySettlementHandler(settlement, token, oracle, consumers, producers);
        _targets.push(address(handler));
    }

    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function invariant_SumPaidNeverExceedsTheCommittedAmount() public view {
        uint64[] memory keys = handler.keys();
        for (uint256 i = 0; i < keys.length; ++i) {
            IEnergySettlement.Commitment memory c =
                settlement.commitment(OP, uint32(keys[i] >> 32), uint32(keys[i]));
            assertLe(uint256(c.paid) + c.shortfall, c.totals.amount, "paid above committed");
            assertLe(c.paidUpTo, c.totals.transfers, "past the last line");
        }
    }

    function invariant_EachLineIsPaidOnceAndOnlyOnce() public view {
        uint64[] memory keys = handler.keys();
        for (uint256 i = 0; i < keys.length; ++i) {
            IEnergySettlement.Commitment memory c =
                settlement.commitment(OP, uint32(keys[i] >> 32), uint32(keys[i]));
            IEnergySettlement.Transfer[] memory all = handler.lines(keys[i]);
            uint256 prefix;
            for (uint256 j = 0; j < c.paidUpTo; ++j) prefix += all[j].amount;
            // every processed line counted exactly once, as paid or as short
            assertEq(uint256(c.paid) + c.shortfall, prefix, "a line counted twice or missed");
            // and the tokens that moved are exactly the paid ones
            assertEq(handler.ghostMoved(keys[i]), c.paid, "tokens moved differ from paid");
        }
    }

    function invariant_AClosedVersionAccountsForExactlyTheCommittedAmount() public view {
        uint64[] memory keys = handler.keys();
        for (uint256 i = 0; i < keys.length; ++i) {
            IEnergySettlement.Commitment memory c =
                settlement.commitment(OP, uint32(keys[i] >> 32), uint32(keys[i]));
            if (c.paidUpTo == c.totals.transfers) {
                assertEq(uint256(c.paid) + c.shortfall, c.totals.amount, "closed below the committed amount");
            }
        }
    }

    function invariant_NothingRestsInTheContract() public view {
        assertEq(token.balanceOf(address(settlement)), 0, "tokens stuck in the settlement");
    }
}
