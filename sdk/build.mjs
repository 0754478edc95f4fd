// Builds the SDK: ESM bundles (browser-safe index.js, Node entry node.js) with every
// dependency external, and one bundled index.d.ts that carries the router's types.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
mkdirSync(`${here}dist`, { recursive: true });

const result = await build({
  entryPoints: { index: `${here}src/index.ts`, node: `${here}src/node.ts` },
  outdir: `${here}dist`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
});

// Content-hashed chunks from earlier builds would otherwise pile up in dist/ and the
// packed tarball; remove them after the new ones exist (never empty dist/ first: a
// process importing the SDK meanwhile would find it missing).
const current = new Set(Object.keys(result.metafile.outputs).map((file) => basename(file)));
for (const file of readdirSync(`${here}dist`)) {
  if (/^chunk-.*\.js(\.map)?$/.test(file) && !current.has(file)) rmSync(`${here}dist/${file}`, { force: true });
}

execFileSync(
  process.execPath,
  [
    fileURLToPath(import.meta.resolve('dts-bundle-generator/dist/bin/dts-bundle-generator.js')),
    '--silent',
    '--no-check',
    '--export-referenced-types=false',
    '--project',
    `${here}tsconfig.json`,
    '--external-imports',
    '@trpc/server',
    '@trpc/client',
    '--out-file',
    `${here}dist/index.d.ts`,
    `${here}src/index.ts`,
  ],
  { stdio: 'inherit' },
);
