// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {CommonsFund} from "../CommonsFund.sol";
import {DistrictToken} from "../DistrictToken.sol";
import {ServicePayments} from "../ServicePayments.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Drives free basics as the district does (residents paying and booking a co-working
/// space with a free first hour, gifts to the fund, months passing) and keeps its own figures of
/// what the fund paid, by month and by resident, from the balances alone.
contract FreeBasicsHandler is TestBase {
    uint256 internal constant ONE_M3E = 1e6;
    uint128 public constant CAP = 4 * 1e6;
    uint32 public constant USES = 2;
    uint128 public constant BUDGET = 30 * 1e6;

    CommonsFund internal immutable _fund;
    DistrictToken internal immutable _token;
    ServicePayments internal immutable _payments;
    address internal immutable _treasurer;
    address public immutable merchant;
    uint256 public immutable merchantId;
    address[] public residents;
    uint32[] public months;
    mapping(uint32 month => bool) internal _seen;
    uint256 private _bankNonce;

    mapping(uint32 month => uint256) public ghostCovered;
    mapping(address resident => mapping(uint32 month => uint32)) public ghostUses;
    /// @notice Set when one payment or booking got more than the tier's cap from the fund.
    uint256 public aboveCap;
    /// @notice Set when what the merchant got differs from what the resident and the fund paid.
    uint256 public leaks;

    constructor(
        CommonsFund fund_,
        DistrictToken token_,
        ServicePayments payments_,
        address treasurer,
        address merchant_,
        uint256 merchantId_,
        address[] memory residents_
    ) {
        _fund = fund_;
        _token = token_;
        _payments = payments_;
        _treasurer = treasurer;
        merchant = merchant_;
        merchantId = merchantId_;
        residents = residents_;
    }

    function residentCount() external view returns (uint256) {
        return residents.length;
    }

    function monthCount() external view returns (uint256) {
        return months.length;
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(_treasurer);
        _token.recordDeposit(keccak256(abi.encode("bank", ++_bankNonce)), to, amount);
    }

    function _count(address resident, uint256 fundBefore) internal {
        uint256 paidByFund = fundBefore - _token.balanceOf(address(_fund));
        if (paidByFund == 0) return;
        uint32 month = _fund.monthOf(block.timestamp);
        if (!_seen[month]) {
            _seen[month] = true;
            months.push(month);
        }
        if (paidByFund > CAP) ++aboveCap;
        ghostCovered[month] += paidByFund;
        ++ghostUses[resident][month];
    }

    /// @dev Nothing created or lost: the merchant got the price, no more, and it is what the
    /// resident and the fund paid (the merchant paying itself moves nothing and gets nothing from
    /// the fund).
    function _conserved(
        address resident,
        uint256 price,
        uint256 residentBefore,
        uint256 merchantBefore,
        uint256 fundBefore
    ) internal {
        uint256 fundPaid = fundBefore - _token.balanceOf(address(_fund));
        if (resident == merchant) {
            if (_token.balanceOf(merchant) != merchantBefore || fundPaid != 0) ++leaks;
            return;
        }
        uint256 merchantGot = _token.balanceOf(merchant) - merchantBefore;
        uint256 residentPaid = residentBefore - _token.balanceOf(resident);
        if (merchantGot != price || merchantGot != residentPaid + fundPaid) ++leaks;
    }

    function pay(uint256 who, uint256 amount) external {
        address resident = residents[who % residents.length];
        amount = _bound(amount, 1, 20 * ONE_M3E);
        _mint(resident, amount);
        uint256 fundBefore = _token.balanceOf(address(_fund));
        uint256 residentBefore = _token.balanceOf(resident);
        uint256 merchantBefore = _token.balanceOf(merchant);
        vm.startPrank(resident);
        _token.approve(address(_payments), amount);
        _payments.pay(merchantId, amount, "DESK");
        vm.stopPrank();
        _conserved(resident, amount, residentBefore, merchantBefore, fundBefore);
        _count(resident, fundBefore);
    }

    function book(uint256 who, uint256 deposit, uint256 charge) external {
        address resident = residents[who % residents.length];
        deposit = _bound(deposit, 1, 20 * ONE_M3E);
        charge = _bound(charge, 0, deposit);
        _mint(resident, deposit);
        uint256 fundBefore = _token.balanceOf(address(_fund));
        uint256 residentBefore = _token.balanceOf(resident);
        uint256 merchantBefore = _token.balanceOf(merchant);
        vm.startPrank(resident);
        _token.approve(address(_payments), deposit);
        uint256 bookingId = _payments.openBooking(merchantId, deposit, uint64(block.timestamp + 1 days), "ROOM");
        vm.stopPrank();
        vm.prank(merchant);
        _payments.closeBooking(bookingId, charge);
        _conserved(resident, charge, residentBefore, merchantBefore, fundBefore);
        _count(resident, fundBefore);
    }

    function give(uint256 amount) external {
        amount = _bound(amount, 1, 40 * ONE_M3E);
        _mint(address(this), amount);
        _token.approve(address(_fund), amount);
        _fund.contribute(amount, "GIFT");
    }

    function wait(uint256 daysLater) external {
        vm.warp(block.timestamp + _bound(daysLater, 1, 40) * 1 days);
    }
}

