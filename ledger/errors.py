"""Errors of the ledger service.

LedgerError                 every error the ledger raises on purpose
├── ConfigError             settings missing or unsafe (a dev key on a non-dev chain...)
├── ChainError              the chain node or a contract said no
│   ├── ChainUnavailable    the node cannot be reached
│   └── ContractRuleError   a contract rule refused the call (custom error, decoded)
├── CompilerError           solc could not be found or failed
├── ManifestError           the deployment manifest is missing or does not fit the chain
├── DeploymentError         a deployment ended differently from its plan (roles read back)
└── InputError              bad input from a person or a device, with what to do about it

Each carries a sentence a resident or the operator understands; the CLI maps them to exit codes.
"""


class LedgerError(Exception):
    """Root of the ledger's errors."""


class ConfigError(LedgerError):
    """The settings are missing or unsafe."""


class ChainError(LedgerError):
    """The chain node or a contract refused."""


class ChainUnavailable(ChainError):
    """The JSON-RPC node cannot be reached."""


class ContractRuleError(ChainError):
    """A contract rule refused the call; `name` is the custom error, `args` its arguments."""

    def __init__(self, message: str, name: str, args: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.error_name = name
        self.error_args = args or {}


class CompilerError(LedgerError):
    """solc could not be found or failed to compile."""


class ManifestError(LedgerError):
    """The deployment manifest is missing or does not match the chain."""


class DeploymentError(LedgerError):
    """A deployment ended differently from its deployment file (read back on chain)."""


class InputError(LedgerError):
    """Bad input; the message says what to do."""
