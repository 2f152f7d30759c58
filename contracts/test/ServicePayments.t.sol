// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ServicePayments} from "../ServicePayments.sol";
import {IDistrictToken} from "../interfaces/IDistrictToken.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {Vm} from "./utils/Vm.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

/// @notice A minimal EIP-1271 smart wallet: valid when its owner key signed the digest.
contract ContractWallet is IERC1271 {
    address private immutable _owner;

    constructor(uint256 ownerKey) {
        _owner = Vm(address(uint160(uint256(keccak256("hevm cheat code"))))).addr(ownerKey);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer,,) = ECDSA.tryRecover(hash, signature);
        return signer == _owner ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}

contract ServicePaymentsTest is DistrictFixture {
    bytes32 internal constant REF = keccak256("FACT-42");
    uint256 internal constant AMOUNT = 12 * ONE_M3E;

    address internal terminal;
    address internal coworking;
    uint256 internal coworkingId;

    function setUp() public override {
        super.setUp();
        terminal = _makeAddr("terminal");
        coworking = _makeAddr("coworking");
        coworkingId = _register("La Cordee Liberte", IServicePayments.Category.CoWorking, coworking);
    }

    // ------------------------------------------------------------------ deployment

    function test_DeploymentSetsTokenAdminAndRoles() public view {
        assertEq(payments.token(), address(token), "token");
        assertEq(payments.defaultAdmin(), admin, "admin");
        assertEq(payments.defaultAdminDelay(), ADMIN_DELAY, "delay");
        assertEq(payments.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"), "registrar role");
        assertEq(payments.PAUSER_ROLE(), keccak256("PAUSER_ROLE"), "pauser role");
        assertEq(payments.PAYOUT_CHANGE_DELAY(), 2 days, "payout change delay");
    }

    function test_DeploymentRevertsOnZeroToken() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        new ServicePayments(address(0), admin, ADMIN_DELAY);
    }

    function test_PaymentAuthorizationNonceIsTheWitnessHash() public view {
        bytes32 typeHash =
            keccak256("PaymentWitness(uint256 merchantId,address payout,bytes32 ref,bytes32 payerNonce)");
        assertEq(payments.PAYMENT_WITNESS_TYPEHASH(), typeHash, "type hash");
        bytes32 salt = keccak256("salt");
        assertEq(
            payments.paymentAuthorizationNonce(bakeryId, bakery, REF, salt),
            keccak256(abi.encode(typeHash, bakeryId, bakery, REF, salt)),
            "nonce"
        );
    }

    // ------------------------------------------------------------------ registry

    function test_RegisterMerchantNumbersFromOneAndStoresTheEntry() public view {
        assertEq(bakeryId, 1, "first id is 1");
        assertEq(coworkingId, 2, "second id is 2");
        assertEq(payments.merchantCount(), 2, "count");
        IServicePayments.Merchant memory m = payments.merchant(coworkingId);
        assertEq(m.payout, coworking, "payout");
        assertTrue(m.category == IServicePayments.Category.CoWorking, "category");
        assertTrue(m.active, "active");
        assertEq(payments.merchantName(coworkingId), "La Cordee Liberte", "name");
        assertEq(payments.merchantIdOf(coworking), coworkingId, "id of payout");
        assertTrue(payments.isActiveMerchant(coworking), "active merchant");
        assertFalse(payments.isActiveMerchant(payer), "payer is no merchant");
    }

    function test_RegisterMerchantEmitsMerchantRegistered() public {
        address carShare = _makeAddr("car share");
        vm.expectEmit(true, true, false, true, address(payments));
        emit IServicePayments.MerchantRegistered(3, carShare, IServicePayments.Category.CarSharing, "Citiz");
        _register("Citiz", IServicePayments.Category.CarSharing, carShare);
    }

    function test_RegisterMerchantAcceptsA64ByteName() public {
        string memory name = "0123456789012345678901234567890123456789012345678901234567890123";
        uint256 id = _register(name, IServicePayments.Category.Other, stranger);
        assertEq(payments.merchantName(id), name, "64-byte name");
    }

    function test_RegisterMerchantRevertsOnA65ByteName() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsNameTooLong.selector, 65));
        vm.prank(registrar);
        payments.registerMerchant(
            "01234567890123456789012345678901234567890123456789012345678901234", IServicePayments.Category.Other, stranger
        );
    }

    function test_RegisterMerchantRevertsOnEmptyName() public {
        vm.expectRevert(IServicePayments.ServicePaymentsEmptyName.selector);
        vm.prank(registrar);
        payments.registerMerchant("", IServicePayments.Category.Other, stranger);
    }

    function test_RegisterMerchantRevertsOnZeroPayout() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        vm.prank(registrar);
        payments.registerMerchant("Nobody", IServicePayments.Category.Other, address(0));
    }

    function test_RegisterMerchantRevertsWhenPayoutServesAnotherMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsPayoutAlreadyUsed.selector, bakery));
        vm.prank(registrar);
        payments.registerMerchant("Second bakery", IServicePayments.Category.Food, bakery);
    }

    function test_RegisterMerchantRevertsForNonRegistrar() public {
        bytes32 role = payments.REGISTRAR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        payments.registerMerchant("Sneaky", IServicePayments.Category.Other, stranger);
    }

    function _requestPayout(uint256 merchantId, address newPayout) internal {
        vm.prank(registrar);
        payments.requestPayoutChange(merchantId, newPayout);
    }

    function test_PayoutChangeTakesEffectOnlyAfterTheDelay() public {
        address newPayout = _makeAddr("bakery new account");
        uint64 effectiveAt = uint64(block.timestamp) + 2 days;
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.MerchantPayoutChangeRequested(bakeryId, bakery, newPayout, effectiveAt);
        _requestPayout(bakeryId, newPayout);
        (address pending, uint64 at) = payments.pendingPayout(bakeryId);
        assertEq(pending, newPayout, "pending payout");
        assertEq(at, effectiveAt, "effective at");
        assertEq(payments.merchant(bakeryId).payout, bakery, "unchanged during the delay");

        vm.warp(effectiveAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsPayoutChangeNotDue.selector, bakeryId, effectiveAt)
        );
        payments.completePayoutChange(bakeryId);

        vm.warp(effectiveAt);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.MerchantPayoutChanged(bakeryId, bakery, newPayout);
        vm.prank(stranger); // anyone may apply a change that waited its delay
        payments.completePayoutChange(bakeryId);

        assertEq(payments.merchant(bakeryId).payout, newPayout, "payout");
        assertEq(payments.merchantIdOf(newPayout), bakeryId, "new payout maps to the merchant");
        assertEq(payments.merchantIdOf(bakery), 0, "old payout forgotten");
        assertFalse(payments.isActiveMerchant(bakery), "old payout is no merchant");
        (pending, at) = payments.pendingPayout(bakeryId);
        assertEq(pending, address(0), "nothing pending");
        assertEq(at, 0, "no date");

        _approvePayments(payer, type(uint256).max);
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
        assertEq(token.balanceOf(newPayout), AMOUNT, "paid to the new payout");
    }

    /// @dev Finding 2: a registrar key could repoint a payout at itself and collect at once.
    function test_ARegistrarCannotRepointAPayoutAtItselfAndCollectAtOnce() public {
        _requestPayout(bakeryId, registrar);
        assertEq(payments.merchant(bakeryId).payout, bakery, "payments still go to the merchant");
        assertFalse(payments.isActiveMerchant(registrar), "the registrar cannot redeem as the merchant");
        // the admin sees the request event and cancels it within the delay
        vm.expectEmit(true, true, false, false, address(payments));
        emit IServicePayments.MerchantPayoutChangeCanceled(bakeryId, registrar);
        vm.prank(admin);
        payments.cancelPayoutChange(bakeryId);
        vm.warp(block.timestamp + 3 days);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsNoPayoutChange.selector, bakeryId));
        payments.completePayoutChange(bakeryId);
        assertEq(payments.merchant(bakeryId).payout, bakery, "never changed");
    }

    function test_ANewRequestRestartsTheDelay() public {
        _requestPayout(bakeryId, _makeAddr("first"));
        vm.warp(block.timestamp + 1 days);
        address second = _makeAddr("second");
        _requestPayout(bakeryId, second);
        (address pending, uint64 at) = payments.pendingPayout(bakeryId);
        assertEq(pending, second, "replaced");
        assertEq(at, block.timestamp + 2 days, "restarted");
    }

    function test_CompletePayoutChangeRevertsWhenNoneIsPending() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsNoPayoutChange.selector, bakeryId));
        payments.completePayoutChange(bakeryId);
    }

    function test_CompletePayoutChangeRevertsWhenTheAddressWasTakenMeanwhile() public {
        address newPayout = _makeAddr("contested");
        _requestPayout(bakeryId, newPayout);
        _register("Other", IServicePayments.Category.Other, newPayout);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsPayoutAlreadyUsed.selector, newPayout));
        payments.completePayoutChange(bakeryId);
    }

    function test_CancelPayoutChangeRevertsForAnyoneElse() public {
        _requestPayout(bakeryId, stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsCannotCancelPayoutChange.selector, bakeryId, bakery)
        );
        vm.prank(bakery);
        payments.cancelPayoutChange(bakeryId);
        vm.prank(registrar);
        payments.cancelPayoutChange(bakeryId);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsNoPayoutChange.selector, bakeryId));
        vm.prank(registrar);
        payments.cancelPayoutChange(bakeryId);
    }

    function test_RequestPayoutChangeRevertsForUnknownMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownMerchant.selector, 99));
        vm.prank(registrar);
        payments.requestPayoutChange(99, stranger);
    }

    function test_RequestPayoutChangeRevertsOnZeroAddress() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        vm.prank(registrar);
        payments.requestPayoutChange(bakeryId, address(0));
    }

    function test_RequestPayoutChangeRevertsWhenPayoutAlreadyUsed() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsPayoutAlreadyUsed.selector, coworking));
        vm.prank(registrar);
        payments.requestPayoutChange(bakeryId, coworking);
    }

    function test_RequestPayoutChangeRevertsForNonRegistrar() public {
        bytes32 role = payments.REGISTRAR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, bakery, role));
        vm.prank(bakery);
        payments.requestPayoutChange(bakeryId, stranger);
    }

    function test_SetMerchantActiveSuspendsAndReactivates() public {
        vm.expectEmit(true, false, false, true, address(payments));
        emit IServicePayments.MerchantStatusChanged(bakeryId, false);
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, false);
        assertFalse(payments.merchant(bakeryId).active, "suspended");
        assertFalse(payments.isActiveMerchant(bakery), "not an active merchant");

        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, true);
        assertTrue(payments.isActiveMerchant(bakery), "reactivated");
    }

    function test_SetMerchantActiveRevertsWhenStatusUnchanged() public {
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsMerchantStatusUnchanged.selector, bakeryId, true)
        );
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, true);
    }

    function test_SetMerchantActiveRevertsForUnknownMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownMerchant.selector, 0));
        vm.prank(registrar);
        payments.setMerchantActive(0, false);
    }

    function test_SetMerchantActiveRevertsForNonRegistrar() public {
        bytes32 role = payments.REGISTRAR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        payments.setMerchantActive(bakeryId, false);
    }

    function test_UnknownIdsReadAsEmptyEntries() public view {
        assertEq(payments.merchant(99).payout, address(0), "no merchant 99");
        assertEq(payments.merchantName(99), "", "no name");
        assertEq(payments.booking(99).payer, address(0), "no booking 99");
        assertFalse(payments.isActiveMerchant(address(0)), "zero address is no merchant");
    }

    // ------------------------------------------------------------------ pay

    function test_PayMovesTokensToPayoutAndCountsNetPaid() public {
        _approvePayments(payer, type(uint256).max);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentMade(bakeryId, payer, REF, AMOUNT);
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
        vm.prank(payer);
        payments.pay(bakeryId, 1, REF);

        assertEq(token.balanceOf(bakery), AMOUNT + 1, "payout received");
        assertEq(token.balanceOf(payer), 1_000 * ONE_M3E - AMOUNT - 1, "payer paid");
        assertEq(payments.netPaid(bakeryId, payer), AMOUNT + 1, "net paid");
        assertEq(token.balanceOf(address(payments)), 0, "nothing stays in the contract");
    }

    function test_PayRevertsOnZeroAmount() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAmount.selector);
        vm.prank(payer);
        payments.pay(bakeryId, 0, REF);
    }

    function test_PayRevertsForUnknownMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownMerchant.selector, 3));
        vm.prank(payer);
        payments.pay(3, AMOUNT, REF);
    }

    function test_PayRevertsForSuspendedMerchant() public {
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, false);
        _approvePayments(payer, AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsMerchantSuspended.selector, bakeryId));
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
    }

    function test_PayRevertsWithoutAllowance() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(payments), 0, AMOUNT)
        );
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
    }

    function test_PayRevertsWhilePaused() public {
        _approvePayments(payer, AMOUNT);
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
    }

    function test_PayRevertsWhileTheTokenIsPaused() public {
        _approvePayments(payer, AMOUNT);
        vm.prank(pauser);
        token.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
    }

    function test_PauseAndUnpauseNeedThePauserRole() public {
        bytes32 role = payments.PAUSER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        payments.pause();

        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        payments.unpause();
        vm.prank(pauser);
        payments.unpause();
        assertFalse(payments.paused(), "unpaused");
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_PayMovesExactlyTheAmount(uint256 amount) public {
        amount = _bound(amount, 1, token.balanceOf(payer));
        _approvePayments(payer, amount);
        vm.prank(payer);
        payments.pay(coworkingId, amount, REF);
        assertEq(token.balanceOf(coworking), amount, "received");
        assertEq(payments.netPaid(coworkingId, payer), amount, "net paid");
        assertEq(token.allowance(payer, address(payments)), 0, "allowance spent");
    }

    // ------------------------------------------------------------------ payWithAuthorization

    bytes32 internal constant SALT = keccak256("payer random nonce 1");

    function _window() internal view returns (uint256 validAfter, uint256 validBefore) {
        return (block.timestamp - 1, block.timestamp + 10 minutes);
    }

    function _signed(uint256 amount, bytes32 salt) internal view returns (bytes memory) {
        (uint256 validAfter, uint256 validBefore) = _window();
        return _signPayment(payerKey, payer, bakeryId, bakery, amount, REF, validAfter, validBefore, salt);
    }

    function _submit(uint256 amount, bytes32 salt, bytes memory signature) internal {
        (uint256 validAfter, uint256 validBefore) = _window();
        vm.prank(terminal);
        payments.payWithAuthorization(payer, bakeryId, amount, REF, validAfter, validBefore, salt, signature);
    }

    function test_PayWithAuthorizationPaysFromAnOfflineSignatureWithoutAllowance() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        bytes32 nonce = payments.paymentAuthorizationNonce(bakeryId, bakery, REF, SALT);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentMade(bakeryId, payer, REF, AMOUNT);
        _submit(AMOUNT, SALT, sig);

        assertEq(token.balanceOf(bakery), AMOUNT, "merchant paid");
        assertEq(token.balanceOf(address(payments)), 0, "nothing stays in the contract");
        assertEq(payments.netPaid(bakeryId, payer), AMOUNT, "net paid");
        assertTrue(token.authorizationState(payer, nonce), "nonce used");
        assertEq(token.allowance(payer, address(payments)), 0, "no allowance involved");
    }

    function test_PayWithAuthorizationRevertsWhenReplayed() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        _submit(AMOUNT, SALT, sig);
        bytes32 nonce = payments.paymentAuthorizationNonce(bakeryId, bakery, REF, SALT);
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenAuthorizationUsedOrCanceled.selector, payer, nonce)
        );
        _submit(AMOUNT, SALT, sig);
    }

    /// @dev Finding 1: an intent the payer cancelled came back to life when the payer later
    /// approved the same amount. Now: cancelled is cancelled, whatever the allowance.
    function test_ACancelledPaymentStaysDeadAfterTheSameAmountIsApproved() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        bytes32 nonce = payments.paymentAuthorizationNonce(bakeryId, bakery, REF, SALT);
        vm.expectEmit(true, true, false, false, address(token));
        emit IDistrictToken.AuthorizationCanceled(payer, nonce);
        token.cancelAuthorization(payer, nonce, _signCancel(payerKey, payer, nonce));
        _approvePayments(payer, AMOUNT); // to pay or book normally, exactly the same amount
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenAuthorizationUsedOrCanceled.selector, payer, nonce)
        );
        _submit(AMOUNT, SALT, sig);
        assertEq(token.balanceOf(bakery), 0, "not paid");
        assertEq(token.allowance(payer, address(payments)), AMOUNT, "the allowance is untouched");
    }

    /// @dev Finding 1 (stall): payments signed offline in any order all go through.
    function test_PaymentsSignedOfflineGoThroughInAnyOrder() public {
        bytes32 salt2 = keccak256("payer random nonce 2");
        bytes32 salt3 = keccak256("payer random nonce 3");
        bytes memory sig1 = _signed(1 * ONE_M3E, SALT);
        bytes memory sig2 = _signed(2 * ONE_M3E, salt2);
        bytes memory sig3 = _signed(3 * ONE_M3E, salt3);
        _submit(3 * ONE_M3E, salt3, sig3);
        _submit(1 * ONE_M3E, SALT, sig1);
        _submit(2 * ONE_M3E, salt2, sig2);
        assertEq(token.balanceOf(bakery), 6 * ONE_M3E, "all three paid");
    }

    /// @dev Finding 1 (allowance reset): a signed payment leaves an unlimited approval as it was.
    function test_ASignedPaymentLeavesAnExistingApprovalAlone() public {
        _approvePayments(payer, type(uint256).max);
        _submit(AMOUNT, SALT, _signed(AMOUNT, SALT));
        assertEq(token.allowance(payer, address(payments)), type(uint256).max, "approval untouched");
    }

    function test_PayWithAuthorizationRevertsBeforeAndAfterItsWindow() public {
        uint256 validAfter = block.timestamp + 60;
        uint256 validBefore = block.timestamp + 600;
        bytes memory sig = _signPayment(payerKey, payer, bakeryId, bakery, AMOUNT, REF, validAfter, validBefore, SALT);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAuthorizationNotYetValid.selector, validAfter));
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, REF, validAfter, validBefore, SALT, sig);
        vm.warp(validBefore);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenAuthorizationExpired.selector, validBefore));
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, REF, validAfter, validBefore, SALT, sig);
        vm.warp(validBefore - 1);
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, REF, validAfter, validBefore, SALT, sig);
        assertEq(token.balanceOf(bakery), AMOUNT, "paid inside the window");
    }

    function test_PayWithAuthorizationRevertsWhenSignedByAnotherKey() public {
        (, uint256 otherKey) = _account("other");
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory sig = _signPayment(otherKey, payer, bakeryId, bakery, AMOUNT, REF, validAfter, validBefore, SALT);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        _submit(AMOUNT, SALT, sig);
    }

    function test_TheTerminalCannotChangeAmountMerchantReferenceOrWindow() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory invalid = abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer);
        vm.startPrank(terminal);
        vm.expectRevert(invalid);
        payments.payWithAuthorization(payer, bakeryId, AMOUNT + 1, REF, validAfter, validBefore, SALT, sig);
        vm.expectRevert(invalid);
        payments.payWithAuthorization(payer, coworkingId, AMOUNT, REF, validAfter, validBefore, SALT, sig);
        vm.expectRevert(invalid);
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, keccak256("other"), validAfter, validBefore, SALT, sig);
        vm.expectRevert(invalid);
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, REF, validAfter, validBefore + 1, SALT, sig);
        vm.expectRevert(invalid);
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, REF, validAfter, validBefore, keccak256("x"), sig);
        vm.stopPrank();
        assertEq(token.balanceOf(bakery), 0, "nothing paid");
    }

    /// @dev The authorization names this contract as payee: nobody can submit it to the token
    /// directly (around the payment record), nor as a plain transfer.
    function test_NobodyCanSubmitThePaymentAuthorizationAroundTheContract() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        bytes32 nonce = payments.paymentAuthorizationNonce(bakeryId, bakery, REF, SALT);
        (uint256 validAfter, uint256 validBefore) = _window();
        vm.expectRevert(
            abi.encodeWithSelector(IDistrictToken.DistrictTokenCallerNotPayee.selector, terminal, address(payments))
        );
        vm.prank(terminal);
        token.receiveWithAuthorization(payer, address(payments), AMOUNT, validAfter, validBefore, nonce, sig);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        vm.prank(terminal);
        token.transferWithAuthorization(payer, address(payments), AMOUNT, validAfter, validBefore, nonce, sig);
    }

    /// @dev Finding 2: signed payments pending for a merchant whose payout is changing are refused,
    /// and once it changed, authorizations signed for the old payout no longer match.
    function test_SignedPaymentsAreRefusedWhileThePayoutChanges() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        address newPayout = _makeAddr("bakery new account");
        _requestPayout(bakeryId, newPayout);
        uint64 effectiveAt = uint64(block.timestamp) + 2 days;
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsPayoutChangePending.selector, bakeryId, newPayout, effectiveAt
            )
        );
        _submit(AMOUNT, SALT, sig);
        vm.warp(effectiveAt);
        payments.completePayoutChange(bakeryId);
        (uint256 validAfter,) = _window();
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        payments.payWithAuthorization(payer, bakeryId, AMOUNT, REF, validAfter, effectiveAt + 1, SALT, sig);
        assertEq(token.balanceOf(newPayout), 0, "the new payout collected nothing signed for the old one");
    }

    function test_PayWithAuthorizationRevertsOnZeroPayerOrAmount() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        (uint256 validAfter, uint256 validBefore) = _window();
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        payments.payWithAuthorization(address(0), bakeryId, AMOUNT, REF, validAfter, validBefore, SALT, sig);
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAmount.selector);
        payments.payWithAuthorization(payer, bakeryId, 0, REF, validAfter, validBefore, SALT, sig);
    }

    function test_PayWithAuthorizationRevertsForSuspendedMerchant() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, false);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsMerchantSuspended.selector, bakeryId));
        _submit(AMOUNT, SALT, sig);
    }

    function test_PayWithAuthorizationRevertsWhilePausedHereOrOnTheToken() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _submit(AMOUNT, SALT, sig);
        vm.startPrank(pauser);
        payments.unpause();
        token.pause();
        vm.stopPrank();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _submit(AMOUNT, SALT, sig);
    }

    function test_PayWithAuthorizationAcceptsAContractWalletSignature() public {
        ContractWallet wallet = new ContractWallet(payerKey);
        _deposit(address(wallet), 50 * ONE_M3E);
        (uint256 validAfter, uint256 validBefore) = _window();
        // The wallet accepts what its owner key signed (EIP-1271); the digest is the same.
        bytes memory sig =
            _signPayment(payerKey, address(wallet), bakeryId, bakery, AMOUNT, REF, validAfter, validBefore, SALT);
        payments.payWithAuthorization(address(wallet), bakeryId, AMOUNT, REF, validAfter, validBefore, SALT, sig);
        assertEq(token.balanceOf(bakery), AMOUNT, "paid by the contract wallet");
        (, uint256 otherKey) = _account("other");
        bytes32 salt2 = keccak256("2");
        bytes memory bad =
            _signPayment(otherKey, address(wallet), bakeryId, bakery, AMOUNT, REF, validAfter, validBefore, salt2);
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, address(wallet)));
        payments.payWithAuthorization(address(wallet), bakeryId, AMOUNT, REF, validAfter, validBefore, salt2, bad);
    }

    function test_PayWithAuthorizationRefusesTheHighSTwinOfTheSignature() public {
        bytes memory sig = _signed(AMOUNT, SALT);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        bytes memory twin = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        _submit(AMOUNT, SALT, twin);
    }

    function testFuzz_PayWithAuthorizationAcceptsOnlyThePayersSignature(uint256 key, uint256 amount) public {
        key = _bound(key, 1, SECP256K1_N - 1);
        amount = _bound(amount, 1, token.balanceOf(payer));
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory sig = _signPayment(key, payer, bakeryId, bakery, amount, REF, validAfter, validBefore, SALT);
        if (key != payerKey) {
            vm.expectRevert(abi.encodeWithSelector(IDistrictToken.DistrictTokenInvalidSignature.selector, payer));
        }
        _submit(amount, SALT, sig);
        assertEq(token.balanceOf(bakery), key == payerKey ? amount : 0, "paid only when the payer signed");
    }

    /// @dev Refund bounds belong to the merchant, not to its payout address: after a payout change
    /// the new address refunds (from its own funds) what the payer paid the old one, never more.
    function test_ANewPayoutRefundsWhatWasPaidToTheOldOneAndNoMore() public {
        _payBakery(AMOUNT);
        address newPayout = _makeAddr("bakery new account");
        _requestPayout(bakeryId, newPayout);
        vm.warp(block.timestamp + 2 days);
        payments.completePayoutChange(bakeryId);
        _deposit(newPayout, AMOUNT);
        _approvePayments(newPayout, type(uint256).max);
        vm.prank(bakery);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsNotMerchant.selector, bakeryId, bakery));
        payments.refund(bakeryId, payer, 1, REF);
        vm.prank(newPayout);
        payments.refund(bakeryId, payer, AMOUNT, REF);
        assertEq(token.balanceOf(newPayout), 0, "refunded from the new payout");
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsRefundAboveNetPaid.selector, bakeryId, payer, 1, 0)
        );
        vm.prank(newPayout);
        payments.refund(bakeryId, payer, 1, REF);
    }

    // ------------------------------------------------------------------ rescue

    function test_RescueSendsOnlyTokensBeyondTheEscrow() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.prank(payer);
        token.transfer(address(payments), 5 * ONE_M3E); // by mistake
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsRescueAboveExcess.selector, address(token), 5 * ONE_M3E + 1, 5 * ONE_M3E
            )
        );
        vm.prank(admin);
        payments.rescue(address(token), payer, 5 * ONE_M3E + 1);
        vm.expectEmit(true, true, false, true, address(payments));
        emit IServicePayments.TokensRescued(address(token), payer, 5 * ONE_M3E);
        vm.prank(admin);
        payments.rescue(address(token), payer, 5 * ONE_M3E);
        assertEq(token.balanceOf(address(payments)), AMOUNT, "the escrow stays");
        vm.prank(coworking);
        payments.closeBooking(id, 0);
    }

    function test_RescueNeedsTheAdminAndAnAddressAndAnAmount() public {
        bytes32 role = payments.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, registrar, role));
        vm.prank(registrar);
        payments.rescue(address(token), registrar, 1);
        vm.startPrank(admin);
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        payments.rescue(address(token), address(0), 1);
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAmount.selector);
        payments.rescue(address(token), payer, 0);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ refunds

    function _payBakery(uint256 amount) internal {
        _approvePayments(payer, type(uint256).max);
        vm.prank(payer);
        payments.pay(bakeryId, amount, REF);
        _approvePayments(bakery, type(uint256).max);
    }

    function test_RefundReturnsTokensAndLowersNetPaid() public {
        _payBakery(AMOUNT);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentRefunded(bakeryId, payer, REF, 5 * ONE_M3E);
        vm.prank(bakery);
        payments.refund(bakeryId, payer, 5 * ONE_M3E, REF);
        assertEq(payments.netPaid(bakeryId, payer), AMOUNT - 5 * ONE_M3E, "net paid");
        assertEq(token.balanceOf(bakery), AMOUNT - 5 * ONE_M3E, "merchant paid back");
        assertEq(token.balanceOf(payer), 1_000 * ONE_M3E - AMOUNT + 5 * ONE_M3E, "payer refunded");
    }

    function test_RefundRevertsAboveNetPaid() public {
        _payBakery(AMOUNT);
        vm.prank(bakery);
        payments.refund(bakeryId, payer, AMOUNT - 1, REF);
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsRefundAboveNetPaid.selector, bakeryId, payer, 2, 1
            )
        );
        vm.prank(bakery);
        payments.refund(bakeryId, payer, 2, REF);
    }

    function test_RefundIsBoundedPerMerchant() public {
        _payBakery(AMOUNT);
        vm.prank(payer);
        token.transfer(coworking, AMOUNT);
        _approvePayments(coworking, type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsRefundAboveNetPaid.selector, coworkingId, payer, 1, 0
            )
        );
        vm.prank(coworking);
        payments.refund(coworkingId, payer, 1, REF);
    }

    function test_RefundRevertsWhenCallerIsNotThePayout() public {
        _payBakery(AMOUNT);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsNotMerchant.selector, bakeryId, coworking)
        );
        vm.prank(coworking);
        payments.refund(bakeryId, payer, 1, REF);
    }

    function test_RefundRevertsForUnknownMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownMerchant.selector, 7));
        vm.prank(bakery);
        payments.refund(7, payer, 1, REF);
    }

    function test_RefundRevertsOnZeroAmount() public {
        _payBakery(AMOUNT);
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAmount.selector);
        vm.prank(bakery);
        payments.refund(bakeryId, payer, 0, REF);
    }

    function test_RefundRevertsOnZeroPayer() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        vm.prank(bakery);
        payments.refund(bakeryId, address(0), 1, REF);
    }

    function test_RefundStillWorksForSuspendedMerchant() public {
        _payBakery(AMOUNT);
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, false);
        vm.prank(bakery);
        payments.refund(bakeryId, payer, AMOUNT, REF);
        assertEq(payments.netPaid(bakeryId, payer), 0, "fully refunded");
    }

    function test_RefundRevertsWhilePaused() public {
        _payBakery(AMOUNT);
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(bakery);
        payments.refund(bakeryId, payer, 1, REF);
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_RefundSucceedsExactlyUpToNetPaid(uint256 paid, uint256 refunded) public {
        paid = _bound(paid, 1, token.balanceOf(payer));
        refunded = _bound(refunded, 1, 2 * paid);
        _payBakery(paid);
        if (refunded > paid) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IServicePayments.ServicePaymentsRefundAboveNetPaid.selector, bakeryId, payer, refunded, paid
                )
            );
        }
        vm.prank(bakery);
        payments.refund(bakeryId, payer, refunded, REF);
        assertEq(payments.netPaid(bakeryId, payer), refunded > paid ? paid : paid - refunded, "net paid");
    }

    // ------------------------------------------------------------------ bookings

    function _openBooking(uint256 deposit, uint64 ttl) internal returns (uint256 id) {
        _approvePayments(payer, type(uint256).max);
        vm.prank(payer);
        id = payments.openBooking(coworkingId, deposit, uint64(block.timestamp) + ttl, REF);
    }

    function test_OpenBookingMovesTheDepositIntoEscrow() public {
        _approvePayments(payer, type(uint256).max);
        uint64 expiresAt = uint64(block.timestamp + 1 days);
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.BookingOpened(1, coworkingId, payer, AMOUNT, expiresAt, REF);
        vm.prank(payer);
        uint256 id = payments.openBooking(coworkingId, AMOUNT, expiresAt, REF);

        assertEq(id, 1, "first booking id is 1");
        assertEq(payments.bookingCount(), 1, "count");
        IServicePayments.Booking memory b = payments.booking(id);
        assertEq(b.payer, payer, "payer");
        assertEq(b.expiresAt, expiresAt, "expiry");
        assertTrue(b.open, "open");
        assertEq(b.merchantId, coworkingId, "merchant");
        assertEq(b.deposit, AMOUNT, "deposit");
        assertEq(payments.escrowed(), AMOUNT, "escrowed");
        assertEq(token.balanceOf(address(payments)), AMOUNT, "held by the contract");
        assertEq(_openBooking(1, 60), 2, "second booking id is 2");
    }

    function test_OpenBookingRevertsOnZeroDeposit() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAmount.selector);
        vm.prank(payer);
        payments.openBooking(coworkingId, 0, uint64(block.timestamp + 1), REF);
    }

    function test_OpenBookingRevertsWhenExpiryIsNotInTheFuture() public {
        uint64 now_ = uint64(block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsExpiryNotInFuture.selector, now_));
        vm.prank(payer);
        payments.openBooking(coworkingId, AMOUNT, now_, REF);
    }

    function test_OpenBookingRevertsForUnknownMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownMerchant.selector, 9));
        vm.prank(payer);
        payments.openBooking(9, AMOUNT, uint64(block.timestamp + 1), REF);
    }

    function test_OpenBookingRevertsForSuspendedMerchant() public {
        vm.prank(registrar);
        payments.setMerchantActive(coworkingId, false);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsMerchantSuspended.selector, coworkingId)
        );
        vm.prank(payer);
        payments.openBooking(coworkingId, AMOUNT, uint64(block.timestamp + 1), REF);
    }

    function test_OpenBookingRevertsWhilePaused() public {
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        payments.openBooking(coworkingId, AMOUNT, uint64(block.timestamp + 1), REF);
    }

    function test_CloseBookingChargesTheMerchantAndReturnsTheRest() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        uint256 payerBefore = token.balanceOf(payer);
        vm.expectEmit(true, false, false, true, address(payments));
        emit IServicePayments.BookingClosed(id, 4 * ONE_M3E, AMOUNT - 4 * ONE_M3E);
        vm.prank(coworking);
        payments.closeBooking(id, 4 * ONE_M3E);

        assertEq(token.balanceOf(coworking), 4 * ONE_M3E, "charged");
        assertEq(token.balanceOf(payer), payerBefore + AMOUNT - 4 * ONE_M3E, "returned");
        assertEq(payments.escrowed(), 0, "escrow released");
        assertEq(token.balanceOf(address(payments)), 0, "nothing held");
        assertFalse(payments.booking(id).open, "closed");
    }

    function test_CloseBookingWorksForSuspendedMerchant() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.prank(registrar);
        payments.setMerchantActive(coworkingId, false);
        vm.prank(coworking);
        payments.closeBooking(id, AMOUNT);
        assertEq(token.balanceOf(coworking), AMOUNT, "whole deposit charged");
    }

    /// @dev Finding 3: the merchant could take the whole deposit after expiry, racing the payer.
    function test_AfterExpiryTheMerchantCanOnlyCloseWithAZeroCharge() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        uint64 expiresAt = payments.booking(id).expiresAt;
        vm.warp(expiresAt + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsBookingExpired.selector, id, expiresAt, AMOUNT)
        );
        vm.prank(coworking);
        payments.closeBooking(id, AMOUNT);
        uint256 before = token.balanceOf(payer);
        vm.prank(coworking);
        payments.closeBooking(id, 0);
        assertEq(token.balanceOf(payer), before + AMOUNT, "the whole deposit went back");
        assertEq(token.balanceOf(coworking), 0, "nothing charged");
    }

    function test_AtTheExpirySecondItselfTheMerchantMayStillCharge() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.warp(payments.booking(id).expiresAt);
        vm.prank(coworking);
        payments.closeBooking(id, 1);
        assertEq(token.balanceOf(coworking), 1, "charged at the last second");
    }

    function test_CloseBookingRevertsAboveTheDeposit() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsChargeAboveDeposit.selector, id, AMOUNT + 1, AMOUNT
            )
        );
        vm.prank(coworking);
        payments.closeBooking(id, AMOUNT + 1);
    }

    function test_CloseBookingRevertsWhenCallerIsNotThePayout() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsNotMerchant.selector, coworkingId, payer)
        );
        vm.prank(payer);
        payments.closeBooking(id, 0);
    }

    function test_CloseBookingRevertsForUnknownBooking() public {
        _openBooking(AMOUNT, 1 days);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownBooking.selector, 2));
        vm.prank(coworking);
        payments.closeBooking(2, 0);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownBooking.selector, 0));
        vm.prank(coworking);
        payments.closeBooking(0, 0);
    }

    function test_CloseBookingRevertsWhenAlreadyClosed() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.prank(coworking);
        payments.closeBooking(id, 0);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsBookingNotOpen.selector, id));
        vm.prank(coworking);
        payments.closeBooking(id, 0);
    }

    function test_CloseBookingRevertsWhilePaused() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(coworking);
        payments.closeBooking(id, 0);
    }

    function test_ReclaimBookingReturnsTheWholeDepositAfterExpiry() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        uint256 payerBefore = token.balanceOf(payer);
        vm.warp(payments.booking(id).expiresAt + 1);
        vm.expectEmit(true, false, false, true, address(payments));
        emit IServicePayments.BookingReclaimed(id, AMOUNT);
        vm.prank(payer);
        payments.reclaimBooking(id);
        assertEq(token.balanceOf(payer), payerBefore + AMOUNT, "deposit back");
        assertEq(payments.escrowed(), 0, "escrow released");
        assertFalse(payments.booking(id).open, "closed");
    }

    function test_ReclaimBookingRevertsUntilAfterExpiry() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        uint64 expiresAt = payments.booking(id).expiresAt;
        vm.warp(expiresAt);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsBookingNotExpired.selector, id, expiresAt)
        );
        vm.prank(payer);
        payments.reclaimBooking(id);
    }

    function test_ReclaimBookingRevertsForAnotherCaller() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsNotBookingPayer.selector, id, coworking)
        );
        vm.prank(coworking);
        payments.reclaimBooking(id);
    }

    function test_ReclaimBookingRevertsAfterTheMerchantClosedIt() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.prank(coworking);
        payments.closeBooking(id, 1);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsBookingNotOpen.selector, id));
        vm.prank(payer);
        payments.reclaimBooking(id);
    }

    function test_CloseBookingRevertsAfterThePayerReclaimedIt() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.warp(block.timestamp + 2 days);
        vm.prank(payer);
        payments.reclaimBooking(id);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsBookingNotOpen.selector, id));
        vm.prank(coworking);
        payments.closeBooking(id, 0);
    }

    function test_ReclaimBookingRevertsForUnknownBooking() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownBooking.selector, 1));
        vm.prank(payer);
        payments.reclaimBooking(1);
    }

    function test_ReclaimBookingRevertsWhilePaused() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.warp(block.timestamp + 2 days);
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        payments.reclaimBooking(id);
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_CloseBookingSplitsTheDepositExactly(uint256 deposit, uint256 charge) public {
        deposit = _bound(deposit, 1, token.balanceOf(payer));
        charge = _bound(charge, 0, deposit);
        uint256 payerBefore = token.balanceOf(payer);
        uint256 id = _openBooking(deposit, 1 hours);
        vm.prank(coworking);
        payments.closeBooking(id, charge);
        assertEq(token.balanceOf(coworking), charge, "charge to the merchant");
        assertEq(token.balanceOf(payer), payerBefore - charge, "the rest back to the payer");
        assertEq(payments.escrowed(), 0, "escrow empty");
        assertEq(token.balanceOf(address(payments)), 0, "contract holds nothing");
    }

    // ------------------------------------------------------------------ two-step admin transfer

    function test_AdminTransferOfPaymentsTakesTwoStepsAndTheDelay() public {
        address newAdmin = _makeAddr("new admin");
        vm.prank(admin);
        payments.beginDefaultAdminTransfer(newAdmin);
        (, uint48 schedule) = payments.pendingDefaultAdmin();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule)
        );
        vm.prank(newAdmin);
        payments.acceptDefaultAdminTransfer();
        vm.warp(uint256(schedule) + 1);
        vm.prank(newAdmin);
        payments.acceptDefaultAdminTransfer();
        assertEq(payments.defaultAdmin(), newAdmin, "new admin");
    }
}
