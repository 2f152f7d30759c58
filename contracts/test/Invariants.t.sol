// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../DistrictToken.sol";
import {ServicePayments} from "../ServicePayments.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {TestBase} from "./utils/TestBase.sol";

// The handlers live in this file on purpose: when Hardhat runs this file alone, it hands the
// fuzzer the artifacts of this file only, and handlers defined elsewhere would not be fuzzed.

/// @notice Drives the district as its users AND its adversaries do: treasurers mint up to and past
/// their allowances; payers sign payments offline, cancel some and re-approve exact amounts while
/// terminals replay every authorization they ever saw; a registrar moves payouts; merchants refund
/// more than they were paid and close expired bookings with a charge; a freezer freezes accounts
/// that then try to move. Every attempt is a low-level call: the contracts decide what succeeds, and
/// the handler keeps a model (ghosts) of what a successful call is allowed to do.
contract DistrictHandler is TestBase {
    /// @dev A payment a payer signed offline, as a terminal holds it.
    struct Auth {
        uint256 payerIndex;
        uint256 merchantId;
        address payout;
        uint256 amount;
        bytes32 ref;
        bytes32 salt;
        uint256 validBefore;
        bytes signature;
        bool used;
        bool cancelled;
    }

    bytes32 private constant _RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 private constant _CANCEL_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
    uint256 private constant _VALID_AFTER = 1;

    DistrictToken internal immutable _token;
    ServicePayments internal immutable _payments;
    address internal immutable _admin;
    address internal immutable _registrar;
    address internal immutable _freezer;
    address internal immutable _commons;

    address[] internal _payers;
    uint256[] internal _payerKeys;
    address[] internal _payouts; // two addresses per merchant: merchant m uses 2(m-1) or 2(m-1)+1
    address[] internal _treasurers;
    address[] internal _actors; // every address that may ever hold tokens (except the contracts)
    uint256[] internal _openIds;
    Auth[] internal _auths;

    // ---- ghosts: the model of what successful calls may do
    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostOpenDeposits;
    uint256 public ghostBankRefs;
    /// @notice Tokens each account received / sent through calls that were entitled to succeed.
    mapping(address account => uint256) public ghostIn;
    mapping(address account => uint256) public ghostOut;
    /// @notice Per (merchant, payer): paid (pay + signed payments) and refunded.
    mapping(uint256 merchantId => mapping(address payer => uint256)) public ghostPaid;
    mapping(uint256 merchantId => mapping(address payer => uint256)) public ghostRefunded;
    /// @notice Per treasurer key: the allowance the admin last set, and minted since.
    mapping(address minter => uint256) public ghostConfigured;
    mapping(address minter => uint256) public ghostMintedSinceConfigured;
    /// @notice Balance of each frozen account when it was frozen.
    mapping(address account => uint256) public ghostFrozenBalance;
    mapping(address account => bool) public ghostFrozen;
    /// @notice Violations observed: each must stay zero.
    uint256 public ghostReplays; // a used or cancelled authorization moved money again
    uint256 public ghostFrozenMoves; // a frozen account sent or received
    uint256 public ghostExpiredCharges; // a merchant charged a deposit after expiry
    /// @notice Successful calls per action, to check the handler's reach when tuning depth.
    mapping(bytes4 selector => uint256) public calls;

    constructor(
        DistrictToken token_,
        ServicePayments payments_,
        address[4] memory roles, // admin, registrar, freezer, commons
        address[] memory payers_,
        uint256[] memory payerKeys,
        address[] memory payouts,
        address[] memory treasurers_
    ) {
        _token = token_;
        _payments = payments_;
        _admin = roles[0];
        _registrar = roles[1];
        _freezer = roles[2];
        _commons = roles[3];
        _payers = payers_;
        _payerKeys = payerKeys;
        _payouts = payouts;
        _treasurers = treasurers_;
        for (uint256 i = 0; i < payers_.length; ++i) _actors.push(payers_[i]);
        for (uint256 i = 0; i < payouts.length; ++i) _actors.push(payouts[i]);
        _actors.push(roles[3]);
    }

    // ------------------------------------------------------------------ views for invariants

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function payers() external view returns (address[] memory) {
        return _payers;
    }

    function treasurers() external view returns (address[] memory) {
        return _treasurers;
    }

    function merchantCount() external view returns (uint256) {
        return _payouts.length / 2;
    }

    function openBookingIds() external view returns (uint256[] memory) {
        return _openIds;
    }

    function authCount() external view returns (uint256) {
        return _auths.length;
    }

    /// @notice The token nonce of a signed payment and whether the model has it used or cancelled.
    function authNonce(uint256 i) external view returns (address payer, bytes32 nonce, bool spent) {
        Auth storage a = _auths[i];
        payer = _payers[a.payerIndex];
        nonce = _payments.paymentAuthorizationNonce(a.merchantId, a.payout, a.ref, a.salt);
        spent = a.used || a.cancelled;
    }

    // ------------------------------------------------------------------ helpers

    function _call(address caller, address target, bytes memory data) private returns (bool ok) {
        vm.prank(caller);
        (ok,) = target.call(data);
    }

    function _move(address from, address to, uint256 amount) private {
        ghostOut[from] += amount;
        ghostIn[to] += amount;
        if (ghostFrozen[from] || ghostFrozen[to]) ghostFrozenMoves++;
    }

    function _merchantPayout(uint256 merchantId) private view returns (address) {
        return _payments.merchant(merchantId).payout;
    }

    // ------------------------------------------------------------------ treasurers and admin

    /// @notice A treasurer mints, up to and past what it may still mint.
    function mint(uint256 treasurerSeed, uint256 toSeed, uint256 amount) external {
        address minter = _treasurers[treasurerSeed % _treasurers.length];
        address to = _actors[toSeed % _actors.length];
        (uint256 left,,) = _token.minter(minter);
        amount = _bound(amount, 1, left + left / 4 + 2);
        bytes32 bankRef = keccak256(abi.encode("handler bank ref", ++ghostBankRefs));
        if (!_call(minter, address(_token), abi.encodeCall(DistrictToken.recordDeposit, (bankRef, to, amount)))) {
            return;
        }
        ghostMinted += amount;
        ghostMintedSinceConfigured[minter] += amount;
        ghostIn[to] += amount;
        if (ghostFrozen[to]) ghostFrozenMoves++;
        calls[this.mint.selector]++;
    }

    /// @notice The admin sets a treasurer's allowance (and sometimes a daily limit).
    function configureMinter(uint256 treasurerSeed, uint256 allowance, uint256 dailyLimit) external {
        address minter = _treasurers[treasurerSeed % _treasurers.length];
        allowance = _bound(allowance, 0, 1e15);
        dailyLimit = dailyLimit % 3 == 0 ? _bound(dailyLimit, 1, 1e14) : 0;
        vm.prank(_admin);
        _token.configureMinter(minter, allowance, dailyLimit);
        ghostConfigured[minter] = allowance;
        ghostMintedSinceConfigured[minter] = 0;
        calls[this.configureMinter.selector]++;
    }

    function freeze(uint256 actorSeed, bool unfreeze_) external {
        address account = _actors[actorSeed % _actors.length];
        if (unfreeze_ && ghostFrozen[account]) {
            vm.prank(_freezer);
            _token.unfreeze(account, keccak256("order lifted"));
            ghostFrozen[account] = false;
        } else if (!ghostFrozen[account]) {
            vm.prank(_freezer);
            _token.freeze(account, keccak256("court order"));
            ghostFrozen[account] = true;
            ghostFrozenBalance[account] = _token.balanceOf(account);
        }
        calls[this.freeze.selector]++;
    }

    // ------------------------------------------------------------------ transfers and payments

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _actors[fromSeed % _actors.length];
        address to = _actors[toSeed % _actors.length];
        uint256 balance = _token.balanceOf(from);
        if (balance == 0) return;
        amount = _bound(amount, 1, balance);
        if (!_call(from, address(_token), abi.encodeWithSignature("transfer(address,uint256)", to, amount))) return;
        _move(from, to, amount);
        calls[this.transfer.selector]++;
    }

    /// @notice A payer approves exactly the amount, then pays (as a careful wallet does).
    function pay(uint256 payerSeed, uint256 merchantSeed, uint256 amount, bytes32 ref) external {
        address payer = _payers[payerSeed % _payers.length];
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        uint256 balance = _token.balanceOf(payer);
        if (balance == 0) return;
        amount = _bound(amount, 1, balance);
        address payout = _merchantPayout(merchantId);
        if (!_call(payer, address(_token), abi.encodeWithSignature("approve(address,uint256)", address(_payments), amount))) {
            return;
        }
        if (!_call(payer, address(_payments), abi.encodeCall(ServicePayments.pay, (merchantId, amount, ref)))) return;
        _move(payer, payout, amount);
        ghostPaid[merchantId][payer] += amount;
        calls[this.pay.selector]++;
    }

    /// @notice A payer signs a payment offline; a terminal keeps it (and never forgets it).
    function signPayment(uint256 payerSeed, uint256 merchantSeed, uint256 amount, bytes32 ref, uint256 ttl)
        external
    {
        uint256 index = payerSeed % _payers.length;
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        amount = _bound(amount, 1, 1e12);
        Auth memory a = Auth({
            payerIndex: index,
            merchantId: merchantId,
            payout: _merchantPayout(merchantId),
            amount: amount,
            ref: ref,
            salt: keccak256(abi.encode("salt", _auths.length)),
            validBefore: block.timestamp + _bound(ttl, 1 hours, 3 days),
            signature: "",
            used: false,
            cancelled: false
        });
        bytes32 nonce = _payments.paymentAuthorizationNonce(merchantId, a.payout, ref, a.salt);
        bytes32 structHash = keccak256(
            abi.encode(
                _RECEIVE_TYPEHASH, _payers[index], address(_payments), amount, _VALID_AFTER, a.validBefore, nonce
            )
        );
        a.signature = _sign(_payerKeys[index], structHash);
        _auths.push(a);
        calls[this.signPayment.selector]++;
    }

    /// @notice A terminal submits any authorization it holds: new, used, cancelled, stale.
    function submitPayment(uint256 authSeed) external {
        if (_auths.length == 0) return;
        Auth storage a = _auths[authSeed % _auths.length];
        address payer = _payers[a.payerIndex];
        address payout = _merchantPayout(a.merchantId);
        bytes memory data = abi.encodeCall(
            ServicePayments.payWithAuthorization,
            (payer, a.merchantId, a.amount, a.ref, _VALID_AFTER, a.validBefore, a.salt, a.signature)
        );
        if (!_call(address(0xC0FFEE), address(_payments), data)) return;
        if (a.used || a.cancelled) {
            // The payer signed this once: a second debit is money nobody agreed to move.
            ghostReplays++;
            return;
        }
        a.used = true;
        _move(payer, payout, a.amount);
        ghostPaid[a.merchantId][payer] += a.amount;
        calls[this.submitPayment.selector]++;
    }

    /// @notice The payer cancels a signed payment, then approves exactly its amount to pay or book
    /// normally: the cancelled authorization must stay dead whatever the allowance.
    function cancelAndReapprove(uint256 authSeed) external {
        if (_auths.length == 0) return;
        Auth storage a = _auths[authSeed % _auths.length];
        address payer = _payers[a.payerIndex];
        bytes32 nonce = _payments.paymentAuthorizationNonce(a.merchantId, a.payout, a.ref, a.salt);
        bytes memory sig = _sign(_payerKeys[a.payerIndex], keccak256(abi.encode(_CANCEL_TYPEHASH, payer, nonce)));
        if (_call(payer, address(_token), abi.encodeCall(DistrictToken.cancelAuthorization, (payer, nonce, sig)))) {
            a.cancelled = true;
        }
        _call(payer, address(_token), abi.encodeWithSignature("approve(address,uint256)", address(_payments), a.amount));
        calls[this.cancelAndReapprove.selector]++;
    }

    function _sign(uint256 key, bytes32 structHash) private view returns (bytes memory) {
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", _token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice A merchant refunds a payer, sometimes more than the payer paid it.
    function refund(uint256 merchantSeed, uint256 payerSeed, uint256 amount, bytes32 ref) external {
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        address payout = _merchantPayout(merchantId);
        address payer = _payers[payerSeed % _payers.length];
        uint256 balance = _token.balanceOf(payout);
        if (balance == 0) return;
        amount = _bound(amount, 1, balance);
        bytes memory data = abi.encodeCall(ServicePayments.refund, (merchantId, payer, amount, ref));
        if (!_call(payout, address(_payments), data)) return;
        _move(payout, payer, amount);
        ghostRefunded[merchantId][payer] += amount;
        calls[this.refund.selector]++;
    }

    // ------------------------------------------------------------------ bookings

    function openBooking(uint256 payerSeed, uint256 merchantSeed, uint256 amount, uint256 ttl, bytes32 ref)
        external
    {
        address payer = _payers[payerSeed % _payers.length];
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        uint256 balance = _token.balanceOf(payer);
        if (balance == 0) return;
        amount = _bound(amount, 1, balance);
        uint64 expiresAt = uint64(block.timestamp + _bound(ttl, 1, 3 days));
        _call(payer, address(_token), abi.encodeWithSignature("approve(address,uint256)", address(_payments), amount));
        bytes memory data = abi.encodeCall(ServicePayments.openBooking, (merchantId, amount, expiresAt, ref));
        vm.prank(payer);
        (bool ok, bytes memory out) = address(_payments).call(data);
        if (!ok) return;
        _openIds.push(abi.decode(out, (uint256)));
        ghostOpenDeposits += amount;
        _move(payer, address(_payments), amount);
        calls[this.openBooking.selector]++;
    }

    /// @notice The merchant closes a booking with any charge up to the deposit, expired or not.
    function closeBooking(uint256 idSeed, uint256 charge) external {
        if (_openIds.length == 0) return;
        uint256 slot = idSeed % _openIds.length;
        uint256 id = _openIds[slot];
        IServicePayments.Booking memory b = _payments.booking(id);
        charge = _bound(charge, 0, b.deposit);
        address payout = _merchantPayout(b.merchantId);
        if (!_call(payout, address(_payments), abi.encodeCall(ServicePayments.closeBooking, (id, charge)))) return;
        if (charge != 0 && block.timestamp > b.expiresAt) ghostExpiredCharges++;
        _forget(slot);
        ghostOpenDeposits -= b.deposit;
        if (charge != 0) _move(address(_payments), payout, charge);
        if (b.deposit != charge) _move(address(_payments), b.payer, b.deposit - charge);
        calls[this.closeBooking.selector]++;
    }

    function reclaimBooking(uint256 idSeed) external {
        if (_openIds.length == 0) return;
        uint256 slot = idSeed % _openIds.length;
        uint256 id = _openIds[slot];
        IServicePayments.Booking memory b = _payments.booking(id);
        if (!_call(b.payer, address(_payments), abi.encodeCall(ServicePayments.reclaimBooking, (id)))) return;
        _forget(slot);
        ghostOpenDeposits -= b.deposit;
        _move(address(_payments), b.payer, b.deposit);
        calls[this.reclaimBooking.selector]++;
    }

    // ------------------------------------------------------------------ merchants and registrar

    function redeem(uint256 merchantSeed, uint256 amount, bytes32 payoutRef) external {
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        address payout = _merchantPayout(merchantId);
        uint256 balance = _token.balanceOf(payout);
        uint256 minimum = _token.minRedemption();
        if (balance < minimum) return;
        amount = _bound(amount, minimum, balance);
        uint256 supplyBefore = _token.totalSupply();
        uint256 commonsBefore = _token.balanceOf(_commons);
        if (!_call(payout, address(_token), abi.encodeCall(DistrictToken.redeem, (amount, payoutRef)))) return;
        ghostBurned += supplyBefore - _token.totalSupply();
        ghostOut[payout] += amount;
        ghostIn[_commons] += _token.balanceOf(_commons) - commonsBefore;
        if (ghostFrozen[payout]) ghostFrozenMoves++;
        calls[this.redeem.selector]++;
    }

    function toggleMerchant(uint256 merchantSeed) external {
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        bool active = _payments.merchant(merchantId).active;
        vm.prank(_registrar);
        _payments.setMerchantActive(merchantId, !active);
        calls[this.toggleMerchant.selector]++;
    }

    /// @notice The registrar moves a merchant's payout to its other address; it waits its delay.
    function requestPayout(uint256 merchantSeed) external {
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        address current = _merchantPayout(merchantId);
        address first = _payouts[2 * (merchantId - 1)];
        address next = current == first ? _payouts[2 * (merchantId - 1) + 1] : first;
        vm.prank(_registrar);
        _payments.requestPayoutChange(merchantId, next);
        calls[this.requestPayout.selector]++;
    }

    function completePayout(uint256 merchantSeed, bool waitFirst) external {
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        (, uint64 effectiveAt) = _payments.pendingPayout(merchantId);
        if (effectiveAt == 0) return;
        if (waitFirst && block.timestamp < effectiveAt) vm.warp(effectiveAt);
        if (!_call(address(this), address(_payments), abi.encodeCall(ServicePayments.completePayoutChange, (merchantId)))) {
            return;
        }
        calls[this.completePayout.selector]++;
    }

    function cancelPayout(uint256 merchantSeed) external {
        uint256 merchantId = merchantSeed % (_payouts.length / 2) + 1;
        if (!_call(_registrar, address(_payments), abi.encodeCall(ServicePayments.cancelPayoutChange, (merchantId)))) {
            return;
        }
        calls[this.cancelPayout.selector]++;
    }

    function setFee(uint256 feeBps) external {
        vm.prank(_admin);
        _token.setRedemptionFee(_bound(feeBps, 0, 1000));
        calls[this.setFee.selector]++;
    }

    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + _bound(seconds_, 1, 3 days));
        calls[this.wait.selector]++;
    }

    function _forget(uint256 slot) private {
        _openIds[slot] = _openIds[_openIds.length - 1];
        _openIds.pop();
    }
}

