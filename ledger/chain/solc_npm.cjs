// A solc-compatible command line around the official npm `solc` compiler (wasm), for py-solc-x.
// It answers `--version` and `--standard-json` (input on stdin, output on stdout) and nothing
// else: the npm `solcjs` CLI prints an extra line on stdout that breaks JSON parsing.
"use strict";
const path = require("node:path");

function loadSolc() {
  const roots = [process.env.LEDGER_NODE_MODULES, path.join(process.cwd(), "node_modules")];
  for (const root of roots.filter(Boolean)) {
    try {
      return require(require.resolve("solc", { paths: [root] }));
    } catch (_) {
      // try the next root
    }
  }
  return require("solc");
}

const args = process.argv.slice(2);
const solc = loadSolc();
if (args.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("this wrapper only supports --version and --standard-json\n");
  process.exit(2);
}
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  // Sources are passed with their content: no import callback is needed.
  process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
});
