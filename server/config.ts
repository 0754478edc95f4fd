/**
 * @module config
 * The server's configuration, read once from the environment and validated with zod,
 * so a bad value stops start-up with a message that names the variable.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const count = (min: number) => z.coerce.number().int().min(min).max(1_000_000_000);
// `abort`: the refinements below read the value as a duration, so they must not see a malformed one.
const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, { error: 'must look like 500ms, 30s, 10m or 12h', abort: true });
/** Longest delay a Node timer takes (about 24.8 days); a longer one would fire at once. */
const maxTimerMs = 2 ** 31 - 1;
/** A duration for a timer, at least `minText` long. */
const timerDuration = (minText: string) =>
  duration
    .refine((text) => durationMs(text) >= durationMs(minText), `must be at least ${minText}`)
    .refine((text) => durationMs(text) <= maxTimerMs, 'must be at most 24d');
const rate = z
  .string()
  .regex(/^(off|\d+\/(s|min))$/, 'must be "off" or look like 20/s or 10/min')
  .refine((text) => !/^0+\//.test(text), 'must not be zero: use "off" to turn the limit off');
/** A year: tokens that live longer are better replaced by a fresh sign-in. */
const maxTokenTtlSeconds = 365 * 86400;
/** An `iss` / `aud` value: printable, no spaces (a URL or a name). */
const claim = z.string().regex(/^\S{1,256}$/, 'must be 1-256 characters without spaces');

const envSchema = z.object({
  PORT: port.default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  PARLEY_DATA_DIR: z.string().min(1).default('./data'),
  PARLEY_JWT_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (use a long random string)')
    .optional(),
  PARLEY_MAX_TEXT: z.coerce.number().int().min(1).max(1_000_000).default(4000),
  PARLEY_TOKEN_TTL: z
    .string()
    .regex(/^\d+[smhd]$/, { error: 'must look like 30m, 12h or 7d', abort: true })
    // Shorter tokens would expire during sign-in and reconnects (and within the iat leeway).
    .refine((text) => parseDuration(text) >= 60, 'must be at least 1m')
    // Much longer and the expiry is past what a Date holds: every sign-in would fail.
    .refine((text) => parseDuration(text) <= maxTokenTtlSeconds, 'must be at most 365d')
    .default('12h'),
  PARLEY_JWT_ISSUER: claim.optional(),
  PARLEY_JWT_AUDIENCE: claim.optional(),
  PARLEY_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  // The messages never echo the value: a URL may carry a password.
  PARLEY_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// (or postgresql://) URL')
    .optional(),
  PARLEY_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// (or rediss://) URL')
    .optional(),
  PARLEY_MAX_PAYLOAD: count(1024).default(64 * 1024),
  PARLEY_SEND_BUFFER_LIMIT: count(1024).default(1024 * 1024),
  PARLEY_RATE_LIMIT: rate.default('20/s'),
  PARLEY_RATE_BURST: count(1).default(50),
  PARLEY_LOGIN_LIMIT: rate.default('10/min'),
  PARLEY_QUERY_RATE_LIMIT: rate.default('50/s'),
  PARLEY_QUERY_RATE_BURST: count(1).default(100),
  PARLEY_MAX_BATCH: count(1).default(10),
  PARLEY_MAX_CONNECTIONS_PER_USER: count(1).default(20),
  PARLEY_MAX_CONNECTIONS_PER_IP: count(1).default(256),
  PARLEY_MAX_SUBSCRIPTIONS: count(1).default(10),
  PARLEY_MAX_REPLAYS: count(1).default(4),
  PARLEY_MAX_REPLAYS_PER_USER: count(1).default(2),
  // A socket needs time to open and send its token; a ping every few ms is no heartbeat;
  // a grace of 0 is meaningful (close at once).
  PARLEY_AUTH_TIMEOUT: timerDuration('1s').default('10s'),
  PARLEY_HEARTBEAT: timerDuration('1s').default('30s'),
  PARLEY_SHUTDOWN_GRACE: timerDuration('0ms').default('10s'),
  PARLEY_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((list) => list.split(',').map((o) => o.trim()).filter((o) => o !== ''))
    .pipe(z.array(z.url({ protocol: /^https?$/, error: 'each origin must be an http(s) URL like https://chat.example.com' }))),
  PARLEY_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters: letters, digits, and _ . : -')
    .default('parley:'),
  PARLEY_MAX_CONNECTIONS: count(1).optional(),
  PARLEY_HEADERS_TIMEOUT: duration.default('10s'),
  PARLEY_REQUEST_TIMEOUT: duration.default('30s'),
  PARLEY_IDLE_TIMEOUT: duration.default('5s'),
  PARLEY_MAX_BODY: count(1024).default(64 * 1024),
  PARLEY_TRUST_PROXY: z
    .string()
    .default('off')
    .transform((list) => (list.trim() === 'off' ? [] : list.split(',').map((a) => a.trim()).filter((a) => a !== '')))
    .pipe(
      z.array(
        z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], {
          error: 'must be "off" or comma-separated addresses or CIDRs, like 10.0.0.5,10.1.0.0/16,fd00::/8',
        }),
      ),
    ),
  PARLEY_SERVE_SOURCE_MAPS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('off'),
  PARLEY_METRICS_MAX_AGE: duration.default('1s'),
  PARLEY_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (use a long random string)').optional(),
});

