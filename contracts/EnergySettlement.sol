// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IEnergySettlement} from "./interfaces/IEnergySettlement.sol";

/// @title Daily settlement of collective solar self-consumption
/// @notice Tariff registry, daily commitments (Merkle root plus totals) and the payment of the
/// netted consumer -> producer amounts from the consumers' pre-authorised allowances.
/// @dev Gas: a transfer line is one `transferFrom(payer, payee, amount)` of the token with this
/// contract as spender, so tokens never rest here; per batch, the progress of the (day, version)
/// is one storage slot read once and written once, and one summary event is emitted (each line
/// shows as the token's own Transfer event). A line whose payer lacks balance or allowance is
/// caught (the token's ERC-6093 error) and reported; any other refusal of the token (a pause)
/// reverts the whole batch, so nothing is wrongly reported short.
/// Binding of the lines: `commitDay` stores the hash chain of the ordered transfer lines; `pay`
/// continues it over the lines it processes (one keccak per line, in scratch memory), keeps it in a
/// slot of its own between batches (not written by the batch that closes the version, nor read by
/// the first), and the closing batch reverts unless it equals the committed hash.
/// Reentrancy: the token is called in the loop before the progress is written; the transient
/// guard refuses any re-entry, and the token is the district's own ERC-20.
contract EnergySettlement is IEnergySettlement, AccessControlDefaultAdminRules, Pausable, ReentrancyGuardTransient {
    /// @notice Commits days and pays their transfer lines.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Sets tariff schedules (the operator, "personne morale organisatrice").
    bytes32 public constant TARIFF_ROLE = keccak256("TARIFF_ROLE");
    /// @notice Pauses and unpauses commitments and payments.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Default feed-in floor: 0.04 EUR/kWh (small roofs, 2025), in micro-euro per kWh.
    uint32 public constant DEFAULT_FLOOR = 40_000;
    /// @notice Default ceilings: the regulated tariff 2025 incl. tax (base, peak, off-peak).
    uint32 public constant DEFAULT_SOLAR_CEILING = 195_200;
    uint32 public constant DEFAULT_PEAK_CEILING = 208_100;
    uint32 public constant DEFAULT_OFF_PEAK_CEILING = 163_500;

    /// @dev How a (day, version) stands: one slot, read and written once per `pay`. `committed`
    /// is set by `commitDay`, so the slot is never zero when `pay` writes it (a cheaper write).
    struct Progress {
        uint32 paidUpTo;
        uint96 paid;
        uint96 shortfall;
        bool committed;
    }

    IERC20 private immutable _token;

    PriceBounds private _bounds;
    mapping(uint256 operationId => uint32) private _lastCommittedDay;
    mapping(uint256 operationId => Tariff[]) private _tariffs;
    mapping(uint256 operationId => mapping(uint32 day => uint32)) private _latestVersion;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => bytes32))) private _roots;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => Totals))) private _totals;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => Progress))) private _progress;
    /// @dev The committed hash chain of the transfer lines of a (day, version).
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => bytes32))) private _transfersHashes;
    /// @dev The hash chain of the lines below `paidUpTo`, kept between batches of an open version.
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => bytes32))) private _runningHashes;

    /// @param token_ the district token (ERC-20 with EIP-2612 permit)
    /// @param admin the default admin (two-step transfer, `adminDelay` seconds)
    /// @param adminDelay the delay of a default admin transfer, in seconds
    constructor(address token_, address admin, uint48 adminDelay) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (token_ == address(0)) revert EnergySettlementZeroAddress();
        _token = IERC20(token_);
        _setPriceBounds(
            PriceBounds({
                floor: DEFAULT_FLOOR,
                solarCeiling: DEFAULT_SOLAR_CEILING,
                peakCeiling: DEFAULT_PEAK_CEILING,
                offPeakCeiling: DEFAULT_OFF_PEAK_CEILING
            })
        );
    }

    // ------------------------------------------------------------------ tariffs

    /// @inheritdoc IEnergySettlement
    function setTariff(uint256 operationId, uint32 effectiveFrom, uint32 solarPrice, uint32 peakPrice, uint32 offPeakPrice)
        external
        onlyRole(TARIFF_ROLE)
        returns (uint256 scheduleId)
    {
        _requireDay(effectiveFrom);
        Tariff[] storage schedules = _tariffs[operationId];
        uint256 count = schedules.length;
        if (count != 0) {
            uint32 last = schedules[count - 1].effectiveFrom;
            if (effectiveFrom <= last) revert EnergySettlementTariffNotAfterLast(operationId, effectiveFrom, last);
        }
        uint32 committed = _lastCommittedDay[operationId];
        if (effectiveFrom <= committed) revert EnergySettlementTariffRetroactive(operationId, effectiveFrom, committed);
        PriceBounds memory b = _bounds;
        _requireInBounds(Band.Solar, solarPrice, b.floor, b.solarCeiling);
        _requireInBounds(Band.Peak, peakPrice, b.floor, b.peakCeiling);
        _requireInBounds(Band.OffPeak, offPeakPrice, b.floor, b.offPeakCeiling);

        schedules.push(
            Tariff({effectiveFrom: effectiveFrom, solarPrice: solarPrice, peakPrice: peakPrice, offPeakPrice: offPeakPrice})
        );
        scheduleId = count + 1;
        emit EnergySettlementTariffSet(operationId, scheduleId, effectiveFrom, solarPrice, peakPrice, offPeakPrice);
    }

    /// @inheritdoc IEnergySettlement
    function setPriceBounds(PriceBounds calldata bounds) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPriceBounds(bounds);
    }

    // ------------------------------------------------------------------ commitments

    /// @inheritdoc IEnergySettlement
    function commitDay(
        uint256 operationId,
        uint32 day,
        uint32 version,
        bytes32 root,
        Totals calldata totals,
        bytes32 transfersHash
    ) external onlyRole(ORACLE_ROLE) whenNotPaused {
        _requireDay(day);
        if (root == bytes32(0)) revert EnergySettlementZeroRoot();
        uint32 latest = _latestVersion[operationId][day];
        if (version != 0 && version <= latest) revert EnergySettlementDayAlreadyCommitted(operationId, day, version);
        // latest < 2**32 - 1 whenever a version above it was accepted, so latest + 1 cannot wrap.
        uint32 expected;
        unchecked {
            expected = latest + 1;
        }
        if (version != expected) revert EnergySettlementVersionGap(operationId, day, version, expected);
        if (latest != 0) {
            uint32 paidUpTo = _progress[operationId][day][latest].paidUpTo;
            if (paidUpTo != _totals[operationId][day][latest].transfers) {
                revert EnergySettlementPreviousVersionOpen(operationId, day, latest, paidUpTo);
            }
        } else if (_tariffIndexAt(operationId, day) == 0) {
            revert EnergySettlementNoTariff(operationId, day);
        }
        if (
            totals.allocatedWh > totals.producedWh || totals.allocatedWh > totals.consumedWh
                || uint256(totals.producedWh) != uint256(totals.allocatedWh) + totals.surplusWh
                || totals.amount < totals.transfers || (totals.transfers == 0 && totals.amount != 0)
                || totals.amount > type(uint96).max
        ) revert EnergySettlementInconsistentTotals();

        _latestVersion[operationId][day] = version;
        _roots[operationId][day][version] = root;
        _totals[operationId][day][version] = totals;
        _transfersHashes[operationId][day][version] = transfersHash;
        _progress[operationId][day][version].committed = true;
        if (day > _lastCommittedDay[operationId]) _lastCommittedDay[operationId] = day;
        emit EnergySettlementDayCommitted(operationId, day, version, root, totals);
        emit EnergySettlementTransfersCommitted(operationId, day, version, transfersHash);
    }

    // ------------------------------------------------------------------ payments

    /// @inheritdoc IEnergySettlement
    function pay(uint256 operationId, uint32 day, uint32 version, uint32 fromIndex, Transfer[] calldata transfers)
        external
        onlyRole(ORACLE_ROLE)
        whenNotPaused
        nonReentrant
        returns (uint32 paidUpTo)
    {
        {
            Progress storage progress = _progress[operationId][day][version];
            if (!progress.committed) revert EnergySettlementDayNotCommitted(operationId, day, version);
            paidUpTo = progress.paidUpTo;
        }
        if (fromIndex > paidUpTo) revert EnergySettlementIndexGap(operationId, day, version, fromIndex, paidUpTo);
        uint256 end = uint256(fromIndex) + transfers.length;
        bool last;
        {
            uint32 count = _totals[operationId][day][version].transfers;
            if (end > count) revert EnergySettlementTooManyTransfers(operationId, day, version, end, count);
            last = end == count;
        }
        // Lines below paidUpTo were processed by an earlier call: skip them, never pay twice.
        if (end <= paidUpTo) return paidUpTo;

        bytes32 chain = _chainLines(operationId, day, version, paidUpTo, last, transfers[paidUpTo - fromIndex:]);
        (uint256 paid, uint256 shortfall) = _payLines(operationId, day, version, fromIndex, paidUpTo, transfers);
        _recordBatch(operationId, day, version, paidUpTo, uint32(end), last, paid, shortfall);
        // Checked last, so that an invalid line or a wrong amount reports its own error first.
        if (last && chain != _transfersHashes[operationId][day][version]) {
            revert EnergySettlementTransfersMismatch(operationId, day, version);
        }
        return uint32(end);
    }

    // ------------------------------------------------------------------ pause

    /// @inheritdoc IEnergySettlement
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IEnergySettlement
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEnergySettlement
    function verifyLine(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint8 kind,
        uint32 index,
        uint64 time,
        address payer,
        address payee,
        uint64 wh,
        uint256 value,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = _roots[operationId][day][version];
        if (root == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, leafOf(kind, index, time, payer, payee, wh, value));
    }

    /// @inheritdoc IEnergySettlement
    function leafOf(uint8 kind, uint32 index, uint64 time, address payer, address payee, uint64 wh, uint256 value)
        public
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(kind, index, time, payer, payee, wh, value))));
    }

    /// @inheritdoc IEnergySettlement
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IEnergySettlement
    function commitment(uint256 operationId, uint32 day, uint32 version) external view returns (Commitment memory c) {
        Progress memory p = _progress[operationId][day][version];
        c = Commitment({
            root: _roots[operationId][day][version],
            totals: _totals[operationId][day][version],
            paidUpTo: p.paidUpTo,
            paid: p.paid,
            shortfall: p.shortfall
        });
    }

    /// @inheritdoc IEnergySettlement
    function latestVersion(uint256 operationId, uint32 day) external view returns (uint32) {
        return _latestVersion[operationId][day];
    }

    /// @inheritdoc IEnergySettlement
    function lastCommittedDay(uint256 operationId) external view returns (uint32) {
        return _lastCommittedDay[operationId];
    }

    /// @inheritdoc IEnergySettlement
    function tariffCount(uint256 operationId) external view returns (uint256) {
        return _tariffs[operationId].length;
    }

    /// @inheritdoc IEnergySettlement
    /// @dev An unknown id returns an empty schedule.
    function tariff(uint256 operationId, uint256 scheduleId) external view returns (Tariff memory) {
        Tariff[] storage schedules = _tariffs[operationId];
        if (scheduleId == 0 || scheduleId > schedules.length) return Tariff(0, 0, 0, 0);
        return schedules[scheduleId - 1];
    }

    /// @inheritdoc IEnergySettlement
    function tariffAt(uint256 operationId, uint32 day) external view returns (uint256 scheduleId, Tariff memory t) {
        scheduleId = _tariffIndexAt(operationId, day);
        if (scheduleId != 0) t = _tariffs[operationId][scheduleId - 1];
    }

    /// @inheritdoc IEnergySettlement
    function priceBounds() external view returns (PriceBounds memory) {
        return _bounds;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Adds a processed batch to the progress of the (day, version), within the committed
    /// amount; the batch that processes the last line must bring the total to that amount exactly.
    function _recordBatch(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 before,
        uint32 end,
        bool last,
        uint256 paid,
        uint256 shortfall
    ) private {
        Progress storage p = _progress[operationId][day][version];
        uint256 total = uint256(p.paid) + paid + p.shortfall + shortfall;
        uint256 committed = _totals[operationId][day][version].amount;
        if (total > committed) revert EnergySettlementAboveCommitted(operationId, day, version, total, committed);
        if (last && total != committed) {
            revert EnergySettlementBelowCommitted(operationId, day, version, total, committed);
        }
        // paid + shortfall totals are at most `committed`, which commitDay bounds by type(uint96).max.
        p.paidUpTo = end;
        p.paid += uint96(paid);
        p.shortfall += uint96(shortfall);
        emit EnergySettlementBatchPaid(operationId, day, version, before, end, paid, shortfall);
    }

    /// @dev Continues the hash chain of the lines below `paidUpTo` (none before the first batch)
    /// over `lines`, the lines `paidUpTo`, `paidUpTo + 1`, ... of this batch:
    /// `chain = keccak256(abi.encode(chain, payer, payee, amount))` per line. Keeps it for the next
    /// batch unless this one processes the last line (then `pay` compares it to the committed one).
    function _chainLines(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 paidUpTo,
        bool last,
        Transfer[] calldata lines
    ) private returns (bytes32 chain) {
        chain = paidUpTo == 0 ? bytes32(0) : _runningHashes[operationId][day][version];
        // A Transfer is three static words in calldata; abi.encode(chain, payer, payee, amount) is
        // written in the scratch memory above the free memory pointer, which is left as it is.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let addressMask := 0xffffffffffffffffffffffffffffffffffffffff
            let limit := add(lines.offset, mul(lines.length, 0x60))
            for { let at := lines.offset } lt(at, limit) { at := add(at, 0x60) } {
                mstore(ptr, chain)
                mstore(add(ptr, 0x20), and(calldataload(at), addressMask))
                mstore(add(ptr, 0x40), and(calldataload(add(at, 0x20)), addressMask))
                mstore(add(ptr, 0x60), calldataload(add(at, 0x40)))
                chain := keccak256(ptr, 0x80)
            }
        }
        if (!last) _runningHashes[operationId][day][version] = chain;
    }

    /// @dev Processes `transfers[paidUpTo - fromIndex:]`: pays each line or reports it short.
    function _payLines(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 fromIndex,
        uint32 paidUpTo,
        Transfer[] calldata transfers
    ) private returns (uint256 paid, uint256 shortfall) {
        // pay() checked fromIndex <= paidUpTo and fromIndex + transfers.length <= count < 2**32:
        // every index fits in uint32. Each line amount is checked below 2**96 (no line can exceed a
        // committed amount, itself below 2**96), so `paid` and `shortfall` sum fewer than 2**32
        // terms below 2**96 each: below 2**128, they cannot wrap.
        unchecked {
            for (uint256 i = paidUpTo - fromIndex; i < transfers.length; ++i) {
                Transfer calldata line = transfers[i];
                uint256 amount = line.amount;
                uint32 index = uint32(fromIndex + i);
                address payer = line.payer;
                address payee = line.payee;
                if (
                    amount == 0 || amount > type(uint96).max || payer == payee || payee == address(0)
                        || payer == address(0)
                ) {
                    revert EnergySettlementInvalidTransfer(index);
                }
                if (_pull(payer, payee, amount, index)) {
                    paid += amount;
                } else {
                    shortfall += amount;
                    _reportShortfall(operationId, day, version, index, line);
                }
            }
        }
    }

    function _reportShortfall(uint256 operationId, uint32 day, uint32 version, uint32 index, Transfer calldata line)
        private
    {
        emit EnergySettlementShortfall(operationId, day, version, index, line.payer, line.payee, line.amount);
    }

    /// @dev Pulls `amount` from `payer` to `payee`. False when the payer lacks balance or
    /// allowance (ERC-6093 errors of the token); any other refusal reverts the batch.
    function _pull(address payer, address payee, uint256 amount, uint32 index) private returns (bool) {
        try _token.transferFrom(payer, payee, amount) returns (bool ok) {
            if (!ok) revert EnergySettlementTransferFailed(index, "");
            return true;
        } catch (bytes memory reason) {
            bytes4 selector = reason.length >= 4 ? bytes4(reason) : bytes4(0);
            if (
                selector == IERC20Errors.ERC20InsufficientBalance.selector
                    || selector == IERC20Errors.ERC20InsufficientAllowance.selector
            ) return false;
            revert EnergySettlementTransferFailed(index, reason);
        }
    }

    /// @dev The 1-based id of the schedule in force on `day` (0 when none); schedules are sorted.
    function _tariffIndexAt(uint256 operationId, uint32 day) private view returns (uint256) {
        Tariff[] storage schedules = _tariffs[operationId];
        for (uint256 i = schedules.length; i > 0; --i) {
            if (schedules[i - 1].effectiveFrom <= day) return i;
        }
        return 0;
    }

    function _setPriceBounds(PriceBounds memory b) private {
        uint32 lowest = b.solarCeiling;
        if (b.peakCeiling < lowest) lowest = b.peakCeiling;
        if (b.offPeakCeiling < lowest) lowest = b.offPeakCeiling;
        if (b.floor > lowest) revert EnergySettlementInvalidPriceBounds(b.floor, lowest);
        _bounds = b;
        emit EnergySettlementPriceBoundsChanged(b.floor, b.solarCeiling, b.peakCeiling, b.offPeakCeiling);
    }

    function _requireInBounds(Band band, uint32 price, uint32 floor, uint32 ceiling) private pure {
        if (price < floor || price > ceiling) revert EnergySettlementPriceOutOfBounds(band, price, floor, ceiling);
    }

    /// @dev YYYYMMDD with a month 1..12 and a day 1..31 (the calendar is checked off chain).
    function _requireDay(uint32 day) private pure {
        uint32 month = (day / 100) % 100;
        uint32 dom = day % 100;
        if (day < 1970_01_01 || month == 0 || month > 12 || dom == 0 || dom > 31) {
            revert EnergySettlementInvalidDay(day);
        }
    }
}
