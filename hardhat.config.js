// Hardhat 3 configuration of the district ledger.
// The compiler is the official npm `solc` (wasm): nothing is downloaded at build time.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const SOLC_VERSION = "0.8.28";

// Chain id 69003 (the postal code) and a zero base fee, as a permissioned QBFT network
// with zero gas price: residents never need ether.
const district = {
  type: "edr-simulated",
  chainType: "l1",
  chainId: 69003,
  initialBaseFeePerGas: 0,
  hardfork: "cancun",
  // Interval mining (about 2 s blocks) when DISTRICT_BLOCK_MS is set, automine otherwise.
  // Tests of past settlement days start the chain's clock at DISTRICT_INITIAL_DATE (ISO 8601).
  ...(process.env.DISTRICT_INITIAL_DATE ? { initialDate: process.env.DISTRICT_INITIAL_DATE } : {}),
  mining: process.env.DISTRICT_BLOCK_MS
    ? { auto: false, interval: Number(process.env.DISTRICT_BLOCK_MS) }
    : { auto: true, interval: 0 },
};

export default {
  solidity: {
    compilers: [
      {
        version: SOLC_VERSION,
        path: require.resolve("solc/soljson.js"),
        settings: {
          optimizer: { enabled: true, runs: 10000 },
          evmVersion: "cancun",
        },
      },
    ],
    // Fewer runs (less inlining) keep EnergySettlement under the 24,576-byte code limit (EIP-170);
    // ledger/chain/solc.py has the same override.
    overrides: {
      "contracts/EnergySettlement.sol": {
        version: SOLC_VERSION,
        path: require.resolve("solc/soljson.js"),
        settings: {
          optimizer: { enabled: true, runs: 700 },
          evmVersion: "cancun",
        },
      },
    },
  },
  paths: {
    sources: "contracts",
    tests: { solidity: "contracts/test" },
  },
  networks: {
    district,
  },
  test: {
    solidity: {
      fuzz: { runs: 256 },
      // EnergySettlementInvariants.t.sol has 4 invariants: 4 x 2,500 runs = 10,000 runs of 32 calls.
      // Invariants.t.sol sets its own runs inline (9 x 1,200 = 10,800 runs of 32 calls).
      invariant: { runs: 2500, depth: 32 },
    },
  },
};
