// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Daily settlement of collective solar self-consumption (autoconsommation collective)
/// @notice The operator's tariff registry, the oracle's daily commitment (a Merkle root of the
/// day's lines plus totals), the members' energy mandates and the payment of each member's net
/// total of the day: a consumer pays its total into the contract, a producer receives its total
/// from it (a prosumer is netted), within what each member's mandate allows.
/// @dev Days are local (Europe/Paris) calendar dates written as YYYYMMDD (20250615). A day is
/// committed in versions 1, 2, ...: version 1 is the first settlement, each later version is a
/// correction whose member lines move only the difference (a consumer whose allocation went down
/// receives it back; a producer who earned less pays it back under its mandate, or the amount is
/// netted against its later earnings).
/// Lines: every line is a leaf of an OpenZeppelin StandardMerkleTree:
/// `keccak256(bytes.concat(keccak256(abi.encode(kind, index, time, payer, payee, wh, value))))` with
/// types `(uint8, uint32, uint64, address, address, uint64, uint256)`, pairs hashed sorted. The
/// `totals.transfers` member lines of a version are cut in batches of `batchSize` lines (the last
/// may be shorter); batch `b` holds lines `b * batchSize ...` and is a leaf of the same tree:
/// `(BATCH_KIND = 6, b, 0, address(0), address(0), lineCount, uint256(h))` where `h` is the hash
/// chain of its lines, `h_0 = bytes32(0)`, `h_{i+1} = keccak256(abi.encode(h_i, member, amount))`.
/// `pay` recomputes `h` over the lines it is given and checks the batch leaf against the committed
/// root with a Merkle proof, in the same transaction, before moving anything: no line moves money
/// unless it belongs to the committed list. What is proven on chain: each moved line is committed,
/// and the debits and the credits of a version each add up to its committed amount. What anyone
/// holding the lines checks off chain: each member line is the member's bought value minus its sold
/// value (BOUGHT and SOLD lines), and those are the sums of the member's PAIR lines.
/// Money: a debit line (amount > 0) pulls from the member into the contract, at most what the
/// member's mandate allows for that day and month (and what the member approved and holds); above
/// that the line is a shortfall: the member owes it (`owed`), retried by `collect` or covered by the
/// operator after billing it in euros (`cover`), never counted as paid. A credit line (amount < 0)
/// first cancels what the member owes, then pays from the operation's pool; what the pool cannot
/// pay yet stays due to the member (`owed` below zero) and is paid by `release` once the pool has it.
/// Per operation, at all times: pool + what members owe = what is due to members.
interface IEnergySettlement {
    /// @notice The time bands of a tariff schedule.
    enum Band {
        Solar,
        Peak,
        OffPeak
    }

    /// @notice The figures of a committed (day, version).
    /// @dev Energy in Wh; `amount` in micro-M3E is the sum of this version's debit lines, equal to
    /// the sum of its credit lines; `transfers` is how many member lines it has.
    struct Totals {
        uint64 producedWh;
        uint64 consumedWh;
        uint64 allocatedWh;
        uint64 surplusWh;
        uint128 amount;
        uint32 transfers;
    }

    /// @notice One member line of a day: `amount` > 0 the member pays it, < 0 the member receives it.
    struct MemberTransfer {
        address member;
        int256 amount;
    }

    /// @notice A tariff schedule of an operation: prices in micro-euro per kWh, by band, in force
    /// from `effectiveFrom` (YYYYMMDD, local) until the next schedule.
    struct Tariff {
        uint32 effectiveFrom;
        uint32 solarPrice;
        uint32 peakPrice;
        uint32 offPeakPrice;
    }

    /// @notice The solidarity component of a tariff schedule, in micro-euro per kWh: consumers pay
    /// `peakSurcharge` on top of the peak price to the commons fund, and the fund pays
    /// `offPeakDiscount` of the off-peak price for them. Producers are always paid the tariff price.
    struct Solidarity {
        uint32 peakSurcharge;
        uint32 offPeakDiscount;
    }

    /// @notice Bounds of every tariff price, in micro-euro per kWh: the producer's feed-in price
    /// (floor) and the consumer's avoided price per band (ceilings).
    struct PriceBounds {
        uint32 floor;
        uint32 solarCeiling;
        uint32 peakCeiling;
        uint32 offPeakCeiling;
    }

