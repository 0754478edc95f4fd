import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createParleyHttpClient } from '@parley/sdk';
import { cliPath, ensureBuilt } from './helpers/build.js';
import { startServer, type TestServer } from './helpers/server.js';

interface Cli {
  child: ChildProcess;
  stdoutLines: string[];
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
}

interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
let t: TestServer;

/** The CLI's environment: the test server's data dir and secret, nothing inherited that could point elsewhere. */
function cliEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const inherited = ['PARLEY_URL', 'PARLEY_TOKEN', 'PORT', 'HOST', 'PARLEY_MAX_TEXT', 'PARLEY_TOKEN_TTL', 'PARLEY_JWT_ISSUER', 'PARLEY_JWT_AUDIENCE'];
  for (const key of inherited) delete env[key];
  return { ...env, PARLEY_DATA_DIR: t.dataDir, PARLEY_JWT_SECRET: t.config.jwtSecret, PARLEY_LOG_LEVEL: 'silent', ...extra };
}

function startCli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, [cliPath, ...args], { env: cliEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const stdoutLines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    stdoutLines.push(...parts);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      if (partial) stdoutLines.push(partial);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return { child, stdoutLines, stderr: () => stderr, exited };
}

async function runCli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const cli = startCli(args, extraEnv);
  const code = await cli.exited;
  return { code, stdout: cli.stdoutLines.join('\n'), stderr: cli.stderr() };
}

describe('the parley CLI', () => {
  beforeAll(async () => {
    await ensureBuilt();
    t = await startServer();
  });
  afterEach(async () => {
    const alive = [...children];
    for (const child of alive) child.kill('SIGKILL');
    await Promise.all(alive.map((child) => new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve(null)))));
    expect(alive.filter((child) => child.exitCode === null && child.signalCode === null)).toEqual([]);
  });
  afterAll(() => t?.close());

  it('the CLI token + send + listen round trip works against a real server', async () => {
    const minted = await runCli(['token', 'bob']);
    expect(minted).toMatchObject({ code: 0, stderr: '' });
    const token = minted.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    // The server accepts it as bob's (and so knows bob as a recipient).
    expect(await createParleyHttpClient({ url: t.url, token }).me.query()).toEqual({ userId: 'bob' });

    const listen = startCli(['listen', '--token', token, '--url', t.url]);

    const first = await runCli(['send', 'bob', 'hi', '--as', 'alice', '--url', t.url]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const sent = JSON.parse(first.stdout) as Record<string, unknown>;
    expect(sent).toEqual({
      id: expect.any(String),
      seq: 1,
      from: 'alice',
      to: 'bob',
      text: 'hi',
      clientMsgId: expect.any(String),
      sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    await vi.waitFor(() => expect(listen.stdoutLines).toHaveLength(1), { timeout: 10_000 });
    expect(JSON.parse(listen.stdoutLines[0] ?? '')).toEqual(sent);

    // Live, while listening: the next one arrives as the next line.
    const second = JSON.parse((await runCli(['send', 'bob', 'again', '--as', 'alice', '--url', t.url])).stdout) as unknown;
    expect(second).toMatchObject({ seq: 2, from: 'alice', text: 'again' });
    await vi.waitFor(() => expect(listen.stdoutLines).toHaveLength(2), { timeout: 10_000 });
    expect(JSON.parse(listen.stdoutLines[1] ?? '')).toEqual(second);

    // Interrupted, listen closes its socket and exits cleanly.
    listen.child.kill('SIGINT');
    expect(await listen.exited).toBe(0);
    expect(listen.stderr()).toBe('');
  });

  it('--help exits 0 and prints the usage, for the CLI and for each command', async () => {
    const main = await runCli(['--help']);
    expect(main).toMatchObject({ code: 0, stderr: '' });
    expect(main.stdout).toMatch(/^Usage: parley <command>/);
    for (const command of ['serve', 'token', 'send', 'listen']) {
      const help = await runCli([command, '--help']);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toMatch(new RegExp(`^Usage: parley ${command}\\b`));
    }
  });

  it('an unknown command exits non-zero with a one-line reason on stderr', async () => {
    // `toString` is on every object's prototype: it must not pass for a command.
    for (const command of ['frobnicate', 'toString']) {
      const result = await runCli([command]);
      expect(result.code).not.toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr.trimEnd().split('\n')).toEqual([`parley: unknown command "${command}" (see parley --help)`]);
    }
  });

  it('a send to an unknown user exits non-zero with a one-line reason on stderr', async () => {
    const result = await runCli(['send', 'nobody-here', 'hi', '--as', 'carol', '--url', t.url]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^parley: NOT_FOUND\b/)]);
    // Nothing was stored for anyone.
    const carol = await t.http('carol');
    expect(await carol.conversations.query()).toEqual([]);
  });

  it('parley token signs with PARLEY_JWT_ISSUER / PARLEY_JWT_AUDIENCE, which a server configured with them requires', async () => {
    const claims = { PARLEY_JWT_ISSUER: 'https://chat.example.com', PARLEY_JWT_AUDIENCE: 'parley' };
    await using checking = await startServer({ jwtIssuer: claims.PARLEY_JWT_ISSUER, jwtAudience: claims.PARLEY_JWT_AUDIENCE });
    const minted = await runCli(['token', 'bob'], claims);
    expect(minted).toMatchObject({ code: 0, stderr: '' });
    const withClaims = minted.stdout.trim();
    expect(await createParleyHttpClient({ url: checking.url, token: withClaims }).me.query()).toEqual({ userId: 'bob' });

    const without = (await runCli(['token', 'bob'])).stdout.trim();
    await expect(createParleyHttpClient({ url: checking.url, token: without }).me.query()).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
  });

  it('refuses a nonsense setting before doing anything, naming the variable', async () => {
    const result = await runCli(['token', 'bob'], { PARLEY_HEARTBEAT: '0ms' });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/PARLEY_HEARTBEAT: must be at least 1s/);
  });
});
