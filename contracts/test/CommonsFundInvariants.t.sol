// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {CommonsFund} from "../CommonsFund.sol";
import {DistrictToken} from "../DistrictToken.sol";
import {ServicePayments} from "../ServicePayments.sol";
import {ICommonsFund} from "../interfaces/ICommonsFund.sol";
import {IServicePayments} from "../interfaces/IServicePayments.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Stands for the energy settlement: takes the fund's mandate and pulls within the allowance.
contract PullingSettlement {
    function setMandate(uint256, uint48, uint48) external {}

    function pull(DistrictToken token, address from, uint256 amount) external {
        token.transferFrom(from, address(this), amount);
    }
}

/// @notice Drives the fund as the district does (redemption fees arriving, contributions, the
/// council opening and changing programmes, spenders paying, months passing) and as an attacker
/// does (anyone else trying to open, change or spend a programme, spenders asking for more than
/// is left). Keeps ghost figures of every inflow and outflow and of each programme's month.
contract CommonsFundHandler is TestBase {
    uint256 internal constant ONE_M3E = 1e6;

    CommonsFund internal immutable _fund;
    DistrictToken internal immutable _token;
    address internal immutable _council;
    address internal immutable _treasurer;
    address internal immutable _merchant;
    address[] internal _actors; // spenders and outsiders alike
    uint256 private _bankNonce;

    uint256 public ghostIn;
    uint256 public ghostOut;
    /// @notice Plain transfers (redemption fees) not yet recorded by the fund.
    uint256 public ghostUnrecorded;
    uint256 public ghostProgrammes;
    /// @notice Set when the fund paid beyond a programme's month or let a non-spender pay.
    uint256 public overspends;
    /// @notice Set when someone other than the council opened or changed a programme.
    uint256 public usurpations;
    mapping(uint256 programmeId => ICommonsFund.Programme) public ghostProgramme;
    mapping(uint256 programmeId => mapping(uint32 month => uint256)) public ghostSpent;
    PullingSettlement public immutable settlement = new PullingSettlement();
    /// @notice The programme the settlement may pull (0 before the council grants one).
    uint256 public grantedProgramme;
    /// @notice What the settlement pulled since the fund last recorded it.
    uint256 public pendingPulls;

    constructor(
        CommonsFund fund_,
        DistrictToken token_,
        address council,
        address treasurer,
        address merchant,
        address[] memory actors
    ) {
        _fund = fund_;
        _token = token_;
        _council = council;
        _treasurer = treasurer;
        _merchant = merchant;
        _actors = actors;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return _actors[seed % _actors.length];
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(_treasurer);
        _token.recordDeposit(keccak256(abi.encode("bank", ++_bankNonce)), to, amount);
    }

    /// @dev Every fund call that touches the books first records the fees that arrived and the
    /// settlement's pulls.
    function _synced() internal {
        ghostIn += ghostUnrecorded;
        ghostUnrecorded = 0;
        ghostSpent[grantedProgramme][_fund.monthOf(block.timestamp)] += pendingPulls;
        ghostOut += pendingPulls;
        pendingPulls = 0;
    }

    // ------------------------------------------------------------------ the district

    /// @dev A merchant converts takings to euros: the fee lands in the fund by plain transfer.
    function redeem(uint256 amount) external {
        amount = _bound(amount, 10 * ONE_M3E, 10_000 * ONE_M3E);
        _mint(_merchant, amount);
        uint256 before = _token.balanceOf(address(_fund));
        vm.prank(_merchant);
        _token.redeem(amount, "WIRE");
        ghostUnrecorded += _token.balanceOf(address(_fund)) - before;
    }

    function contribute(uint256 who, uint256 amount) external {
        address from = _actor(who);
        amount = _bound(amount, 1, 1_000 * ONE_M3E);
        _mint(from, amount);
        vm.startPrank(from);
        _token.approve(address(_fund), amount);
        _fund.contribute(amount, "SOLIDARITY_SURCHARGE");
        vm.stopPrank();
        _synced();
        ghostIn += amount;
    }

    function recordReceived() external {
        _fund.recordReceived();
        _synced();
    }

    function open(uint256 spenderSeed, uint128 budget) external {
        if (ghostProgrammes >= 6) return;
        address spender = _actor(spenderSeed);
        budget = uint128(_bound(budget, 0, 500 * ONE_M3E));
        vm.prank(_council);
        uint256 id = _fund.openProgramme("Programme", spender, budget);
        ghostProgrammes = id;
        ghostProgramme[id] = ICommonsFund.Programme(spender, budget, true);
    }

    function change(uint256 idSeed, uint256 spenderSeed, uint128 budget, bool active) external {
        if (ghostProgrammes == 0) return;
        uint256 id = 1 + idSeed % ghostProgrammes;
        address spender = _actor(spenderSeed);
        budget = uint128(_bound(budget, 0, 500 * ONE_M3E));
        vm.prank(_council);
        _fund.changeProgramme(id, spender, budget, active);
        _synced();
        ghostProgramme[id] = ICommonsFund.Programme(spender, budget, active);
    }

    function grantSettlement(uint256 idSeed) external {
        if (ghostProgrammes == 0) return;
        uint256 id = 1 + idSeed % ghostProgrammes;
        vm.prank(_council);
        _fund.grantSettlement(id, address(settlement), 1);
        _synced();
        grantedProgramme = id;
    }

    /// @dev The settlement pulls the fund's member line: within the allowance, or not at all.
    function settlementPulls(uint256 amount) external {
        if (grantedProgramme == 0) return;
        uint256 allowance = _token.allowance(address(_fund), address(settlement));
        uint256 balance = _token.balanceOf(address(_fund));
        amount = _bound(amount, 1, allowance + 1);
        try settlement.pull(_token, address(_fund), amount) {
            if (amount > allowance || amount > balance) ++overspends;
            pendingPulls += amount;
        } catch {}
    }

    function refreshSettlementAllowance() external {
        if (grantedProgramme == 0) return;
        _fund.refreshSettlementAllowance();
        _synced();
    }

    /// @dev Anyone asks any programme for any amount: it goes through only when the caller is
    /// the spender, the programme open, the amount within the month and the balance.
    function disburse(uint256 idSeed, uint256 callerSeed, uint256 amount) external {
        if (ghostProgrammes == 0) return;
        uint256 id = 1 + idSeed % ghostProgrammes;
        ICommonsFund.Programme memory p = ghostProgramme[id];
        // Half the time the real spender asks, so that payments do happen.
        address caller = callerSeed % 2 == 0 ? p.spender : _actor(callerSeed / 2);
        amount = _bound(amount, 1, 2 * uint256(p.monthlyBudget) + 1);
        uint32 month = _fund.monthOf(block.timestamp);
        uint256 fundBefore = _token.balanceOf(address(_fund));
        uint256 pulledHere = id == grantedProgramme ? pendingPulls : 0;
        vm.prank(caller);
        try _fund.disburse(id, _merchant, amount, keccak256("ref")) {
            bool allowed = caller == p.spender && p.active
                && ghostSpent[id][month] + pulledHere + amount <= p.monthlyBudget && amount <= fundBefore;
            if (!allowed) ++overspends;
            _synced();
            ghostSpent[id][month] += amount;
            ghostOut += amount;
        } catch {}
    }

    function passTime(uint256 secondsAhead) external {
        vm.warp(block.timestamp + _bound(secondsAhead, 1, 20 days));
    }

    // ------------------------------------------------------------------ the attacker

    function usurpOpen(uint256 who, uint128 budget) external {
        address caller = _actor(who);
        vm.prank(caller);
        try _fund.openProgramme("Mine", caller, budget) {
            ++usurpations;
        } catch {}
    }

    function usurpChange(uint256 who, uint256 idSeed, uint128 budget) external {
        if (ghostProgrammes == 0) return;
        address caller = _actor(who);
        vm.prank(caller);
        try _fund.changeProgramme(1 + idSeed % ghostProgrammes, caller, budget, true) {
            ++usurpations;
        } catch {}
    }
}

