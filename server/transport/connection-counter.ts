/**
 * @module connection-counter
 * Counts open connections per key (client address, user id) against a cap.
 */
export class ConnectionCounter {
  readonly #counts = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Counts one more connection for `key`; false (and nothing counted) when at the cap. */
  tryAdd(key: string): boolean {
    const count = this.#counts.get(key) ?? 0;
    if (count >= this.limit) return false;
    this.#counts.set(key, count + 1);
    return true;
  }

  remove(key: string): void {
    const count = this.#counts.get(key) ?? 0;
    if (count <= 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
  }

  get size(): number {
    return this.#counts.size;
  }
}