    /// @notice What the chain holds for one (operation, day, version).
    /// @dev `nextBatch` batches were processed; `debits` and `credits` are the sums of their debit
    /// and credit lines (shortfalls and credits still due included). The version is closed when
    /// `nextBatch` is the number of batches; then `debits == credits == totals.amount`. A voided
    /// version is closed without its remaining batches.
    struct Commitment {
        bytes32 root;
        Totals totals;
        uint32 batchSize;
        uint32 nextBatch;
        uint96 debits;
        uint96 credits;
        bool voided;
    }

    /// @notice A member's energy mandate for an operation: caps in micro-M3E per settled day and
    /// per calendar month of settled days. `active` false: revoked (or never given).
    struct Mandate {
        uint48 perDay;
        uint48 perMonth;
        bool active;
        /// @dev Set by `requireDayApproval`: a debit is pulled only within what the member
        /// approved for that (day, version) with `approveDay`.
        bool approvesDays;
    }

    /// @notice A member's standing in an operation: what was pulled under its mandate in the window
    /// of `day` (that day and its month), and `owed` (> 0 the member owes it, < 0 it is due to the
    /// member). `holdsCredits`: its credits stay due until it releases them itself (set with
    /// `requireDayApproval`).
    struct MemberAccount {
        uint32 day;
        uint48 spentDay;
        uint48 spentMonth;
        int96 owed;
        bool holdsCredits;
    }

    /// @notice The operator set a tariff schedule for an operation.
    event EnergySettlementTariffSet(
        uint256 indexed operationId,
        uint256 indexed scheduleId,
        uint32 effectiveFrom,
        uint32 solarPrice,
        uint32 peakPrice,
        uint32 offPeakPrice
    );
    /// @notice The schedule `scheduleId` (set in the same call, `EnergySettlementTariffSet` right
    /// before) carries a solidarity component: the peak surcharge paid to the commons fund and the
    /// off-peak discount the fund pays, micro-euro per kWh.
    event EnergySettlementTariffSolidaritySet(
        uint256 indexed operationId, uint256 indexed scheduleId, uint32 peakSurcharge, uint32 offPeakDiscount
    );
    /// @notice The bounds of tariff prices changed.
    event EnergySettlementPriceBoundsChanged(
        uint32 floor, uint32 solarCeiling, uint32 peakCeiling, uint32 offPeakCeiling
    );
    /// @notice The oracle committed a (day, version): the Merkle root of its lines and its totals.
    event EnergySettlementDayCommitted(
        uint256 indexed operationId, uint32 indexed day, uint32 indexed version, bytes32 root, Totals totals
    );
    /// @notice How the member lines of a (day, version) are cut in batches (emitted right after
    /// `EnergySettlementDayCommitted`).
    event EnergySettlementBatchesCommitted(
        uint256 indexed operationId, uint32 indexed day, uint32 indexed version, uint32 batchSize, uint32 batches
    );
    /// @notice Member lines `fromIndex` to `toIndex - 1` of a (day, version) were processed:
    /// `paid` micro-M3E pulled from members by debit lines, `shortfall` of debit lines not pulled
    /// (now owed by their members).
    event EnergySettlementBatchPaid(
        uint256 indexed operationId,
        uint32 indexed day,
        uint32 indexed version,
        uint32 fromIndex,
        uint32 toIndex,
        uint256 paid,
        uint256 shortfall
    );
    /// @notice Debit line `index` could not be pulled (mandate cap, allowance or balance): `payer`
    /// owes `amount`, to be collected later or billed in euros. `payee` is this contract (the pool).
    event EnergySettlementShortfall(
        uint256 indexed operationId,
        uint32 indexed day,
        uint32 version,
        uint32 index,
        address indexed payer,
        address payee,
        uint256 amount
    );
    /// @notice Credit line `index`: `netted` cancelled what the member owed, `paid` was paid from
    /// the pool, `due` stays due to the member (the pool lacked it).
    event EnergySettlementCredited(
        uint256 indexed operationId,
        uint32 indexed day,
        uint32 version,
        uint32 index,
        address indexed member,
        uint256 netted,
        uint256 paid,
        uint256 due
    );
    /// @notice A member set its energy mandate for an operation.
    event EnergySettlementMandateSet(
        uint256 indexed operationId, address indexed member, uint48 perDay, uint48 perMonth
    );
    /// @notice From now on, `member` pays a day only within what it approves for it (`approveDay`).
    event EnergySettlementDayApprovalRequired(uint256 indexed operationId, address indexed member);
    /// @notice `member` approved paying at most `amount` for this committed (day, version).
    event EnergySettlementDayApproved(
        uint256 indexed operationId, address indexed member, uint32 day, uint32 version, uint256 amount
    );
    /// @notice A member revoked its energy mandate: nothing more is pulled from it.
    event EnergySettlementMandateRevoked(uint256 indexed operationId, address indexed member);
    /// @notice `amount` of what `member` owed was pulled under its mandate (a retried shortfall).
    event EnergySettlementOwedCollected(uint256 indexed operationId, address indexed member, uint256 amount);
    /// @notice The operator paid `amount` of what `member` owed, after billing it in euros.
    event EnergySettlementOwedCovered(
        uint256 indexed operationId, address indexed member, address indexed by, uint256 amount
    );
    /// @notice `amount` due to `member` was paid from the pool.
    event EnergySettlementDueReleased(uint256 indexed operationId, address indexed member, uint256 amount);
    /// @notice The admin proposed to void a (day, version) that cannot be paid; it can be voided
    /// from `eta` (unix seconds).
    event EnergySettlementVoidProposed(
        uint256 indexed operationId, uint32 indexed day, uint32 indexed version, uint64 eta
    );
    /// @notice The admin cancelled a proposed void.
    event EnergySettlementVoidCancelled(uint256 indexed operationId, uint32 indexed day, uint32 indexed version);
    /// @notice A (day, version) was voided after `nextBatch` batches: no further batch of it is
    /// paid, and the next version (a correction from what was really moved) can be committed.
    event EnergySettlementVoided(
        uint256 indexed operationId, uint32 indexed day, uint32 indexed version, uint32 nextBatch
    );

