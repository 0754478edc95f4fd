import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBuilt, repoRoot, sdkDir } from './helpers/build.js';
import { startServer, tempDir, type TestServer } from './helpers/server.js';

const run = promisify(execFile);

/** The environment without what `npm run`/`npx` in this repo exports (workspace, lifecycle). */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|userconfig|globalconfig|cafile|registry|.*proxy)$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.test(key)));
}

function npm(args: string[], cwd: string, timeout: number) {
  return run('npm', args, { cwd, env: cleanEnv(), timeout, maxBuffer: 16 * 1024 * 1024 });
}

/** A consumer that uses the SDK as its README says; its wrong calls must not compile. */
const consumerSource = `
import {
  createParleyClient,
  createParleyHttpClient,
  subscribeMessages,
  TRPCClientError,
  type Message,
} from '@parley/sdk';
import { url, aliceToken, bobToken } from './env.js';

/** Calls the types must refuse; never run. */
export async function wrongCalls(): Promise<void> {
  const client = createParleyHttpClient({ url, token: aliceToken });
  // @ts-expect-error: \`to\` is a user id, not a number
  await client.sendToUser.mutate({ to: 42, text: 'hi' });
  // @ts-expect-error: no input can set the sender
  await client.sendToUser.mutate({ to: 'bob', text: 'hi', from: 'mallory' });
  // @ts-expect-error: there is no such procedure
  await client.sendToEveryone.mutate({ text: 'hi' });
  // @ts-expect-error: sendToUser is a mutation, not a query
  await client.sendToUser.query({ to: 'bob', text: 'hi' });
  const sent = await client.sendToUser.mutate({ to: 'bob', text: 'hi' });
  // @ts-expect-error: sentAt is a Date (superjson), not a string
  const sentAt: string = sent.sentAt;
  void sentAt;
}

const bob = createParleyClient({ url, token: () => bobToken });
const alice = createParleyHttpClient({ url, token: aliceToken });

// Bob connects first, so the server knows him as a recipient.
const { userId: bobId } = await bob.me.query();
const bobIdIsString: string = bobId;
void bobIdIsString;
let subscription: { unsubscribe(): void } | undefined;
const received = new Promise<Message>((resolve, reject) => {
  subscription = subscribeMessages(bob, (message) => resolve(message), { onError: reject });
});
const sent: Message = await alice.sendToUser.mutate({ to: 'bob', text: 'hello from the packed SDK' });
const got = await received;
const sentAt: Date = got.sentAt;

let unknownRecipient: string | undefined;
try {
  await alice.sendToUser.mutate({ to: 'nobody-here', text: 'hi' });
} catch (error) {
  unknownRecipient = error instanceof TRPCClientError ? String(error.data?.code) : 'not a TRPCClientError';
}

console.log(JSON.stringify({
  bobId,
  sent: { ...sent, sentAt: sent.sentAt.toISOString() },
  got: { ...got, sentAt: sentAt.toISOString() },
  sentAtIsDate: sentAt instanceof Date,
  unknownRecipient,
}));
subscription?.unsubscribe();
await bob.close();
`;

const consumerTsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    // tRPC's own typings need the DOM (fetch, WebSocket) and disposables.
    lib: ['ES2022', 'DOM', 'ESNext.Disposable'],
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    // Check the SDK's bundled index.d.ts (and what it pulls in) too.
    skipLibCheck: false,
    outDir: 'dist',
    rootDir: 'src',
  },
  include: ['src'],
};

