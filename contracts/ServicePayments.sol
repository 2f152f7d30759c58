// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IMerchantDirectory} from "./interfaces/IDistrictToken.sol";
import {IServicePayments} from "./interfaces/IServicePayments.sol";

/// @title Merchant and shared-service payments of the district
/// @notice Merchant registry, payments with a reference, offline-signed payments, refunds bounded
/// by what the payer paid, and booking deposits in escrow. It is also the merchant directory the
/// district token asks before a redemption.
/// @dev The pause stops every function that moves tokens (payments, refunds, bookings); the
/// registry stays manageable. Suspended merchants cannot be paid or booked, but can still refund
/// and close their open bookings. Reentrancy: transient-storage guard (EIP-1153, cancun).
/// Refund bounds belong to the merchant (its id), not to a payout address: after a payout change
/// the new address refunds, from its own funds, what the payer paid the merchant before.
contract ServicePayments is
    IServicePayments,
    IMerchantDirectory,
    AccessControlDefaultAdminRules,
    Pausable,
    ReentrancyGuardTransient,
    EIP712
{
    using SafeERC20 for IERC20;

    /// @dev One slot per (merchant, payer), read and written once per payment: what the payer paid
    /// the merchant net of refunds, and one plus the permit nonce of the last payment intent of
    /// this payer to this merchant that was executed (0 when none). Intents bind the merchant id,
    /// so this is enough to refuse a replay (see `_intentNonceToUse`).
    struct Paid {
        uint128 net;
        uint128 intentUsedUpTo;
    }

    /// @notice Registers merchants, changes their payout address and status.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Pauses and unpauses payments and bookings.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice EIP-712 type hash of the payment intent a payer signs offline.
    bytes32 public constant PAYMENT_INTENT_TYPEHASH = keccak256(
        "PaymentIntent(address payer,uint256 merchantId,uint256 amount,bytes32 ref,uint256 nonce,uint256 deadline)"
    );
    /// @notice Longest merchant name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 64;

    IERC20 private immutable _token;

    uint256 private _merchantCount;
    uint256 private _bookingCount;
    uint256 private _escrowed;
    mapping(uint256 merchantId => Merchant) private _merchants;
    mapping(uint256 merchantId => string) private _merchantNames;
    mapping(address payout => uint256 merchantId) private _merchantIdOf;
    mapping(uint256 merchantId => mapping(address payer => Paid)) private _paid;
    mapping(uint256 bookingId => Booking) private _bookings;

    /// @param token_ the district token (ERC-20 with EIP-2612 permit)
    /// @param admin the default admin (two-step transfer, `adminDelay` seconds)
    /// @param adminDelay the delay of a default admin transfer, in seconds
    constructor(address token_, address admin, uint48 adminDelay)
        AccessControlDefaultAdminRules(adminDelay, admin)
        EIP712("District ServicePayments", "1")
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
        _merchants[merchantId] = Merchant({payout: payout, category: category, active: true});
        _merchantNames[merchantId] = name;
        _merchantIdOf[payout] = merchantId;
        emit MerchantRegistered(merchantId, payout, category, name);
    }

    /// @inheritdoc IServicePayments
    function setMerchantPayout(uint256 merchantId, address payout) external onlyRole(REGISTRAR_ROLE) {
        Merchant storage m = _knownMerchant(merchantId);
        if (payout == address(0)) revert ServicePaymentsZeroAddress();
        if (_merchantIdOf[payout] != 0) revert ServicePaymentsPayoutAlreadyUsed(payout);

        address oldPayout = m.payout;
        m.payout = payout;
        delete _merchantIdOf[oldPayout];
        _merchantIdOf[payout] = merchantId;
        emit MerchantPayoutChanged(merchantId, oldPayout, payout);
    }

    /// @inheritdoc IServicePayments
    function setMerchantActive(uint256 merchantId, bool active) external onlyRole(REGISTRAR_ROLE) {
        Merchant storage m = _knownMerchant(merchantId);
        if (m.active == active) revert ServicePaymentsMerchantStatusUnchanged(merchantId, active);
        m.active = active;
        emit MerchantStatusChanged(merchantId, active);
    }

    // ------------------------------------------------------------------ payments

    /// @inheritdoc IServicePayments
    function pay(uint256 merchantId, uint256 amount, bytes32 ref) external whenNotPaused nonReentrant {
        if (amount == 0) revert ServicePaymentsZeroAmount();
        address payout = _activePayout(merchantId);
        _pay(_paid[merchantId][msg.sender], merchantId, payout, msg.sender, amount, ref);
    }

    /// @inheritdoc IServicePayments
    function payWithPermit(
        address payer,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 deadline,
        uint8 permitV,
        bytes32 permitR,
        bytes32 permitS,
        bytes calldata intentSignature
    ) external whenNotPaused nonReentrant {
        if (block.timestamp > deadline) revert ServicePaymentsIntentExpired(deadline);
        if (payer == address(0)) revert ServicePaymentsZeroAddress();
        if (amount == 0) revert ServicePaymentsZeroAmount();
        address payout = _activePayout(merchantId);

        Paid storage paid = _paid[merchantId][payer];
        // The intent is bound to the payer's permit nonce it was signed for. Normally the permit is
        // still pending and consumes that nonce here. When someone else already submitted the
        // permit (it is public once broadcast: a front-runner can call `permit` directly), the
        // allowance it set pays for the intent instead of the payment failing.
        if (_useIntent(paid, payer, merchantId, amount, ref, deadline, intentSignature)) {
            IERC20Permit(address(_token)).permit(payer, address(this), amount, deadline, permitV, permitR, permitS);
        }
        _pay(paid, merchantId, payout, payer, amount, ref);
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
        Paid storage total = _paid[merchantId][payer];
        uint256 paid = total.net;
        if (amount > paid) revert ServicePaymentsRefundAboveNetPaid(merchantId, payer, amount, paid);

        // amount <= paid < 2**128, checked just above.
        unchecked {
            total.net = uint128(paid - amount);
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

        b.open = false;
        // Each open deposit is counted once in _escrowed, so it holds at least `deposit`.
        unchecked {
            _escrowed -= deposit;
        }
        uint256 returned;
        // charge <= deposit, checked above.
        unchecked {
            returned = deposit - charge;
        }
        emit BookingClosed(bookingId, charge, returned);
        if (charge != 0) _token.safeTransfer(payout, charge);
        if (returned != 0) _token.safeTransfer(b.payer, returned);
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

    // ------------------------------------------------------------------ views

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
        return _merchants[merchantId];
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
        return _paid[merchantId][payer].net;
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
    function escrowed() external view returns (uint256) {
        return _escrowed;
    }

    /// @inheritdoc IServicePayments
    function paymentIntentDigest(
        address payer,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(PAYMENT_INTENT_TYPEHASH, payer, merchantId, amount, ref, nonce, deadline))
        );
    }

    // ------------------------------------------------------------------ internals

    /// @dev Effects, event, then the transfer from the payer to the merchant's payout address.
    function _pay(Paid storage paid, uint256 merchantId, address payout, address payer, uint256 amount, bytes32 ref)
        private
    {
        paid.net = SafeCast.toUint128(paid.net + amount);
        emit PaymentMade(merchantId, payer, ref, amount);
        _token.safeTransferFrom(payer, payout, amount);
    }

    /// @dev The payout address of an active merchant, or a revert (unknown, suspended).
    function _activePayout(uint256 merchantId) private view returns (address payout) {
        Merchant memory m = _merchants[merchantId];
        payout = m.payout;
        // A registered merchant always has a non-zero payout address.
        if (payout == address(0)) revert ServicePaymentsUnknownMerchant(merchantId);
        if (!m.active) revert ServicePaymentsMerchantSuspended(merchantId);
    }

    function _knownMerchant(uint256 merchantId) private view returns (Merchant storage m) {
        m = _merchants[merchantId];
        if (m.payout == address(0)) revert ServicePaymentsUnknownMerchant(merchantId);
    }

    function _openBooking(uint256 bookingId) private view returns (Booking storage b) {
        b = _bookings[bookingId];
        // Every opened booking has a non-zero payer.
        if (b.payer == address(0)) revert ServicePaymentsUnknownBooking(bookingId);
        if (!b.open) revert ServicePaymentsBookingNotOpen(bookingId);
    }

    /// @dev Marks the intent used (for the permit nonce the payer signed it for) and tells whether
    /// its permit is still to be submitted. Accepted: an intent signed for the payer's current permit nonce (its permit is
    /// pending); or one signed for the nonce just spent, when that intent was never executed here
    /// and the allowance to this contract is exactly the amount (its permit was submitted by someone
    /// else, a front-runner). Anything else signed by the payer is a replay or a cancelled intent
    /// (the payer spent the nonce otherwise); anything not signed by the payer is refused.
    function _useIntent(
        Paid storage paid,
        address payer,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 deadline,
        bytes calldata signature
    ) private returns (bool permitPending) {
        uint256 nonce = IERC20Permit(address(_token)).nonces(payer);
        bytes32 digest = paymentIntentDigest(payer, merchantId, amount, ref, nonce, deadline);
        (address signer,,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (signer == payer) {
            paid.intentUsedUpTo = SafeCast.toUint128(nonce + 1);
            return true;
        }
        if (nonce != 0) {
            // nonce != 0: no underflow.
            uint256 previousNonce;
            unchecked {
                previousNonce = nonce - 1;
            }
            digest = paymentIntentDigest(payer, merchantId, amount, ref, previousNonce, deadline);
            (address previous,,) = ECDSA.tryRecoverCalldata(digest, signature);
            if (previous == payer) {
                if (paid.intentUsedUpTo == nonce || _token.allowance(payer, address(this)) != amount) {
                    revert ServicePaymentsIntentReplayed(payer, previousNonce);
                }
                paid.intentUsedUpTo = SafeCast.toUint128(nonce);
                return false;
            }
        }
        revert ServicePaymentsIntentInvalidSigner(signer, payer);
    }
}
