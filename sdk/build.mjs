// Builds the SDK: ESM bundles (browser-safe index.js, Node entry node.js) with every
// dependency external, and one bundled index.d.ts that carries the router's types.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
mkdirSync(`${here}dist`, { recursive: true });

await build({
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
});

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
