// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The commons fund of the district
/// @notice Holds M3E for the district's solidarity programmes. The district council (this
/// contract's admin: a TimelockController of the council's keys, or a Safe) is the only one that
/// opens a programme, names who may spend it and sets its monthly budget. A programme's spender
/// (a contract such as the payments contract, or the council itself) pays out of the fund only
/// within what is left of the programme's budget for the current calendar month, and only from
/// what the fund holds: no single key spends beyond one programme's month.
///
/// Months are calendar months in UTC: month index = year * 12 + (month - 1) of the block's
/// timestamp read as a UTC date (`monthOf`). A budget unspent in a month does not carry over.
///
/// Every token that enters or leaves the fund is an event: `contribute` (a payer hands over an
/// amount with its source, such as a solidarity surcharge), `recordReceived` (anyone records what
/// arrived by plain transfer: the token's redemption fees are sent that way) and `Disbursed` (an
/// outflow, by programme and month). `totalIn() - totalOut()` is what the fund accounts for, and
/// equals its token balance once every plain transfer is recorded; each disbursement records them
/// first.
///
/// The social energy price: the council names one programme whose budget the energy settlement
/// may pull (`grantSettlement`). The fund is then a paying member of the operation, under a
/// mandate, and the settlement pulls the fund's member line of a day through its proven member
/// path, within the token allowance the fund gives it: exactly what is left of that programme's
/// month (`refreshSettlementAllowance`, which anyone may call, sets it again). What the settlement
/// pulled (the fall of that allowance) is recorded as the programme's outflow in the month it is
/// recorded, before any other record, payment or allowance: the month's budget is never exceeded.
/// No single key spends it: the settlement pulls the fund's line of a (day, version) only within
/// what the social service approved for that committed root (`approveSettlementDay`), after
/// checking its SOLIDARITY lines against the households it made eligible; the oracle's key alone
/// moves nothing from the fund.
///
/// The social service (SOCIAL_SERVICE_ROLE) records an eligibility flag for an address with an
/// expiry date; nothing else about the household goes on chain.
interface ICommonsFund {
    /// @notice What the fund keeps of a programme; its name lives in `ProgrammeOpened`.
    struct Programme {
        address spender;
        uint128 monthlyBudget;
        bool active;
    }

    /// @notice The council opened programme `programmeId`: `spender` may pay up to
    /// `monthlyBudget` micro-M3E out of the fund each calendar month (UTC).
    event ProgrammeOpened(
        uint256 indexed programmeId, address indexed spender, uint128 monthlyBudget, string name
    );
    /// @notice The council changed a programme's spender, monthly budget or status; a budget
    /// lowered below what the month already spent leaves nothing more to spend that month.
    event ProgrammeChanged(
        uint256 indexed programmeId, address indexed spender, uint128 monthlyBudget, bool active
    );
    /// @notice `amount` entered the fund from `from`; `source` says why (a short text as bytes32:
    /// "REDEMPTION_FEES" for plain transfers recorded by `recordReceived`, "SOLIDARITY_SURCHARGE",
    /// "GIFT"...).
    event Inflow(bytes32 indexed source, address indexed from, uint256 amount);
    /// @notice Programme `programmeId` paid `amount` to `to` in month `month` (year * 12 +
    /// month - 1, UTC); `ref` is the spender's reference (a commitment, never personal data).
    event Disbursed(
        uint256 indexed programmeId, uint32 indexed month, address indexed to, uint256 amount, bytes32 ref
    );
    /// @notice The social service set `household`'s eligibility to the social energy price until
    /// `eligibleUntil` (a Unix time; 0 withdraws it).
    event EligibilitySet(address indexed household, uint64 eligibleUntil);

    /// @notice The energy settlement `settlement` may pull up to `allowance` from the fund for
    /// programme `programmeId` (what is left of its month).
    event SettlementAllowanceSet(uint256 indexed programmeId, address indexed settlement, uint256 allowance);

    /// @notice An amount of zero was given where value must move.
    error CommonsFundZeroAmount();
    /// @notice The zero address was given where an account is needed.
    error CommonsFundZeroAddress();
    /// @notice A programme needs a name of 1 to 64 bytes.
    error CommonsFundBadName(uint256 length);
    /// @notice No programme has this id.
    error CommonsFundUnknownProgramme(uint256 programmeId);
    /// @notice The programme is closed: the council reopens it with `changeProgramme`.
    error CommonsFundProgrammeClosed(uint256 programmeId);
    /// @notice Only the spender the council named for this programme may pay from it.
    error CommonsFundNotSpender(uint256 programmeId, address caller);
    /// @notice This payment goes beyond what is left of the programme's budget this month: pay at
    /// most what is left, or wait for next month.
    error CommonsFundOverBudget(uint256 programmeId, uint256 amount, uint256 leftThisMonth);
    /// @notice The fund does not hold enough for this payment.
    error CommonsFundInsufficientBalance(uint256 amount, uint256 balance);
    /// @notice An eligibility must end in the future (or be 0 to withdraw it).
    error CommonsFundEligibilityInThePast(uint64 eligibleUntil);
    /// @notice A source must be named (a non-zero bytes32).
    error CommonsFundNoSource();
    /// @notice No energy settlement was granted a programme: the council calls `grantSettlement`.
    error CommonsFundNoSettlement();