    /// @notice The zero address was given where an account is needed.
    error EnergySettlementZeroAddress();
    /// @notice A day is a local calendar date written YYYYMMDD.
    error EnergySettlementInvalidDay(uint32 day);
    /// @notice A day can be committed only once it has ended by the chain's clock (`endsAt`, unix
    /// seconds, at or after the local end of the day): wait until then.
    error EnergySettlementDayNotEnded(uint32 day, uint256 endsAt, uint256 now);
    /// @notice A price must lie between the feed-in floor and the avoided-price ceiling of its band.
    error EnergySettlementPriceOutOfBounds(Band band, uint32 price, uint32 floor, uint32 ceiling);
    /// @notice A consumer's price with the solidarity component must stay within the bounds: the
    /// peak price plus the surcharge at most the peak ceiling, the off-peak price minus the
    /// discount at least the floor (`bound`). Lower the surcharge or the discount.
    error EnergySettlementSolidarityOutOfBounds(Band band, uint32 price, uint32 component, uint32 bound);
    /// @notice This member holds its credits: only the member itself releases what is due to it.
    error EnergySettlementReleaseByMemberOnly(uint256 operationId, address member);
    /// @notice Price bounds need a floor at or below every ceiling.
    error EnergySettlementInvalidPriceBounds(uint32 floor, uint32 ceiling);
    /// @notice Tariff schedules take effect on strictly increasing days; this one is not after the last.
    error EnergySettlementTariffNotAfterLast(uint256 operationId, uint32 effectiveFrom, uint32 lastEffectiveFrom);
    /// @notice A tariff is never retroactive: it must take effect after the last committed day.
    error EnergySettlementTariffRetroactive(uint256 operationId, uint32 effectiveFrom, uint32 lastCommittedDay);
    /// @notice A tariff is never retroactive: it must take effect on a day that has not started yet
    /// anywhere in France by the chain's clock (`startsAt`, unix seconds, is already past `now`).
    error EnergySettlementTariffNotInFuture(uint256 operationId, uint32 effectiveFrom, uint256 startsAt, uint256 now);
    /// @notice No tariff schedule is in force on this day for this operation: set one first.
    error EnergySettlementNoTariff(uint256 operationId, uint32 day);
    /// @notice A commitment needs a non-zero Merkle root.
    error EnergySettlementZeroRoot();
    /// @notice The totals do not add up: allocated at most produced and consumed, produced equal to
    /// allocated plus surplus, no amount without member lines, lines only with an amount.
    error EnergySettlementInconsistentTotals();
    /// @notice The batch size must be zero exactly when the version has no member lines.
    error EnergySettlementInvalidBatchSize(uint32 batchSize, uint32 transfers);
    /// @notice This (day, version) is already committed; a correction is the next version.
    error EnergySettlementDayAlreadyCommitted(uint256 operationId, uint32 day, uint32 version);
    /// @notice Versions of a day follow each other: commit the expected version.
    error EnergySettlementVersionGap(uint256 operationId, uint32 day, uint32 version, uint32 expected);
    /// @notice The previous version of this day still has batches to pay; pay them (or void it) first.
    error EnergySettlementPreviousVersionOpen(uint256 operationId, uint32 day, uint32 version, uint32 nextBatch);
    /// @notice This (day, version) was never committed.
    error EnergySettlementDayNotCommitted(uint256 operationId, uint32 day, uint32 version);
    /// @notice This (day, version) was voided: none of its remaining batches is paid.
    error EnergySettlementVersionVoided(uint256 operationId, uint32 day, uint32 version);
    /// @notice Batches are paid in order: pay batch `nextBatch` first.
    error EnergySettlementBatchGap(uint256 operationId, uint32 day, uint32 version, uint32 batch, uint32 nextBatch);
    /// @notice The (day, version) has no such batch (it has `batches`).
    error EnergySettlementNoSuchBatch(uint256 operationId, uint32 day, uint32 version, uint32 batch, uint32 batches);
    /// @notice A batch holds exactly `expected` lines.
    error EnergySettlementBatchLength(uint32 batch, uint256 length, uint256 expected);
    /// @notice These lines with this proof are not a batch of the committed root: nothing was moved.
    error EnergySettlementBatchNotCommitted(uint256 operationId, uint32 day, uint32 version, uint32 batch);
    /// @notice A member line names a non-zero account and a non-zero amount of magnitude below 2**80.
    error EnergySettlementInvalidTransfer(uint32 index);
    /// @notice The debits or the credits of this (day, version) (the larger, `total`) would exceed
    /// its committed amount.
    error EnergySettlementAboveCommitted(uint256 operationId, uint32 day, uint32 version, uint256 total, uint256 amount);
    /// @notice The last batch of a (day, version) was processed but its debits or credits (the
    /// smaller, `total`) add up to less than the committed amount: the commitment is wrong, void it and commit a correction.
    error EnergySettlementBelowCommitted(uint256 operationId, uint32 day, uint32 version, uint256 total, uint256 amount);
    /// @notice The token refused a transfer for a reason other than balance or allowance (paused?).
    error EnergySettlementTransferFailed(uint32 index, bytes reason);
    /// @notice A mandate needs a daily cap above zero and at most the monthly cap.
    error EnergySettlementInvalidMandate(uint48 perDay, uint48 perMonth);
    /// @notice This member pays a day only within what it approved for it (`approveDay`), `approved`
    /// left, below this line's `amount`: nothing was moved; the member approves the day, or the
    /// admin voids it.
    error EnergySettlementDayNotApproved(
        uint256 operationId, address member, uint32 day, uint32 version, uint256 amount, uint256 approved
    );
    /// @notice `root` is not the committed root of this (day, version): approve what was committed.
    error EnergySettlementRootMismatch(uint256 operationId, uint32 day, uint32 version, bytes32 root);
    /// @notice This member owes nothing to collect or cover (`owed`).
    error EnergySettlementNothingOwed(uint256 operationId, address member, int256 owed);
    /// @notice The member's mandate does not allow pulling `amount` now (revoked or above a cap).
    error EnergySettlementMandateExceeded(uint256 operationId, address member, uint256 amount);
    /// @notice Nothing is due to this member, or the pool holds nothing to pay it yet.
    error EnergySettlementNothingToRelease(uint256 operationId, address member, int256 owed, uint256 pool);
    /// @notice Only the latest version of a day, not closed, can be voided.
    error EnergySettlementCannotVoid(uint256 operationId, uint32 day, uint32 version);
    /// @notice No void of this (day, version) was proposed.
    error EnergySettlementVoidNotProposed(uint256 operationId, uint32 day, uint32 version);
    /// @notice The void of this (day, version) can be executed from `eta` (unix seconds) only.
    error EnergySettlementVoidNotReady(uint256 operationId, uint32 day, uint32 version, uint64 eta);

