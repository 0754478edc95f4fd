/**
 * PostgreSQL for tests: one schema per store, so test files running at once (and other
 * people's runs on the same database) never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serviceAvailable } from './services.js';

/** Override with PARLEY_TEST_DATABASE_URL. */
export const testDatabaseUrl = process.env['PARLEY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function postgresAvailable(): Promise<boolean> {
  return serviceAvailable(`PostgreSQL at ${new URL(testDatabaseUrl).host}`, () => adminQuery('SELECT 1'));
}

/** PostgreSQL's address as `http://host:port`, the form the TCP proxies take. */
export function postgresTcpTarget(): string {
  const url = new URL(testDatabaseUrl);
  return `http://${url.hostname}:${url.port || '5432'}`;
}

/** `url` with its search_path set to `schema`, as PARLEY_DATABASE_URL would carry it. */
export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export interface TestSchema {
  name: string;
  /** A connection string whose tables live in this schema. */
  url: string;
  drop(): Promise<void>;
}

export function createTestSchema(label: string): Promise<TestSchema> {
  return createTestSchemaNamed(`parley_test_${label}_${randomBytes(5).toString('hex')}`);
}

/** The schema `name` (a plain identifier), created unless it exists. */
export async function createTestSchemaNamed(name: string): Promise<TestSchema> {
  await adminQuery(`CREATE SCHEMA IF NOT EXISTS ${name}`);
  return {
    name,
    url: withSchema(testDatabaseUrl, name),
    drop: () => adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`),
  };
}
