// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IDistrictToken, IMerchantDirectory} from "./interfaces/IDistrictToken.sol";

/// @title Monnaie du 3e (M3E)
/// @notice Euro-backed district token: minted against recorded euro deposits, burned when an
/// active merchant converts back to euros (minus a fee that goes to the commons fund).
/// @dev Amounts are in micro-M3E (6 decimals), and the reserve is in micro-euro, so they compare
/// directly. Every function that changes the supply or the reserve ends with `_requireBacked()`.
/// The pause blocks every balance change (transfers, mints, burns) through `_update`.
contract DistrictToken is
    IDistrictToken,
    ERC20,
    ERC20Permit,
    AccessControlDefaultAdminRules,
    Pausable
{
    /// @notice Records euro deposits (mints).
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    /// @notice Pauses and unpauses the token.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Hard cap of the conversion fee: 10 %.
    uint256 public constant MAX_FEE_BPS = 1000;

    uint256 private constant _BPS_DENOMINATOR = 10_000;

    uint256 private _reserve;
    uint256 private _redemptionFeeBps;
    uint256 private _redemptionCount;
    address private _commonsFund;
    address private _merchantDirectory;
    mapping(bytes32 bankRef => bool recorded) private _depositRecorded;

    /// @param name_ ERC-20 name, also the EIP-712 domain name of permits ("Monnaie du 3e")
    /// @param symbol_ ERC-20 symbol ("M3E")
    /// @param admin the default admin (two-step transfer, `adminDelay` seconds)
    /// @param adminDelay the delay of a default admin transfer, in seconds
    /// @param commonsFund_ where conversion fees go
    /// @param feeBps the initial conversion fee, at most MAX_FEE_BPS
    constructor(
        string memory name_,
        string memory symbol_,
        address admin,
        uint48 adminDelay,
        address commonsFund_,
        uint256 feeBps
    ) ERC20(name_, symbol_) ERC20Permit(name_) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (commonsFund_ == address(0)) revert DistrictTokenZeroAddress();
        if (feeBps > MAX_FEE_BPS) revert DistrictTokenFeeAboveCap(feeBps, MAX_FEE_BPS);
        _commonsFund = commonsFund_;
        emit CommonsFundChanged(address(0), commonsFund_);
        _redemptionFeeBps = feeBps;
        emit RedemptionFeeChanged(0, feeBps);
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
        if (_depositRecorded[bankRef]) revert DistrictTokenDepositAlreadyRecorded(bankRef);

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
        address directory = _merchantDirectory;
        if (directory == address(0)) revert DistrictTokenMerchantDirectoryNotSet();
        // A view call (STATICCALL) to the directory the admin set once: a check, not an interaction.
        if (!IMerchantDirectory(directory).isActiveMerchant(msg.sender)) {
            revert DistrictTokenNotMerchant(msg.sender);
        }
        uint256 balance = balanceOf(msg.sender);
        if (balance < amount) revert ERC20InsufficientBalance(msg.sender, balance, amount);

        // amount <= balance <= totalSupply, and MAX_FEE_BPS * totalSupply cannot overflow for any
        // supply backed by real euros; checked arithmetic guards the rest. The commons fund itself
        // pays no fee: it would pay itself, and the event would report a fee that never moved.
        address fund = _commonsFund;
        uint256 fee = msg.sender == fund ? 0 : amount * _redemptionFeeBps / _BPS_DENOMINATOR;
        uint256 euros = amount - fee;
        redemptionId = ++_redemptionCount;
        if (fee != 0) _transfer(msg.sender, fund, fee);
        _burn(msg.sender, euros);
        uint256 reserveAfter = _reserve - euros;
        _reserve = reserveAfter;
        _requireBacked();
        emit Redeemed(redemptionId, msg.sender, amount, fee, euros, payoutRef, reserveAfter);
    }

    // ------------------------------------------------------------------ administration

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
    function unpause() external onlyRole(PAUSER_ROLE) {
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
    function depositRecorded(bytes32 bankRef) external view returns (bool) {
        return _depositRecorded[bankRef];
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

    // ------------------------------------------------------------------ internals

    /// @dev Every balance change (transfer, mint, burn) stops while paused.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        super._update(from, to, value);
    }

    /// @dev Defensive: the supply may never exceed the recorded euros.
    function _requireBacked() private view {
        uint256 supply = totalSupply();
        uint256 reserve_ = _reserve;
        if (supply > reserve_) revert DistrictTokenSupplyAboveReserve(supply, reserve_);
    }
}
