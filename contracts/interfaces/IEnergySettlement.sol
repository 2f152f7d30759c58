// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Daily settlement of collective solar self-consumption (autoconsommation collective)
/// @notice The operator's tariff registry, the oracle's daily commitment (a Merkle root of the
/// day's lines plus totals) and the payment of the netted consumer -> producer amounts, pulled
/// from what each consumer pre-authorised to this contract at enrolment (allowance or permit).
/// A payer short of balance or allowance produces `EnergySettlementShortfall` (the operator bills
/// it in euros) without failing the batch.
/// @dev Days are local (Europe/Paris) calendar dates written as YYYYMMDD (20250615). A day is
/// committed in versions 1, 2, ...: version 1 is the first settlement, each later version is a
/// correction whose transfer lines are only the difference to pay. Each version has
/// `totals.transfers` transfer lines, numbered from 0; `pay` moves them in order, in as many
/// transactions as needed, and keeps a paid-up-to index so that a line is paid once, ever: lines
/// below the index are skipped, a batch starting above it is refused.
/// Merkle leaves follow OpenZeppelin's StandardMerkleTree: `keccak256(bytes.concat(keccak256(
/// abi.encode(kind, index, time, payer, payee, wh, value))))` with types
/// `(uint8, uint32, uint64, address, address, uint64, uint256)`, pairs hashed sorted.
/// The ordered transfer lines are also bound by a hash chain committed with the root:
/// `h_0 = bytes32(0)`, `h_{i+1} = keccak256(abi.encode(h_i, payer, payee, amount))` over lines
/// 0, 1, ..., `totals.transfers - 1`; `pay` continues the chain over the lines it processes and the
/// batch that processes the last line reverts unless the chain equals the committed hash. Lines
/// other than the committed ones (an amount, an account, the order) can therefore never close the
/// version, and no correction can be committed while it is open: the operator sees the day stuck.
interface IEnergySettlement {
    /// @notice The time bands of a tariff schedule.
    enum Band {
        Solar,
        Peak,
        OffPeak
    }

    /// @notice The figures of a committed (day, version).
    /// @dev Energy in Wh; `amount` in micro-M3E is what this version's transfer lines move in
    /// total; `transfers` is how many transfer lines it has.
    struct Totals {
        uint64 producedWh;
        uint64 consumedWh;
        uint64 allocatedWh;
        uint64 surplusWh;
        uint128 amount;
        uint32 transfers;
    }

    /// @notice One netted payment line: `payer` pays `amount` micro-M3E to `payee`.
    /// @dev In version 1 the payer is a consumer and the payee a producer; in a correction that
    /// gives money back the roles are reversed.
    struct Transfer {
        address payer;
        address payee;
        uint256 amount;
    }

    /// @notice A tariff schedule of an operation: prices in micro-euro per kWh, by band, in force
    /// from `effectiveFrom` (YYYYMMDD, local) until the next schedule.
    struct Tariff {
        uint32 effectiveFrom;
        uint32 solarPrice;
        uint32 peakPrice;
        uint32 offPeakPrice;
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
    /// @dev `paidUpTo` transfer lines were processed (paid or reported short); `paid` and
    /// `shortfall` are their amounts. The version is closed when `paidUpTo == totals.transfers`, and
    /// then `paid + shortfall == totals.amount`.
    struct Commitment {
        bytes32 root;
        Totals totals;
        uint32 paidUpTo;
        uint96 paid;
        uint96 shortfall;
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
    /// @notice The bounds of tariff prices changed.
    event EnergySettlementPriceBoundsChanged(
        uint32 floor, uint32 solarCeiling, uint32 peakCeiling, uint32 offPeakCeiling
    );
    /// @notice The oracle committed a (day, version): the Merkle root of its lines and its totals.
    event EnergySettlementDayCommitted(
        uint256 indexed operationId, uint32 indexed day, uint32 indexed version, bytes32 root, Totals totals
    );
    /// @notice The oracle committed the hash chain of the transfer lines of a (day, version)
    /// (emitted right after `EnergySettlementDayCommitted`).
    event EnergySettlementTransfersCommitted(
        uint256 indexed operationId, uint32 indexed day, uint32 indexed version, bytes32 transfersHash
    );
    /// @notice Transfer lines `fromIndex` to `toIndex - 1` of a (day, version) were processed:
    /// `paid` micro-M3E moved from payers to payees (each as an ERC-20 Transfer of the token),
    /// `shortfall` could not be pulled and is billed in euros.
    event EnergySettlementBatchPaid(
        uint256 indexed operationId,
        uint32 indexed day,
        uint32 indexed version,
        uint32 fromIndex,
        uint32 toIndex,
        uint256 paid,
        uint256 shortfall
    );
    /// @notice The payer of transfer line `index` lacked balance or allowance: `amount` was not
    /// moved; the operator bills it in euros. The batch went on.
    event EnergySettlementShortfall(
        uint256 indexed operationId,
        uint32 indexed day,
        uint32 version,
        uint32 index,
        address indexed payer,
        address payee,
        uint256 amount
    );