    /// @notice Sets a tariff schedule of an operation (TARIFF_ROLE): effective from `effectiveFrom`
    /// (YYYYMMDD), strictly after the previous schedule, after the last committed day and on a day
    /// not yet started by the chain's clock, each price within the bounds. Ids start at 1 per operation.
    function setTariff(uint256 operationId, uint32 effectiveFrom, uint32 solarPrice, uint32 peakPrice, uint32 offPeakPrice)
        external
        returns (uint256 scheduleId);

    /// @notice Sets a tariff schedule as `setTariff` does, with a solidarity component: consumers
    /// pay `peakSurcharge` more per peak kWh, to the commons fund, and the fund pays
    /// `offPeakDiscount` of each off-peak kWh for them, so a consumer's price stays within the
    /// bounds (peak price + surcharge <= peak ceiling, off-peak price - discount >= floor). The
    /// producer is paid the tariff price. Never retroactive, like every schedule.
    function setTariffWithSolidarity(
        uint256 operationId,
        uint32 effectiveFrom,
        uint32 solarPrice,
        uint32 peakPrice,
        uint32 offPeakPrice,
        uint32 peakSurcharge,
        uint32 offPeakDiscount
    ) external returns (uint256 scheduleId);

    /// @notice Sets the bounds of tariff prices (DEFAULT_ADMIN_ROLE); existing schedules keep their prices.
    function setPriceBounds(PriceBounds calldata bounds) external;

