// `npm run bench`: compiles the bench's TypeScript (bench/*.ts) to dist/bench/ with
// esbuild, one file per module and nothing bundled, then runs the orchestrator with the
// command line as given. The server under test is the built dist/server (see
// scripts/ensure-build.mjs, run before this by the npm script).
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../', import.meta.url));
const entries = readdirSync(here)
  .filter((name) => name.endsWith('.ts'))
  .map((name) => `${here}${name}`);

await build({
  entryPoints: entries,
  outdir: `${root}dist/bench`,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
await import(new URL('../dist/bench/run.js', import.meta.url).href);
