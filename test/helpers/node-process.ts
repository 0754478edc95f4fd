/**
 * Runs Parley nodes as separate processes. The node entry (test/fixtures/parley-node.ts)
 * is bundled with esbuild first, so no build of the project is needed and the node runs
 * the current sources. The bundle lives under node_modules/.cache so that its imports of
 * packages resolve from the repository's node_modules.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { repoRoot } from './build.js';

export interface NodeBundle {
  entry: string;
  remove(): void;
}

export async function bundleNode(): Promise<NodeBundle> {
  const cache = join(repoRoot, 'node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'parley-test-node-'));
  const entry = join(dir, 'parley-node.mjs');
  await build({
    entryPoints: [join(repoRoot, 'test/fixtures/parley-node.ts')],
    outfile: entry,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return { entry, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  /** What the node wrote to stdout and stderr (its logs), for failure messages. */
  output(): string;
  /** SIGTERM (SIGKILL if it is still running 15 s later), then resolves once the process has exited. */
  stop(): Promise<void>;
}

export async function startNodeProcess(bundle: NodeBundle, env: Record<string, string>): Promise<NodeProcess> {
  const child = fork(bundle.entry, [], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code, signal) => reject(new Error(`node exited (${code ?? signal}) before listening:\n${output}`)));
  });
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const stuck = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(stuck);
    },
  };
}
