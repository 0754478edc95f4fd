#!/usr/bin/env -S node --max-semi-space-size=64
/**
 * @module cli
 * `parley`: serve, mint tokens, send and listen from a terminal.
 *
 * Node runs with a 64 MiB young generation (the shebang, `npm start` and the benchmark
 * pass `--max-semi-space-size=64`): a relay allocates short-lived objects per message,
 * and the default semi-space promotes many of them, which measured as about half the
 * server's GC time and a third of its throughput.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, parseDuration, type Config } from '../config.js';
import { loadOrCreateSecret } from '../auth/secret.js';
import { createTokenService } from '../auth/tokens.js';
import { userIdPattern } from '../../protocol/user-id.js';
import {
  createParleyClient,
  createParleyHttpClient,
  memoryCursorStore,
  subscribeMessages,
  TRPCClientError,
} from '@parley/sdk';

const usage = {
  main: `Usage: parley <command> [options]

Commands:
  serve                               run the server (PORT, HOST, PARLEY_* from the environment)
  token <userId> [--ttl 1h]           print a token for userId, signed with the server's secret
  send <to> <text> [--as U | --token T] [--url U]
                                      send a message over HTTP; prints the stored message as JSON
  listen [--as U | --token T] [--from SEQ] [--ack] [--url U]
                                      print incoming messages as JSON lines until interrupted

Run "parley <command> --help" for details.`,
  serve: `Usage: parley serve

Runs the server. Configuration comes from the environment: PORT (8080), HOST (127.0.0.1),
PARLEY_DATA_DIR (./data), PARLEY_JWT_SECRET (generated into the data dir when unset),
PARLEY_MAX_TEXT (4000), PARLEY_TOKEN_TTL (12h, 1m to 365d), PARLEY_LOG_LEVEL (info),
PARLEY_JWT_ISSUER / PARLEY_JWT_AUDIENCE (unset; set: tokens carry and must carry iss / aud).
Several nodes: PARLEY_DATABASE_URL (postgres://…, instead of SQLite), PARLEY_REDIS_URL
(redis://…, the bus between nodes), PARLEY_REDIS_PREFIX (parley:).
Limits: PARLEY_MAX_PAYLOAD (65536), PARLEY_RATE_LIMIT (20/s, or off), PARLEY_RATE_BURST (50),
PARLEY_LOGIN_LIMIT (10/min failed sign-ins), PARLEY_QUERY_RATE_LIMIT (50/s, or off),
PARLEY_QUERY_RATE_BURST (100), PARLEY_MAX_BATCH (10), PARLEY_MAX_CONNECTIONS_PER_USER (20),
PARLEY_MAX_CONNECTIONS_PER_IP (256), PARLEY_MAX_SUBSCRIPTIONS (10), PARLEY_MAX_REPLAYS (4),
PARLEY_MAX_REPLAYS_PER_USER (2), PARLEY_AUTH_TIMEOUT (10s, at least 1s),
PARLEY_SEND_BUFFER_LIMIT (1048576), PARLEY_HEARTBEAT (30s, at least 1s),
PARLEY_SHUTDOWN_GRACE (10s, 0 for none). Rates are "off" or above zero.
PARLEY_ALLOWED_ORIGINS (empty: same origin only).
Connections: PARLEY_MAX_CONNECTIONS (the descriptor limit minus 128), PARLEY_HEADERS_TIMEOUT (10s),
PARLEY_REQUEST_TIMEOUT (30s), PARLEY_IDLE_TIMEOUT (5s), PARLEY_MAX_BODY (65536),
PARLEY_TRUST_PROXY (off, or proxy addresses/CIDRs whose X-Forwarded-For names the client).
PARLEY_METRICS_TOKEN (unset: /metrics is open), PARLEY_METRICS_MAX_AGE (1s),
PARLEY_SERVE_SOURCE_MAPS (off).
See the README for what each does.`,
  token: `Usage: parley token <userId> [--ttl 1h]

Prints a token for userId, signed with PARLEY_JWT_SECRET or the secret in PARLEY_DATA_DIR,
with PARLEY_JWT_ISSUER / PARLEY_JWT_AUDIENCE as iss / aud when set (as the server signs).
  --ttl D   lifetime like 30m, 12h, 7d (default 1h)`,
  send: `Usage: parley send <to> <text> [--as U | --token T] [--url U]

Sends text to the user <to> and prints the stored message as JSON.
  --as U     sign a token for U with the local secret (same data dir or PARLEY_JWT_SECRET)
  --token T  use this token (better: set PARLEY_TOKEN, which other users cannot see in ps)
  --url U    the server's base URL (default http://HOST:PORT, or PARLEY_URL)`,
  listen: `Usage: parley listen [--as U | --token T] [--from SEQ] [--ack] [--url U]

Prints each message of the user's stream as one JSON line, until interrupted.
  --from SEQ  start after this seq (default: after the acknowledged position)
  --ack       acknowledge messages once printed
  --as, --token, --url as for "send"`,
} as const;

class UsageError extends Error {}

function fail(message: string): never {
  console.error(`parley: ${message}`);
  process.exit(1);
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function serverUrl(config: Config, url: string | undefined): string {
  return url ?? process.env['PARLEY_URL'] ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

/** Signs as the server does: its secret, and PARLEY_JWT_ISSUER / PARLEY_JWT_AUDIENCE when set. */
function localTokens(config: Config) {
  return createTokenService(loadOrCreateSecret(resolve(config.dataDir), config.jwtSecret), config);
}