/** The root package's runtime dependencies that only the server needs. */
function serverOnlyDependencies(): string[] {
  const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const sdk = JSON.parse(readFileSync(join(sdkDir, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
  };
  const sdkSide = new Set(['@parley/sdk', ...Object.keys(sdk.dependencies), ...Object.keys(sdk.peerDependencies)]);
  return Object.keys(root.dependencies).filter((name) => !sdkSide.has(name));
}

describe('the @parley/sdk package', () => {
  const work = tempDir('parley-sdk-package-');
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it(
    'the SDK packed with npm pack installs into a fresh temporary folder, where a small consumer file type-checks against it (and a wrong call is rejected: @ts-expect-error) and then sends and receives against a live server',
    async () => {
      await ensureBuilt();

      const { stdout: packed } = await npm(['pack', '--json', '--pack-destination', work], sdkDir, 60_000);
      const [pack] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
      if (!pack) throw new Error(`npm pack printed no package: ${packed}`);
      const shipped = pack.files.map((file) => file.path);
      expect(shipped).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/node.js', 'dist/index.d.ts']));
      expect(shipped.filter((path) => !path.startsWith('dist/') && path !== 'package.json')).toEqual([]);
      // No server file is bundled into the SDK: what it shares with the server comes from protocol/.
      const bundled = shipped
        .filter((path) => path.endsWith('.js.map'))
        .flatMap((path) => (JSON.parse(readFileSync(join(sdkDir, path), 'utf8')) as { sources: string[] }).sources);
      expect(bundled).toEqual(expect.arrayContaining([expect.stringMatching(/(^|\/)protocol\/closes\.ts$/)]));
      expect(bundled.filter((source) => /(^|\/)server\//.test(source))).toEqual([]);

      const app = join(work, 'app');
      mkdirSync(join(app, 'src'), { recursive: true });
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      await npm(
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--save-exact',
          join(work, pack.filename),
          '@trpc/server@11.25.2',
          'ws@^8.18.0',
          'typescript@~5.9.3',
        ],
        app,
        240_000,
      );

      // Only the SDK's side of the dependency tree is installed.
      const installed = Object.keys(
        (JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: object }).packages,
      ).map((path) => path.replace(/^.*node_modules\//, ''));
      expect(installed).toEqual(expect.arrayContaining(['@parley/sdk', '@trpc/client', '@trpc/server', 'superjson', 'ws']));
      const serverOnly = serverOnlyDependencies();
      expect(serverOnly).toEqual(expect.arrayContaining(['better-sqlite3', 'pino', 'jose']));
      expect(installed.filter((name) => serverOnly.includes(name))).toEqual([]);
      for (const name of serverOnly) expect(existsSync(join(app, 'node_modules', name))).toBe(false);

      server = await startServer();
      writeFileSync(
        join(app, 'src/env.ts'),
        [
          `export const url = ${JSON.stringify(server.url)};`,
          `export const aliceToken = ${JSON.stringify(await server.token('alice'))};`,
          `export const bobToken = ${JSON.stringify(await server.token('bob'))};`,
          '',
        ].join('\n'),
      );
      writeFileSync(join(app, 'src/main.ts'), consumerSource);
      writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(consumerTsconfig, null, 2));

      // Type-check and compile: an unused @ts-expect-error (a wrong call that compiles) fails here.
      const tsc = join(app, 'node_modules/typescript/bin/tsc');
      await run(process.execPath, [tsc, '-p', app], { cwd: app, timeout: 120_000 }).catch((error: { stdout?: string }) => {
        throw new Error(`the consumer does not type-check:\n${error.stdout ?? String(error)}`);
      });

      const { stdout } = await run(process.execPath, [join(app, 'dist/main.js')], { cwd: app, timeout: 30_000 });
      const result = JSON.parse(stdout) as Record<string, unknown>;
      const expected = {
        from: 'alice',
        to: 'bob',
        text: 'hello from the packed SDK',
        seq: 1,
        clientMsgId: expect.any(String),
        id: expect.any(String),
        sentAt: expect.any(String),
      };
      expect(result).toEqual({
        bobId: 'bob',
        sent: expected,
        got: expected,
        sentAtIsDate: true,
        unknownRecipient: 'NOT_FOUND',
      });
      expect(result['got']).toEqual(result['sent']);
    },
    420_000,
  );
});
