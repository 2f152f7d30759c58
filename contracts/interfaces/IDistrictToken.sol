// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Monnaie du 3e (M3E): the euro-backed district token of Lyon 3e
/// @notice One M3E is backed by one euro held by the operator. Tokens are created only when a
/// treasurer records a euro deposit (each bank reference mints once, ever, and each mint consumes
/// the allowance the admin gave that treasurer key) and are destroyed when a registered merchant
/// converts them back to euros, paying a conversion fee to the commons fund. The contract refuses
/// any call after which `totalSupply() > reserve()`.
///
/// Signed transfers follow ERC-3009: an authorization carries a random 32-byte nonce chosen by the
/// signer, valid in a time window, usable once ever, cancellable by its signer. The EIP-712 domain
/// is the token's (name "Monnaie du 3e", version "1", chain id, token address); the types are:
///   TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)
///   ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)
///   CancelAuthorization(address authorizer,bytes32 nonce)
/// Signatures are 65-byte (r, s, v) ECDSA signatures of an EOA, or anything an EIP-1271 contract
/// wallet (a multisig, a smart wallet) accepts for the digest.
///
/// Powers are split: DEFAULT_ADMIN_ROLE (a timelock or a multisig off a dev chain; transfers of
/// it wait `defaultAdminDelay`) configures minter allowances, the fee, the commons fund, rescues
/// and retirement; TREASURER_ROLE mints within its allowance; PAUSER_ROLE pauses; FREEZER_ROLE
/// freezes accounts under a court or anti-money-laundering order.
///
/// Upgrades: none. The contract is immutable; a successor is deployed with this one as its
/// `predecessor`, this one is retired to it (for ever paused), and anyone then carries balances
/// over (`carryOver`), the successor taking over the whole reserve first.
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

    /// @notice The admin set what `minter` may still mint (`allowance`) and at most per UTC day
    /// (`dailyLimit`, 0 for no daily limit).
    event MinterConfigured(address indexed minter, uint256 allowance, uint256 dailyLimit);

    /// @notice An account was frozen under the order `orderRef`: it can neither send nor receive.
    event AccountFrozen(address indexed account, bytes32 indexed orderRef);

    /// @notice An account was unfrozen under the order `orderRef`.
    event AccountUnfrozen(address indexed account, bytes32 indexed orderRef);

    /// @notice The ERC-3009 authorization `nonce` of `authorizer` was used (it can never be again).
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);

    /// @notice The ERC-3009 authorization `nonce` of `authorizer` was cancelled by its signer.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    /// @notice The smallest amount a merchant may convert to euros changed.
    event MinRedemptionChanged(uint256 oldMinimum, uint256 newMinimum);

    /// @notice Tokens sent to this contract by mistake were sent to `to`, recorded here.
    event TokensRescued(address indexed asset, address indexed to, uint256 amount);

    /// @notice This token was retired for `successor`: every transfer stops for ever.
    event Retired(address indexed successor, uint256 supply, uint256 reserve);

    /// @notice The successor took over the whole reserve of its retired predecessor.
    event ReserveCarriedOver(address indexed predecessor, uint256 reserve);

    /// @notice The balance `holder` had in the retired predecessor was minted here.
    event BalanceCarriedOver(address indexed holder, uint256 amount);

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
    /// @notice This treasurer key may not mint that much: ask the admin to raise its minter allowance.
    error DistrictTokenMintAboveAllowance(address minter, uint256 amount, uint256 allowance);
    /// @notice This treasurer key reached its daily mint limit: mint the rest tomorrow (UTC) or ask
    /// the admin to raise the limit.
    error DistrictTokenMintAboveDailyLimit(
        address minter, uint256 amount, uint256 mintedToday, uint256 dailyLimit
    );
    /// @notice The account is frozen by a court or anti-money-laundering order: it can neither send
    /// nor receive tokens until the operator lifts the order.
    error DistrictTokenAccountFrozen(address account);
    /// @notice The account already has this freeze status.
    error DistrictTokenFreezeUnchanged(address account, bool frozen);
    /// @notice The signed authorization is not valid yet: submit it after `validAfter`.
    error DistrictTokenAuthorizationNotYetValid(uint256 validAfter);
    /// @notice The signed authorization is past its validity: ask the payer to sign a new one.
    error DistrictTokenAuthorizationExpired(uint256 validBefore);
    /// @notice This signed authorization was already used or cancelled by its signer; it can never
    /// move money again.
    error DistrictTokenAuthorizationUsedOrCanceled(address authorizer, bytes32 nonce);
    /// @notice The signature does not match the authorization (wrong signer, or a field was changed
    /// after signing).
    error DistrictTokenInvalidSignature(address authorizer);
    /// @notice Only the payee may submit a receive-with-authorization.
    error DistrictTokenCallerNotPayee(address caller, address payee);
    /// @notice The amount is below the smallest conversion to euros (each one is a bank wire):
    /// convert at least the minimum.
    error DistrictTokenRedemptionBelowMinimum(uint256 amount, uint256 minimum);
    /// @notice The minimum conversion asked is above the hard cap.
    error DistrictTokenMinRedemptionAboveCap(uint256 minimum, uint256 cap);
    /// @notice The contract holds fewer of these tokens than asked to rescue.
    error DistrictTokenRescueAboveBalance(address asset, uint256 amount, uint256 balance);
    /// @notice This token is retired for a successor: use the successor contract.
    error DistrictTokenIsRetired(address successor);
    /// @notice The token cannot be retired while the payments contract still holds tokens (open
    /// booking deposits): close or reclaim them first.
    error DistrictTokenEscrowNotEmpty(address directory, uint256 balance);
    /// @notice This token has no predecessor to carry balances over from.
    error DistrictTokenNoPredecessor();
    /// @notice The predecessor is not retired to this token yet: retire it first.
    error DistrictTokenPredecessorNotRetired(address predecessor, address successor);
    /// @notice This holder's balance was already carried over.
    error DistrictTokenAlreadyCarriedOver(address holder);
    /// @notice The treasurer key's remaining allowance is no longer the one expected (it minted in
    /// between): read minter() again and decide the new allowance from what it may still mint.
    error DistrictTokenMinterAllowanceChanged(address minter, uint256 expectedAllowance, uint256 allowance);
    /// @notice This token cannot be retired before every balance of its retired predecessor was
    /// carried over here: call carryOver for the remaining holders first.
    error DistrictTokenCarryOverUnfinished(address predecessor, uint256 carriedAmount, uint256 predecessorSupply);

    /// @notice Records a euro deposit received by the operator and mints it to `beneficiary`.
    /// @dev Only TREASURER_ROLE; consumes the caller's minter allowance (and its daily limit);
    /// not while paused; not to a frozen account.
    function recordDeposit(bytes32 bankRef, address beneficiary, uint256 amount) external;

    /// @notice Converts `amount` of the caller's tokens back to euros (merchants only), at least
    /// `minRedemption()`. The fee (`amount * feeBps / 10000`, rounded UP) goes to the commons fund;
    /// the rest is burned and leaves the reserve. The commons fund, when it is itself a merchant,
    /// pays no fee.
    /// @return redemptionId the id the operator's payout refers to
    function redeem(uint256 amount, bytes32 payoutRef) external returns (uint256 redemptionId);

    /// @notice Sets what `minter` may still mint (replacing the remaining allowance) and its limit
    /// per UTC day (0: none) (DEFAULT_ADMIN_ROLE). The key also needs TREASURER_ROLE to mint.
    function configureMinter(address minter, uint256 allowance, uint256 dailyLimit) external;

    /// @notice Like `configureMinter`, but only while `minter` may still mint exactly
    /// `expectedAllowance`: a treasurer key that minted in between (racing a lowered allowance, as
    /// with ERC-20 `approve`) makes the call fail instead of receiving the new allowance on top.
    function configureMinterIfUnchanged(
        address minter,
        uint256 expectedAllowance,
        uint256 allowance,
        uint256 dailyLimit
    ) external;

    /// @notice Freezes `account` under the order `orderRef` (FREEZER_ROLE).
    function freeze(address account, bytes32 orderRef) external;

    /// @notice Lifts the freeze of `account` under the order `orderRef` (FREEZER_ROLE).
    function unfreeze(address account, bytes32 orderRef) external;

    /// @notice ERC-3009: anyone submits a transfer `from` signed (TransferWithAuthorization).
    /// Not while paused; `nonce` is then used for ever.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    /// @notice ERC-3009: the payee `to` (only) submits a transfer `from` signed
    /// (ReceiveWithAuthorization), so nobody can front-run it past the payee's own logic.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    /// @notice ERC-3009: cancels an unused authorization of `authorizer` (CancelAuthorization signed
    /// by it; anyone may submit). Allowed while paused: cancelling only takes power away.
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes calldata signature) external;

    /// @notice Sets the smallest conversion to euros (DEFAULT_ADMIN_ROLE), at most MAX_MIN_REDEMPTION.
    function setMinRedemption(uint256 minimum) external;

    /// @notice Sends `amount` of `asset` held by this contract by mistake to `to`
    /// (DEFAULT_ADMIN_ROLE); `asset` may be this token itself.
    function rescue(address asset, address to, uint256 amount) external;

    /// @notice Retires this token for `successor` (DEFAULT_ADMIN_ROLE): every transfer, mint, burn,
    /// approval and authorization stops for ever; balances and the reserve stay readable for the
    /// successor's `carryOver`. Refused while the payments contract holds open booking deposits
    /// (`escrowed()`, not its balance), and, on a successor, while the carry-over from its own
    /// retired predecessor is unfinished.
    function retire(address successor) external;

    /// @notice On a successor: mints to each holder the balance it had in the retired predecessor,
    /// once per holder; the first call takes over the predecessor's whole reserve. Anyone may call.
    /// A holder frozen in the predecessor gets its balance here frozen, under the same order.
    function carryOver(address[] calldata holders) external;

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

    /// @notice Whether a bank reference has already minted, here or in any predecessor.
    function depositRecorded(bytes32 bankRef) external view returns (bool);

    /// @notice The conversion fee in basis points.
    function redemptionFeeBps() external view returns (uint256);

    /// @notice Where conversion fees go.
    function commonsFund() external view returns (address);

    /// @notice The merchant directory consulted by `redeem`.
    function merchantDirectory() external view returns (address);

    /// @notice How many redemptions happened so far (the last id).
    function redemptionCount() external view returns (uint256);

    /// @notice What `minter` may still mint, its daily limit (0: none) and what it minted today (UTC).
    function minter(address account)
        external
        view
        returns (uint256 allowance, uint256 dailyLimit, uint256 mintedToday);

    /// @notice Whether `account` is frozen.
    function isFrozen(address account) external view returns (bool);

    /// @notice The order reference under which `account` is frozen (zero when not frozen).
    function freezeOrder(address account) external view returns (bytes32);

    /// @notice The sum of the predecessor balances carried over here so far.
    function carriedTotal() external view returns (uint256);

    /// @notice ERC-3009: whether the authorization `nonce` of `authorizer` was used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);

    /// @notice The smallest conversion to euros, in micro-M3E.
    function minRedemption() external view returns (uint256);

    /// @notice The token this one was retired for (zero while active).
    function successor() external view returns (address);

    /// @notice The retired token this one carries balances over from (zero when none).
    function predecessor() external view returns (address);

    /// @notice Whether `holder`'s predecessor balance was carried over.
    function carriedOver(address holder) external view returns (bool);
}

/// @notice What the token asks the merchant registry before a redemption.
interface IMerchantDirectory {
    /// @notice True when `account` is the payout address of an active merchant.
    function isActiveMerchant(address account) external view returns (bool);

    /// @notice Tokens held in escrow for open bookings (what `retire` waits for).
    function escrowed() external view returns (uint256);
}
