/**
 * @module config
 * The server's configuration, read once from the environment and validated with zod,
 * so a bad value stops start-up with a message that names the variable.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

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
    .regex(/^\d+[smhd]$/, 'must look like 30m, 12h or 7d')
    .default('12h'),
  PARLEY_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** Absent: a secret is generated on first start and kept in the data dir. */
  jwtSecret: string | undefined;
  maxTextLength: number;
  /** Lifetime of tokens issued by `auth.register` / `auth.login`, in seconds. */
  tokenTtlSeconds: number;
  logLevel: z.infer<typeof envSchema>['PARLEY_LOG_LEVEL'];
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

/** Reads the configuration from `env`; throws a `ConfigError` naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.PARLEY_DATA_DIR,
    jwtSecret: e.PARLEY_JWT_SECRET,
    maxTextLength: e.PARLEY_MAX_TEXT,
    tokenTtlSeconds: parseDuration(e.PARLEY_TOKEN_TTL),
    logLevel: e.PARLEY_LOG_LEVEL,
  };
}

/** A configuration for embedding and tests: defaults, with the given fields replaced. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}