async function tokenFor(config: Config, as: string | undefined, token: string | undefined): Promise<string> {
  if (as !== undefined && token !== undefined) throw new UsageError('give --as or --token, not both');
  const given = token ?? process.env['PARLEY_TOKEN'];
  if (as === undefined && given !== undefined) return given;
  if (as === undefined) throw new UsageError('say who you are: --as <userId> or --token <token>');
  if (!userIdPattern.test(as)) throw new UsageError(`"${as}" is not a valid user id`);
  return (await localTokens(config).sign(as, 3600)).token;
}

function describeError(error: unknown): string {
  if (error instanceof TRPCClientError) {
    const code = (error.data as { code?: string } | undefined)?.code;
    return code ? `${code}: ${error.message}` : `cannot reach the server: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function serve(config: Config): Promise<void> {
  // Loaded here, not at the top: the other commands need none of the server's drivers.
  const { createServer } = await import('../app.js');
  const server = await createServer(config);
  out(`Parley is running: open ${server.url}/ in your browser (API at ${server.url}/trpc)`);
  const shutdown = () => {
    server.close().then(
      () => process.exit(0),
      (error: unknown) => fail(`shutdown failed: ${describeError(error)}`),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    out(usage.main);
    return;
  }
  if (!Object.hasOwn(usage, command) || command === 'main') throw new UsageError(`unknown command "${command}"`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      ttl: { type: 'string' },
      as: { type: 'string' },
      token: { type: 'string' },
      url: { type: 'string' },
      from: { type: 'string' },
      ack: { type: 'boolean' },
    },
  });
  if (values.help) {
    out(usage[command as keyof typeof usage]);
    return;
  }
  const config = loadConfig();

  switch (command) {
    case 'serve':
      return serve(config);
    case 'token': {
      const [userId] = positionals;
      if (userId === undefined || !userIdPattern.test(userId)) throw new UsageError('token needs a valid <userId>');
      out((await localTokens(config).sign(userId, parseDuration(values.ttl ?? '1h'))).token);
      return;
    }
    case 'send': {
      const [to, text] = positionals;
      if (to === undefined || text === undefined) throw new UsageError('send needs <to> and <text>');
      const token = await tokenFor(config, values.as, values.token);
      const client = createParleyHttpClient({ url: serverUrl(config, values.url), token });
      out(JSON.stringify(await client.sendToUser.mutate({ to, text })));
      return;
    }
    case 'listen': {
      if (values.from !== undefined && !/^\d+$/.test(values.from)) throw new UsageError('--from takes a seq number');
      const token = await tokenFor(config, values.as, values.token);
      const client = createParleyClient({ url: serverUrl(config, values.url), token });
      const subscription = subscribeMessages(client, (message) => out(JSON.stringify(message)), {
        cursorStore: memoryCursorStore(values.from ?? null),
        ack: values.ack ?? false,
        onError: (error) => fail(describeError(error)),
      });
      const stop = () => {
        subscription.unsubscribe();
        client.close().then(() => process.exit(0), () => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) fail(`${error.message} (see parley --help)`);
  if (error instanceof ConfigError) fail(error.message);
  fail(describeError(error));
});
