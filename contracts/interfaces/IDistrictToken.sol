// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Monnaie du 3e (M3E): the euro-backed district token of Lyon 3e
/// @notice One M3E is backed by one euro held by the operator. Tokens are created only when the
/// operator's treasurer records a euro deposit (each bank reference mints once, ever) and are
/// destroyed when a registered merchant converts them back to euros, paying a conversion fee to
/// the commons fund. The contract refuses any call after which `totalSupply() > reserve()`.
interface IDistrictToken {
    /// @notice A euro deposit was recorded and minted to `beneficiary`.
    /// @param bankRef the bank transaction reference; it can mint only once, ever
    /// @param reserveAfter the euro reserve (in micro-euro) after the deposit
    event DepositRecorded(
        bytes32 indexed bankRef, address indexed beneficiary, uint256 amount, uint256 reserveAfter
    );

    /// @notice A merchant converted `amount` tokens back to euros.
    /// @param redemptionId sequential id, the reference the operator's bank pays against
    /// @param fee tokens moved to the commons fund (not burned, still backed)
    /// @param euros tokens burned; the operator wires this many micro-euro to the merchant
    /// @param payoutRef the merchant's own reference for the payout (invoice, statement)
    event Redeemed(
        uint256 indexed redemptionId,
        address indexed merchant,
        uint256 amount,
        uint256 fee,
        uint256 euros,
        bytes32 payoutRef,
        uint256 reserveAfter
    );

    /// @notice The conversion fee changed.
    event RedemptionFeeChanged(uint256 oldFeeBps, uint256 newFeeBps);

    /// @notice The commons fund that receives conversion fees changed.
    event CommonsFundChanged(address indexed oldFund, address indexed newFund);

    /// @notice The merchant directory consulted for redemptions was set (once).
    event MerchantDirectorySet(address indexed directory);

    /// @notice An amount of zero was given where value must move.
    error DistrictTokenZeroAmount();
    /// @notice The zero address was given where an account is needed.
    error DistrictTokenZeroAddress();
    /// @notice This bank reference already minted; a deposit mints once, ever.
    error DistrictTokenDepositAlreadyRecorded(bytes32 bankRef);
    /// @notice Only an active registered merchant may convert tokens to euros.
    error DistrictTokenNotMerchant(address account);
    /// @notice The conversion fee asked is above the hard cap.
    error DistrictTokenFeeAboveCap(uint256 feeBps, uint256 capBps);
    /// @notice The merchant directory can be set only once.
    error DistrictTokenMerchantDirectoryAlreadySet(address directory);
    /// @notice Redemptions need the merchant directory to be set first.
    error DistrictTokenMerchantDirectoryNotSet();
    /// @notice Defensive: the call would leave more tokens than euros in reserve.
    error DistrictTokenSupplyAboveReserve(uint256 supply, uint256 reserve);

    /// @notice Records a euro deposit received by the operator and mints it to `beneficiary`.
    /// @dev Only TREASURER_ROLE; not while paused.
    function recordDeposit(bytes32 bankRef, address beneficiary, uint256 amount) external;

    /// @notice Converts `amount` of the caller's tokens back to euros (merchants only).
    /// The fee (`amount * feeBps / 10000`, rounded down) goes to the commons fund; the rest is
    /// burned and leaves the reserve. The commons fund, when it is itself a merchant, pays no fee.
    /// @return redemptionId the id the operator's payout refers to
    function redeem(uint256 amount, bytes32 payoutRef) external returns (uint256 redemptionId);

    /// @notice Sets the conversion fee in basis points (DEFAULT_ADMIN_ROLE), at most MAX_FEE_BPS.
    function setRedemptionFee(uint256 feeBps) external;

    /// @notice Sets the commons fund address (DEFAULT_ADMIN_ROLE).
    function setCommonsFund(address fund) external;

    /// @notice Sets, once, the merchant directory consulted by `redeem` (DEFAULT_ADMIN_ROLE).
    function setMerchantDirectory(address directory) external;

    /// @notice Pauses transfers, deposits and redemptions (PAUSER_ROLE).
    function pause() external;

    /// @notice Lifts the pause (PAUSER_ROLE).
    function unpause() external;

    /// @notice The euros held by the operator against the supply, in micro-euro.
    function reserve() external view returns (uint256);

    /// @notice Whether a bank reference has already minted.
    function depositRecorded(bytes32 bankRef) external view returns (bool);

    /// @notice The conversion fee in basis points.
    function redemptionFeeBps() external view returns (uint256);

    /// @notice Where conversion fees go.
    function commonsFund() external view returns (address);

    /// @notice The merchant directory consulted by `redeem`.
    function merchantDirectory() external view returns (address);

    /// @notice How many redemptions happened so far (the last id).
    function redemptionCount() external view returns (uint256);
}

/// @notice What the token asks the merchant registry before a redemption.
interface IMerchantDirectory {
    /// @notice True when `account` is the payout address of an active merchant.
    function isActiveMerchant(address account) external view returns (bool);
}
