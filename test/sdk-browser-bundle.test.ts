import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type Metafile } from 'esbuild';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensureBuilt, repoRoot, sdkDir } from './helpers/build.js';

/** The bare and `node:` specifiers a built file of the SDK imports (what a bundler must resolve). */
async function externalImports(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'neutral',
    packages: 'external',
    external: ['node:*'],
    logLevel: 'silent',
  });
  const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports);
  return [...new Set(imports.filter((i) => i.external).map((i) => i.path))].sort();
}

/** Input paths relative to the repository (the builds below run with it as working dir). */
function inputPaths(metafile: Metafile): string[] {
  return Object.keys(metafile.inputs).map((path) => relative(repoRoot, join(repoRoot, path)));
}

describe('the SDK in a browser', () => {
  let appDir = '';
  beforeAll(async () => {
    await ensureBuilt();
    // A front-end app outside this repository (so the repo's tsconfig `paths` to sdk/src
    // do not apply) whose node_modules holds the workspace's packages.
    appDir = mkdtempSync(join(tmpdir(), 'parley-browser-app-'));
    symlinkSync(join(repoRoot, 'node_modules'), join(appDir, 'node_modules'), 'dir');
    writeFileSync(join(appDir, 'app.js'), "export * from '@parley/sdk';\n");
  });
  afterAll(() => rmSync(appDir, { recursive: true, force: true }));

  it('dist/index.js imports only @trpc and superjson, nothing from node: or ws (while dist/node.js adds ws)', async () => {
    expect(await externalImports(join(sdkDir, 'dist/index.js'))).toEqual([
      '@trpc/client',
      '@trpc/server/observable',
      'superjson',
    ]);
    // The same check sees `ws` where it is imported, so the assertion above can fail.
    expect(await externalImports(join(sdkDir, 'dist/node.js'))).toContain('ws');
  });

  it('the SDK bundled for the browser contains no ws, better-sqlite3 or node: imports', async () => {
    // What a front-end app gets: '@parley/sdk' resolved through the package's exports
    // with the browser's conditions, every dependency bundled in.
    const result = await build({
      entryPoints: [join(appDir, 'app.js')],
      absWorkingDir: repoRoot,
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);

    const inputs = inputPaths(result.metafile);
    expect(inputs).toContain('sdk/dist/index.js');
    expect(inputs).not.toContain('sdk/dist/node.js');
    expect(inputs.filter((path) => path.startsWith('sdk/src/'))).toEqual([]);
    expect(inputs.filter((path) => /node_modules\/(ws|better-sqlite3|pino|jose|zod)\//.test(path))).toEqual([]);
    expect(inputs.some((path) => path.includes('node_modules/@trpc/client/'))).toBe(true);

    const [output] = result.outputFiles;
    const code = output?.text ?? '';
    expect(code).toContain('createParleyClient');
    expect(code).not.toMatch(/\bfrom\s*["']ws["']|\bimport\s*\(\s*["']ws["']\s*\)/);
    expect(code).not.toContain('better-sqlite3');
    expect(code).not.toMatch(/["']node:/);
    expect(code).not.toMatch(/\brequire\s*\(/);
    // Nothing left for the app's bundler to resolve: the bundle is self-contained.
    expect(Object.values(result.metafile.outputs).flatMap((o) => o.imports)).toEqual([]);
  });
});