/// @notice Tries every privileged call from accounts without the role (the district's own users
/// and arbitrary fuzzed addresses). Any success is counted: the invariant is that none happens.
contract UnprivilegedHandler is TestBase {
    DistrictToken internal immutable _token;
    ServicePayments internal immutable _payments;
    address[] internal _users;

    uint256 public ghostAttempts;
    uint256 public ghostSuccesses;

    constructor(DistrictToken token_, ServicePayments payments_, address[] memory users) {
        _token = token_;
        _payments = payments_;
        _users = users;
    }

    /// @dev A caller without `role` on `target`: a known user or the fuzzed address, never a holder.
    function _caller(uint256 seed, address fuzzed, bytes32 role, bool onToken) private view returns (address caller) {
        caller = seed % 2 == 0 ? _users[(seed / 2) % _users.length] : fuzzed;
        bool holds = onToken ? _token.hasRole(role, caller) : _payments.hasRole(role, caller);
        if (holds || caller == address(vm)) caller = address(this);
    }

    function _attempt(address caller, address target, bytes memory data) private {
        ghostAttempts++;
        vm.prank(caller);
        (bool ok,) = target.call(data);
        if (ok) ghostSuccesses++;
    }

    function tryRecordDeposit(uint256 seed, address fuzzed, bytes32 bankRef, uint256 amount) external {
        address caller = _caller(seed, fuzzed, _token.TREASURER_ROLE(), true);
        amount = _bound(amount, 1, 1e15);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.recordDeposit, (bankRef, caller, amount)));
    }

    function tryConfigureMinter(uint256 seed, address fuzzed, uint256 allowance) external {
        address caller = _caller(seed, fuzzed, bytes32(0), true);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.configureMinter, (caller, allowance, 0)));
    }

    function tryFreeze(uint256 seed, address fuzzed, address victim) external {
        address caller = _caller(seed, fuzzed, _token.FREEZER_ROLE(), true);
        if (victim == address(0)) victim = caller;
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.freeze, (victim, bytes32(0))));
    }

    function tryRescue(uint256 seed, address fuzzed, uint256 amount) external {
        address caller = _caller(seed, fuzzed, bytes32(0), false);
        amount = _bound(amount, 1, 1e15);
        _attempt(caller, address(_payments), abi.encodeCall(ServicePayments.rescue, (address(_token), caller, amount)));
    }

    function tryRetire(uint256 seed, address fuzzed) external {
        address caller = _caller(seed, fuzzed, bytes32(0), true);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.retire, (caller)));
    }

    function tryPauseToken(uint256 seed, address fuzzed) external {
        address caller = _caller(seed, fuzzed, _token.PAUSER_ROLE(), true);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.pause, ()));
    }

    function tryPausePayments(uint256 seed, address fuzzed) external {
        address caller = _caller(seed, fuzzed, _payments.PAUSER_ROLE(), false);
        _attempt(caller, address(_payments), abi.encodeCall(ServicePayments.pause, ()));
    }

    function tryRegisterMerchant(uint256 seed, address fuzzed, address payout) external {
        address caller = _caller(seed, fuzzed, _payments.REGISTRAR_ROLE(), false);
        if (payout == address(0)) payout = caller;
        _attempt(
            caller,
            address(_payments),
            abi.encodeCall(ServicePayments.registerMerchant, ("Intruder", IServicePayments.Category.Other, payout))
        );
    }

    function tryMovePayout(uint256 seed, address fuzzed, uint256 merchantId) external {
        address caller = _caller(seed, fuzzed, _payments.REGISTRAR_ROLE(), false);
        merchantId = _bound(merchantId, 1, _payments.merchantCount());
        _attempt(caller, address(_payments), abi.encodeCall(ServicePayments.requestPayoutChange, (merchantId, caller)));
    }

    function trySetFee(uint256 seed, address fuzzed, uint256 feeBps) external {
        address caller = _caller(seed, fuzzed, bytes32(0), true);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.setRedemptionFee, (_bound(feeBps, 0, 1000))));
    }

    function tryGrantTreasurer(uint256 seed, address fuzzed) external {
        address caller = _caller(seed, fuzzed, bytes32(0), true);
        bytes32 role = _token.TREASURER_ROLE();
        _attempt(caller, address(_token), abi.encodeWithSignature("grantRole(bytes32,address)", role, caller));
    }

    function tryGrantRegistrar(uint256 seed, address fuzzed) external {
        address caller = _caller(seed, fuzzed, bytes32(0), false);
        bytes32 role = _payments.REGISTRAR_ROLE();
        _attempt(caller, address(_payments), abi.encodeWithSignature("grantRole(bytes32,address)", role, caller));
    }
}

