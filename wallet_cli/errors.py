"""Errors of the wallet.

WalletError                     every error the wallet raises on purpose (exit 1)
├── UsageError                  the command was called wrongly (exit 2)
│   ├── AmountError             an amount that is not a positive number with at most 6 decimals
│   ├── AddressError            not an Ethereum address (or a bad EIP-55 checksum)
│   ├── BadNameError            an account or contact name that is not allowed
│   ├── PaymentURIError         an ERC-681 payment request that cannot be read or is for
│   │                           another chain or token
│   └── NoTerminalError         a secret is needed but there is no terminal to ask for it
├── KeystoreError               an account is missing, exists already or cannot be read
│   └── WrongPasswordError      the password does not open the keystore
├── ContactError                a contact is missing or exists already
├── ConfigError                 the settings are missing or cannot be read
├── ChainError                  the chain refused or could not be reached
│   └── ContractRefusedError    a contract rule refused (the sentence of its custom error)
├── InsufficientBalanceError    not enough M3E (the message shows the balance)
├── UnknownMerchantError        no merchant by that name (the message suggests close names)
├── NoDataSourceError           no source configured for the data asked (energy)
├── NotSignedInError            the API needs a Sign-In with Ethereum session (none, expired,
│                               or refused): `wallet login`
├── ApiError                    the district API refused or could not be read
│   └── NotYourDataError        signed in, but the data belongs to someone else (403)
└── NotConfirmedError           submitted, but not confirmed in time (exit 3)

Each error carries a plain sentence for a resident; `exit_code` is what the CLI exits with.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_CONFIRMED = 3


class WalletError(Exception):
    """Root of the wallet's errors: something failed (exit code 1)."""

    exit_code: int = EXIT_FAILED

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__

    @property
    def kind(self) -> str:
        """A stable name for scripts (`--json` prints it as `error`)."""
        return self.__class__.__name__


class UsageError(WalletError):
    """The command was called wrongly (exit code 2)."""

    exit_code = EXIT_USAGE


class AmountError(UsageError):
    """An amount is not a positive number of M3E with at most 6 decimals."""


class AddressError(UsageError):
    """A text is not an Ethereum address, or its EIP-55 checksum is wrong."""


class BadNameError(UsageError):
    """An account or contact name is not allowed (for example it looks like an address)."""


class PaymentURIError(UsageError):
    """An ERC-681 payment request cannot be read, or is for another chain or token."""


class NoTerminalError(UsageError):
    """A secret is needed but there is no terminal to ask for it."""


class KeystoreError(WalletError):
    """An account is missing, exists already or its keystore cannot be read."""


class WrongPasswordError(KeystoreError):
    """The password does not open the keystore."""


class ContactError(WalletError):
    """A contact is missing or exists already."""


class ConfigError(WalletError):
    """The settings are missing or cannot be read."""


class ChainError(WalletError):
    """The chain refused the transaction or could not be reached."""


class ContractRefusedError(ChainError):
    """A contract rule refused the transaction; `rule` is the custom error's name."""

    def __init__(self, message: str, rule: str, args: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.rule_args = dict(args or {})

    @property
    def details(self) -> dict[str, object]:
        return {"rule": self.rule,
                "rule_args": {k: v if isinstance(v, int | str | bool) else str(v)
                              for k, v in self.rule_args.items()}}


class InsufficientBalanceError(WalletError):
    """The account holds less M3E than the payment needs."""

    def __init__(self, message: str, balance: int, needed: int) -> None:
        super().__init__(message)
        self.balance = balance
        self.needed = needed

    @property
    def details(self) -> dict[str, object]:
        return {"balance": str(self.balance), "needed": str(self.needed)}


class UnknownMerchantError(WalletError):
    """No merchant has that name; `suggestions` are the closest names."""

    def __init__(self, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.suggestions = suggestions

    @property
    def details(self) -> dict[str, object]:
        return {"suggestions": self.suggestions}


class NoDataSourceError(WalletError):
    """No source is configured for the data asked for (the wallet never makes data up)."""


class NotSignedInError(WalletError):
    """The API needs a Sign-In with Ethereum session: none is kept, it expired, or it was refused."""


class ApiError(WalletError):
    """The district API refused the request or answered something the wallet cannot read."""


class NotYourDataError(ApiError):
    """Signed in, but the data asked for belongs to another account (HTTP 403)."""


class NotConfirmedError(WalletError):
    """The transaction was submitted but not confirmed in time (exit code 3)."""

    exit_code = EXIT_NOT_CONFIRMED

    def __init__(self, message: str, tx_hash: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
