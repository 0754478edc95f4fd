// Bundles the demo page for browsers into demo-dist/ at the repo root, where the server
// serves it at `/`. `@parley/sdk` resolves to sdk/src through tsconfig's `paths`.
import { build } from 'esbuild';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '..');

/** Bundles the page into `outDir` (default `demo-dist/` at the repo root). */
export async function buildDemo({ outDir = join(repoRoot, 'demo-dist') } = {}) {
  const result = await build({
    entryPoints: [
      { in: join(here, 'src/main.ts'), out: 'app' },
      { in: join(here, 'styles.css'), out: 'app' },
    ],
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    tsconfig: join(repoRoot, 'tsconfig.json'),
    write: false,
    logLevel: 'warning',
  });
  await mkdir(outDir, { recursive: true });
  // Each file is replaced by a rename, so a server starting (or a test building) at the
  // same moment reads either the old file or the new one, never half of one.
  const written = result.outputFiles.map((file) => replaceFile(file.path, (tmp) => writeFile(tmp, file.contents)));
  const page = join(outDir, 'index.html');
  written.push(replaceFile(page, (tmp) => copyFile(join(here, 'index.html'), tmp)));
  await Promise.all(written);
}

async function replaceFile(path, write) {
  const tmp = join(path, '..', `.${basename(path)}.${process.pid}.tmp`);
  await write(tmp);
  await rename(tmp, path);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildDemo();
}