contract CommonsFundInvariants is TestBase {
    CommonsFund internal fund;
    DistrictToken internal token;
    CommonsFundHandler internal handler;
    address[] internal _targets;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = _makeAddr("admin");
        address council = _makeAddr("council");
        address treasurer = _makeAddr("treasurer");
        address registrar = _makeAddr("registrar");
        address merchant = _makeAddr("merchant");
        address[] memory actors = new address[](4);
        actors[0] = _makeAddr("spender A");
        actors[1] = _makeAddr("spender B");
        actors[2] = _makeAddr("resident");
        actors[3] = admin; // the token's admin is not the council

        token = new DistrictToken("Monnaie du 3e", "M3E", admin, 3 days, admin, 300, address(0));
        ServicePayments payments = new ServicePayments(address(token), admin, 3 days);
        fund = new CommonsFund(address(token), council, 3 days);
        vm.startPrank(admin);
        token.grantRole(token.TREASURER_ROLE(), treasurer);
        token.configureMinter(treasurer, 1e30, 0);
        token.setMerchantDirectory(address(payments));
        token.setCommonsFund(address(fund));
        payments.grantRole(payments.REGISTRAR_ROLE(), registrar);
        vm.stopPrank();
        vm.prank(registrar);
        payments.registerMerchant("Co-working Saxe", IServicePayments.Category.CoWorking, merchant);

        handler = new CommonsFundHandler(fund, token, council, treasurer, merchant, actors);
        handler.open(0, 100e6);
        _targets.push(address(handler));
    }

    /// @notice Read by the invariant fuzzer: only the handler is called.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    /// forge-config: default.invariant.runs = 600
    function invariant_TheFundNeverSpendsBeyondAProgrammesMonth() public view {
        assertEq(handler.overspends(), 0, "a payment went beyond a month's budget or past its spender");
        uint256 count = fund.programmeCount();
        uint32 month = fund.monthOf(block.timestamp);
        for (uint256 id = 1; id <= count; ++id) {
            assertEq(fund.spentIn(id, month), handler.ghostSpent(id, month), "spent this month");
        }
    }

    /// forge-config: default.invariant.runs = 600
    function invariant_OnlyTheCouncilOpensOrChangesAProgramme() public view {
        assertEq(handler.usurpations(), 0, "someone other than the council opened or changed a programme");
        assertEq(fund.programmeCount(), handler.ghostProgrammes(), "programmes opened");
        for (uint256 id = 1; id <= handler.ghostProgrammes(); ++id) {
            ICommonsFund.Programme memory p = fund.programme(id);
            (address spender, uint128 budget, bool active) = handler.ghostProgramme(id);
            assertEq(p.spender, spender, "spender as the council set it");
            assertEq(p.monthlyBudget, budget, "budget as the council set it");
            assertTrue(p.active == active, "status as the council set it");
        }
    }

    /// forge-config: default.invariant.runs = 600
    function invariant_TheSettlementMayNeverPullBeyondTheMonthLeft() public view {
        uint256 id = handler.grantedProgramme();
        if (id == 0) return;
        ICommonsFund.Programme memory p = fund.programme(id);
        uint256 spent = fund.spentIn(id, fund.monthOf(block.timestamp)) + handler.pendingPulls();
        uint256 left = p.active && p.monthlyBudget > spent ? p.monthlyBudget - spent : 0;
        assertLe(token.allowance(address(fund), address(handler.settlement())), left, "allowance within the month left");
    }

    /// forge-config: default.invariant.runs = 600
    function invariant_InflowsMinusOutflowsIsTheBalance() public view {
        assertEq(fund.totalIn(), handler.ghostIn(), "inflows recorded");
        assertEq(fund.totalOut(), handler.ghostOut(), "outflows recorded");
        assertEq(
            fund.totalIn() - fund.totalOut() + handler.ghostUnrecorded(),
            token.balanceOf(address(fund)) + handler.pendingPulls(),
            "in - out (+ fees and - pulls not yet recorded) = balance"
        );
    }
}
