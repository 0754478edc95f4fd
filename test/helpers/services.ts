/**
 * Tests that need PostgreSQL or Redis run only when the service answers. Elsewhere they
 * are skipped, loudly; under `CI=true` a missing service fails the run instead, so CI
 * can never pass by skipping them.
 */
export async function serviceAvailable(name: string, probe: () => Promise<void>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const reason = `${name} is not reachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env['CI'] === 'true') throw new Error(`${reason}: CI=true requires it (.ci/run starts it)`);
    console.warn(`\n*** SKIPPING ${name} tests: ${reason}. Start it (see .ci/run) to run them. ***\n`);
    return false;
  }
}
