/**
 * @module account-service
 * Built-in accounts, so Parley works without an external identity provider, and the
 * authentication of tokens (a valid token makes its user known).
 */
import type { Store } from '../store/store.js';
import { InvalidCredentialsError, UserExistsError } from '../messages/errors.js';
import { hashPassword, unmatchableHash, verifyPassword } from './passwords.js';
import type { TokenService, VerifiedToken } from './tokens.js';
import type { AccountsPort, Session } from '../router/ports.js';


/** Users seen known recently; bounded, and users are never deleted, so a hit is always right. */
const knownCacheLimit = 100_000;

export class AccountService implements AccountsPort {
  readonly #known = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly tokenTtlSeconds: number,
  ) {}

  async register(userId: string, password: string): Promise<Session> {
    const created = await this.store.createUser(userId, await hashPassword(password));
    if (!created) throw new UserExistsError(userId);
    return this.tokens.sign(userId, this.tokenTtlSeconds);
  }

  /** A wrong password and an unknown user fail alike, in about the same time. */
  async login(userId: string, password: string): Promise<Session> {
    const user = await this.store.getUser(userId);
    const ok = await verifyPassword(password, user?.passwordHash ?? unmatchableHash);
    if (!ok || !user?.passwordHash) throw new InvalidCredentialsError();
    return this.tokens.sign(userId, this.tokenTtlSeconds);
  }

  /** Verifies a token and records its user as known; throws `TokenError` when refused. */
  async authenticate(token: string): Promise<VerifiedToken> {
    const verified = this.tokens.verify(token);
    if (!this.#known.has(verified.userId)) {
      await this.store.ensureUser(verified.userId);
      if (this.#known.size >= knownCacheLimit) this.#known.clear();
      this.#known.add(verified.userId);
    }
    return verified;
  }
}
