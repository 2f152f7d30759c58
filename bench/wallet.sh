#!/usr/bin/env bash
# Start-up time of the wallet CLI against a bare interpreter, measured in the same run.
# Prints the median wall time of 10 runs (ms) for: python -c pass, wallet --help, wallet list,
# and, when a node is given (WALLET_RPC_URL, with WALLET_MANIFEST or .state/deployment.json),
# wallet balance against it (raw JSON-RPC, no web3).
# Targets (issue 6): wallet --help <= 200 ms, wallet balance <= 600 ms.
# Usage: [WALLET_RPC_URL=http://127.0.0.1:8545 [WALLET_MANIFEST=PATH]] bench/wallet.sh [RUNS]
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${1:-10}"
PY=.venv/bin/python
WALLET=.venv/bin/wallet
HOME_DIR="$(mktemp -d)"
trap 'rm -rf "$HOME_DIR"' EXIT
export WALLET_HOME="$HOME_DIR/wallet"

# one account so that `wallet list` reads a keystore (cheap pbkdf2: only listing is timed)
"$PY" - "$WALLET_HOME" <<'PYEOF'
import json, os, sys
from pathlib import Path
from eth_keyfile import create_keyfile_json
home = Path(sys.argv[1]); ks = home / "keystore"; ks.mkdir(parents=True, mode=0o700)
key = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
data = create_keyfile_json(key, b"bench password", kdf="pbkdf2", iterations=1000)
(ks / "bench.json").write_text(json.dumps(data)); os.chmod(ks / "bench.json", 0o600)
PYEOF

median_ms() {  # median_ms CMD...  -> median wall time in ms over $RUNS runs
  local times=() start end
  "$@" >/dev/null 2>&1 || true  # warm-up (bytecode cache, page cache)
  for _ in $(seq "$RUNS"); do
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000 }'
}

base=$(median_ms "$PY" -c pass)
help=$(median_ms "$WALLET" --help)
list=$(median_ms "$WALLET" list)

printf 'wallet start-up, median of %s runs (wall time, ms)\n' "$RUNS"
printf '  %-22s %8s ms\n' "python -c pass" "$base"
printf '  %-22s %8s ms   (+%s over python; target <= 200 ms)\n' "wallet --help" "$help" \
  "$(awk -v a="$help" -v b="$base" 'BEGIN { printf "%.1f", a - b }')"
printf '  %-22s %8s ms   (+%s over python)\n' "wallet list" "$list" \
  "$(awk -v a="$list" -v b="$base" 'BEGIN { printf "%.1f", a - b }')"

if [ -n "${WALLET_RPC_URL:-}" ]; then
  export WALLET_MANIFEST="${WALLET_MANIFEST:-.state/deployment.json}"
  if [ ! -f "$WALLET_MANIFEST" ]; then
    printf '  wallet balance: no manifest at %s (set WALLET_MANIFEST)\n' "$WALLET_MANIFEST"
    exit 1
  fi
  if ! "$WALLET" balance >/dev/null 2>&1; then
    printf '  wallet balance: the node at %s did not answer: ' "$WALLET_RPC_URL"
    "$WALLET" balance 2>&1 | head -1
    exit 1
  fi
  bal=$(median_ms "$WALLET" balance)
  printf '  %-22s %8s ms   (+%s over python; target <= 600 ms; node %s)\n' "wallet balance" \
    "$bal" "$(awk -v a="$bal" -v b="$base" 'BEGIN { printf "%.1f", a - b }')" "$WALLET_RPC_URL"
else
  printf '  (set WALLET_RPC_URL to a running node to time wallet balance too)\n'
fi