/** A rate as requests per second, with the burst a bucket holds; null means no limit. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** Absent: a secret is generated on first start and kept in the data dir. */
  jwtSecret: string | undefined;
  maxTextLength: number;
  /** Lifetime of tokens issued by `auth.register` / `auth.login`, in seconds. */
  tokenTtlSeconds: number;
  /** Set: issued tokens carry this `iss`, and a token without it is refused. */
  jwtIssuer: string | undefined;
  /** Set: issued tokens carry this `aud`, and a token not for it is refused. */
  jwtAudience: string | undefined;
  logLevel: z.infer<typeof envSchema>['PARLEY_LOG_LEVEL'];
  /** Set: the PostgreSQL store (several nodes); absent: SQLite in the data dir. */
  databaseUrl: string | undefined;
  /** Set: the Redis bus between nodes; absent: the in-process bus (one node). */
  redisUrl: string | undefined;
  /** Starts every Redis channel name, so deployments can share one Redis. */
  redisPrefix: string;
  /** Largest WebSocket frame accepted, in bytes (a larger one closes the socket with 1009). */
  maxPayloadBytes: number;
  /** A socket whose unsent data passes this many bytes is closed as a slow consumer. */
  sendBufferLimitBytes: number;
  /** `sendToUser` per user; null: off. */
  sendRateLimit: RateLimit | null;
  /** Failed `auth.login` attempts per user id and per address, `auth.register` per address; null: off. */
  loginRateLimit: RateLimit | null;
  /** The queries (`me`, `history`, `conversations`) per user; null: off. */
  queryRateLimit: RateLimit | null;
  /**
   * Most calls in one HTTP batch request, and most queries in one WebSocket frame; a
   * larger batch is refused whole before any of it runs.
   */
  maxBatch: number;
  maxConnectionsPerUser: number;
  maxConnectionsPerIp: number;
  maxSubscriptionsPerConnection: number;
  /** Subscriptions replaying stored messages at once, over the server and per user (the others wait their turn). */
  maxReplays: number;
  maxReplaysPerUser: number;
  /** How long a WebSocket may take to send its `connectionParams`, in ms. */
  authTimeoutMs: number;
  /** Interval of WebSocket pings; a peer silent for two intervals is closed. In ms. */
  heartbeatMs: number;
  /** How long shutdown waits for in-flight requests before closing sockets, in ms. */
  shutdownGraceMs: number;
  /** Browser origins allowed to open a WebSocket; empty: only the server's own origin. */
  allowedOrigins: string[];
  /** Open TCP connections (WebSockets included) past which new ones are dropped at accept; null: from the descriptor limit. */
  maxConnections: number | null;
  /** Time to receive a request's headers, in ms (0: off). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body, in ms (0: off). */
  requestTimeoutMs: number;
  /** A connection that has not upgraded is closed after this long without a request, in ms (0: off). */
  idleTimeoutMs: number;
  /** Largest HTTP request body, in bytes; a larger one is answered 413. */
  maxBodyBytes: number;
  /** Addresses and CIDRs of proxies whose `X-Forwarded-For` names the client; empty: none. */
  trustProxy: string[];
  /** Serve the demo's `*.map` files. */
  serveSourceMaps: boolean;
  /** `GET /metrics` serves a render up to this old, in ms (0: a fresh one every time). */
  metricsMaxAgeMs: number;
  /** Set: `GET /metrics` needs `Authorization: Bearer <this>`. */
  metricsToken: string | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const unitSeconds = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** Parses a duration such as `90s`, `30m`, `12h` or `7d` into seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text);
  if (!match) throw new ConfigError(`"${text}" is not a duration like 30m, 12h or 7d`);
  const [, amount, unit] = match;
  return Number(amount) * unitSeconds[unit as keyof typeof unitSeconds];
}

