#!/usr/bin/env bash
# The district ledger's two commands:
#   ./run.sh demo   install what is missing, start a local chain, deploy, seed, run the services
#   ./run.sh test   install what is missing, then every check: ruff, mypy, import contracts,
#                   Solidity tests (Hardhat 3), pytest (unit, integration, e2e)
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
PY="${PYTHON:-python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

stamp_ok() { # stamp_ok NAME FILE...: true when FILE contents did not change since the last install
  local want; want="$(cat "${@:2}" | sha256sum | cut -c1-64)"
  [[ -f ".state/$1.stamp" && "$(cat ".state/$1.stamp")" == "$want" ]]
}
stamp_write() { mkdir -p .state; cat "${@:2}" | sha256sum | cut -c1-64 > ".state/$1.stamp"; }

setup_python() {
  if [[ ! -x .venv/bin/python ]]; then
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
    log "creating the Python virtual environment (.venv)"
    "$PY" -m venv .venv
  fi
  # The compiled log reader and column packer (ledger/*/_*.c) are built by this install: a
  # change to their source installs again.
  if ! stamp_ok python pyproject.toml ledger/indexer/_logscan.c ledger/db/_columns.c; then
    log "installing Python packages"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    stamp_write python pyproject.toml ledger/indexer/_logscan.c ledger/db/_columns.c
  fi
}

setup_node() {
  if ! stamp_ok node package.json package-lock.json || [[ ! -d node_modules ]]; then
    log "installing npm packages (Hardhat 3, solc, OpenZeppelin, Node 22)"
    npm ci --no-audit --no-fund --loglevel=error
    stamp_write node package.json package-lock.json
  fi
  # Hardhat's EDR native binary can be skipped by an npm run under Node 20: make sure it loads.
  if ! node_modules/.bin/node -e 'require("@nomicfoundation/edr")' >/dev/null 2>&1; then
    log "installing Hardhat's EDR native binary"
    npm install --no-save --force --no-audit --no-fund --loglevel=error \
      "@nomicfoundation/edr-linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')-gnu@$(node -p 'require("./package.json").devDependencies["@nomicfoundation/edr"]')"
  fi
  # The local chain that keeps its state (`ledger node`, the demo): anvil's prebuilt binary.
  if [[ ! -x node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ]]; then
    log "installing anvil (the persistent local chain)"
    npm install --no-save --force --no-audit --no-fund --loglevel=error \
      "@foundry-rs/anvil-linux-amd64@$(node -p 'require("./package.json").devDependencies["@foundry-rs/anvil-linux-amd64"]')"
  fi
}

setup() { setup_python; setup_node; }

setup_browser() { # the web page's test drives Debian's Chromium (no browser download)
  if [[ ! -x /usr/bin/chromium ]]; then
    if [[ "$(id -u)" == 0 ]]; then
      log "installing Debian's Chromium for the browser test"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      log "Chromium is missing: run 'sudo apt-get install chromium' (the browser test needs it)"
    fi
  fi
}

setup_zbar() { # the treasury's QR test decodes EPC codes with Debian's zbar (a third-party decoder)
  if ! command -v zbarimg >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
      log "installing Debian's zbar-tools for the QR code test"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zbar-tools >/dev/null
    else
      log "zbarimg is missing: run 'sudo apt-get install zbar-tools' (the QR code test needs it)"
    fi
  fi
}

run_tests() {
  export PATH="$ROOT/node_modules/.bin:$ROOT/.venv/bin:$PATH"
  if [[ -n "${CI:-}" ]]; then
    export LEDGER_TEST_POSTGRES_URL="${LEDGER_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
    export LEDGER_TEST_MQTT_URL="${LEDGER_TEST_MQTT_URL:-mqtt://127.0.0.1:1883}"
    export LEDGER_TEST_REDIS_URL="${LEDGER_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
  fi
  log "ruff";   ruff check ledger api wallet_cli tests bench
  log "mypy";   mypy
  log "import contracts (lint-imports)"; lint-imports
  log "Solidity tests (Hardhat 3)"; hardhat test solidity
  log "pytest"; pytest -q -p no:cacheprovider "$@"
}

case "${1:-}" in
  demo) shift; setup; exec .venv/bin/ledger demo "$@" ;;
  test) shift; setup; setup_browser; setup_zbar; run_tests "$@" ;;
  setup) setup ;;
  *) echo "usage: ./run.sh demo | test | setup" >&2; exit 2 ;;
esac
