// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {ICommonsFund} from "./interfaces/ICommonsFund.sol";
import {IDistrictToken, IMerchantDirectory} from "./interfaces/IDistrictToken.sol";
import {IServicePayments} from "./interfaces/IServicePayments.sol";

/// @title Merchant and shared-service payments of the district
/// @notice Merchant registry, payments with a reference, offline-signed payments, refunds bounded
/// by what the payer paid, and booking deposits in escrow. It is also the merchant directory the
/// district token asks before a redemption.
/// @dev The pause stops every function that moves tokens (payments, refunds, bookings); the
/// registry stays manageable. Signed payments go payer -> this contract -> payout in one
/// transaction (the token's receive-with-authorization needs this contract as payee, which is what
/// stops anyone from submitting the authorization around it). Suspended merchants cannot be paid or booked, but can still refund
/// and close their open bookings. Reentrancy: transient-storage guard (EIP-1153, cancun).
/// Refund bounds belong to the merchant (its id), not to a payout address: after a payout change
/// the new address refunds, from its own funds, what the payer paid the merchant before.
contract ServicePayments is
    IServicePayments,
    IMerchantDirectory,
    AccessControlDefaultAdminRules,
    Pausable,
    ReentrancyGuardTransient
{
    using SafeERC20 for IERC20;

    /// @dev A merchant as stored: the public entry plus, in the same slot, when its pending payout
    /// change takes effect (0: none), so a payment reads one slot.
    struct MerchantRecord {
        address payout;
        Category category;
        bool active;
        uint64 changeEffectiveAt;
    }

    /// @notice Registers merchants, changes their payout address and status.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Pauses and unpauses payments and bookings.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Type hash of the witness a signed payment's ERC-3009 nonce is derived from.
    bytes32 public constant PAYMENT_WITNESS_TYPEHASH =
        keccak256("PaymentWitness(uint256 merchantId,address payout,bytes32 ref,bytes32 payerNonce)");
    /// @notice How long a requested payout change waits before it can take effect.
    uint64 public constant PAYOUT_CHANGE_DELAY = 2 days;
    /// @notice Longest merchant name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 64;
    /// @notice The longest a booking may last from its opening: after it the payer reclaims the
    /// deposit, so no unclosed booking holds the token's migration for longer.
    uint256 public constant MAX_BOOKING_DURATION = 90 days;

    IERC20 private immutable _token;

    uint256 private _merchantCount;
    uint256 private _bookingCount;
    uint256 private _escrowed;
    mapping(uint256 merchantId => MerchantRecord) private _merchants;
    mapping(uint256 merchantId => string) private _merchantNames;
    mapping(address payout => uint256 merchantId) private _merchantIdOf;
    mapping(uint256 merchantId => address payout) private _pendingPayout;
    mapping(uint256 merchantId => mapping(address payer => uint256 net)) private _paid;
    mapping(uint256 bookingId => Booking) private _bookings;
    ICommonsFund private _fund;
    uint256 private _fundProgramme;
    mapping(uint256 merchantId => FreeTier) private _freeTiers;
    mapping(uint256 merchantId => mapping(address payer => mapping(uint32 month => uint32))) private _freeUses;

    /// @param token_ the district token (ERC-20 with ERC-3009 authorizations)
    /// @param admin the default admin (two-step transfer, `adminDelay` seconds)
    /// @param adminDelay the delay of a default admin transfer, in seconds
    constructor(address token_, address admin, uint48 adminDelay)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        if (token_ == address(0)) revert ServicePaymentsZeroAddress();
        _token = IERC20(token_);
    }

    // ------------------------------------------------------------------ registry

    /// @inheritdoc IServicePayments
    function registerMerchant(string calldata name, Category category, address payout)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint256 merchantId)
    {
        uint256 length = bytes(name).length;
        if (length == 0) revert ServicePaymentsEmptyName();
        if (length > MAX_NAME_LENGTH) revert ServicePaymentsNameTooLong(length);
        if (payout == address(0)) revert ServicePaymentsZeroAddress();
        if (_merchantIdOf[payout] != 0) revert ServicePaymentsPayoutAlreadyUsed(payout);

        merchantId = ++_merchantCount;
        _merchants[merchantId] =
            MerchantRecord({payout: payout, category: category, active: true, changeEffectiveAt: 0});
        _merchantNames[merchantId] = name;
        _merchantIdOf[payout] = merchantId;
        emit MerchantRegistered(merchantId, payout, category, name);
    }

    /// @inheritdoc IServicePayments
    function requestPayoutChange(uint256 merchantId, address payout) external onlyRole(REGISTRAR_ROLE) {
        MerchantRecord storage m = _knownMerchant(merchantId);
        if (payout == address(0)) revert ServicePaymentsZeroAddress();
        if (_merchantIdOf[payout] != 0) revert ServicePaymentsPayoutAlreadyUsed(payout);

        uint64 effectiveAt = uint64(block.timestamp) + PAYOUT_CHANGE_DELAY;
        _pendingPayout[merchantId] = payout;
        m.changeEffectiveAt = effectiveAt;
        emit MerchantPayoutChangeRequested(merchantId, m.payout, payout, effectiveAt);
    }

    /// @inheritdoc IServicePayments
    function completePayoutChange(uint256 merchantId) external {
        MerchantRecord storage m = _knownMerchant(merchantId);
        uint64 effectiveAt = m.changeEffectiveAt;
        if (effectiveAt == 0) revert ServicePaymentsNoPayoutChange(merchantId);
        if (block.timestamp < effectiveAt) revert ServicePaymentsPayoutChangeNotDue(merchantId, effectiveAt);
        address payout = _pendingPayout[merchantId];
        // Another merchant may have taken this address since the request.
        if (_merchantIdOf[payout] != 0) revert ServicePaymentsPayoutAlreadyUsed(payout);

        address oldPayout = m.payout;
        m.payout = payout;
        m.changeEffectiveAt = 0;
        delete _pendingPayout[merchantId];
        delete _merchantIdOf[oldPayout];
        _merchantIdOf[payout] = merchantId;
        emit MerchantPayoutChanged(merchantId, oldPayout, payout);
    }

    /// @inheritdoc IServicePayments
    function cancelPayoutChange(uint256 merchantId) external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && !hasRole(REGISTRAR_ROLE, msg.sender)) {
            revert ServicePaymentsCannotCancelPayoutChange(merchantId, msg.sender);
        }
        MerchantRecord storage m = _knownMerchant(merchantId);
        if (m.changeEffectiveAt == 0) revert ServicePaymentsNoPayoutChange(merchantId);
        address payout = _pendingPayout[merchantId];
        m.changeEffectiveAt = 0;
        delete _pendingPayout[merchantId];
        emit MerchantPayoutChangeCanceled(merchantId, payout);
    }

    /// @inheritdoc IServicePayments
    function setMerchantActive(uint256 merchantId, bool active) external onlyRole(REGISTRAR_ROLE) {
        MerchantRecord storage m = _knownMerchant(merchantId);
        if (m.active == active) revert ServicePaymentsMerchantStatusUnchanged(merchantId, active);
        m.active = active;
        emit MerchantStatusChanged(merchantId, active);
    }

    // ------------------------------------------------------------------ free basics

    /// @inheritdoc IServicePayments
    function setFreeBasicsFund(address fund, uint256 programmeId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (fund != address(0) && ICommonsFund(fund).programme(programmeId).spender != address(this)) {
            revert ServicePaymentsNotFundSpender(fund, programmeId);
        }
        _fund = ICommonsFund(fund);
        _fundProgramme = fund == address(0) ? 0 : programmeId;
        emit FreeBasicsFundSet(fund, _fundProgramme);
    }

    /// @inheritdoc IServicePayments
    function setFreeTier(uint256 merchantId, uint128 perUseCap, uint32 usesPerMonth)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        Category category = _knownMerchant(merchantId).category;
        if (uint8(category) > uint8(Category.Concierge)) revert ServicePaymentsNotASharedService(merchantId, category);
        if ((perUseCap == 0) != (usesPerMonth == 0)) revert ServicePaymentsBadFreeTier(perUseCap, usesPerMonth);
        _freeTiers[merchantId] = FreeTier({perUseCap: perUseCap, usesPerMonth: usesPerMonth});
        emit FreeTierSet(merchantId, perUseCap, usesPerMonth);
    }

    // ------------------------------------------------------------------ payments

    /// @inheritdoc IServicePayments
    function pay(uint256 merchantId, uint256 amount, bytes32 ref) external whenNotPaused nonReentrant {
        if (amount == 0) revert ServicePaymentsZeroAmount();
        (address payout,) = _activePayout(merchantId);
        uint256 covered = _cover(merchantId, msg.sender, payout, amount, ref, 0);
        // covered <= amount (_coverable takes the smaller).
        uint256 due;
        unchecked {
            due = amount - covered;
        }
        // Only the payer's own part may be refunded to it: the fund's part is not the payer's.
        _record(merchantId, msg.sender, due, ref);
        if (due != 0) _token.safeTransferFrom(msg.sender, payout, due);
    }

    /// @inheritdoc IServicePayments
    function payWithAuthorization(
        address payer,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 payerNonce,
        bytes calldata signature
    ) external whenNotPaused nonReentrant {
        if (payer == address(0)) revert ServicePaymentsZeroAddress();
        if (amount == 0) revert ServicePaymentsZeroAmount();
        address payout = _payoutForSignedPayment(merchantId);
        bytes32 nonce = paymentAuthorizationNonce(merchantId, payout, ref, payerNonce);

        _record(merchantId, payer, amount, ref);
        // The token checks the payer's signature over (payer, this contract, amount, window, nonce)
        // and marks the nonce used once ever; the nonce binds merchant, payout and reference.
        IDistrictToken(address(_token)).receiveWithAuthorization(
            payer, address(this), amount, validAfter, validBefore, nonce, signature
        );
        _token.safeTransfer(payout, amount);
    }

    /// @inheritdoc IServicePayments
    function refund(uint256 merchantId, address payer, uint256 amount, bytes32 ref)
        external
        whenNotPaused
        nonReentrant
    {
        address payout = _knownMerchant(merchantId).payout;
        if (msg.sender != payout) revert ServicePaymentsNotMerchant(merchantId, msg.sender);
        if (payer == address(0)) revert ServicePaymentsZeroAddress();
        if (amount == 0) revert ServicePaymentsZeroAmount();
        uint256 paid = _paid[merchantId][payer];
        if (amount > paid) revert ServicePaymentsRefundAboveNetPaid(merchantId, payer, amount, paid);

        // amount <= paid, checked just above.
        unchecked {
            _paid[merchantId][payer] = paid - amount;
        }
        emit PaymentRefunded(merchantId, payer, ref, amount);
        _token.safeTransferFrom(payout, payer, amount);
    }

    // ------------------------------------------------------------------ bookings

    /// @inheritdoc IServicePayments
    function openBooking(uint256 merchantId, uint256 deposit, uint64 expiresAt, bytes32 ref)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 bookingId)
    {
        if (deposit == 0) revert ServicePaymentsZeroAmount();
        if (expiresAt <= block.timestamp) revert ServicePaymentsExpiryNotInFuture(expiresAt);
        uint256 latest = block.timestamp + MAX_BOOKING_DURATION;
        if (expiresAt > latest) revert ServicePaymentsExpiryTooFar(expiresAt, latest);
        _activePayout(merchantId);

        bookingId = ++_bookingCount;
        _bookings[bookingId] = Booking({
            payer: msg.sender,
            expiresAt: expiresAt,
            open: true,
            merchantId: merchantId,
            deposit: deposit
        });
        _escrowed += deposit;
        emit BookingOpened(bookingId, merchantId, msg.sender, deposit, expiresAt, ref);
        _token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @inheritdoc IServicePayments
    function closeBooking(uint256 bookingId, uint256 charge) external whenNotPaused nonReentrant {
        Booking storage b = _openBooking(bookingId);
        uint256 merchantId = b.merchantId;
        address payout = _merchants[merchantId].payout;
        if (msg.sender != payout) revert ServicePaymentsNotMerchant(merchantId, msg.sender);
        uint256 deposit = b.deposit;
        if (charge > deposit) revert ServicePaymentsChargeAboveDeposit(bookingId, charge, deposit);
        // After expiry the payer may reclaim: the merchant can then only give the deposit back.
        uint64 expiresAt = b.expiresAt;
        if (charge != 0 && block.timestamp > expiresAt) {
            revert ServicePaymentsBookingExpired(bookingId, expiresAt, charge);
        }

        b.open = false;
        // Each open deposit is counted once in _escrowed, so it holds at least `deposit`.
        unchecked {
            _escrowed -= deposit;
        }
        address bookingPayer = b.payer;
        // The fund pays the free part to the merchant; that much of the deposit goes back.
        uint256 covered = charge == 0 ? 0 : _cover(merchantId, bookingPayer, payout, charge, bytes32(0), bookingId);
        uint256 fromDeposit;
        uint256 returned;
        // covered <= charge <= deposit, checked above.
        unchecked {
            fromDeposit = charge - covered;
            returned = deposit - fromDeposit;
        }
        emit BookingClosed(bookingId, charge, returned);
        if (fromDeposit != 0) _token.safeTransfer(payout, fromDeposit);
        if (returned != 0) _token.safeTransfer(bookingPayer, returned);
    }

    /// @inheritdoc IServicePayments
    function reclaimBooking(uint256 bookingId) external whenNotPaused nonReentrant {
        Booking storage b = _openBooking(bookingId);
        address payer = b.payer;
        if (msg.sender != payer) revert ServicePaymentsNotBookingPayer(bookingId, msg.sender);
        uint64 expiresAt = b.expiresAt;
        if (block.timestamp <= expiresAt) revert ServicePaymentsBookingNotExpired(bookingId, expiresAt);

        b.open = false;
        uint256 deposit = b.deposit;
        // Each open deposit is counted once in _escrowed, so it holds at least `deposit`.
        unchecked {
            _escrowed -= deposit;
        }
        emit BookingReclaimed(bookingId, deposit);
        _token.safeTransfer(payer, deposit);
    }

    // ------------------------------------------------------------------ pause

    /// @inheritdoc IServicePayments
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IServicePayments
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc IServicePayments
    function rescue(address asset, address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ServicePaymentsZeroAddress();
        if (amount == 0) revert ServicePaymentsZeroAmount();
        uint256 excess = IERC20(asset).balanceOf(address(this));
        if (asset == address(_token)) {
            // The escrow is always held: balance >= escrowed (deposits come in before they count
            // and leave after they stop counting); a shortfall would show as no excess.
            uint256 escrowed_ = _escrowed;
            excess = excess > escrowed_ ? excess - escrowed_ : 0;
        }
        if (amount > excess) revert ServicePaymentsRescueAboveExcess(asset, amount, excess);
        emit TokensRescued(asset, to, amount);
        IERC20(asset).safeTransfer(to, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IServicePayments
    function freeBasicsFund() external view returns (address fund, uint256 programmeId) {
        return (address(_fund), _fundProgramme);
    }

    /// @inheritdoc IServicePayments
    function freeTier(uint256 merchantId) external view returns (FreeTier memory) {
        return _freeTiers[merchantId];
    }

    /// @inheritdoc IServicePayments
    function freeUsesIn(uint256 merchantId, address payer, uint32 month) external view returns (uint32) {
        return _freeUses[merchantId][payer][month];
    }

    /// @inheritdoc IServicePayments
    function fundCover(uint256 merchantId, address payer, uint256 amount) external view returns (uint256) {
        MerchantRecord memory m = _merchants[merchantId];
        if (m.payout == address(0) || !m.active) return 0;
        return _coverable(merchantId, payer, m.payout, amount);
    }

    /// @inheritdoc IMerchantDirectory
    function isActiveMerchant(address account) external view returns (bool) {
        uint256 merchantId = _merchantIdOf[account];
        return merchantId != 0 && _merchants[merchantId].active;
    }

    /// @inheritdoc IServicePayments
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IServicePayments
    /// @dev An unknown id returns an empty entry (payout zero).
    function merchant(uint256 merchantId) external view returns (Merchant memory) {
        MerchantRecord memory m = _merchants[merchantId];
        return Merchant({payout: m.payout, category: m.category, active: m.active});
    }

    /// @inheritdoc IServicePayments
    /// @dev An unknown id returns an empty string.
    function merchantName(uint256 merchantId) external view returns (string memory) {
        return _merchantNames[merchantId];
    }

    /// @inheritdoc IServicePayments
    function merchantCount() external view returns (uint256) {
        return _merchantCount;
    }

    /// @inheritdoc IServicePayments
    function merchantIdOf(address payout) external view returns (uint256) {
        return _merchantIdOf[payout];
    }

    /// @inheritdoc IServicePayments
    function netPaid(uint256 merchantId, address payer) external view returns (uint256) {
        return _paid[merchantId][payer];
    }

    /// @inheritdoc IServicePayments
    /// @dev An unknown id returns an empty booking (payer zero).
    function booking(uint256 bookingId) external view returns (Booking memory) {
        return _bookings[bookingId];
    }

    /// @inheritdoc IServicePayments
    function bookingCount() external view returns (uint256) {
        return _bookingCount;
    }

    /// @inheritdoc IServicePayments
    function escrowed() external view override(IServicePayments, IMerchantDirectory) returns (uint256) {
        return _escrowed;
    }

    /// @inheritdoc IServicePayments
    function pendingPayout(uint256 merchantId) external view returns (address payout, uint64 effectiveAt) {
        return (_pendingPayout[merchantId], _merchants[merchantId].changeEffectiveAt);
    }

    /// @inheritdoc IServicePayments
    function paymentAuthorizationNonce(uint256 merchantId, address payout, bytes32 ref, bytes32 payerNonce)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(PAYMENT_WITNESS_TYPEHASH, merchantId, payout, ref, payerNonce));
    }

    // ------------------------------------------------------------------ internals

    /// @dev What the fund pays of `amount` owed by `payer`: the smallest of the amount, the tier's
    /// cap, what is left of the programme's month and the fund's balance; 0 without a fund, a tier,
    /// a use left this month, or when the payer is the merchant itself (it would pay itself from
    /// the fund).
    function _coverable(uint256 merchantId, address payer, address payout, uint256 amount)
        private
        view
        returns (uint256 covered)
    {
        ICommonsFund fund = _fund;
        if (address(fund) == address(0) || payer == payout) return 0;
        FreeTier memory tier = _freeTiers[merchantId];
        if (tier.usesPerMonth == 0) return 0;
        if (_freeUses[merchantId][payer][fund.monthOf(block.timestamp)] >= tier.usesPerMonth) return 0;
        uint256 programmeId = _fundProgramme;
        // A council that moved the programme to another spender ends the cover, not the payments.
        if (fund.programme(programmeId).spender != address(this)) return 0;
        covered = amount < tier.perUseCap ? amount : tier.perUseCap;
        uint256 left = fund.leftThisMonth(programmeId);
        if (left < covered) covered = left;
        uint256 balance = _token.balanceOf(address(fund));
        if (balance < covered) covered = balance;
    }

    /// @dev Has the fund pay its part to the merchant and counts the payer's free use; returns
    /// the part paid (0: the payer pays all).
    function _cover(
        uint256 merchantId,
        address payer,
        address payout,
        uint256 amount,
        bytes32 ref,
        uint256 bookingId
    ) private returns (uint256 covered) {
        ICommonsFund fund = _fund;
        if (address(fund) == address(0)) return 0;
        // The fund first records what the settlement pulled, so the month left read below is the
        // one `disburse` checks.
        fund.recordReceived();
        covered = _coverable(merchantId, payer, payout, amount);
        if (covered == 0) return 0;
        uint32 month = fund.monthOf(block.timestamp);
        ++_freeUses[merchantId][payer][month];
        emit FreeTierCovered(merchantId, payer, ref, bookingId, month, covered);
        fund.disburse(_fundProgramme, payout, covered, bookingId == 0 ? ref : bytes32(bookingId));
    }

    /// @dev Effects and event of a payment: the refund bound grows by `amount`.
    function _record(uint256 merchantId, address payer, uint256 amount, bytes32 ref) private {
        _paid[merchantId][payer] += amount;
        emit PaymentMade(merchantId, payer, ref, amount);
    }

    /// @dev The payout address of an active merchant and when its pending payout change takes
    /// effect (0: none), or a revert (unknown, suspended).
    function _activePayout(uint256 merchantId) private view returns (address payout, uint64 changeEffectiveAt) {
        MerchantRecord memory m = _merchants[merchantId];
        payout = m.payout;
        // A registered merchant always has a non-zero payout address.
        if (payout == address(0)) revert ServicePaymentsUnknownMerchant(merchantId);
        if (!m.active) revert ServicePaymentsMerchantSuspended(merchantId);
        changeEffectiveAt = m.changeEffectiveAt;
    }

    /// @dev The payout of an active merchant whose payout is not changing, or a revert.
    function _payoutForSignedPayment(uint256 merchantId) private view returns (address payout) {
        uint64 changeEffectiveAt;
        (payout, changeEffectiveAt) = _activePayout(merchantId);
        if (changeEffectiveAt != 0) {
            revert ServicePaymentsPayoutChangePending(merchantId, _pendingPayout[merchantId], changeEffectiveAt);
        }
    }

    function _knownMerchant(uint256 merchantId) private view returns (MerchantRecord storage m) {
        m = _merchants[merchantId];
        if (m.payout == address(0)) revert ServicePaymentsUnknownMerchant(merchantId);
    }

    function _openBooking(uint256 bookingId) private view returns (Booking storage b) {
        b = _bookings[bookingId];
        // Every opened booking has a non-zero payer.
        if (b.payer == address(0)) revert ServicePaymentsUnknownBooking(bookingId);
        if (!b.open) revert ServicePaymentsBookingNotOpen(bookingId);
    }
}
