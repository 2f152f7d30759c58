// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ServicePayments} from "../ServicePayments.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {DistrictFixture} from "./utils/DistrictFixture.sol";

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

    function test_DeploymentSetsTokenAdminAndEip712Domain() public view {
        assertEq(payments.token(), address(token), "token");
        assertEq(payments.defaultAdmin(), admin, "admin");
        assertEq(payments.defaultAdminDelay(), ADMIN_DELAY, "delay");
        assertEq(payments.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"), "registrar role");
        assertEq(payments.PAUSER_ROLE(), keccak256("PAUSER_ROLE"), "pauser role");
        (, string memory name, string memory version, uint256 chainId, address verifying,,) =
            payments.eip712Domain();
        assertEq(name, "District ServicePayments", "domain name");
        assertEq(version, "1", "domain version");
        assertEq(chainId, block.chainid, "chain id");
        assertEq(verifying, address(payments), "verifying contract");
    }

    function test_DeploymentRevertsOnZeroToken() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        new ServicePayments(address(0), admin, ADMIN_DELAY);
    }

    function test_PaymentIntentDigestFollowsEip712() public view {
        bytes32 typeHash = keccak256(
            "PaymentIntent(address payer,uint256 merchantId,uint256 amount,bytes32 ref,uint256 nonce,uint256 deadline)"
        );
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("District ServicePayments"),
                keccak256("1"),
                block.chainid,
                address(payments)
            )
        );
        bytes32 structHash = keccak256(abi.encode(typeHash, payer, bakeryId, AMOUNT, REF, uint256(7), uint256(99)));
        assertEq(
            payments.paymentIntentDigest(payer, bakeryId, AMOUNT, REF, 7, 99),
            keccak256(abi.encodePacked(hex"1901", domain, structHash)),
            "digest"
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

    function test_SetMerchantPayoutMovesPayoutsAndTheDirectoryEntry() public {
        address newPayout = _makeAddr("bakery new account");
        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.MerchantPayoutChanged(bakeryId, bakery, newPayout);
        vm.prank(registrar);
        payments.setMerchantPayout(bakeryId, newPayout);

        assertEq(payments.merchant(bakeryId).payout, newPayout, "payout");
        assertEq(payments.merchantIdOf(newPayout), bakeryId, "new payout maps to the merchant");
        assertEq(payments.merchantIdOf(bakery), 0, "old payout forgotten");
        assertFalse(payments.isActiveMerchant(bakery), "old payout is no merchant");

        _approvePayments(payer, type(uint256).max);
        vm.prank(payer);
        payments.pay(bakeryId, AMOUNT, REF);
        assertEq(token.balanceOf(newPayout), AMOUNT, "paid to the new payout");
    }

    function test_SetMerchantPayoutRevertsForUnknownMerchant() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsUnknownMerchant.selector, 99));
        vm.prank(registrar);
        payments.setMerchantPayout(99, stranger);
    }

    function test_SetMerchantPayoutRevertsOnZeroAddress() public {
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        vm.prank(registrar);
        payments.setMerchantPayout(bakeryId, address(0));
    }

    function test_SetMerchantPayoutRevertsWhenPayoutAlreadyUsed() public {
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsPayoutAlreadyUsed.selector, coworking));
        vm.prank(registrar);
        payments.setMerchantPayout(bakeryId, coworking);
    }

    function test_SetMerchantPayoutRevertsForNonRegistrar() public {
        bytes32 role = payments.REGISTRAR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, bakery, role));
        vm.prank(bakery);
        payments.setMerchantPayout(bakeryId, stranger);
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

    // ------------------------------------------------------------------ payWithPermit

    function _signedPayment(uint256 amount, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s, bytes memory intent)
    {
        uint256 nonce = token.nonces(payer);
        (v, r, s) = _signPermit(payerKey, payer, amount, nonce, deadline);
        intent = _signIntent(payerKey, payer, bakeryId, amount, REF, nonce, deadline);
    }

    function test_PayWithPermitPaysFromAnOfflineSignature() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);

        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentMade(bakeryId, payer, REF, AMOUNT);
        vm.prank(terminal);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);

        assertEq(token.balanceOf(bakery), AMOUNT, "merchant paid");
        assertEq(payments.netPaid(bakeryId, payer), AMOUNT, "net paid");
        assertEq(token.nonces(payer), 1, "permit nonce spent");
        assertEq(token.allowance(payer, address(payments)), 0, "exact allowance spent");
    }

    function test_PayWithPermitRevertsWhenReplayed() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);

        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentReplayed.selector, payer, 0));
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitRevertsWhenIntentIsPastDeadline() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentExpired.selector, deadline));
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitAcceptsTheDeadlineSecondItself() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.warp(deadline);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), AMOUNT, "paid at the deadline");
    }

    function test_PayWithPermitRevertsWhenIntentSignedByAnotherKey() public {
        (address other, uint256 otherKey) = _account("other");
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s,) = _signedPayment(AMOUNT, deadline);
        bytes memory intent = _signIntent(otherKey, payer, bakeryId, AMOUNT, REF, 0, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentInvalidSigner.selector, other, payer)
        );
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitRevertsWhenTheAmountIsChanged() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.expectRevert(); // the recovered signer is some unrelated address
        payments.payWithPermit(payer, bakeryId, AMOUNT + 1, REF, deadline, v, r, s, intent);
        assertEq(token.nonces(payer), 0, "nothing spent");
    }

    function test_PayWithPermitRevertsOnMalformedIntentSignature() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s,) = _signedPayment(AMOUNT, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentInvalidSigner.selector, address(0), payer)
        );
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, hex"1234");
    }

    function test_PayWithPermitRevertsWhenThePermitIsNotThePayers() public {
        (address other, uint256 otherKey) = _account("other");
        uint256 deadline = block.timestamp + 10 minutes;
        (,,, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(otherKey, payer, AMOUNT, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, other, payer));
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitRevertsOnZeroPayer() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAddress.selector);
        payments.payWithPermit(address(0), bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitRevertsOnZeroAmount() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(0, deadline);
        vm.expectRevert(IServicePayments.ServicePaymentsZeroAmount.selector);
        payments.payWithPermit(payer, bakeryId, 0, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitRevertsForSuspendedMerchant() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.prank(registrar);
        payments.setMerchantActive(bakeryId, false);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsMerchantSuspended.selector, bakeryId));
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    function test_PayWithPermitRevertsWhilePaused() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.prank(pauser);
        payments.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_PayWithPermitAcceptsOnlyThePayersIntentSignature(uint256 key, uint256 amount) public {
        key = _bound(key, 1, SECP256K1_N - 1);
        if (key % 4 == 0) key = payerKey; // a quarter of the runs sign with the payer's own key
        amount = _bound(amount, 1, token.balanceOf(payer));
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(payerKey, payer, amount, 0, deadline);
        bytes memory intent = _signIntent(key, payer, bakeryId, amount, REF, 0, deadline);
        address signer = vm.addr(key);

        if (signer != payer) {
            vm.expectRevert(
                abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentInvalidSigner.selector, signer, payer)
            );
        }
        payments.payWithPermit(payer, bakeryId, amount, REF, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), signer == payer ? amount : 0, "paid only on the payer's signature");
    }

    /// forge-config: default.fuzz.runs = 256
    function testFuzz_PayWithPermitRejectsIntentsForOtherTermsThanSigned(uint256 otherAmount, bytes32 otherRef)
        public
    {
        otherAmount = _bound(otherAmount, 1, 1_000 * ONE_M3E);
        vm.assume(otherAmount != AMOUNT || otherRef != REF);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory intent = _signIntent(payerKey, payer, bakeryId, AMOUNT, REF, 0, deadline);
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(payerKey, payer, otherAmount, 0, deadline);
        vm.expectRevert();
        payments.payWithPermit(payer, bakeryId, otherAmount, otherRef, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), 0, "nothing paid");
    }

    // ------------------------------------------------------------------ payWithPermit: audit findings

    /// @dev Audit: the permit is public once the terminal broadcasts it; anyone could submit it to
    /// the token first, spending the nonce the intent is bound to, and the offline payment failed
    /// (the resident is gone, the merchant unpaid). Now the intent still goes through, once.
    function test_PayWithPermitStillPaysWhenSomeoneSubmittedThePermitFirst() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        vm.prank(stranger);
        token.permit(payer, address(payments), AMOUNT, deadline, v, r, s); // the front-run

        vm.expectEmit(true, true, true, true, address(payments));
        emit IServicePayments.PaymentMade(bakeryId, payer, REF, AMOUNT);
        vm.prank(terminal);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), AMOUNT, "merchant paid");
        assertEq(payments.netPaid(bakeryId, payer), AMOUNT, "net paid");
        assertEq(token.allowance(payer, address(payments)), 0, "the front-run allowance is spent");

        // and it can still be used only once, even when the payer later approves again
        _approvePayments(payer, type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentReplayed.selector, payer, 0));
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), AMOUNT, "paid once");
    }

    /// @dev Replays are refused even when the allowance left matches the amount again (a wallet
    /// approving the same sum for `pay`): the intent is marked used, not only its nonce spent.
    function test_PayWithPermitReplayIsRefusedWhateverTheAllowance() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
        _approvePayments(payer, AMOUNT);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentReplayed.selector, payer, 0));
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), AMOUNT, "paid once");
    }

    /// @dev A payer cancels an intent by spending its nonce with another permit: it stays dead.
    function test_PayWithPermitIntentCancelledByAnotherPermitStaysDead() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        (uint8 cv, bytes32 cr, bytes32 cs) =
            vm.sign(payerKey, _permitDigest(payer, stranger, 0, 0, deadline));
        token.permit(payer, stranger, 0, deadline, cv, cr, cs);
        vm.expectRevert(abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentReplayed.selector, payer, 0));
        vm.prank(terminal);
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
    }

    /// @dev An intent whose permit was front-run is bound to its merchant: the allowance cannot
    /// pay another merchant, and an intent signed for an older nonce is dead.
    function test_PayWithPermitFrontRunAllowanceServesOnlyTheSignedIntent() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        token.permit(payer, address(payments), AMOUNT, deadline, v, r, s);
        vm.expectRevert(); // signed for the bakery, not the co-working: an unrelated signer
        payments.payWithPermit(payer, coworkingId, AMOUNT, REF, deadline, v, r, s, intent);
        // a second permit moves the nonce on: the intent of nonce 0 is now too old
        (uint8 v2, bytes32 r2, bytes32 s2) = _signPermit(payerKey, payer, AMOUNT, 1, deadline);
        token.permit(payer, address(payments), AMOUNT, deadline, v2, r2, s2);
        vm.expectRevert(
            abi.encodeWithSelector(
                IServicePayments.ServicePaymentsIntentInvalidSigner.selector,
                _recoverIntent(intent, 2, deadline),
                payer
            )
        );
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, intent);
        assertEq(token.balanceOf(bakery), 0, "nothing paid");
    }

    function _recoverIntent(bytes memory intent, uint256 nonce, uint256 deadline) internal view returns (address) {
        bytes32 digest = payments.paymentIntentDigest(payer, bakeryId, AMOUNT, REF, nonce, deadline);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(intent, 32))
            s := mload(add(intent, 64))
            v := byte(0, mload(add(intent, 96)))
        }
        return ecrecover(digest, v, r, s);
    }

    /// @dev Signature malleability: the high-s twin of a valid intent signature is refused.
    function test_PayWithPermitRefusesTheHighSTwinOfTheIntentSignature() public {
        uint256 deadline = block.timestamp + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s, bytes memory intent) = _signedPayment(AMOUNT, deadline);
        bytes32 ir;
        bytes32 is_;
        uint8 iv;
        assembly {
            ir := mload(add(intent, 32))
            is_ := mload(add(intent, 64))
            iv := byte(0, mload(add(intent, 96)))
        }
        bytes memory twin = abi.encodePacked(ir, bytes32(SECP256K1_N - uint256(is_)), iv == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(
            abi.encodeWithSelector(IServicePayments.ServicePaymentsIntentInvalidSigner.selector, address(0), payer)
        );
        payments.payWithPermit(payer, bakeryId, AMOUNT, REF, deadline, v, r, s, twin);
    }

    /// @dev Refund bounds belong to the merchant, not to its payout address: after a payout change
    /// the new address refunds (from its own funds) what the payer paid the old one, never more.
    function test_ANewPayoutRefundsWhatWasPaidToTheOldOneAndNoMore() public {
        _payBakery(AMOUNT);
        address newPayout = _makeAddr("bakery new account");
        vm.prank(registrar);
        payments.setMerchantPayout(bakeryId, newPayout);
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

    function test_CloseBookingWorksForSuspendedMerchantAndAfterExpiry() public {
        uint256 id = _openBooking(AMOUNT, 1 days);
        vm.prank(registrar);
        payments.setMerchantActive(coworkingId, false);
        vm.warp(block.timestamp + 2 days);
        vm.prank(coworking);
        payments.closeBooking(id, AMOUNT);
        assertEq(token.balanceOf(coworking), AMOUNT, "whole deposit charged");
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