    /// @notice Commits a (day, version) of an operation (ORACLE_ROLE): the Merkle root of its lines
    /// (member lines and their batch leaves included), its totals and the batch size (zero when it
    /// has no member lines). The day must have ended by the chain's clock. Version 1 first, then
    /// each correction; the previous version must be closed or voided. Version 1 needs a tariff in
    /// force on the day.
    function commitDay(
        uint256 operationId,
        uint32 day,
        uint32 version,
        bytes32 root,
        Totals calldata totals,
        uint32 batchSize
    ) external;

    /// @notice Pays batch `batch` of a committed (day, version) (ORACLE_ROLE): `lines` are its member
    /// lines and `proof` the Merkle proof of its batch leaf. A batch already processed is skipped
    /// (never paid twice); batches go in order. Reverts, moving nothing, unless the lines are
    /// exactly the committed batch.
    /// @return nextBatch the number of batches processed after this call
    function pay(
        uint256 operationId,
        uint32 day,
        uint32 version,
        uint32 batch,
        MemberTransfer[] calldata lines,
        bytes32[] calldata proof
    ) external returns (uint32 nextBatch);

    /// @notice The caller's energy mandate for an operation: at most `perDay` micro-M3E pulled per
    /// settled day and `perMonth` per month. Replaces an earlier one; the member must also approve
    /// the token to this contract.
    function setMandate(uint256 operationId, uint48 perDay, uint48 perMonth) external;

    /// @notice Makes the caller's debits need its approval per day, for good: each debit line of a
    /// (day, version) is pulled only within what the caller approved for it (`approveDay`), else
    /// the batch reverts. For a member whose lines nobody's meter backs (the commons fund), so
    /// that the oracle key alone cannot make it pay. Kept by `setMandate`, dropped by
    /// `revokeMandate`. Its credits also stay due to it, for good, until it calls `release` itself:
    /// such a member books each receipt by its origin (the fund's net credit of a day is the peak
    /// surcharges beyond its discounts), so nothing reaches it unannounced.
    function requireDayApproval(uint256 operationId) external;

    /// @notice The caller approves paying at most `amount` in total for the committed (day, version)
    /// whose root is `root` (replaces an earlier approval of it). Only a member that
    /// `requireDayApproval` needs it.
    function approveDay(uint256 operationId, uint32 day, uint32 version, bytes32 root, uint256 amount) external;

