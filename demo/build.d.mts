/** Types of `build.mjs`, so tests can build the demo before opening it. */
export function buildDemo(options?: { outDir?: string }): Promise<void>;
