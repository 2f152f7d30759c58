// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DistrictToken} from "../DistrictToken.sol";
import {ServicePayments} from "../ServicePayments.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {TestBase} from "./utils/TestBase.sol";

// The handlers live in this file on purpose: when Hardhat runs this file alone, it hands the
// fuzzer the artifacts of this file only, and handlers defined elsewhere would not be fuzzed.

/// @notice Drives the district the way its legitimate users do (deposits by the treasurer,
/// transfers, payments, signed payments, refunds, bookings, redemptions, suspensions), with inputs
/// bounded so that most calls succeed, and keeps ghost totals for the invariants.
contract DistrictHandler is TestBase {
    DistrictToken internal immutable _token;
    ServicePayments internal immutable _payments;
    address internal immutable _treasurer;
    address internal immutable _registrar;
    address internal immutable _admin;

    address[] internal _payers;
    uint256[] internal _payerKeys;
    address[] internal _merchants; // payout addresses; merchant id = index + 1
    address[] internal _actors; // every address that may ever hold tokens (except the contract)
    uint256[] internal _openIds;

    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostOpenDeposits;
    uint256 public ghostBankRefs;
    /// @notice Successful calls per action, to check the handler's reach when tuning depth.
    mapping(bytes4 selector => uint256) public calls;

    constructor(
        DistrictToken token_,
        ServicePayments payments_,
        address treasurer,
        address registrar,
        address admin,
        address[] memory payers,
        uint256[] memory payerKeys,
        address[] memory merchants,
        address commons
    ) {
        _token = token_;
        _payments = payments_;
        _treasurer = treasurer;
        _registrar = registrar;
        _admin = admin;
        _payers = payers;
        _payerKeys = payerKeys;
        _merchants = merchants;
        for (uint256 i = 0; i < payers.length; ++i) _actors.push(payers[i]);
        for (uint256 i = 0; i < merchants.length; ++i) _actors.push(merchants[i]);
        _actors.push(commons);
    }

    // ------------------------------------------------------------------ views for invariants

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function openBookingIds() external view returns (uint256[] memory) {
        return _openIds;
    }

    // ------------------------------------------------------------------ actions

    function deposit(uint256 actorSeed, uint256 amount) external {
        address to = _actors[actorSeed % _actors.length];
        amount = _bound(amount, 1, 1e15); // up to 1,000,000,000 M3E
        bytes32 bankRef = keccak256(abi.encode("handler bank ref", ++ghostBankRefs));
        vm.prank(_treasurer);
        _token.recordDeposit(bankRef, to, amount);
        ghostMinted += amount;
        calls[this.deposit.selector]++;
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _actors[fromSeed % _actors.length];
        address to = _actors[toSeed % _actors.length];
        uint256 balance = _token.balanceOf(from);
        if (balance == 0) return;
        amount = _bound(amount, 1, balance);
        vm.prank(from);
        _token.transfer(to, amount);
        calls[this.transfer.selector]++;
    }

    function pay(uint256 payerSeed, uint256 merchantSeed, uint256 amount, bytes32 ref) external {
        address payer = _payers[payerSeed % _payers.length];
        uint256 merchantId = merchantSeed % _merchants.length + 1;
        uint256 balance = _token.balanceOf(payer);
        if (balance == 0 || !_payments.merchant(merchantId).active) return;
        amount = _bound(amount, 1, balance);
        vm.prank(payer);
        _payments.pay(merchantId, amount, ref);
        calls[this.pay.selector]++;
    }

    function payWithPermit(uint256 payerSeed, uint256 merchantSeed, uint256 amount, bytes32 ref) external {
        uint256 index = payerSeed % _payers.length;
        address payer = _payers[index];
        uint256 merchantId = merchantSeed % _merchants.length + 1;
        uint256 balance = _token.balanceOf(payer);
        if (balance == 0 || !_payments.merchant(merchantId).active) return;
        amount = _bound(amount, 1, balance);
        uint256 deadline = block.timestamp + 1 hours;

        (uint8 v, bytes32 r, bytes32 s) = _signPermit(index, amount, deadline);
        bytes memory intent = _signIntent(index, merchantId, amount, ref, deadline);
        _payments.payWithPermit(payer, merchantId, amount, ref, deadline, v, r, s, intent);
        // The permit set the allowance to `amount` and the payment spent it; restore the infinite
        // allowance (as a wallet would) so that `pay` keeps working for this payer.
        vm.prank(payer);
        _token.approve(address(_payments), type(uint256).max);
        calls[this.payWithPermit.selector]++;
    }

    function _signPermit(uint256 index, uint256 amount, uint256 deadline)
        private
        view
        returns (uint8, bytes32, bytes32)
    {
        address payer = _payers[index];
        bytes32 permitHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                payer,
                address(_payments),
                amount,
                _token.nonces(payer),
                deadline
            )
        );
        return vm.sign(_payerKeys[index], keccak256(abi.encodePacked(hex"1901", _token.DOMAIN_SEPARATOR(), permitHash)));
    }

    function _signIntent(uint256 index, uint256 merchantId, uint256 amount, bytes32 ref, uint256 deadline)
        private
        view
        returns (bytes memory)
    {
        address payer = _payers[index];
        bytes32 digest =
            _payments.paymentIntentDigest(payer, merchantId, amount, ref, _token.nonces(payer), deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_payerKeys[index], digest);
        return abi.encodePacked(r, s, v);
    }

    function refund(uint256 merchantSeed, uint256 payerSeed, uint256 amount, bytes32 ref) external {
        uint256 merchantId = merchantSeed % _merchants.length + 1;
        address payout = _merchants[merchantId - 1];
        address payer = _payers[payerSeed % _payers.length];
        uint256 most = _payments.netPaid(merchantId, payer);
        uint256 balance = _token.balanceOf(payout);
        if (balance < most) most = balance;
        if (most == 0) return;
        amount = _bound(amount, 1, most);
        vm.prank(payout);
        _payments.refund(merchantId, payer, amount, ref);
        calls[this.refund.selector]++;
    }

    function openBooking(uint256 payerSeed, uint256 merchantSeed, uint256 amount, uint256 ttl, bytes32 ref)
        external
    {
        address payer = _payers[payerSeed % _payers.length];
        uint256 merchantId = merchantSeed % _merchants.length + 1;
        uint256 balance = _token.balanceOf(payer);
        if (balance == 0 || !_payments.merchant(merchantId).active) return;
        amount = _bound(amount, 1, balance);
        uint64 expiresAt = uint64(block.timestamp + _bound(ttl, 1, 30 days));
        vm.prank(payer);
        uint256 id = _payments.openBooking(merchantId, amount, expiresAt, ref);
        _openIds.push(id);
        ghostOpenDeposits += amount;
        calls[this.openBooking.selector]++;
    }

    function closeBooking(uint256 idSeed, uint256 charge) external {
        if (_openIds.length == 0) return;
        uint256 slot = idSeed % _openIds.length;
        uint256 id = _openIds[slot];
        IServicePayments.Booking memory b = _payments.booking(id);
        charge = _bound(charge, 0, b.deposit);
        vm.prank(_payments.merchant(b.merchantId).payout);
        _payments.closeBooking(id, charge);
        _forget(slot);
        ghostOpenDeposits -= b.deposit;
        calls[this.closeBooking.selector]++;
    }

    function reclaimBooking(uint256 idSeed) external {
        if (_openIds.length == 0) return;
        uint256 slot = idSeed % _openIds.length;
        uint256 id = _openIds[slot];
        IServicePayments.Booking memory b = _payments.booking(id);
        if (block.timestamp <= b.expiresAt) vm.warp(uint256(b.expiresAt) + 1);
        vm.prank(b.payer);
        _payments.reclaimBooking(id);
        _forget(slot);
        ghostOpenDeposits -= b.deposit;
        calls[this.reclaimBooking.selector]++;
    }

    function redeem(uint256 merchantSeed, uint256 amount, bytes32 payoutRef) external {
        uint256 merchantId = merchantSeed % _merchants.length + 1;
        address payout = _merchants[merchantId - 1];
        uint256 balance = _token.balanceOf(payout);
        if (balance == 0 || !_payments.merchant(merchantId).active) return;
        amount = _bound(amount, 1, balance);
        uint256 supplyBefore = _token.totalSupply();
        vm.prank(payout);
        _token.redeem(amount, payoutRef);
        ghostBurned += supplyBefore - _token.totalSupply();
        calls[this.redeem.selector]++;
    }

    function toggleMerchant(uint256 merchantSeed) external {
        uint256 merchantId = merchantSeed % _merchants.length + 1;
        bool active = _payments.merchant(merchantId).active;
        vm.prank(_registrar);
        _payments.setMerchantActive(merchantId, !active);
        calls[this.toggleMerchant.selector]++;
    }

    function setFee(uint256 feeBps) external {
        vm.prank(_admin);
        _token.setRedemptionFee(_bound(feeBps, 0, 1000));
        calls[this.setFee.selector]++;
    }

    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + _bound(seconds_, 1, 7 days));
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

    function trySuspendMerchant(uint256 seed, address fuzzed, uint256 merchantId) external {
        address caller = _caller(seed, fuzzed, _payments.REGISTRAR_ROLE(), false);
        merchantId = _bound(merchantId, 1, _payments.merchantCount());
        bool active = _payments.merchant(merchantId).active;
        _attempt(caller, address(_payments), abi.encodeCall(ServicePayments.setMerchantActive, (merchantId, !active)));
    }

    function tryMovePayout(uint256 seed, address fuzzed, uint256 merchantId) external {
        address caller = _caller(seed, fuzzed, _payments.REGISTRAR_ROLE(), false);
        merchantId = _bound(merchantId, 1, _payments.merchantCount());
        _attempt(caller, address(_payments), abi.encodeCall(ServicePayments.setMerchantPayout, (merchantId, caller)));
    }

    function trySetFee(uint256 seed, address fuzzed, uint256 feeBps) external {
        address caller = _caller(seed, fuzzed, bytes32(0), true);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.setRedemptionFee, (_bound(feeBps, 0, 1000))));
    }

    function trySetCommonsFund(uint256 seed, address fuzzed) external {
        address caller = _caller(seed, fuzzed, bytes32(0), true);
        _attempt(caller, address(_token), abi.encodeCall(DistrictToken.setCommonsFund, (caller)));
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
/// handlers (legitimate users and unprivileged intruders); after every call the invariants below
/// must hold. Runs and depth: hardhat.config.js `test.solidity.invariant`.
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
        address treasurer = _makeAddr("treasurer");
        address registrar = _makeAddr("registrar");
        address pauser = _makeAddr("pauser");
        address commons = _makeAddr("commons");

        token = new DistrictToken("Monnaie du 3e", "M3E", admin, 3 days, commons, 300);
        payments = new ServicePayments(address(token), admin, 3 days);

        address[] memory payers = new address[](4);
        uint256[] memory payerKeys = new uint256[](4);
        address[] memory merchants = new address[](MERCHANTS);
        (payers[0], payerKeys[0]) = _account("payer 0");
        (payers[1], payerKeys[1]) = _account("payer 1");
        (payers[2], payerKeys[2]) = _account("payer 2");
        (payers[3], payerKeys[3]) = _account("payer 3");
        merchants[0] = _makeAddr("bakery");
        merchants[1] = _makeAddr("coworking");
        merchants[2] = _makeAddr("parking");

        handler = new DistrictHandler(
            token, payments, treasurer, registrar, admin, payers, payerKeys, merchants, commons
        );

        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.grantRole(token.PAUSER_ROLE(), pauser);
        token.setMerchantDirectory(address(payments));
        payments.grantRole(payments.REGISTRAR_ROLE(), registrar);
        payments.grantRole(payments.PAUSER_ROLE(), pauser);
        vm.stopPrank();

        vm.startPrank(registrar);
        payments.registerMerchant("Boulangerie Saxe", IServicePayments.Category.Food, merchants[0]);
        payments.registerMerchant("La Cordee Liberte", IServicePayments.Category.CoWorking, merchants[1]);
        payments.registerMerchant("Parking Part-Dieu", IServicePayments.Category.Parking, merchants[2]);
        vm.stopPrank();

        // Everyone who pays or refunds keeps an infinite allowance to the payments contract.
        address[] memory all = handler.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            vm.prank(all[i]);
            token.approve(address(payments), type(uint256).max);
        }

        address[] memory users = new address[](all.length + 1);
        for (uint256 i = 0; i < all.length; ++i) users[i] = all[i];
        users[all.length] = address(0xBEEF);
        intruder = new UnprivilegedHandler(token, payments, users);

        _targets.push(address(handler));
        _targets.push(address(intruder));
    }

    /// @notice Read by the invariant fuzzer: only the handlers are called.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function invariant_SupplyIsNeverAboveReserve() public view {
        assertLe(token.totalSupply(), token.reserve(), "supply above reserve");
        // Stronger, and true by construction: every mint and every burn moves both by the same amount.
        assertEq(token.totalSupply(), token.reserve(), "supply equals reserve");
        assertEq(token.totalSupply(), handler.ghostMinted() - handler.ghostBurned(), "minted minus burned");
    }

    function invariant_BalancesOfAllActorsSumToTotalSupply() public view {
        address[] memory all = handler.actors();
        uint256 sum = token.balanceOf(address(payments)) + token.balanceOf(address(handler))
            + token.balanceOf(address(intruder));
        for (uint256 i = 0; i < all.length; ++i) sum += token.balanceOf(all[i]);
        assertEq(sum, token.totalSupply(), "sum of balances");
    }

    function invariant_EscrowEqualsOpenDepositsAndContractBalance() public view {
        uint256 openSum;
        uint256 count = payments.bookingCount();
        for (uint256 id = 1; id <= count; ++id) {
            IServicePayments.Booking memory b = payments.booking(id);
            if (b.open) openSum += b.deposit;
        }
        assertEq(payments.escrowed(), openSum, "escrowed is the sum of open deposits");
        assertEq(payments.escrowed(), handler.ghostOpenDeposits(), "escrowed matches the ghost");
        assertEq(token.balanceOf(address(payments)), openSum, "the contract holds exactly the escrow");
        assertEq(handler.openBookingIds().length + _closedCount(count), count, "every booking accounted");
    }

    function invariant_OnlyRoleHoldersMintPauseOrRegister() public view {
        assertEq(intruder.ghostSuccesses(), 0, "an unprivileged call succeeded");
        assertEq(payments.merchantCount(), MERCHANTS, "nobody registered a merchant");
        assertFalse(token.paused(), "nobody paused the token");
        assertFalse(payments.paused(), "nobody paused payments");
    }

    function _closedCount(uint256 count) private view returns (uint256 closed) {
        for (uint256 id = 1; id <= count; ++id) {
            if (!payments.booking(id).open) closed++;
        }
    }
}