    /// @notice Revokes the caller's energy mandate: nothing more is pulled from it (what it owes
    /// stays owed, billed in euros).
    function revokeMandate(uint256 operationId) external;

    /// @notice Retries what `member` owes (ORACLE_ROLE): pulls it whole into the pool under the
    /// mandate, counted in the member's current window (its latest settled day and that month).
    function collect(uint256 operationId, address member) external;

    /// @notice Pays `amount` of what `member` owes from the caller's tokens (TARIFF_ROLE: the
    /// operator, once the member paid the bill in euros and the euros were deposited).
    function cover(uint256 operationId, address member, uint256 amount) external;

    /// @notice Pays what is due to `member` from the pool, as far as the pool holds it (anyone; only
    /// the member itself when it holds its credits).
    function release(uint256 operationId, address member) external;

    /// @notice Proposes to void a (day, version) that cannot be paid (DEFAULT_ADMIN_ROLE); it can be
    /// voided after the default admin delay.
    function proposeVoid(uint256 operationId, uint32 day, uint32 version) external;

    /// @notice Cancels a proposed void (DEFAULT_ADMIN_ROLE).
    function cancelVoid(uint256 operationId, uint32 day, uint32 version) external;

    /// @notice Voids a (day, version) after its delay (DEFAULT_ADMIN_ROLE): its remaining batches are
    /// never paid and the next version can be committed.
    function voidVersion(uint256 operationId, uint32 day, uint32 version) external;

    /// @notice Pauses commitments and payments (PAUSER_ROLE).
    function pause() external;
    /// @notice Lifts the pause (PAUSER_ROLE).
    function unpause() external;

    /// @notice True when the line with these fields and this proof belongs to the committed root of
    /// the (day, version) (OpenZeppelin standard leaf, sorted-pair proof).
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
    ) external view returns (bool);

    /// @notice The standard Merkle leaf of a line.
    function leafOf(uint8 kind, uint32 index, uint64 time, address payer, address payee, uint64 wh, uint256 value)
        external
        pure
        returns (bytes32);

    /// @notice The token payments are made in.
    function token() external view returns (address);
    /// @notice What the chain holds for a (day, version); an empty root when never committed.
    function commitment(uint256 operationId, uint32 day, uint32 version) external view returns (Commitment memory);
    /// @notice The last committed version of a day (0 when none).
    function latestVersion(uint256 operationId, uint32 day) external view returns (uint32);
    /// @notice The latest day committed for an operation (0 when none): tariffs start after it.
    function lastCommittedDay(uint256 operationId) external view returns (uint32);
    /// @notice A member's mandate for an operation.
    function mandate(uint256 operationId, address member) external view returns (Mandate memory);
    /// @notice What `member` still approves paying for (day, version) (`approveDay`).
    function dayApproval(uint256 operationId, address member, uint32 day, uint32 version)
        external
        view
        returns (uint256);
    /// @notice A member's standing in an operation (mandate usage and what it owes or is due).
    function memberAccount(uint256 operationId, address member) external view returns (MemberAccount memory);
    /// @notice The tokens an operation holds between debits and credits.
    function pool(uint256 operationId) external view returns (uint256);
    /// @notice When a proposed void can be executed (0 when none is proposed).
    function voidEta(uint256 operationId, uint32 day, uint32 version) external view returns (uint64);
    /// @notice How many tariff schedules an operation has (the last id).
    function tariffCount(uint256 operationId) external view returns (uint256);
    /// @notice A tariff schedule (ids from 1).
    function tariff(uint256 operationId, uint256 scheduleId) external view returns (Tariff memory);
    /// @notice The schedule in force on `day` (id 0 and an empty schedule when none).
    function tariffAt(uint256 operationId, uint32 day) external view returns (uint256 scheduleId, Tariff memory);
    /// @notice The solidarity component of a schedule (zeros for a schedule without one, or an
    /// unknown id).
    function tariffSolidarity(uint256 operationId, uint256 scheduleId)
        external
        view
        returns (uint32 peakSurcharge, uint32 offPeakDiscount);
    /// @notice The bounds of tariff prices.
    function priceBounds() external view returns (PriceBounds memory);
}
