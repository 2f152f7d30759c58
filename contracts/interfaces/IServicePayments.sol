// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Merchant and shared-service payments of the district
/// @notice A registry of merchants and shared services (co-working, car sharing, parking,
/// concierge, food, retail), payments with a reference, offline-signed payments (EIP-2612 permit
/// plus an EIP-712 payment intent), refunds bounded by what the payer paid, and booking deposits
/// held in escrow.
/// @dev Refunds are bounded per (payer, merchant) by the net amount paid (paid minus refunded):
/// keeping one running total per pair instead of one record per payment keeps a payment to a
/// known merchant under 60k gas.
interface IServicePayments {
    /// @notice Kinds of merchants and shared services.
    enum Category {
        CoWorking,
        CarSharing,
        Parking,
        Concierge,
        Food,
        Retail,
        Other
    }

    /// @notice What the registry keeps of a merchant; the name lives in the event and `merchantName`.
    struct Merchant {
        address payout;
        Category category;
        bool active;
    }

    /// @notice A booking deposit held in escrow.
    struct Booking {
        address payer;
        uint64 expiresAt;
        bool open;
        uint256 merchantId;
        uint256 deposit;
    }

    /// @notice A merchant or shared service joined the registry.
    event MerchantRegistered(
        uint256 indexed merchantId, address indexed payout, Category category, string name
    );
    /// @notice A merchant's payout address changed.
    event MerchantPayoutChanged(
        uint256 indexed merchantId, address indexed oldPayout, address indexed newPayout
    );
    /// @notice A merchant was suspended (`active` false) or reactivated.
    event MerchantStatusChanged(uint256 indexed merchantId, bool active);
    /// @notice `payer` paid `amount` to the merchant's payout address with reference `ref`.
    event PaymentMade(
        uint256 indexed merchantId, address indexed payer, bytes32 indexed ref, uint256 amount
    );
    /// @notice The merchant refunded `amount` to `payer` against the payment with reference `ref`.
    event PaymentRefunded(
        uint256 indexed merchantId, address indexed payer, bytes32 indexed ref, uint256 amount
    );
    /// @notice A booking deposit moved into escrow.
    event BookingOpened(
        uint256 indexed bookingId,
        uint256 indexed merchantId,
        address indexed payer,
        uint256 deposit,
        uint64 expiresAt,
        bytes32 ref
    );
    /// @notice The merchant closed a booking: `charged` went to the merchant, `returned` to the payer.
    event BookingClosed(uint256 indexed bookingId, uint256 charged, uint256 returned);
    /// @notice The payer took back the whole deposit of an expired booking.
    event BookingReclaimed(uint256 indexed bookingId, uint256 returned);

    /// @notice An amount of zero was given where value must move.
    error ServicePaymentsZeroAmount();
    /// @notice The zero address was given where an account is needed.
    error ServicePaymentsZeroAddress();
    /// @notice A merchant needs a name.
    error ServicePaymentsEmptyName();
    /// @notice The name is longer than 64 bytes.
    error ServicePaymentsNameTooLong(uint256 length);
    /// @notice A payout address serves one merchant only.
    error ServicePaymentsPayoutAlreadyUsed(address payout);
    /// @notice No merchant has this id.
    error ServicePaymentsUnknownMerchant(uint256 merchantId);
    /// @notice The merchant is suspended and cannot take payments or bookings.
    error ServicePaymentsMerchantSuspended(uint256 merchantId);
    /// @notice The merchant already has this status.
    error ServicePaymentsMerchantStatusUnchanged(uint256 merchantId, bool active);
    /// @notice Only the merchant's payout address may do this.
    error ServicePaymentsNotMerchant(uint256 merchantId, address caller);
    /// @notice A merchant cannot refund more than the payer paid it (net of earlier refunds).
    error ServicePaymentsRefundAboveNetPaid(
        uint256 merchantId, address payer, uint256 amount, uint256 netPaid
    );
    /// @notice The signed payment intent is past its deadline.
    error ServicePaymentsIntentExpired(uint256 deadline);
    /// @notice The payment intent was not signed by the payer.
    error ServicePaymentsIntentInvalidSigner(address signer, address payer);
    /// @notice The payment intent was already used (its nonce is spent).
    error ServicePaymentsIntentReplayed(address payer, uint256 nonce);
    /// @notice A booking must expire in the future.
    error ServicePaymentsExpiryNotInFuture(uint64 expiresAt);
    /// @notice No booking has this id.
    error ServicePaymentsUnknownBooking(uint256 bookingId);
    /// @notice The booking was already closed or reclaimed.
    error ServicePaymentsBookingNotOpen(uint256 bookingId);
    /// @notice A booking cannot charge more than its deposit.
    error ServicePaymentsChargeAboveDeposit(uint256 bookingId, uint256 charge, uint256 deposit);
    /// @notice The deposit can be reclaimed only after the booking expires.
    error ServicePaymentsBookingNotExpired(uint256 bookingId, uint64 expiresAt);
    /// @notice Only the payer of the booking may reclaim it.
    error ServicePaymentsNotBookingPayer(uint256 bookingId, address caller);

