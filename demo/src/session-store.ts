/**
 * @module session-store
 * The signed-in user's token, kept in `localStorage` so a reload stays signed in.
 */
export interface StoredSession {
  userId: string;
  token: string;
  /** When the token stops being accepted (ms since the epoch). */
  expiresAt: number;
}

const key = 'parley:session';

/** The stored session, or null when there is none or it is not one we wrote. */
export function loadSession(): StoredSession | null {
  const raw = localStorage.getItem(key);
  if (raw === null) return null;
  try {
    const value = JSON.parse(raw) as Partial<StoredSession>;
    if (typeof value.userId === 'string' && typeof value.token === 'string' && typeof value.expiresAt === 'number') {
      return { userId: value.userId, token: value.token, expiresAt: value.expiresAt };
    }
  } catch {
    // Not JSON: treated like no session, and replaced at the next sign-in.
  }
  return null;
}

export function saveSession(session: StoredSession): void {
  localStorage.setItem(key, JSON.stringify(session));
}

export function clearSession(): void {
  localStorage.removeItem(key);
}
