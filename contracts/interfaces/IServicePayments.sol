// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Merchant and shared-service payments of the district
/// @notice A registry of merchants and shared services (co-working, car sharing, parking,
/// concierge, food, retail), payments with a reference, offline-signed payments (an ERC-3009
/// authorization of the district token whose nonce binds the merchant), refunds bounded by what
/// the payer paid, and booking deposits held in escrow.
///
/// A signed payment is ONE signature of the payer, on the token's EIP-712 domain:
///   ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)
/// with from = the payer, to = this contract, value = the amount, and
///   nonce = keccak256(abi.encode(PAYMENT_WITNESS_TYPEHASH, merchantId, payout, ref, payerNonce))
/// where PAYMENT_WITNESS_TYPEHASH = keccak256("PaymentWitness(uint256 merchantId,address payout,bytes32 ref,bytes32 payerNonce)")
/// and payerNonce is 32 random bytes the payer's wallet draws (see `paymentAuthorizationNonce`).
/// Only this contract can submit it (the token requires the payee as caller), and it recomputes the
/// nonce from the merchant, the merchant's current payout address and the reference given: a
/// terminal that changes the payee, amount, reference or validity window, or a payout address
/// changed since signing, breaks the signature. The token marks the nonce used once ever; the
/// payer cancels an unused one with the token's `cancelAuthorization`. Payments signed in any
/// order all go through: nonces are random, not sequential.
///
/// Powers: REGISTRAR_ROLE registers merchants and requests payout changes, which take effect
/// only PAYOUT_CHANGE_DELAY later (the admin or the registrar can cancel meanwhile); signed
/// payments to a merchant whose payout change is pending are refused. After a booking expires its
/// merchant can only close it with a zero charge; the payer can reclaim it.
/// @dev Refunds are bounded per (payer, merchant) by the net amount paid (paid minus refunded):
/// keeping one running total per pair instead of one record per payment keeps a payment to a
/// known merchant under 60k gas.
///
/// Free basics: the registrar may give a shared service (co-working, car sharing, parking,
/// concierge) a free tier: up to `perUseCap` of a payment or a booking's charge, `usesPerMonth`
/// times a calendar month (UTC) per payer. The commons fund pays that part to the merchant from
/// the programme the admin named (`setFreeBasicsFund`; the council makes this contract its
/// spender), within what is left of the programme's month; the payer pays the rest. When the month
/// is spent, the payer pays the normal price and no free use is counted. A payment signed offline
/// is never covered: the payer signed its exact amount.
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

    /// @notice A shared service's free tier: the most the fund pays of one payment or booking, and
    /// how many times a month a payer may use it (both 0: none).
    struct FreeTier {
        uint128 perUseCap;
        uint32 usesPerMonth;
    }

    /// @notice Free tiers are now paid by `programmeId` of the commons fund `fund` (zero: no fund).
    event FreeBasicsFundSet(address indexed fund, uint256 indexed programmeId);
    /// @notice A shared service's free tier was declared, changed or removed (both 0).
    event FreeTierSet(uint256 indexed merchantId, uint128 perUseCap, uint32 usesPerMonth);
    /// @notice The commons fund paid `covered` of what `payer` owed the merchant (free basics): of
    /// the payment with reference `ref`, or of booking `bookingId` (then `ref` is zero), in `month`
    /// (year * 12 + month - 1, UTC).
    event FreeTierCovered(
        uint256 indexed merchantId,
        address indexed payer,
        bytes32 indexed ref,
        uint256 bookingId,
        uint32 month,
        uint256 covered
    );
    /// @notice A merchant or shared service joined the registry.
    event MerchantRegistered(
        uint256 indexed merchantId, address indexed payout, Category category, string name
    );
    /// @notice The registrar asked to move a merchant's payouts to `newPayout`; it takes effect at
    /// `effectiveAt` unless cancelled.
    event MerchantPayoutChangeRequested(
        uint256 indexed merchantId,
        address indexed oldPayout,
        address indexed newPayout,
        uint64 effectiveAt
    );
    /// @notice A requested payout change was cancelled before it took effect.
    event MerchantPayoutChangeCanceled(uint256 indexed merchantId, address indexed newPayout);
    /// @notice A merchant's payout address changed (a requested change took effect).
    event MerchantPayoutChanged(
        uint256 indexed merchantId, address indexed oldPayout, address indexed newPayout
    );
    /// @notice A merchant was suspended (`active` false) or reactivated.
    event MerchantStatusChanged(uint256 indexed merchantId, bool active);
    /// @notice `payer` paid `amount` to the merchant's payout address with reference `ref` (its own
    /// part: what the commons fund paid of a free tier is a `FreeTierCovered` of the same `ref`).
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
    /// @notice Tokens sent to this contract by mistake (beyond the escrow) were sent to `to`.
    event TokensRescued(address indexed asset, address indexed to, uint256 amount);

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
    /// @notice This merchant's payout address is changing: signed payments to it are refused until
    /// the change takes effect at `effectiveAt` (then sign again for the new payout address).
    error ServicePaymentsPayoutChangePending(uint256 merchantId, address newPayout, uint64 effectiveAt);
    /// @notice No payout change is pending for this merchant.
    error ServicePaymentsNoPayoutChange(uint256 merchantId);
    /// @notice The payout change cannot take effect yet: wait until its effective time (the delay
    /// protects the merchant).
    error ServicePaymentsPayoutChangeNotDue(uint256 merchantId, uint64 effectiveAt);
    /// @notice Only the admin or a registrar may cancel a pending payout change.
    error ServicePaymentsCannotCancelPayoutChange(uint256 merchantId, address caller);
    /// @notice The booking has expired: its merchant can only close it with a zero charge now (the
    /// payer may reclaim the whole deposit).
    error ServicePaymentsBookingExpired(uint256 bookingId, uint64 expiresAt, uint256 charge);
    /// @notice Only tokens beyond the open booking deposits can be rescued.
    error ServicePaymentsRescueAboveExcess(address asset, uint256 amount, uint256 excess);
    /// @notice A booking must expire in the future.
    error ServicePaymentsExpiryNotInFuture(uint64 expiresAt);
    /// @notice A booking may last at most MAX_BOOKING_DURATION (90 days) from its opening: choose an
    /// expiry no later than `latest`.
    error ServicePaymentsExpiryTooFar(uint64 expiresAt, uint256 latest);
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
    /// @notice Only shared services (co-working, car sharing, parking, concierge) may have a free
    /// tier: this merchant is of another category.
    error ServicePaymentsNotASharedService(uint256 merchantId, Category category);
    /// @notice A free tier needs both a cap per use and a number of uses a month (or both 0 to
    /// remove it).
    error ServicePaymentsBadFreeTier(uint128 perUseCap, uint32 usesPerMonth);
    /// @notice The commons fund named does not let this contract spend that programme: ask the
    /// council to make this contract the programme's spender first.
    error ServicePaymentsNotFundSpender(address fund, uint256 programmeId);

    /// @notice Registers a merchant (REGISTRAR_ROLE). Ids start at 1.
    function registerMerchant(string calldata name, Category category, address payout)
        external
        returns (uint256 merchantId);
    /// @notice Asks to move a merchant's payouts to `payout` (REGISTRAR_ROLE); the change takes
    /// effect only after PAYOUT_CHANGE_DELAY, through `completePayoutChange`. A new request
    /// replaces a pending one and restarts the delay.
    function requestPayoutChange(uint256 merchantId, address payout) external;
    /// @notice Applies a requested payout change once its delay has passed (anyone may call).
    function completePayoutChange(uint256 merchantId) external;
    /// @notice Cancels a pending payout change (DEFAULT_ADMIN_ROLE or REGISTRAR_ROLE).
    function cancelPayoutChange(uint256 merchantId) external;
    /// @notice Suspends or reactivates a merchant (REGISTRAR_ROLE).
    function setMerchantActive(uint256 merchantId, bool active) external;

    /// @notice Pays `amount` to a merchant: the commons fund pays the free tier's part (see
    /// `fundCover`), the caller the rest (needs an allowance to this contract for it).
    function pay(uint256 merchantId, uint256 amount, bytes32 ref) external;

    /// @notice Submits a payment the payer signed offline (see the contract notice): anyone may
    /// submit it (the merchant's terminal); nothing of it can be changed and it pays once ever.
    /// No allowance is needed or touched. `signature` is the payer's (65 bytes for an EOA, or what
    /// its EIP-1271 wallet accepts).
    function payWithAuthorization(
        address payer,
        uint256 merchantId,
        uint256 amount,
        bytes32 ref,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 payerNonce,
        bytes calldata signature
    ) external;

    /// @notice Refunds `amount` to `payer` from the merchant's payout address (called by it,
    /// with an allowance to this contract); bounded by the net amount the payer paid.
    function refund(uint256 merchantId, address payer, uint256 amount, bytes32 ref) external;

    /// @notice Moves a deposit into escrow for a booking that expires at `expiresAt`, at most
    /// MAX_BOOKING_DURATION (90 days) after the opening.
    function openBooking(uint256 merchantId, uint256 deposit, uint64 expiresAt, bytes32 ref)
        external
        returns (uint256 bookingId);
    /// @notice The merchant closes a booking, charging at most the deposit; the rest returns. The
    /// commons fund pays the free tier's part of the charge, which returns to the payer from the
    /// deposit. After `expiresAt` the charge must be zero.
    function closeBooking(uint256 bookingId, uint256 charge) external;
    /// @notice The payer takes back the whole deposit after expiry if the merchant did not close.
    function reclaimBooking(uint256 bookingId) external;

    /// @notice Names the commons fund programme that pays free tiers (DEFAULT_ADMIN_ROLE); this
    /// contract must be its spender. The zero address turns free tiers off.
    function setFreeBasicsFund(address fund, uint256 programmeId) external;
    /// @notice Declares, changes or removes (both 0) a shared service's free tier (REGISTRAR_ROLE).
    function setFreeTier(uint256 merchantId, uint128 perUseCap, uint32 usesPerMonth) external;
    /// @notice The commons fund and programme that pay free tiers (zero address: none).
    function freeBasicsFund() external view returns (address fund, uint256 programmeId);
    /// @notice A merchant's free tier (zeros: none).
    function freeTier(uint256 merchantId) external view returns (FreeTier memory);
    /// @notice How many free uses of a merchant's tier `payer` had in `month`.
    function freeUsesIn(uint256 merchantId, address payer, uint32 month) external view returns (uint32);
    /// @notice What the fund would pay now of `amount` owed by `payer` to the merchant (the rest is
    /// the payer's): 0 without a tier, with the month's uses taken, or with the programme's month
    /// spent. A quote: what the fund records meanwhile (a settlement pull) may lower it.
    function fundCover(uint256 merchantId, address payer, uint256 amount) external view returns (uint256);

    /// @notice Pauses payments and bookings (PAUSER_ROLE).
    function pause() external;
    /// @notice Lifts the pause (PAUSER_ROLE).
    function unpause() external;

    /// @notice Sends `amount` of `asset` held here by mistake to `to` (DEFAULT_ADMIN_ROLE); of the
    /// district token, only what exceeds the open booking deposits.
    function rescue(address asset, address to, uint256 amount) external;

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
    /// @notice The pending payout change of a merchant (zero address and 0 when none).
    function pendingPayout(uint256 merchantId)
        external
        view
        returns (address payout, uint64 effectiveAt);
    /// @notice The ERC-3009 nonce a payer signs for a payment: the witness hash binding the
    /// merchant, its payout address, the reference and the payer's random nonce.
    function paymentAuthorizationNonce(
        uint256 merchantId,
        address payout,
        bytes32 ref,
        bytes32 payerNonce
    ) external pure returns (bytes32);
}