    /// @notice Registers a merchant (REGISTRAR_ROLE). Ids start at 1.
    function registerMerchant(string calldata name, Category category, address payout)
        external
        returns (uint256 merchantId);
    /// @notice Moves a merchant's payouts to a new address (REGISTRAR_ROLE).
    function setMerchantPayout(uint256 merchantId, address payout) external;
    /// @notice Suspends or reactivates a merchant (REGISTRAR_ROLE).
    function setMerchantActive(uint256 merchantId, bool active) external;

    /// @notice Pays `amount` to a merchant from the caller (needs an allowance to this contract).
    function pay(uint256 merchantId, uint256 amount, bytes32 ref) external;

    /// @notice Submits a payment the payer signed offline: an EIP-2612 permit of exactly `amount`
    /// to this contract and an EIP-712 `PaymentIntent(payer, merchantId, amount, ref, nonce,
    /// deadline)` whose nonce is the payer's current permit nonce. Anyone may submit it (the
    /// merchant's terminal); nothing of it can be changed, and it can be used once. If someone
    /// else already submitted the permit itself to the token (a front-runner), the intent still
    /// goes through once, paid from the exact allowance that permit set.
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
    ) external;

    /// @notice Refunds `amount` to `payer` from the merchant's payout address (called by it,
    /// with an allowance to this contract); bounded by the net amount the payer paid.
    function refund(uint256 merchantId, address payer, uint256 amount, bytes32 ref) external;

    /// @notice Moves a deposit into escrow for a booking that expires at `expiresAt`.
    function openBooking(uint256 merchantId, uint256 deposit, uint64 expiresAt, bytes32 ref)
        external
        returns (uint256 bookingId);
    /// @notice The merchant closes a booking, charging at most the deposit; the rest returns.
    function closeBooking(uint256 bookingId, uint256 charge) external;
    /// @notice The payer takes back the whole deposit after expiry if the merchant did not close.
    function reclaimBooking(uint256 bookingId) external;

    /// @notice Pauses payments and bookings (PAUSER_ROLE).
    function pause() external;
    /// @notice Lifts the pause (PAUSER_ROLE).
    function unpause() external;

    /// @notice The token payments are made in.
    function token() external view returns (address);
    /// @notice A merchant's registry entry.
    function merchant(uint256 merchantId) external view returns (Merchant memory);
    /// @notice A merchant's name.
    function merchantName(uint256 merchantId) external view returns (string memory);
    /// @notice How many merchants were registered (the last id).
    function merchantCount() external view returns (uint256);
    /// @notice The merchant id whose payout address is `payout` (0 when none).
    function merchantIdOf(address payout) external view returns (uint256);
    /// @notice What `payer` paid `merchantId`, net of refunds: the most that can be refunded.
    function netPaid(uint256 merchantId, address payer) external view returns (uint256);
    /// @notice A booking.
    function booking(uint256 bookingId) external view returns (Booking memory);
    /// @notice How many bookings were opened (the last id).
    function bookingCount() external view returns (uint256);
    /// @notice Tokens held in escrow for open bookings.
    function escrowed() external view returns (uint256);
    /// @notice The EIP-712 hash of a payment intent, as the payer signs it.
    function paymentIntentDigest(
        address payer,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 nonce,
        uint256 deadline
    ) external view returns (bytes32);
}