    /// @notice The zero address was given where an account is needed.
    error EnergySettlementZeroAddress();
    /// @notice A day is a local calendar date written YYYYMMDD.
    error EnergySettlementInvalidDay(uint32 day);
    /// @notice A price must lie between the feed-in floor and the avoided-price ceiling of its band.
    error EnergySettlementPriceOutOfBounds(Band band, uint32 price, uint32 floor, uint32 ceiling);
    /// @notice Price bounds need a floor at or below every ceiling.
    error EnergySettlementInvalidPriceBounds(uint32 floor, uint32 ceiling);
    /// @notice Tariff schedules take effect on strictly increasing days; this one is not after the last.
    error EnergySettlementTariffNotAfterLast(uint256 operationId, uint32 effectiveFrom, uint32 lastEffectiveFrom);
    /// @notice A tariff is never retroactive: it must take effect after the last committed day.
    error EnergySettlementTariffRetroactive(uint256 operationId, uint32 effectiveFrom, uint32 lastCommittedDay);
    /// @notice No tariff schedule is in force on this day for this operation: set one first.
    error EnergySettlementNoTariff(uint256 operationId, uint32 day);
    /// @notice A commitment needs a non-zero Merkle root.
    error EnergySettlementZeroRoot();
    /// @notice The totals do not add up: allocated at most produced and consumed, produced equal to
    /// allocated plus surplus, no amount without transfer lines, at least one unit per transfer line.
    error EnergySettlementInconsistentTotals();
    /// @notice This (day, version) is already committed; a correction is the next version.
    error EnergySettlementDayAlreadyCommitted(uint256 operationId, uint32 day, uint32 version);
    /// @notice Versions of a day follow each other: commit the expected version.
    error EnergySettlementVersionGap(uint256 operationId, uint32 day, uint32 version, uint32 expected);
    /// @notice The previous version of this day still has transfer lines to pay; pay them first.
    error EnergySettlementPreviousVersionOpen(uint256 operationId, uint32 day, uint32 version, uint32 paidUpTo);
    /// @notice This (day, version) was never committed.
    error EnergySettlementDayNotCommitted(uint256 operationId, uint32 day, uint32 version);
    /// @notice A batch must start at or below the paid-up-to index: lines in between would be missed.
    error EnergySettlementIndexGap(uint256 operationId, uint32 day, uint32 version, uint32 fromIndex, uint32 paidUpTo);
    /// @notice The batch goes past the last transfer line committed for this (day, version).
    error EnergySettlementTooManyTransfers(uint256 operationId, uint32 day, uint32 version, uint256 end, uint32 count);
    /// @notice A transfer line moves a non-zero amount below 2**96 between two different non-zero accounts.
    error EnergySettlementInvalidTransfer(uint32 index);
    /// @notice Paying this batch would move more than the amount committed for the (day, version).
    error EnergySettlementAboveCommitted(uint256 operationId, uint32 day, uint32 version, uint256 total, uint256 amount);
    /// @notice The last transfer line of a (day, version) was processed but the lines paid and short
    /// add up to less than the amount committed: a line is missing or wrong.
    error EnergySettlementBelowCommitted(uint256 operationId, uint32 day, uint32 version, uint256 total, uint256 amount);
    /// @notice The token refused a transfer for a reason other than balance or allowance (paused?).
    error EnergySettlementTransferFailed(uint32 index, bytes reason);
    /// @notice The transfer lines processed for this (day, version) are not the committed ones (an
    /// amount, an account or the order differs): the version cannot be closed with them.
    error EnergySettlementTransfersMismatch(uint256 operationId, uint32 day, uint32 version);

    /// @notice Sets a tariff schedule of an operation (TARIFF_ROLE): effective from `effectiveFrom`
    /// (YYYYMMDD), strictly after the previous schedule and after the last committed day, each
    /// price within the bounds. Ids start at 1 per operation.
    function setTariff(uint256 operationId, uint32 effectiveFrom, uint32 solarPrice, uint32 peakPrice, uint32 offPeakPrice)
        external
        returns (uint256 scheduleId);

    /// @notice Sets the bounds of tariff prices (DEFAULT_ADMIN_ROLE); existing schedules keep their prices.
    function setPriceBounds(PriceBounds calldata bounds) external;

    /// @notice Commits a (day, version) of an operation (ORACLE_ROLE): the Merkle root of its lines,
    /// its totals and the hash chain of its transfer lines in order (zero when it has none). Version
    /// 1 first, then each correction; the previous version must be fully paid. Version 1 needs a
    /// tariff in force on the day.
    function commitDay(
        uint256 operationId,
        uint32 day,
        uint32 version,
        bytes32 root,
        Totals calldata totals,
        bytes32 transfersHash
    ) external;

    /// @notice Pays transfer lines `fromIndex`, `fromIndex + 1`, ... of a committed (day, version)
    /// (ORACLE_ROLE), pulling each amount from the payer's allowance to this contract. Lines below
    /// the paid-up-to index are skipped (never paid twice); a payer short of balance or allowance
    /// produces a shortfall event and the batch goes on. The batch that processes the last line
    /// reverts unless the lines processed hash to the committed transfers hash.
    /// @return paidUpTo the number of lines processed after this call
    function pay(uint256 operationId, uint32 day, uint32 version, uint32 fromIndex, Transfer[] calldata transfers)
        external
        returns (uint32 paidUpTo);

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
    /// @notice How many tariff schedules an operation has (the last id).
    function tariffCount(uint256 operationId) external view returns (uint256);
    /// @notice A tariff schedule (ids from 1).
    function tariff(uint256 operationId, uint256 scheduleId) external view returns (Tariff memory);
    /// @notice The schedule in force on `day` (id 0 and an empty schedule when none).
    function tariffAt(uint256 operationId, uint32 day) external view returns (uint256 scheduleId, Tariff memory);
    /// @notice The bounds of tariff prices.
    function priceBounds() external view returns (PriceBounds memory);
}
