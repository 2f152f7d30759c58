// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IDistrictToken, IMerchantDirectory} from "./interfaces/IDistrictToken.sol";

/// @title Monnaie du 3e (M3E)
/// @notice Euro-backed district token: minted against recorded euro deposits, burned when an
/// active merchant converts back to euros (minus a fee that goes to the commons fund).
/// @dev Amounts are in micro-M3E (6 decimals), and the reserve is in micro-euro, so they compare
/// directly. Every function that changes the supply or the reserve ends with `_requireBacked()`.
/// The pause blocks every balance change (transfers, mints, burns) through `_update` and every
/// approval (approve, permit, allowance spending) through `_approve`; frozen accounts are refused
/// in both. Retirement is a pause nobody can lift. Gas: one counter of frozen accounts is read per
/// transfer, and the per-account flags only while some account is frozen. The admin delay given to the constructor is not bounded here:
/// chain id 69003 is the same on a dev chain and in production, so the contract cannot tell them
/// apart; the deployer refuses a zero delay and a single-key admin off a dev chain.
contract DistrictToken is
    IDistrictToken,
    ERC20,
    ERC20Permit,
    AccessControlDefaultAdminRules,
    Pausable
{
    using SafeERC20 for IERC20;

    /// @dev What a treasurer key may still mint, its daily limit, and what it minted on `day`.
    struct Minter {
        uint128 allowance;
        uint128 dailyLimit;
        uint64 day;
        uint128 mintedOnDay;
    }

    /// @notice Records euro deposits (mints), within the allowance of each key.
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    /// @notice Pauses and unpauses the token.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Freezes and unfreezes accounts under court or anti-money-laundering orders.
    bytes32 public constant FREEZER_ROLE = keccak256("FREEZER_ROLE");
    /// @notice Hard cap of the conversion fee: 10 %.
    uint256 public constant MAX_FEE_BPS = 1000;
    /// @notice The smallest conversion to euros at deployment: 10 M3E (each one is a bank wire).
    uint256 public constant DEFAULT_MIN_REDEMPTION = 10_000_000;
    /// @notice Hard cap of the smallest conversion: 1,000 M3E.
    uint256 public constant MAX_MIN_REDEMPTION = 1_000_000_000;
    /// @notice ERC-3009 type hash of a transfer anyone may submit.
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @notice ERC-3009 type hash of a transfer only the payee may submit.
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @notice ERC-3009 type hash of a cancellation.
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    uint256 private constant _BPS_DENOMINATOR = 10_000;

    /// @notice The retired token this one carries balances over from (zero when none).
    address public immutable predecessor;

    /// @dev How many accounts are frozen. Declared first so that it shares the storage slot of
    /// Pausable's flag (the last base contract's variable): `_update` reads both in one SLOAD.
    uint64 private _frozenCount;
    uint256 private _reserve;
    uint256 private _redemptionFeeBps;
    uint256 private _redemptionCount;
    uint256 private _minRedemption;
    address private _commonsFund;
    address private _merchantDirectory;
    address private _successor;
    bool private _reserveCarriedOver;
    mapping(bytes32 bankRef => bool recorded) private _depositRecorded;
    mapping(address minter => Minter) private _minters;
    mapping(address account => bool) private _frozen;
    mapping(address authorizer => mapping(bytes32 nonce => bool)) private _authorizationState;
    mapping(address holder => bool) private _carriedOver;
    mapping(address account => bytes32 orderRef) private _freezeOrders;
    /// @dev The sum of the predecessor balances carried over so far.
    uint256 private _carriedTotal;

    /// @param name_ ERC-20 name, also the EIP-712 domain name of permits ("Monnaie du 3e")
    /// @param symbol_ ERC-20 symbol ("M3E")
    /// @param admin the default admin (two-step transfer, `adminDelay` seconds)
    /// @param adminDelay the delay of a default admin transfer, in seconds
    /// @param commonsFund_ where conversion fees go
    /// @param feeBps the initial conversion fee, at most MAX_FEE_BPS
    /// @param predecessor_ a retired (or to be retired) token whose balances this one carries
    /// over, or the zero address for a first deployment
    constructor(
        string memory name_,
        string memory symbol_,
        address admin,
        uint48 adminDelay,
        address commonsFund_,
        uint256 feeBps,
        address predecessor_
    ) ERC20(name_, symbol_) ERC20Permit(name_) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (commonsFund_ == address(0)) revert DistrictTokenZeroAddress();
        if (feeBps > MAX_FEE_BPS) revert DistrictTokenFeeAboveCap(feeBps, MAX_FEE_BPS);
        predecessor = predecessor_;
        _commonsFund = commonsFund_;
        emit CommonsFundChanged(address(0), commonsFund_);
        _redemptionFeeBps = feeBps;
        emit RedemptionFeeChanged(0, feeBps);
        _minRedemption = DEFAULT_MIN_REDEMPTION;
        emit MinRedemptionChanged(0, DEFAULT_MIN_REDEMPTION);
    }

    // ------------------------------------------------------------------ issuance and redemption

    /// @inheritdoc IDistrictToken
    function recordDeposit(bytes32 bankRef, address beneficiary, uint256 amount)
        external
        onlyRole(TREASURER_ROLE)
        whenNotPaused
    {
        if (amount == 0) revert DistrictTokenZeroAmount();
        if (beneficiary == address(0)) revert DistrictTokenZeroAddress();
        if (_depositRecorded[bankRef] || _recordedBefore(bankRef)) {
            revert DistrictTokenDepositAlreadyRecorded(bankRef);
        }
        _useMinterAllowance(msg.sender, amount);

        _depositRecorded[bankRef] = true;
        uint256 reserveAfter = _reserve + amount;
        _reserve = reserveAfter;
        _mint(beneficiary, amount);
        _requireBacked();
        emit DepositRecorded(bankRef, beneficiary, amount, reserveAfter);
    }

    /// @inheritdoc IDistrictToken
    function redeem(uint256 amount, bytes32 payoutRef)
        external
        whenNotPaused
        returns (uint256 redemptionId)
    {
        if (amount == 0) revert DistrictTokenZeroAmount();
        uint256 minimum = _minRedemption;
        if (amount < minimum) revert DistrictTokenRedemptionBelowMinimum(amount, minimum);
        address directory = _merchantDirectory;
        if (directory == address(0)) revert DistrictTokenMerchantDirectoryNotSet();
        // A view call (STATICCALL) to the directory the admin set once: a check, not an interaction.
        if (!IMerchantDirectory(directory).isActiveMerchant(msg.sender)) {
            revert DistrictTokenNotMerchant(msg.sender);
        }
        uint256 balance = balanceOf(msg.sender);
        if (balance < amount) revert ERC20InsufficientBalance(msg.sender, balance, amount);

        // The fee rounds UP (in favour of the commons): at 300 bps even 1 micro-M3E pays 1. mulDiv
        // cannot overflow, and fee <= amount since feeBps <= MAX_FEE_BPS < 10,000. The commons fund
        // itself pays no fee: it would pay itself, and the event would report a fee that never moved.
        address fund = _commonsFund;
        uint256 fee = msg.sender == fund
            ? 0
            : Math.mulDiv(amount, _redemptionFeeBps, _BPS_DENOMINATOR, Math.Rounding.Ceil);
        uint256 euros = amount - fee;
        redemptionId = ++_redemptionCount;
        if (fee != 0) _transfer(msg.sender, fund, fee);
        _burn(msg.sender, euros);
        uint256 reserveAfter = _reserve - euros;
        _reserve = reserveAfter;
        _requireBacked();
        emit Redeemed(redemptionId, msg.sender, amount, fee, euros, payoutRef, reserveAfter);
    }

    // ------------------------------------------------------------------ signed transfers (ERC-3009)

    /// @inheritdoc IDistrictToken
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        _useAuthorization(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, signature
        );
        _transfer(from, to, value);
    }

    /// @inheritdoc IDistrictToken
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        if (msg.sender != to) revert DistrictTokenCallerNotPayee(msg.sender, to);
        _useAuthorization(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, signature
        );
        _transfer(from, to, value);
    }

    /// @inheritdoc IDistrictToken
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes calldata signature) external {
        if (_authorizationState[authorizer][nonce]) {
            revert DistrictTokenAuthorizationUsedOrCanceled(authorizer, nonce);
        }
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
        if (!_isValidSignature(authorizer, digest, signature)) revert DistrictTokenInvalidSignature(authorizer);
        _authorizationState[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    // ------------------------------------------------------------------ administration

    /// @inheritdoc IDistrictToken
    function configureMinter(address account, uint256 allowance, uint256 dailyLimit)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (account == address(0)) revert DistrictTokenZeroAddress();
        Minter storage m = _minters[account];
        m.allowance = SafeCast.toUint128(allowance);
        m.dailyLimit = SafeCast.toUint128(dailyLimit);
        emit MinterConfigured(account, allowance, dailyLimit);
    }

    /// @inheritdoc IDistrictToken
    function configureMinterIfUnchanged(
        address account,
        uint256 expectedAllowance,
        uint256 allowance,
        uint256 dailyLimit
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0)) revert DistrictTokenZeroAddress();
        Minter storage m = _minters[account];
        uint256 current = m.allowance;
        if (current != expectedAllowance) {
            revert DistrictTokenMinterAllowanceChanged(account, expectedAllowance, current);
        }
        m.allowance = SafeCast.toUint128(allowance);
        m.dailyLimit = SafeCast.toUint128(dailyLimit);
        emit MinterConfigured(account, allowance, dailyLimit);
    }

    /// @inheritdoc IDistrictToken
    function freeze(address account, bytes32 orderRef) external onlyRole(FREEZER_ROLE) {
        if (account == address(0)) revert DistrictTokenZeroAddress();
        if (_frozen[account]) revert DistrictTokenFreezeUnchanged(account, true);
        _frozen[account] = true;
        _freezeOrders[account] = orderRef;
        ++_frozenCount;
        emit AccountFrozen(account, orderRef);
    }

    /// @inheritdoc IDistrictToken
    function unfreeze(address account, bytes32 orderRef) external onlyRole(FREEZER_ROLE) {
        if (!_frozen[account]) revert DistrictTokenFreezeUnchanged(account, false);
        _frozen[account] = false;
        delete _freezeOrders[account];
        // The account was frozen, so the count is at least one.
        unchecked {
            --_frozenCount;
        }
        emit AccountUnfrozen(account, orderRef);
    }

    /// @inheritdoc IDistrictToken
    function setMinRedemption(uint256 minimum) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (minimum > MAX_MIN_REDEMPTION) revert DistrictTokenMinRedemptionAboveCap(minimum, MAX_MIN_REDEMPTION);
        uint256 oldMinimum = _minRedemption;
        _minRedemption = minimum;
        emit MinRedemptionChanged(oldMinimum, minimum);
    }

    /// @inheritdoc IDistrictToken
    function rescue(address asset, address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert DistrictTokenZeroAddress();
        if (amount == 0) revert DistrictTokenZeroAmount();
        uint256 balance = IERC20(asset).balanceOf(address(this));
        if (amount > balance) revert DistrictTokenRescueAboveBalance(asset, amount, balance);
        emit TokensRescued(asset, to, amount);
        if (asset == address(this)) {
            _transfer(address(this), to, amount);
        } else {
            IERC20(asset).safeTransfer(to, amount);
        }
    }

    /// @inheritdoc IDistrictToken
    function retire(address successor_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (successor_ == address(0)) revert DistrictTokenZeroAddress();
        address current = _successor;
        if (current != address(0)) revert DistrictTokenIsRetired(current);
        address directory = _merchantDirectory;
        if (directory != address(0)) {
            // The open booking deposits, not the balance: anyone may send tokens to the directory,
            // and a donation must not block the migration (the admin rescues it there).
            uint256 held = IMerchantDirectory(directory).escrowed();
            if (held != 0) revert DistrictTokenEscrowNotEmpty(directory, held);
        }
        address old = predecessor;
        if (old != address(0) && IDistrictToken(old).successor() == address(this)) {
            // Retiring before every predecessor balance arrived here would strand the rest: the
            // predecessor is retired to this token, which would be retired too. A retired
            // predecessor's supply never changes, so the carry-over ends exactly at it.
            uint256 owed = IERC20(old).totalSupply();
            uint256 carried = _carriedTotal;
            if (!_reserveCarriedOver || carried != owed) {
                revert DistrictTokenCarryOverUnfinished(old, carried, owed);
            }
        }
        _successor = successor_;
        if (!paused()) _pause();
        emit Retired(successor_, totalSupply(), _reserve);
    }

    /// @inheritdoc IDistrictToken
    function carryOver(address[] calldata holders) external {
        address old = predecessor;
        if (old == address(0)) revert DistrictTokenNoPredecessor();
        address oldSuccessor = IDistrictToken(old).successor();
        if (oldSuccessor != address(this)) revert DistrictTokenPredecessorNotRetired(old, oldSuccessor);
        if (!_reserveCarriedOver) {
            // The predecessor is retired: its reserve and balances can no longer change. Taking the
            // whole reserve first keeps supply <= reserve while the balances arrive one by one.
            _reserveCarriedOver = true;
            uint256 carried = IDistrictToken(old).reserve();
            _reserve += carried;
            emit ReserveCarriedOver(old, carried);
        }
        for (uint256 i = 0; i < holders.length; ++i) {
            address holder = holders[i];
            if (_carriedOver[holder]) revert DistrictTokenAlreadyCarriedOver(holder);
            _carriedOver[holder] = true;
            uint256 amount = IERC20(old).balanceOf(holder);
            if (amount != 0) {
                _carriedTotal += amount;
                // Not `_mint`: a holder frozen here (or frozen in the predecessor, the freeze
                // follows below) still gets its balance, which then stays frozen.
                _requireNotPaused();
                ERC20._update(address(0), holder, amount);
                emit BalanceCarriedOver(holder, amount);
            }
            if (!_frozen[holder] && IDistrictToken(old).isFrozen(holder)) {
                // The court or anti-money-laundering order follows the balance, with its reference.
                bytes32 orderRef = IDistrictToken(old).freezeOrder(holder);
                _frozen[holder] = true;
                _freezeOrders[holder] = orderRef;
                ++_frozenCount;
                emit AccountFrozen(holder, orderRef);
            }
        }
        _requireBacked();
    }

    /// @inheritdoc IDistrictToken
    function setRedemptionFee(uint256 feeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (feeBps > MAX_FEE_BPS) revert DistrictTokenFeeAboveCap(feeBps, MAX_FEE_BPS);
        uint256 oldFeeBps = _redemptionFeeBps;
        _redemptionFeeBps = feeBps;
        emit RedemptionFeeChanged(oldFeeBps, feeBps);
    }

    /// @inheritdoc IDistrictToken
    function setCommonsFund(address fund) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (fund == address(0)) revert DistrictTokenZeroAddress();
        address oldFund = _commonsFund;
        _commonsFund = fund;
        emit CommonsFundChanged(oldFund, fund);
    }

    /// @inheritdoc IDistrictToken
    function setMerchantDirectory(address directory) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (directory == address(0)) revert DistrictTokenZeroAddress();
        address current = _merchantDirectory;
        if (current != address(0)) revert DistrictTokenMerchantDirectoryAlreadySet(current);
        _merchantDirectory = directory;
        emit MerchantDirectorySet(directory);
    }

    /// @inheritdoc IDistrictToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IDistrictToken
    /// @dev A retired token stays paused for ever.
    function unpause() external onlyRole(PAUSER_ROLE) {
        address successor_ = _successor;
        if (successor_ != address(0)) revert DistrictTokenIsRetired(successor_);
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @notice Amounts have 6 decimals: 1 M3E = 1,000,000 base units = 1 euro.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @inheritdoc IDistrictToken
    function reserve() external view returns (uint256) {
        return _reserve;
    }

    /// @inheritdoc IDistrictToken
    /// @dev Here or in any predecessor: a bank reference mints once across migrations.
    function depositRecorded(bytes32 bankRef) external view returns (bool) {
        return _depositRecorded[bankRef] || _recordedBefore(bankRef);
    }

    /// @inheritdoc IDistrictToken
    function redemptionFeeBps() external view returns (uint256) {
        return _redemptionFeeBps;
    }

    /// @inheritdoc IDistrictToken
    function commonsFund() external view returns (address) {
        return _commonsFund;
    }

    /// @inheritdoc IDistrictToken
    function merchantDirectory() external view returns (address) {
        return _merchantDirectory;
    }

    /// @inheritdoc IDistrictToken
    function redemptionCount() external view returns (uint256) {
        return _redemptionCount;
    }

    /// @inheritdoc IDistrictToken
    function minter(address account)
        external
        view
        returns (uint256 allowance, uint256 dailyLimit, uint256 mintedToday)
    {
        Minter memory m = _minters[account];
        mintedToday = m.day == block.timestamp / 1 days ? m.mintedOnDay : 0;
        return (m.allowance, m.dailyLimit, mintedToday);
    }

    /// @inheritdoc IDistrictToken
    function isFrozen(address account) external view returns (bool) {
        return _frozen[account];
    }

    /// @inheritdoc IDistrictToken
    function freezeOrder(address account) external view returns (bytes32) {
        return _freezeOrders[account];
    }

    /// @inheritdoc IDistrictToken
    function carriedTotal() external view returns (uint256) {
        return _carriedTotal;
    }

    /// @inheritdoc IDistrictToken
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationState[authorizer][nonce];
    }

    /// @inheritdoc IDistrictToken
    function minRedemption() external view returns (uint256) {
        return _minRedemption;
    }

    /// @inheritdoc IDistrictToken
    function successor() external view returns (address) {
        return _successor;
    }

    /// @inheritdoc IDistrictToken
    function carriedOver(address holder) external view returns (bool) {
        return _carriedOver[holder];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Every balance change (transfer, mint, burn) stops while paused or retired; a frozen
    /// account neither sends nor receives (the zero address of mints and burns is never frozen).
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        if (_frozenCount != 0) {
            if (_frozen[from]) revert DistrictTokenAccountFrozen(from);
            if (_frozen[to]) revert DistrictTokenAccountFrozen(to);
        }
        super._update(from, to, value);
    }

    /// @dev A frozen spender spends no allowance, an unlimited one included: OpenZeppelin skips
    /// `_approve` (and so its freeze check) when the allowance is type(uint256).max.
    function _spendAllowance(address owner, address spender, uint256 value) internal override {
        if (_frozenCount != 0 && _frozen[spender]) revert DistrictTokenAccountFrozen(spender);
        super._spendAllowance(owner, spender, value);
    }

    /// @dev Revoking TREASURER_ROLE also zeroes the key's minter allowance and daily limit: a
    /// role granted again later mints nothing until the admin configures it again.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == TREASURER_ROLE) {
            Minter storage m = _minters[account];
            if (m.allowance != 0 || m.dailyLimit != 0) {
                delete _minters[account];
                emit MinterConfigured(account, 0, 0);
            }
        }
    }

    /// @dev Approvals (approve, permit, and the allowance spent by transferFrom) stop while paused
    /// or retired, and a frozen owner or spender is refused.
    function _approve(address owner, address spender, uint256 value, bool emitEvent)
        internal
        override
        whenNotPaused
    {
        if (_frozenCount != 0) {
            if (_frozen[owner]) revert DistrictTokenAccountFrozen(owner);
            if (_frozen[spender]) revert DistrictTokenAccountFrozen(spender);
        }
        super._approve(owner, spender, value, emitEvent);
    }

    /// @dev While paused, a retired token says so (the pause of a retirement is never lifted).
    function _requireNotPaused() internal view override {
        if (paused()) {
            address successor_ = _successor;
            if (successor_ != address(0)) revert DistrictTokenIsRetired(successor_);
        }
        super._requireNotPaused();
    }

    /// @dev Checks an ERC-3009 authorization and marks its nonce used, before the transfer.
    function _useAuthorization(
        bytes32 typeHash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) private whenNotPaused {
        if (block.timestamp <= validAfter) revert DistrictTokenAuthorizationNotYetValid(validAfter);
        if (block.timestamp >= validBefore) revert DistrictTokenAuthorizationExpired(validBefore);
        if (_authorizationState[from][nonce]) revert DistrictTokenAuthorizationUsedOrCanceled(from, nonce);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce))
        );
        if (!_isValidSignature(from, digest, signature)) revert DistrictTokenInvalidSignature(from);
        _authorizationState[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
    }

    /// @dev Consumes `amount` of the allowance and of today's limit of `account`, or reverts.
    function _useMinterAllowance(address account, uint256 amount) private {
        Minter storage m = _minters[account];
        uint256 allowance = m.allowance;
        if (amount > allowance) revert DistrictTokenMintAboveAllowance(account, amount, allowance);
        // amount <= allowance < 2**128, checked just above.
        unchecked {
            m.allowance = uint128(allowance - amount);
        }
        uint256 dailyLimit = m.dailyLimit;
        if (dailyLimit != 0) {
            uint64 today = uint64(block.timestamp / 1 days);
            uint256 minted = m.day == today ? m.mintedOnDay : 0;
            // minted <= dailyLimit < 2**128 and amount <= allowance < 2**128: no overflow.
            uint256 after_ = minted + amount;
            if (after_ > dailyLimit) revert DistrictTokenMintAboveDailyLimit(account, amount, minted, dailyLimit);
            m.day = today;
            m.mintedOnDay = uint128(after_);
        }
    }

    /// @dev An EOA's ECDSA signature (65 bytes, low s), else what an EIP-1271 wallet at `signer`
    /// accepts. ECDSA first: no key recovers to a contract's address, and an EOA pays no
    /// code-size lookup. A failed recovery falls back to EIP-1271, which an EOA never passes.
    function _isValidSignature(address signer, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool)
    {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature);
    }

    /// @dev Whether a predecessor (or its own predecessors, recursively) recorded `bankRef`.
    function _recordedBefore(bytes32 bankRef) private view returns (bool) {
        address old = predecessor;
        return old != address(0) && IDistrictToken(old).depositRecorded(bankRef);
    }

    /// @dev Defensive: the supply may never exceed the recorded euros.
    function _requireBacked() private view {
        uint256 supply = totalSupply();
        uint256 reserve_ = _reserve;
        if (supply > reserve_) revert DistrictTokenSupplyAboveReserve(supply, reserve_);
    }
}