contract FreeBasicsInvariants is TestBase {
    CommonsFund internal fund;
    DistrictToken internal token;
    ServicePayments internal payments;
    FreeBasicsHandler internal handler;
    uint256 internal programmeId;
    address[] internal _targets;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = _makeAddr("admin");
        address council = _makeAddr("council");
        address treasurer = _makeAddr("treasurer");
        address registrar = _makeAddr("registrar");
        address merchant = _makeAddr("co-working");
        address[] memory residents = new address[](3);
        residents[0] = _makeAddr("resident A");
        residents[1] = _makeAddr("resident B");
        residents[2] = merchant; // the merchant paying itself must get nothing from the fund

        token = new DistrictToken("Monnaie du 3e", "M3E", admin, 3 days, admin, 300, address(0));
        payments = new ServicePayments(address(token), admin, 3 days);
        fund = new CommonsFund(address(token), council, 3 days);
        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.configureMinter(treasurer, 1e30, 0);
        token.setMerchantDirectory(address(payments));
        payments.grantRole(payments.REGISTRAR_ROLE(), registrar);
        vm.stopPrank();
        vm.prank(registrar);
        uint256 merchantId = payments.registerMerchant("Co-working Saxe", IServicePayments.Category.CoWorking, merchant);
        handler = new FreeBasicsHandler(fund, token, payments, treasurer, merchant, merchantId, residents);
        uint128 budget = handler.BUDGET();
        uint128 cap = handler.CAP();
        uint32 uses = handler.USES();
        vm.prank(council);
        programmeId = fund.openProgramme("Free basics", address(payments), budget);
        vm.prank(admin);
        payments.setFreeBasicsFund(address(fund), programmeId);
        vm.prank(registrar);
        payments.setFreeTier(merchantId, cap, uses);
        _targets.push(address(handler));
    }

    /// @notice Read by the invariant fuzzer: only the handler is called.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    /// forge-config: default.invariant.runs = 300
    function invariant_ReimbursementsNeverExceedTheProgrammesMonth() public view {
        for (uint256 i = 0; i < handler.monthCount(); ++i) {
            uint32 month = handler.months(i);
            assertLe(handler.ghostCovered(month), handler.BUDGET(), "the fund paid beyond the month's budget");
            assertEq(fund.spentIn(programmeId, month), handler.ghostCovered(month), "the fund's books by month");
        }
        assertEq(handler.aboveCap(), 0, "one use got more than the tier's cap");
    }

    /// forge-config: default.invariant.runs = 300
    function invariant_AResidentsFreeTierIsUsedAtMostAsDeclaredAMonth() public view {
        uint256 merchantId = handler.merchantId();
        for (uint256 r = 0; r < handler.residentCount(); ++r) {
            address resident = handler.residents(r);
            for (uint256 i = 0; i < handler.monthCount(); ++i) {
                uint32 month = handler.months(i);
                uint32 uses = handler.ghostUses(resident, month);
                assertLe(uses, handler.USES(), "more free uses than declared");
                assertEq(payments.freeUsesIn(merchantId, resident, month), uses, "uses counted");
                if (resident == handler.merchant()) assertEq(uses, 0, "the merchant paid itself from the fund");
            }
        }
    }

    /// forge-config: default.invariant.runs = 300
    function invariant_TheMerchantGetsExactlyWhatResidentsAndTheFundPaid() public view {
        assertEq(handler.leaks(), 0, "the merchant got other than what the resident and the fund paid");
        assertEq(token.balanceOf(address(payments)), payments.escrowed(), "escrow holds the open deposits only");
        assertEq(fund.totalIn() - fund.totalOut(), token.balanceOf(address(fund)), "fund books");
    }
}
