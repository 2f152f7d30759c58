// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ICommonsFund} from "./interfaces/ICommonsFund.sol";
import {IEnergySettlement} from "./interfaces/IEnergySettlement.sol";

/// @title The commons fund of the district
/// @notice See ICommonsFund: programmes opened by the council, monthly budgets enforced here,
/// every inflow and outflow an event.
/// @dev The council is DEFAULT_ADMIN_ROLE, moved only by OpenZeppelin's two-step handover after
/// the admin delay, as on the other district contracts; the deployer makes it a timelock or a
/// Safe off a dev chain. No reentrancy guard: the external calls go to the district token, fixed
/// at construction, which calls nobody back, and to the settlement the council names (once, in
/// `grantSettlement`, after the fund's books are written). Accounting: `_totalIn - _totalOut` never
/// exceeds the token balance (every outflow is checked against it), and equals it after
/// `recordReceived`.
contract CommonsFund is ICommonsFund, AccessControlDefaultAdminRules {
    using SafeERC20 for IERC20;

    /// @notice Records households' eligibility to the social energy price, with an expiry.
    bytes32 public constant SOCIAL_SERVICE_ROLE = keccak256("SOCIAL_SERVICE_ROLE");
    /// @notice The source under which plain transfers (redemption fees) are recorded.
    bytes32 public constant SOURCE_REDEMPTION_FEES = "REDEMPTION_FEES";
    /// @notice The source under which the energy settlement's credits to the fund are recorded.
    bytes32 public constant SOURCE_SOLIDARITY_SURCHARGE = "SOLIDARITY_SURCHARGE";
    /// @notice The longest programme name, in bytes.
    uint256 public constant MAX_NAME_BYTES = 64;
    /// @notice The reference of an outflow the energy settlement pulled.
    bytes32 public constant REF_SETTLEMENT = "SETTLEMENT";

    IERC20 private immutable _token;

    uint256 private _programmeCount;
    uint256 private _totalIn;
    uint256 private _totalOut;
    mapping(uint256 programmeId => Programme) private _programmes;
    mapping(uint256 programmeId => mapping(uint32 month => uint256)) private _spent;
    mapping(address household => uint64) private _eligibleUntil;
    address private _settlement;
    uint256 private _settlementProgramme;
    uint256 private _settlementOperation;
    /// @dev The allowance last given to `_settlement`: what it pulled since is this minus the
    /// token's allowance now (each pull spends the allowance).
    uint256 private _granted;

    /// @param token_ the district token the fund holds
    /// @param council the council's timelock or Safe (a key only on a dev chain)
    /// @param adminDelay the wait of a council handover
    constructor(address token_, address council, uint48 adminDelay)
        AccessControlDefaultAdminRules(adminDelay, council)
    {
        if (token_ == address(0)) revert CommonsFundZeroAddress();
        _token = IERC20(token_);
    }

    // ------------------------------------------------------------------ council

    /// @inheritdoc ICommonsFund
    function openProgramme(string calldata name, address spender, uint128 monthlyBudget)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint256 programmeId)
    {
        uint256 length = bytes(name).length;
        if (length == 0 || length > MAX_NAME_BYTES) revert CommonsFundBadName(length);
        if (spender == address(0)) revert CommonsFundZeroAddress();
        programmeId = ++_programmeCount;
        _programmes[programmeId] = Programme({spender: spender, monthlyBudget: monthlyBudget, active: true});
        emit ProgrammeOpened(programmeId, spender, monthlyBudget, name);
    }

    /// @inheritdoc ICommonsFund
    function changeProgramme(uint256 programmeId, address spender, uint128 monthlyBudget, bool active)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _known(programmeId);
        if (spender == address(0)) revert CommonsFundZeroAddress();
        _sync();
        _programmes[programmeId] = Programme({spender: spender, monthlyBudget: monthlyBudget, active: active});
        emit ProgrammeChanged(programmeId, spender, monthlyBudget, active);
        // A lowered budget or a closed programme takes effect on the settlement's allowance too.
        if (programmeId == _settlementProgramme && _settlement != address(0)) _setAllowance();
    }

    /// @inheritdoc ICommonsFund
    function grantSettlement(uint256 programmeId, address settlement, uint256 operationId)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _known(programmeId);
        if (settlement == address(0)) revert CommonsFundZeroAddress();
        _sync();
        _claimSettlementCredits();
        address previous = _settlement;
        if (previous != address(0) && previous != settlement) {
            _token.forceApprove(previous, 0);
            _granted = 0;
        }
        _settlement = settlement;
        _settlementProgramme = programmeId;
        _settlementOperation = operationId;
        // The allowance is the limit: the mandate is set to the widest the settlement accepts.
        IEnergySettlement(settlement).setMandate(operationId, type(uint48).max, type(uint48).max);
        // The oracle alone commits the lines: each day the fund pays needs the social service too.
        // Its credits then stay due until `recordSettlementCredits` releases them and names them.
        IEnergySettlement(settlement).requireDayApproval(operationId);
        _setAllowance();
    }

    /// @inheritdoc ICommonsFund
    function refreshSettlementAllowance() external returns (uint256 allowance) {
        if (_settlement == address(0)) revert CommonsFundNoSettlement();
        _sync();
        return _setAllowance();
    }

    // ------------------------------------------------------------------ money

    /// @inheritdoc ICommonsFund
    function disburse(uint256 programmeId, address to, uint256 amount, bytes32 ref) external {
        Programme memory p = _known(programmeId);
        if (msg.sender != p.spender) revert CommonsFundNotSpender(programmeId, msg.sender);
        if (!p.active) revert CommonsFundProgrammeClosed(programmeId);
        if (amount == 0) revert CommonsFundZeroAmount();
        if (to == address(0)) revert CommonsFundZeroAddress();
        // Settlement pulls and plain transfers are recorded first, so the budget and balance checks
        // below are on accounted money.
        _sync();
        uint32 month = monthOf(block.timestamp);
        uint256 spent = _spent[programmeId][month];
        uint256 left = p.monthlyBudget > spent ? p.monthlyBudget - spent : 0;
        if (amount > left) revert CommonsFundOverBudget(programmeId, amount, left);
        uint256 balance = _totalIn - _totalOut;
        if (amount > balance) revert CommonsFundInsufficientBalance(amount, balance);
        _spent[programmeId][month] = spent + amount;
        _totalOut += amount;
        emit Disbursed(programmeId, month, to, amount, ref);
        // What the settlement may still pull shrinks with what this programme just paid.
        if (programmeId == _settlementProgramme && _settlement != address(0)) _setAllowance();
        _token.safeTransfer(to, amount);
    }

    /// @inheritdoc ICommonsFund
    function contribute(uint256 amount, bytes32 source) external {
        if (amount == 0) revert CommonsFundZeroAmount();
        if (source == bytes32(0)) revert CommonsFundNoSource();
        // Earlier plain transfers keep their own record, apart from this contribution.
        _sync();
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        // Count what arrived, not what was asked: a token that took a fee would otherwise leave
        // the books above the balance.
        uint256 received = _token.balanceOf(address(this)) - before;
        _totalIn += received;
        emit Inflow(source, msg.sender, received);
    }

    /// @inheritdoc ICommonsFund
    function recordReceived() external returns (uint256 recorded) {
        return _sync();
    }

    /// @inheritdoc ICommonsFund
    function recordSettlementCredits() external returns (uint256 recorded) {
        _sync();
        return _claimSettlementCredits();
    }

    // ------------------------------------------------------------------ social service

    /// @inheritdoc ICommonsFund
    function approveSettlementDay(uint32 day, uint32 version, bytes32 root, uint256 amount)
        external
        onlyRole(SOCIAL_SERVICE_ROLE)
    {
        address settlement = _settlement;
        if (settlement == address(0)) revert CommonsFundNoSettlement();
        IEnergySettlement(settlement).approveDay(_settlementOperation, day, version, root, amount);
    }

    /// @inheritdoc ICommonsFund
    function setEligibility(address household, uint64 until) external onlyRole(SOCIAL_SERVICE_ROLE) {
        if (household == address(0)) revert CommonsFundZeroAddress();
        if (until != 0 && until <= block.timestamp) revert CommonsFundEligibilityInThePast(until);
        _eligibleUntil[household] = until;
        emit EligibilitySet(household, until);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ICommonsFund
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ICommonsFund
    function programmeCount() external view returns (uint256) {
        return _programmeCount;
    }

    /// @inheritdoc ICommonsFund
    function programme(uint256 programmeId) external view returns (Programme memory) {
        return _known(programmeId);
    }

    /// @inheritdoc ICommonsFund
    function spentIn(uint256 programmeId, uint32 month) external view returns (uint256) {
        return _spent[programmeId][month];
    }

    /// @inheritdoc ICommonsFund
    function leftThisMonth(uint256 programmeId) external view returns (uint256) {
        Programme memory p = _known(programmeId);
        if (!p.active) return 0;
        uint256 spent = _spent[programmeId][monthOf(block.timestamp)];
        return p.monthlyBudget > spent ? p.monthlyBudget - spent : 0;
    }

    /// @inheritdoc ICommonsFund
    function settlementGrant() external view returns (address settlement, uint256 programmeId) {
        return (_settlement, _settlementProgramme);
    }

    /// @inheritdoc ICommonsFund
    function totalIn() external view returns (uint256) {
        return _totalIn;
    }

    /// @inheritdoc ICommonsFund
    function totalOut() external view returns (uint256) {
        return _totalOut;
    }

    /// @inheritdoc ICommonsFund
    function eligibleUntil(address household) external view returns (uint64) {
        return _eligibleUntil[household];
    }

    /// @inheritdoc ICommonsFund
    function isEligible(address household) external view returns (bool) {
        return block.timestamp < _eligibleUntil[household];
    }

    /// @inheritdoc ICommonsFund
    /// @dev Howard Hinnant's civil-from-days algorithm (proleptic Gregorian calendar), for
    /// non-negative Unix times.
    function monthOf(uint256 timestamp) public pure returns (uint32) {
        uint256 z = timestamp / 86_400 + 719_468;
        uint256 era = z / 146_097;
        uint256 doe = z - era * 146_097;
        uint256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 month = mp < 10 ? mp + 3 : mp - 9;
        uint256 year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        return uint32(year * 12 + month - 1);
    }

    // ------------------------------------------------------------------ internals

    function _known(uint256 programmeId) private view returns (Programme memory p) {
        p = _programmes[programmeId];
        if (p.spender == address(0)) revert CommonsFundUnknownProgramme(programmeId);
    }

    /// @dev Records what changed the balance since the last record: first what arrived by plain
    /// transfer (an inflow), then what the settlement pulled (the granted programme's outflow of
    /// the current month). The pulls are known exactly from the fall of the allowance, so the
    /// inflow is exact too even when the settlement pulled tokens not yet recorded. Runs before
    /// every check on the books. Returns the inflow recorded.
    function _sync() private returns (uint256 recorded) {
        address settlement = _settlement;
        uint256 granted = _granted;
        uint256 pulled = settlement == address(0) ? 0 : granted - _token.allowance(address(this), settlement);
        uint256 balance = _token.balanceOf(address(this));
        uint256 accounted = _totalIn - _totalOut;
        if (balance + pulled > accounted) {
            recorded = balance + pulled - accounted;
            _totalIn += recorded;
            emit Inflow(SOURCE_REDEMPTION_FEES, address(0), recorded);
        }
        if (pulled != 0) {
            _granted = granted - pulled;
            uint256 programmeId = _settlementProgramme;
            uint32 month = monthOf(block.timestamp);
            _spent[programmeId][month] += pulled;
            _totalOut += pulled;
            emit Disbursed(programmeId, month, settlement, pulled, REF_SETTLEMENT);
        }
    }

    /// @dev Releases what the granted settlement holds due to the fund and records what arrived
    /// under SOLIDARITY_SURCHARGE (counted from the balance, like `contribute`). Nothing when
    /// nothing is due or the pool lacks it; a refusal of `release` (a paused settlement) leaves it
    /// due for a later record rather than stopping the record of the fees.
    function _claimSettlementCredits() private returns (uint256 received) {
        address settlement = _settlement;
        if (settlement == address(0)) return 0;
        uint256 operationId = _settlementOperation;
        IEnergySettlement s = IEnergySettlement(settlement);
        if (s.memberAccount(operationId, address(this)).owed >= 0 || s.pool(operationId) == 0) return 0;
        uint256 before = _token.balanceOf(address(this));
        try s.release(operationId, address(this)) {}
        catch {
            return 0;
        }
        received = _token.balanceOf(address(this)) - before;
        _totalIn += received;
        emit Inflow(SOURCE_SOLIDARITY_SURCHARGE, settlement, received);
    }

    /// @dev Allowance = what is left of the granted programme's month (0 when closed).
    function _setAllowance() private returns (uint256 allowance) {
        uint256 programmeId = _settlementProgramme;
        Programme memory p = _programmes[programmeId];
        uint256 spent = _spent[programmeId][monthOf(block.timestamp)];
        allowance = p.active && p.monthlyBudget > spent ? p.monthlyBudget - spent : 0;
        _granted = allowance;
        address settlement = _settlement;
        _token.forceApprove(settlement, allowance);
        emit SettlementAllowanceSet(programmeId, settlement, allowance);
    }
}