/// @notice Stateful fuzzing of the whole district: the fuzzer calls random sequences of the two
/// handlers (users and adversaries, and unprivileged intruders); after every call the invariants
/// below must hold. Each invariant is a campaign of `runs` sequences of `depth` calls
/// (hardhat.config.js `test.solidity.invariant`, overridden per invariant below): 9 x 1,200 =
/// 10,800 runs of 32 calls. bench/mutation.py plants known bugs and checks these catch each one.
contract DistrictInvariantsTest is TestBase {
    DistrictToken internal token;
    ServicePayments internal payments;
    DistrictHandler internal handler;
    UnprivilegedHandler internal intruder;
    address[] internal _targets;

    uint256 internal constant MERCHANTS = 3;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = _makeAddr("admin");
        address registrar = _makeAddr("registrar");
        address freezer = _makeAddr("freezer");
        address commons = _makeAddr("commons");

        token = new DistrictToken("Monnaie du 3e", "M3E", admin, 3 days, commons, 300, address(0));
        payments = new ServicePayments(address(token), admin, 3 days);

        address[] memory payers_ = new address[](4);
        uint256[] memory payerKeys = new uint256[](4);
        for (uint256 i = 0; i < 4; ++i) {
            (payers_[i], payerKeys[i]) = _account(string(abi.encodePacked("payer ", bytes1(uint8(48 + i)))));
        }
        address[] memory payouts = new address[](2 * MERCHANTS);
        payouts[0] = _makeAddr("bakery");
        payouts[1] = _makeAddr("bakery new account");
        payouts[2] = _makeAddr("coworking");
        payouts[3] = _makeAddr("coworking new account");
        payouts[4] = _makeAddr("parking");
        payouts[5] = _makeAddr("parking new account");
        address[] memory treasurers_ = new address[](2);
        treasurers_[0] = _makeAddr("treasurer");
        treasurers_[1] = _makeAddr("teller");

        handler = new DistrictHandler(
            token, payments, [admin, registrar, freezer, commons], payers_, payerKeys, payouts, treasurers_
        );

        vm.startPrank(admin);
        for (uint256 i = 0; i < treasurers_.length; ++i) token.grantRole(token.TREASURER_ROLE(), treasurers_[i]);
        token.grantRole(token.FREEZER_ROLE(), freezer);
        token.setMerchantDirectory(address(payments));
        payments.grantRole(payments.REGISTRAR_ROLE(), registrar);
        vm.stopPrank();

        vm.startPrank(registrar);
        payments.registerMerchant("Boulangerie Saxe", IServicePayments.Category.Food, payouts[0]);
        payments.registerMerchant("La Cordee Liberte", IServicePayments.Category.CoWorking, payouts[2]);
        payments.registerMerchant("Parking Part-Dieu", IServicePayments.Category.Parking, payouts[4]);
        vm.stopPrank();

        // Merchants refund through an infinite allowance; payers approve exact amounts as they go.
        for (uint256 i = 0; i < payouts.length; ++i) {
            vm.prank(payouts[i]);
            token.approve(address(payments), type(uint256).max);
        }

        address[] memory all = handler.actors();
        address[] memory users = new address[](all.length + 2);
        for (uint256 i = 0; i < all.length; ++i) users[i] = all[i];
        users[all.length] = treasurers_[0]; // holds TREASURER_ROLE, not the admin's powers
        users[all.length + 1] = address(0xBEEF);
        intruder = new UnprivilegedHandler(token, payments, users);

        // A starting point reached through the handler's own actions (so the ghosts agree): both
        // treasurer keys hold an allowance and every payer holds tokens.
        handler.configureMinter(0, 1e14, 1);
        handler.configureMinter(1, 1e13, 0);
        for (uint256 i = 0; i < 4; ++i) handler.mint(i, i, 1e9 + i);

        _targets.push(address(handler));
        _targets.push(address(intruder));
    }

    /// @notice Read by the invariant fuzzer: only the handlers are called.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_SupplyIsNeverAboveReserveAndBalancesSumToSupply() public view {
        assertLe(token.totalSupply(), token.reserve(), "supply above reserve");
        assertEq(token.totalSupply(), handler.ghostMinted() - handler.ghostBurned(), "minted minus burned");
        address[] memory all = handler.actors();
        uint256 sum = token.balanceOf(address(payments)) + token.balanceOf(address(handler))
            + token.balanceOf(address(intruder)) + token.balanceOf(address(token));
        for (uint256 i = 0; i < all.length; ++i) sum += token.balanceOf(all[i]);
        assertEq(sum, token.totalSupply(), "sum of balances");
    }

    /// @notice Each account holds what it received minus what it sent through calls entitled to
    /// move its money: for a payer, its debits are its payments, booking deposits and the transfers
    /// it signed, each once.
    /// forge-config: default.invariant.runs = 1200
    function invariant_EachBalanceIsWhatItsOwnerSignedFor() public view {
        address[] memory all = handler.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            address a = all[i];
            assertEq(token.balanceOf(a), handler.ghostIn(a) - handler.ghostOut(a), "balance against the model");
        }
        assertEq(
            token.balanceOf(address(payments)),
            handler.ghostIn(address(payments)) - handler.ghostOut(address(payments)),
            "payments contract against the model"
        );
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_EscrowEqualsOpenDeposits() public view {
        uint256 openSum;
        uint256 count = payments.bookingCount();
        for (uint256 id = 1; id <= count; ++id) {
            IServicePayments.Booking memory b = payments.booking(id);
            if (b.open) openSum += b.deposit;
        }
        assertEq(payments.escrowed(), openSum, "escrowed is the sum of open deposits");
        assertEq(payments.escrowed(), handler.ghostOpenDeposits(), "escrowed matches the ghost");
        assertEq(token.balanceOf(address(payments)), openSum, "the contract holds exactly the escrow");
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_NoAuthorizationIsUsedTwice() public view {
        assertEq(handler.ghostReplays(), 0, "a used or cancelled authorization paid again");
        uint256 n = handler.authCount();
        for (uint256 i = 0; i < n; ++i) {
            (address payer, bytes32 nonce, bool spent) = handler.authNonce(i);
            assertEq(token.authorizationState(payer, nonce) ? 1 : 0, spent ? 1 : 0, "nonce state against the model");
        }
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_MintedByAKeyIsNeverAboveItsAllowance() public view {
        address[] memory keys = handler.treasurers();
        for (uint256 i = 0; i < keys.length; ++i) {
            (uint256 left,,) = token.minter(keys[i]);
            uint256 minted = handler.ghostMintedSinceConfigured(keys[i]);
            assertLe(minted, handler.ghostConfigured(keys[i]), "minted above the allowance");
            assertEq(minted + left, handler.ghostConfigured(keys[i]), "minted plus left is the allowance");
        }
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_RefundsNeverExceedPayments() public view {
        address[] memory ps = handler.payers();
        for (uint256 m = 1; m <= MERCHANTS; ++m) {
            for (uint256 i = 0; i < ps.length; ++i) {
                uint256 paid = handler.ghostPaid(m, ps[i]);
                uint256 refunded = handler.ghostRefunded(m, ps[i]);
                assertLe(refunded, paid, "refunded more than paid");
                assertEq(payments.netPaid(m, ps[i]), paid - refunded, "net paid");
            }
        }
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_FrozenAccountsNeitherSendNorReceive() public view {
        assertEq(handler.ghostFrozenMoves(), 0, "a frozen account moved tokens");
        address[] memory all = handler.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            if (handler.ghostFrozen(all[i])) {
                assertEq(token.balanceOf(all[i]), handler.ghostFrozenBalance(all[i]), "frozen balance changed");
            }
        }
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_ExpiredDepositsGoBackWhole() public view {
        assertEq(handler.ghostExpiredCharges(), 0, "a merchant charged an expired booking");
    }

    /// forge-config: default.invariant.runs = 1200
    function invariant_OnlyRoleHoldersUsePowers() public view {
        assertEq(intruder.ghostSuccesses(), 0, "an unprivileged call succeeded");
        assertEq(payments.merchantCount(), MERCHANTS, "nobody registered a merchant");
        assertFalse(token.paused(), "nobody paused the token");
        assertFalse(payments.paused(), "nobody paused payments");
        assertEq(token.successor(), address(0), "nobody retired the token");
    }
}