function durationMs(text: string): number {
  const ms = /^(\d+)ms$/.exec(text);
  return ms ? Number(ms[1]) : parseDuration(text) * 1000;
}

function parseRate(text: string, burst?: number): RateLimit | null {
  if (text === 'off') return null;
  const [amount, unit] = text.split('/');
  const perSecond = unit === 'min' ? Number(amount) / 60 : Number(amount);
  return { perSecond, burst: burst ?? Math.max(1, Number(amount)) };
}

/** Reads the configuration from `env`; throws a `ConfigError` naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const headersTimeoutMs = durationMs(e.PARLEY_HEADERS_TIMEOUT);
  const requestTimeoutMs = durationMs(e.PARLEY_REQUEST_TIMEOUT);
  // node:http refuses a headers deadline later than the whole request's.
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(
      'Invalid configuration:\n  PARLEY_HEADERS_TIMEOUT: must not be longer than PARLEY_REQUEST_TIMEOUT',
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.PARLEY_DATA_DIR,
    jwtSecret: e.PARLEY_JWT_SECRET,
    maxTextLength: e.PARLEY_MAX_TEXT,
    tokenTtlSeconds: parseDuration(e.PARLEY_TOKEN_TTL),
    jwtIssuer: e.PARLEY_JWT_ISSUER,
    jwtAudience: e.PARLEY_JWT_AUDIENCE,
    logLevel: e.PARLEY_LOG_LEVEL,
    databaseUrl: e.PARLEY_DATABASE_URL,
    redisUrl: e.PARLEY_REDIS_URL,
    redisPrefix: e.PARLEY_REDIS_PREFIX,
    maxPayloadBytes: e.PARLEY_MAX_PAYLOAD,
    sendBufferLimitBytes: e.PARLEY_SEND_BUFFER_LIMIT,
    sendRateLimit: parseRate(e.PARLEY_RATE_LIMIT, e.PARLEY_RATE_BURST),
    loginRateLimit: parseRate(e.PARLEY_LOGIN_LIMIT),
    queryRateLimit: parseRate(e.PARLEY_QUERY_RATE_LIMIT, e.PARLEY_QUERY_RATE_BURST),
    maxBatch: e.PARLEY_MAX_BATCH,
    maxConnectionsPerUser: e.PARLEY_MAX_CONNECTIONS_PER_USER,
    maxConnectionsPerIp: e.PARLEY_MAX_CONNECTIONS_PER_IP,
    maxSubscriptionsPerConnection: e.PARLEY_MAX_SUBSCRIPTIONS,
    maxReplays: e.PARLEY_MAX_REPLAYS,
    maxReplaysPerUser: e.PARLEY_MAX_REPLAYS_PER_USER,
    authTimeoutMs: durationMs(e.PARLEY_AUTH_TIMEOUT),
    heartbeatMs: durationMs(e.PARLEY_HEARTBEAT),
    shutdownGraceMs: durationMs(e.PARLEY_SHUTDOWN_GRACE),
    allowedOrigins: e.PARLEY_ALLOWED_ORIGINS,
    maxConnections: e.PARLEY_MAX_CONNECTIONS ?? null,
    headersTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs: durationMs(e.PARLEY_IDLE_TIMEOUT),
    maxBodyBytes: e.PARLEY_MAX_BODY,
    trustProxy: e.PARLEY_TRUST_PROXY,
    serveSourceMaps: e.PARLEY_SERVE_SOURCE_MAPS === 'on',
    metricsMaxAgeMs: durationMs(e.PARLEY_METRICS_MAX_AGE),
    metricsToken: e.PARLEY_METRICS_TOKEN,
  };
}

/** A configuration for embedding and tests: defaults, with the given fields replaced. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}
