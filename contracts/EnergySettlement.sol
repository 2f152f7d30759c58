// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IDistrictToken} from "./interfaces/IDistrictToken.sol";
import {IEnergySettlement} from "./interfaces/IEnergySettlement.sol";

/// @title Daily settlement of collective solar self-consumption
/// @notice Tariff registry, daily commitments (Merkle root plus totals), members' energy mandates
/// and the payment of each member's net total of a day through the operation's pool.
/// @dev Binding of the lines: `pay` hashes the member lines it is given (one keccak per line, in
/// scratch memory) and checks the batch leaf against the committed root with a Merkle proof before
/// any token moves, so a batch is either exactly a committed one or reverts whole. Gas per line:
/// the member's account (mandate usage and what it owes, one slot) is read and written once, its
/// mandate (one slot) read for a debit, and one token transfer (debit: member -> contract; credit:
/// contract -> member); per batch the progress is one slot, the pool one slot, one summary event.
/// A debit whose member lacks mandate room, allowance or balance is recorded as owed (the
/// token's ERC-6093 errors are caught); any other refusal of the token (a pause) reverts the
/// batch, so nothing is wrongly reported short.
/// Reentrancy: the token is called in the loop; the transient guard refuses any re-entry, and the
/// token is the district's own ERC-20.
contract EnergySettlement is IEnergySettlement, AccessControlDefaultAdminRules, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Commits days and pays their member lines.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Sets tariff schedules and covers what members owe (the operator, "personne morale
    /// organisatrice").
    bytes32 public constant TARIFF_ROLE = keccak256("TARIFF_ROLE");
    /// @notice Pauses and unpauses commitments and payments.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice The `kind` of a batch leaf in the tree of a day.
    uint8 public constant BATCH_KIND = 6;

    /// @notice Default feed-in floor: 0.04 EUR/kWh (small roofs, 2025), in micro-euro per kWh.
    uint32 public constant DEFAULT_FLOOR = 40_000;
    /// @notice Default ceilings: the regulated tariff 2025 incl. tax (base, peak, off-peak).
    uint32 public constant DEFAULT_SOLAR_CEILING = 195_200;
    uint32 public constant DEFAULT_PEAK_CEILING = 208_100;
    uint32 public constant DEFAULT_OFF_PEAK_CEILING = 163_500;

    /// @dev The largest magnitude of a member line and of a version's amount.
    uint256 private constant MAX_LINE = 2 ** 80 - 1;
    /// @dev The earliest local midnight of a date in Europe/Paris is 2 hours before UTC midnight.
    uint256 private constant PARIS_MAX_OFFSET = 2 hours;

    /// @dev How a (day, version) stands: one slot, read and written once per `pay`. `committed`
    /// is set by `commitDay`, so the slot is never zero when `pay` writes it (a cheaper write).
    struct Progress {
        uint32 nextBatch;
        uint32 batchSize;
        uint88 debits;
        uint88 credits;
        bool committed;
        bool voided;
    }

    /// @dev What a batch adds up to.
    struct BatchSums {
        uint256 debits;
        uint256 credits;
        uint256 pulled;
        uint256 short_;
        uint256 pool;
    }

    IERC20 private immutable _token;

    PriceBounds private _bounds;
    mapping(uint256 operationId => uint32) private _lastCommittedDay;
    mapping(uint256 operationId => Tariff[]) private _tariffs;
    /// @inheritdoc IEnergySettlement
    mapping(uint256 operationId => mapping(uint256 scheduleId => Solidarity)) public tariffSolidarity;
    mapping(uint256 operationId => mapping(uint32 day => uint32)) private _latestVersion;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => bytes32))) private _roots;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => Totals))) private _totals;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => Progress))) private _progress;
    mapping(uint256 operationId => mapping(uint32 day => mapping(uint32 version => uint64))) private _voidEtas;
    mapping(uint256 operationId => mapping(address member => Mandate)) private _mandates;
    mapping(uint256 operationId => mapping(address member => MemberAccount)) private _accounts;
    mapping(uint256 operationId => uint256) private _pools;
    mapping(uint256 operationId => mapping(address member => mapping(uint32 day => mapping(uint32 version => uint256))))
        private _dayApprovals;

    /// @param token_ the district token (ERC-20 with EIP-2612 permit)
    /// @param admin the default admin (two-step transfer, `adminDelay` seconds)
    /// @param adminDelay the delay of a default admin transfer and of a void, in seconds
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
        return _addTariff(operationId, effectiveFrom, solarPrice, peakPrice, offPeakPrice);
    }

    /// @inheritdoc IEnergySettlement
    function setTariffWithSolidarity(
        uint256 operationId,
        uint32 effectiveFrom,
        uint32 solarPrice,
        uint32 peakPrice,
        uint32 offPeakPrice,
        uint32 peakSurcharge,
        uint32 offPeakDiscount
    ) external onlyRole(TARIFF_ROLE) returns (uint256 scheduleId) {
        scheduleId = _addTariff(operationId, effectiveFrom, solarPrice, peakPrice, offPeakPrice);
        PriceBounds memory b = _bounds;
        // In uint256: a price plus a surcharge may pass 2**32.
        if (uint256(peakPrice) + peakSurcharge > b.peakCeiling) {
            revert EnergySettlementSolidarityOutOfBounds(Band.Peak, peakPrice, peakSurcharge, b.peakCeiling);
        }
        if (uint256(offPeakDiscount) + b.floor > offPeakPrice) {
            revert EnergySettlementSolidarityOutOfBounds(Band.OffPeak, offPeakPrice, offPeakDiscount, b.floor);
        }
        tariffSolidarity[operationId][scheduleId] =
            Solidarity({peakSurcharge: peakSurcharge, offPeakDiscount: offPeakDiscount});
        emit EnergySettlementTariffSolidaritySet(operationId, scheduleId, peakSurcharge, offPeakDiscount);
    }

    /// @dev Checks and appends a schedule; returns its id.
    function _addTariff(uint256 operationId, uint32 effectiveFrom, uint32 solarPrice, uint32 peakPrice, uint32 offPeakPrice)
        private
        returns (uint256 scheduleId)
    {
        uint256 epochDay = _epochDay(effectiveFrom);
        Tariff[] storage schedules = _tariffs[operationId];
        uint256 count = schedules.length;
        if (count != 0) {
            uint32 last = schedules[count - 1].effectiveFrom;
            if (effectiveFrom <= last) revert EnergySettlementTariffNotAfterLast(operationId, effectiveFrom, last);
        }
        uint32 committed = _lastCommittedDay[operationId];
        if (effectiveFrom <= committed) revert EnergySettlementTariffRetroactive(operationId, effectiveFrom, committed);
        // _epochDay accepts 1970-01-01 onwards only: epochDay * 1 days >= 0, and the first local
        // midnight of a date is 2 hours before its UTC midnight (Europe/Paris, summer time).
        uint256 startsAt = epochDay * 1 days;
        startsAt = startsAt > PARIS_MAX_OFFSET ? startsAt - PARIS_MAX_OFFSET : 0;
        if (block.timestamp >= startsAt) {
            revert EnergySettlementTariffNotInFuture(operationId, effectiveFrom, startsAt, block.timestamp);
        }
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
        uint32 batchSize
    ) external onlyRole(ORACLE_ROLE) whenNotPaused {
        {
            // The UTC midnight after the date is at or after its local end (Paris is ahead of UTC).
            uint256 endsAt = (_epochDay(day) + 1) * 1 days;
            if (block.timestamp < endsAt) revert EnergySettlementDayNotEnded(day, endsAt, block.timestamp);
        }
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
            Progress memory previous = _progress[operationId][day][latest];
            if (!previous.voided && previous.nextBatch != _batchCount(_totals[operationId][day][latest].transfers, previous.batchSize)) {
                revert EnergySettlementPreviousVersionOpen(operationId, day, latest, previous.nextBatch);
            }
        } else if (_tariffIndexAt(operationId, day) == 0) {
            revert EnergySettlementNoTariff(operationId, day);
        }
        if (
            totals.allocatedWh > totals.producedWh || totals.allocatedWh > totals.consumedWh
                || uint256(totals.producedWh) != uint256(totals.allocatedWh) + totals.surplusWh
                || (totals.transfers == 0) != (totals.amount == 0) || totals.transfers == 1
                || totals.amount > MAX_LINE
        ) revert EnergySettlementInconsistentTotals();
        if ((batchSize == 0) != (totals.transfers == 0)) {
            revert EnergySettlementInvalidBatchSize(batchSize, totals.transfers);
        }

        _latestVersion[operationId][day] = version;
        _roots[operationId][day][version] = root;
        _totals[operationId][day][version] = totals;
        _progress[operationId][day][version] =
            Progress({nextBatch: 0, batchSize: batchSize, debits: 0, credits: 0, committed: true, voided: false});
        if (day > _lastCommittedDay[operationId]) _lastCommittedDay[operationId] = day;
        emit EnergySettlementDayCommitted(operationId, day, version, root, totals);
        emit EnergySettlementBatchesCommitted(
            operationId, day, version, batchSize, _batchCount(totals.transfers, batchSize)
        );
    }

    /// @inheritdoc IEnergySettlement
    function proposeVoid(uint256 operationId, uint32 day, uint32 version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireVoidable(operationId, day, version);
        uint64 eta = uint64(block.timestamp) + uint64(defaultAdminDelay());
        _voidEtas[operationId][day][version] = eta;
        emit EnergySettlementVoidProposed(operationId, day, version, eta);
    }

    /// @inheritdoc IEnergySettlement
    function cancelVoid(uint256 operationId, uint32 day, uint32 version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_voidEtas[operationId][day][version] == 0) revert EnergySettlementVoidNotProposed(operationId, day, version);
        delete _voidEtas[operationId][day][version];
        emit EnergySettlementVoidCancelled(operationId, day, version);
    }

    /// @inheritdoc IEnergySettlement
    function voidVersion(uint256 operationId, uint32 day, uint32 version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireVoidable(operationId, day, version);
        uint64 eta = _voidEtas[operationId][day][version];
        if (eta == 0) revert EnergySettlementVoidNotProposed(operationId, day, version);
        if (block.timestamp < eta) revert EnergySettlementVoidNotReady(operationId, day, version, eta);
        delete _voidEtas[operationId][day][version];
        Progress storage p = _progress[operationId][day][version];
        p.voided = true;
        emit EnergySettlementVoided(operationId, day, version, p.nextBatch);
    }

    // ------------------------------------------------------------------ payments

    /// @inheritdoc IEnergySettlement
    function pay(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 batch,
        MemberTransfer[] calldata lines,
        bytes32[] calldata proof
    ) external onlyRole(ORACLE_ROLE) whenNotPaused nonReentrant returns (uint32 nextBatch) {
        Progress memory p = _progress[operationId][day][version];
        if (!p.committed) revert EnergySettlementDayNotCommitted(operationId, day, version);
        // A batch below nextBatch was processed by an earlier call: skip it, never pay twice.
        if (batch < p.nextBatch) return p.nextBatch;
        if (p.voided) revert EnergySettlementVersionVoided(operationId, day, version);
        if (batch > p.nextBatch) revert EnergySettlementBatchGap(operationId, day, version, batch, p.nextBatch);
        (uint32 from, bool last) = _batchRange(operationId, day, version, batch, p.batchSize, lines.length);
        _requireCommittedBatch(operationId, day, version, batch, lines, proof);
        BatchSums memory sums = _processLines(operationId, day, version, from, lines);
        nextBatch = _recordBatch(operationId, day, version, p, sums, last);
        emit EnergySettlementBatchPaid(
            operationId, day, version, from, from + uint32(lines.length), sums.pulled, sums.short_
        );
    }

    // ------------------------------------------------------------------ mandates and balances

    /// @inheritdoc IEnergySettlement
    function setMandate(uint256 operationId, uint48 perDay, uint48 perMonth) external {
        if (perDay == 0 || perDay > perMonth) revert EnergySettlementInvalidMandate(perDay, perMonth);
        // A member that needs day approvals keeps needing them: a new cap never drops that.
        bool approvesDays = _mandates[operationId][msg.sender].approvesDays;
        _mandates[operationId][msg.sender] =
            Mandate({perDay: perDay, perMonth: perMonth, active: true, approvesDays: approvesDays});
        // The member's account slot is made non-zero here, once, so its first settled day writes
        // a used slot (2,900 gas) instead of a new one (20,000). Window 1 is no real day (days are
        // yyyymmdd): the first day opens a new window, nothing pulled or owed is touched.
        MemberAccount storage account = _accounts[operationId][msg.sender];
        if (account.day == 0) account.day = 1;
        emit EnergySettlementMandateSet(operationId, msg.sender, perDay, perMonth);
    }

    /// @inheritdoc IEnergySettlement
    function requireDayApproval(uint256 operationId) external {
        _mandates[operationId][msg.sender].approvesDays = true;
        _accounts[operationId][msg.sender].holdsCredits = true;
        emit EnergySettlementDayApprovalRequired(operationId, msg.sender);
    }

    /// @inheritdoc IEnergySettlement
    function approveDay(uint256 operationId, uint32 day, uint32 version, bytes32 root, uint256 amount) external {
        // Bound to the committed root: an approval never covers lines committed after it.
        if (root == bytes32(0) || _roots[operationId][day][version] != root) {
            revert EnergySettlementRootMismatch(operationId, day, version, root);
        }
        _dayApprovals[operationId][msg.sender][day][version] = amount;
        emit EnergySettlementDayApproved(operationId, msg.sender, day, version, amount);
    }

    /// @inheritdoc IEnergySettlement
    function revokeMandate(uint256 operationId) external {
        delete _mandates[operationId][msg.sender];
        emit EnergySettlementMandateRevoked(operationId, msg.sender);
    }

    /// @inheritdoc IEnergySettlement
    function collect(uint256 operationId, address member) external onlyRole(ORACLE_ROLE) whenNotPaused nonReentrant {
        MemberAccount memory account = _accounts[operationId][member];
        if (account.owed <= 0) revert EnergySettlementNothingOwed(operationId, member, account.owed);
        uint256 amount = uint256(int256(account.owed));
        if (!_withinMandate(_mandates[operationId][member], account.day, amount, account)) {
            revert EnergySettlementMandateExceeded(operationId, member, amount);
        }
        account.owed = 0;
        _accounts[operationId][member] = account;
        _pools[operationId] += amount;
        emit EnergySettlementOwedCollected(operationId, member, amount);
        _token.safeTransferFrom(member, address(this), amount);
    }

    /// @inheritdoc IEnergySettlement
    function cover(uint256 operationId, address member, uint256 amount) external onlyRole(TARIFF_ROLE) nonReentrant {
        MemberAccount storage account = _accounts[operationId][member];
        int256 owed = account.owed;
        if (owed <= 0 || amount == 0 || amount > uint256(owed)) {
            revert EnergySettlementNothingOwed(operationId, member, owed);
        }
        // 0 < amount <= owed < 2**95: the cast and the subtraction are exact.
        account.owed = int96(owed - int256(amount));
        _pools[operationId] += amount;
        emit EnergySettlementOwedCovered(operationId, member, msg.sender, amount);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IEnergySettlement
    function release(uint256 operationId, address member) external whenNotPaused nonReentrant {
        MemberAccount storage account = _accounts[operationId][member];
        if (account.holdsCredits && msg.sender != member) {
            revert EnergySettlementReleaseByMemberOnly(operationId, member);
        }
        int256 owed = account.owed;
        uint256 available = _pools[operationId];
        if (owed >= 0 || available == 0) revert EnergySettlementNothingToRelease(operationId, member, owed, available);
        uint256 due = uint256(-owed);
        uint256 amount = due < available ? due : available;
        account.owed = int96(owed + int256(amount));
        _pools[operationId] = available - amount;
        emit EnergySettlementDueReleased(operationId, member, amount);
        _token.safeTransfer(member, amount);
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
            batchSize: p.batchSize,
            nextBatch: p.nextBatch,
            debits: p.debits,
            credits: p.credits,
            voided: p.voided
        });
    }

    /// @inheritdoc IEnergySettlement
    function mandate(uint256 operationId, address member) external view returns (Mandate memory) {
        return _mandates[operationId][member];
    }

    /// @inheritdoc IEnergySettlement
    function dayApproval(uint256 operationId, address member, uint32 day, uint32 version)
        external
        view
        returns (uint256)
    {
        return _dayApprovals[operationId][member][day][version];
    }

    /// @inheritdoc IEnergySettlement
    function memberAccount(uint256 operationId, address member) external view returns (MemberAccount memory) {
        return _accounts[operationId][member];
    }

    /// @inheritdoc IEnergySettlement
    function pool(uint256 operationId) external view returns (uint256) {
        return _pools[operationId];
    }

    /// @inheritdoc IEnergySettlement
    function voidEta(uint256 operationId, uint32 day, uint32 version) external view returns (uint64) {
        return _voidEtas[operationId][day][version];
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

    /// @dev The hash chain of a batch's lines: h = keccak256(abi.encode(h, member, amount)) per line
    /// from zero. A MemberTransfer is two static words in calldata; abi.encode(h, member, amount) is
    /// written in the scratch memory above the free memory pointer, which is left as it is.
    function _chain(MemberTransfer[] calldata lines) private pure returns (bytes32 chain) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let addressMask := 0xffffffffffffffffffffffffffffffffffffffff
            let limit := add(lines.offset, mul(lines.length, 0x40))
            for { let at := lines.offset } lt(at, limit) { at := add(at, 0x40) } {
                mstore(ptr, chain)
                mstore(add(ptr, 0x20), and(calldataload(at), addressMask))
                mstore(add(ptr, 0x40), calldataload(add(at, 0x20)))
                chain := keccak256(ptr, 0x60)
            }
        }
    }

    /// @dev Adds a processed batch to the progress of the (day, version): its debits and its credits
    /// each within the committed amount, and equal to it after the last batch.
    function _recordBatch(
        uint256 operationId,
        uint32 day,
        uint32 version,
        Progress memory p,
        BatchSums memory sums,
        bool last
    ) private returns (uint32) {
        uint256 amount = _totals[operationId][day][version].amount;
        uint256 debits = p.debits + sums.debits;
        uint256 credits = p.credits + sums.credits;
        uint256 larger = debits > credits ? debits : credits;
        if (larger > amount) revert EnergySettlementAboveCommitted(operationId, day, version, larger, amount);
        if (last && (debits != amount || credits != amount)) {
            revert EnergySettlementBelowCommitted(operationId, day, version, debits < credits ? debits : credits, amount);
        }
        // Both at most `amount` <= MAX_LINE < 2**88 (commitDay); nextBatch + 1 <= batches < 2**32.
        p.debits = uint88(debits);
        p.credits = uint88(credits);
        p.nextBatch += 1;
        _progress[operationId][day][version] = p;
        return p.nextBatch;
    }

    /// @dev The first line number of `batch` and whether it is the last batch; reverts unless the
    /// batch exists and `length` is its number of lines.
    function _batchRange(uint256 operationId, uint32 day, uint32 version, uint32 batch, uint32 size, uint256 length)
        private
        view
        returns (uint32 from, bool last)
    {
        uint32 count = _totals[operationId][day][version].transfers;
        uint32 batches = _batchCount(count, size);
        if (batch >= batches) revert EnergySettlementNoSuchBatch(operationId, day, version, batch, batches);
        // batch < batches = ceil(count / size): batch * size < count < 2**32.
        from = batch * size;
        uint256 expected = count - from < size ? count - from : size;
        if (length != expected) revert EnergySettlementBatchLength(batch, length, expected);
        last = batch + 1 == batches;
    }

    /// @dev Reverts unless `lines` hash to a batch leaf that `proof` proves under the committed root.
    function _requireCommittedBatch(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 batch,
        MemberTransfer[] calldata lines,
        bytes32[] calldata proof
    ) private view {
        bytes32 leaf = leafOf(BATCH_KIND, batch, 0, address(0), address(0), uint64(lines.length), uint256(_chain(lines)));
        if (!MerkleProof.verifyCalldata(proof, _roots[operationId][day][version], leaf)) {
            revert EnergySettlementBatchNotCommitted(operationId, day, version, batch);
        }
    }

    /// @dev Moves the lines of a proven batch (line numbers from `from`): debits into the pool under
    /// the mandates, credits out of it.
    function _processLines(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 from,
        MemberTransfer[] calldata lines
    ) private returns (BatchSums memory sums) {
        sums.pool = _pools[operationId];
        for (uint256 i = 0; i < lines.length; ++i) {
            address member = lines[i].member;
            int256 amount = lines[i].amount;
            // from + i < count < 2**32 (pay checked the batch length).
            uint32 index = uint32(from + i);
            if (member == address(0) || amount == 0 || amount > int256(MAX_LINE) || amount < -int256(MAX_LINE)) {
                revert EnergySettlementInvalidTransfer(index);
            }
            MemberAccount memory account = _accounts[operationId][member];
            if (amount > 0) {
                _debit(operationId, day, version, index, member, uint256(amount), account, sums);
            } else {
                _credit(operationId, day, version, index, member, uint256(-amount), account, sums);
            }
            _accounts[operationId][member] = account;
        }
        _pools[operationId] = sums.pool;
    }

    /// @dev A debit line: pulled into the pool when the mandate, the allowance and the balance allow,
    /// else owed by the member.
    function _debit(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 index,
        address member,
        uint256 debit,
        MemberAccount memory account,
        BatchSums memory sums
    ) private {
        sums.debits += debit;
        Mandate memory m = _mandates[operationId][member];
        // Lines no meter backs (the commons fund's) need a second key: the member's own approval.
        if (m.approvesDays) {
            uint256 approved = _dayApprovals[operationId][member][day][version];
            if (debit > approved) {
                revert EnergySettlementDayNotApproved(operationId, member, day, version, debit, approved);
            }
            _dayApprovals[operationId][member][day][version] = approved - debit;
        }
        (uint32 window, uint48 spentDay, uint48 spentMonth) = (account.day, account.spentDay, account.spentMonth);
        if (_withinMandate(m, day, debit, account) && _pull(member, debit, index)) {
            sums.pulled += debit;
            sums.pool += debit;
            return;
        }
        // Not pulled: the mandate usage counted by _withinMandate is undone, the member owes it.
        (account.day, account.spentDay, account.spentMonth) = (window, spentDay, spentMonth);
        // debit < 2**80, and what a member owes grows by fewer than 2**32 lines per version: the
        // int96 stays far from its bound in any realistic history (a checked add reverts otherwise).
        account.owed += int96(int256(debit));
        sums.short_ += debit;
        emit EnergySettlementShortfall(operationId, day, version, index, member, address(this), debit);
    }

    /// @dev A credit line: first cancels what the member owes, then is paid from the pool; the rest
    /// stays due to the member.
    function _credit(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 index,
        address member,
        uint256 credit,
        MemberAccount memory account,
        BatchSums memory sums
    ) private {
        sums.credits += credit;
        uint256 netted;
        if (account.owed > 0) {
            uint256 owes = uint256(int256(account.owed));
            netted = owes < credit ? owes : credit;
        }
        uint256 rest = credit - netted;
        // A member holding its credits (the commons fund) releases them itself, and books them.
        uint256 paid = account.holdsCredits ? 0 : (rest < sums.pool ? rest : sums.pool);
        // A member frozen by a court or AML order receives nothing: its credit stays due to it
        // (paid by `release` once the order is lifted) and the batch goes on for the others.
        if (paid != 0 && !_push(member, paid, index)) paid = 0;
        // netted + rest - paid = credit - paid <= credit < 2**80.
        account.owed -= int96(int256(netted + rest - paid));
        sums.pool -= paid;
        emit EnergySettlementCredited(operationId, day, version, index, member, netted, paid, rest - paid);
    }

    /// @dev True when `member`'s mandate allows pulling `amount` for `day`, and counts it in
    /// `account` (not written here). The window is the member's latest settled day: a pull for an
    /// earlier day (a correction) counts in the current window, so no window ever exceeds a cap.
    function _withinMandate(Mandate memory m, uint32 day, uint256 amount, MemberAccount memory account)
        private
        pure
        returns (bool)
    {
        if (!m.active) return false;
        uint256 spentDay = account.spentDay;
        uint256 spentMonth = account.spentMonth;
        uint32 window = account.day;
        if (day > window) {
            if (day / 100 != window / 100) spentMonth = 0;
            spentDay = 0;
            window = day;
        }
        spentDay += amount;
        spentMonth += amount;
        if (spentDay > m.perDay || spentMonth > m.perMonth) return false;
        // Both at most a uint48 cap.
        account.day = window;
        account.spentDay = uint48(spentDay);
        account.spentMonth = uint48(spentMonth);
        return true;
    }

    /// @dev Pulls `amount` from `member` into the pool. False when the member lacks balance or
    /// allowance (ERC-6093 errors of the token) or is frozen by an order (the line is then owed,
    /// like a shortfall, so one frozen member never stalls a day); any other refusal reverts.
    function _pull(address member, uint256 amount, uint32 index) private returns (bool) {
        try _token.transferFrom(member, address(this), amount) returns (bool ok) {
            if (!ok) revert EnergySettlementTransferFailed(index, "");
            return true;
        } catch (bytes memory reason) {
            bytes4 selector = reason.length >= 4 ? bytes4(reason) : bytes4(0);
            if (
                selector == IERC20Errors.ERC20InsufficientBalance.selector
                    || selector == IERC20Errors.ERC20InsufficientAllowance.selector
                    || selector == IDistrictToken.DistrictTokenAccountFrozen.selector
            ) return false;
            revert EnergySettlementTransferFailed(index, reason);
        }
    }

    /// @dev Pays `amount` from the pool to `member`. False when the member is frozen by an order
    /// (nothing moved); any other refusal of the token reverts the batch.
    function _push(address member, uint256 amount, uint32 index) private returns (bool) {
        try _token.transfer(member, amount) returns (bool ok) {
            if (!ok) revert EnergySettlementTransferFailed(index, "");
            return true;
        } catch (bytes memory reason) {
            bytes4 selector = reason.length >= 4 ? bytes4(reason) : bytes4(0);
            if (selector == IDistrictToken.DistrictTokenAccountFrozen.selector) return false;
            revert EnergySettlementTransferFailed(index, reason);
        }
    }

    function _batchCount(uint32 transfers, uint32 batchSize) private pure returns (uint32) {
        if (batchSize == 0) return 0;
        // transfers + batchSize - 1 < 2**33: computed in uint256.
        return uint32((uint256(transfers) + batchSize - 1) / batchSize);
    }

    function _requireVoidable(uint256 operationId, uint32 day, uint32 version) private view {
        Progress memory p = _progress[operationId][day][version];
        if (
            !p.committed || p.voided || _latestVersion[operationId][day] != version
                || p.nextBatch == _batchCount(_totals[operationId][day][version].transfers, p.batchSize)
        ) revert EnergySettlementCannotVoid(operationId, day, version);
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

    /// @dev Days since 1970-01-01 of a date YYYYMMDD (a real calendar date, from 1970), by the
    /// days-from-civil algorithm of the proleptic Gregorian calendar.
    function _epochDay(uint32 day) private pure returns (uint256) {
        uint256 y = day / 10_000;
        uint256 m = (day / 100) % 100;
        uint256 d = day % 100;
        if (y < 1970 || m == 0 || m > 12 || d == 0 || d > _monthLength(y, m)) revert EnergySettlementInvalidDay(day);
        if (m <= 2) y -= 1;
        uint256 era = y / 400;
        uint256 yoe = y - era * 400;
        uint256 doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146_097 + doe - 719_468;
    }

    function _monthLength(uint256 y, uint256 m) private pure returns (uint256) {
        if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
        return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
    }
}
