#!/usr/bin/env bash
# Start-up of the wallet CLI against a bare interpreter, measured in the same run.
# Medians of RUNS runs (wall time) of: python -c pass, wallet --help, wallet list, and wallet
# balance against a local anvil node this script starts (and stops) on a free loopback port,
# with a stub token that answers every call with one zero word: the wallet makes its real
# JSON-RPC calls (chain id, balanceOf, nonces), the figure is start-up plus those round trips.
# Goals (issue 14): --help <= 0.2 s and <= 4x python; balance <= 0.6 s and <= 8x python.
# Usage: bench/wallet.sh [RUNS]
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${1:-10}"
PY="${PYTHON:-.venv/bin/python}"
WALLET="${WALLET_BIN:-.venv/bin/wallet}"
ANVIL="$(command -v anvil || echo node_modules/.bin/anvil)"
WORK="$(mktemp -d)"
ANVIL_PID=""
cleanup() {
  if [ -n "$ANVIL_PID" ]; then kill "$ANVIL_PID" 2>/dev/null || true; wait "$ANVIL_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export WALLET_HOME="$WORK/wallet"
# Timed as people run it: with compiled bytecode (the warm-up run writes it, into a cache of
# this run, not the repository). An environment that forbids bytecode would time compilation.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$WORK/pycache"
unset WALLET_API_URL WALLET_ACCOUNT WALLET_TOKEN || true

# one account so that `wallet list` and `wallet balance` read a keystore (cheap pbkdf2)
"$PY" - "$WALLET_HOME" <<'PYEOF'
import json, os, sys
from pathlib import Path
from eth_keyfile import create_keyfile_json
home = Path(sys.argv[1]); ks = home / "keystore"; ks.mkdir(parents=True, mode=0o700)
key = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
data = create_keyfile_json(key, b"bench password", kdf="pbkdf2", iterations=1000)
(ks / "bench.json").write_text(json.dumps(data)); os.chmod(ks / "bench.json", 0o600)
PYEOF

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ANVIL" --host 127.0.0.1 --port "$PORT" --chain-id 69003 --silent >"$WORK/anvil.log" 2>&1 &
ANVIL_PID=$!
export WALLET_RPC_URL="http://127.0.0.1:$PORT"
TOKEN=0x5FbDB2315678afecb367f032d93F642f64180aa3
"$PY" - "$WALLET_RPC_URL" "$TOKEN" "$WORK/deployment.json" <<'PYEOF'
import json, sys, time, urllib.request
url, token, manifest = sys.argv[1:4]
def rpc(method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=2) as reply:
        return json.loads(reply.read())
deadline = time.monotonic() + 30
while True:  # wait until the node answers (a condition, not a fixed sleep)
    try:
        rpc("eth_chainId", []); break
    except OSError:
        if time.monotonic() > deadline: sys.exit("anvil did not start")
        time.sleep(0.05)
# PUSH1 0x20 PUSH1 0x00 RETURN: every call returns one zero word (balance 0, nonce 0)
rpc("anvil_setCode", [token, "0x60206000f3"])
json.dump({"chain_id": 69003, "contracts": {"DistrictToken": {"address": token}}}, open(manifest, "w"))
PYEOF
export WALLET_MANIFEST="$WORK/deployment.json"
"$WALLET" balance >/dev/null  # fails the bench here if balance does not work

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
bal=$(median_ms "$WALLET" balance)

verdict() {  # verdict MS LIMIT_MS RATIO_LIMIT
  awk -v t="$1" -v b="$base" -v l="$2" -v r="$3" 'BEGIN {
    ratio = t / b; ok = (t <= l && ratio <= r) ? "met" : "NOT met"
    printf "%.2fx python (goal <= %gx and <= %g ms: %s)", ratio, r, l, ok }'
}
printf 'wallet start-up, median of %s runs (wall time, ms; load average %s)\n' "$RUNS" \
  "$(cut -d' ' -f1 /proc/loadavg)"
printf '  %-16s %8s ms\n' "python -c pass" "$base"
printf '  %-16s %8s ms   %s\n' "wallet --help" "$help" "$(verdict "$help" 200 4)"
printf '  %-16s %8s ms   %s\n' "wallet list" "$list" \
  "$(awk -v t="$list" -v b="$base" 'BEGIN { printf "%.2fx python", t / b }')"
printf '  %-16s %8s ms   %s\n' "wallet balance" "$bal" "$(verdict "$bal" 600 8)"