    /// @notice Open a programme (council only). Returns its id, numbered from 1.
    function openProgramme(string calldata name, address spender, uint128 monthlyBudget)
        external
        returns (uint256 programmeId);

    /// @notice Change a programme's spender, monthly budget or status (council only); takes effect
    /// at once, for the current month too.
    function changeProgramme(uint256 programmeId, address spender, uint128 monthlyBudget, bool active)
        external;

    /// @notice Pay `amount` from programme `programmeId` to `to` (the programme's spender only),
    /// within the month's budget left and the fund's balance.
    function disburse(uint256 programmeId, address to, uint256 amount, bytes32 ref) external;

    /// @notice Hand `amount` to the fund (pulled from the caller with `transferFrom`: approve the
    /// fund first), recorded under `source`.
    function contribute(uint256 amount, bytes32 source) external;

    /// @notice Record what arrived by plain transfer since the last record (the token's redemption
    /// fees) as an inflow under "REDEMPTION_FEES". Anyone may call it; returns what it recorded.
    function recordReceived() external returns (uint256 recorded);

    /// @notice Record what arrived by plain transfer (as `recordReceived`), then release what the
    /// granted energy settlement holds due to the fund (its net credits: the peak surcharges of its
    /// days beyond the off-peak discounts and social price it paid) and record it as an inflow
    /// under "SOLIDARITY_SURCHARGE". Anyone may call it; returns what it recorded under that
    /// source. A paused settlement keeps its credits due until a later call.
    function recordSettlementCredits() external returns (uint256 recorded);

    /// @notice Let the energy settlement `settlement` pull programme `programmeId`'s budget for
    /// operation `operationId` (council only): sets the fund's mandate there (limited by the
    /// allowance alone), makes its days need the social service's approval and its credits stay
    /// due until the fund releases and records them, and an allowance of what is left of the
    /// programme's month. Replaces an earlier grant (whose allowance falls to zero, and whose
    /// credits due are recorded first).
    function grantSettlement(uint256 programmeId, address settlement, uint256 operationId) external;

    /// @notice Record what the settlement pulled, then set its allowance again to what is left of
    /// the programme's month (anyone; the settlement service calls it before each day and at the
    /// start of a month). Returns the new allowance.
    function refreshSettlementAllowance() external returns (uint256 allowance);

    /// @notice Approve the fund paying at most `amount` for the committed (day, version) of the
    /// granted settlement whose root is `root` (SOCIAL_SERVICE_ROLE only, after checking that day's
    /// SOLIDARITY lines); replaces an earlier approval of it.
    function approveSettlementDay(uint32 day, uint32 version, bytes32 root, uint256 amount) external;

    /// @notice Set `household` eligible to the social price until `eligibleUntil` (0 withdraws
    /// it). SOCIAL_SERVICE_ROLE only.
    function setEligibility(address household, uint64 eligibleUntil) external;

    /// @notice The district token the fund holds.
    function token() external view returns (address);

    /// @notice How many programmes were opened (ids run from 1 to this).
    function programmeCount() external view returns (uint256);

    /// @notice A programme's spender, monthly budget and status.
    function programme(uint256 programmeId) external view returns (Programme memory);

    /// @notice What programme `programmeId` paid out in month `month`.
    function spentIn(uint256 programmeId, uint32 month) external view returns (uint256);

    /// @notice What programme `programmeId` may still pay this month (0 when closed).
    function leftThisMonth(uint256 programmeId) external view returns (uint256);

    /// @notice The settlement granted a programme (zero when none), and that programme.
    function settlementGrant() external view returns (address settlement, uint256 programmeId);

    /// @notice Every inflow recorded since deployment.
    function totalIn() external view returns (uint256);

    /// @notice Every outflow since deployment.
    function totalOut() external view returns (uint256);

    /// @notice The month index (year * 12 + month - 1) of a Unix time read as a UTC date.
    function monthOf(uint256 timestamp) external pure returns (uint32);

    /// @notice The Unix time until which `household` is eligible (0: never or withdrawn).
    function eligibleUntil(address household) external view returns (uint64);

    /// @notice True while `household`'s eligibility has not expired.
    function isEligible(address household) external view returns (bool);
}
