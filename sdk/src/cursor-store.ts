/**
 * @module cursor-store
 * Where `subscribeMessages` keeps the last event id it handled, so a restarted app
 * resumes from there. Pluggable: memory by default, `localStorage` in browsers.
 */
export interface CursorStore {
  get(): string | null | Promise<string | null>;
  set(lastEventId: string): void | Promise<void>;
}

export function memoryCursorStore(initial: string | null = null): CursorStore {
  let value = initial;
  return {
    get: () => value,
    set: (next) => {
      value = next;
    },
  };
}

/** Keeps the cursor under `key` in `localStorage` (use one key per signed-in user). */
export function localStorageCursorStore(key: string, storage: Storage = globalThis.localStorage): CursorStore {
  return {
    get: () => storage.getItem(key),
    set: (next) => storage.setItem(key, next),
  };
}
