// Replaces the object-spread helper compiled into @trpc/server and @trpc/client with an
// equivalent that is several times faster: the original copies each property with
// Object.defineProperty inside a forEach closure, and tRPC calls it several times per
// request (each middleware, each response). Measured as ~20% of a relay's CPU (see
// shared perf notes and README "Performance"). Idempotent; runs on postinstall. When a
// new tRPC version no longer contains the helper, it says so and changes nothing: only
// speed depends on it, never behaviour.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packages = ['@trpc/server', '@trpc/client'];

export const original = `function _objectSpread2(e) {
	for (var r = 1; r < arguments.length; r++) {
		var t = null != arguments[r] ? arguments[r] : {};
		r % 2 ? ownKeys(Object(t), !0).forEach(function(r) {
			_defineProperty(e, r, t[r]);
		}) : Object.getOwnPropertyDescriptors ? Object.defineProperties(e, Object.getOwnPropertyDescriptors(t)) : ownKeys(Object(t)).forEach(function(r) {
			Object.defineProperty(e, r, Object.getOwnPropertyDescriptor(t, r));
		});
	}
	return e;
}`;

// Same result for every call in tRPC: own enumerable string and symbol keys of the odd
// arguments are copied as data properties (a "__proto__" key stays an own property, never
// a prototype change), even arguments keep their descriptor copy. It uses the engine's own
// object spread, which V8 runs far faster than any property-by-property copy. It returns
// a new object instead of filling the first argument: every call in tRPC passes a fresh
// object there and uses only the return value.
export const fast = `function _objectSpread2(e) {
	/* parley: fast object spread (scripts/patch-trpc-object-spread.mjs) */
	var n = arguments.length;
	if (n === 2) return { ...e, ...arguments[1] };
	if (n === 4) {
		var m = arguments[2];
		if (m == null || (Object.getOwnPropertyNames(m).length === 0 && Object.getOwnPropertySymbols(m).length === 0)) return { ...e, ...arguments[1], ...arguments[3] };
	}
	for (var r = 1; r < n; r++) {
		var t = arguments[r];
		if (r % 2) e = { ...e, ...t };
		else if (t != null) Object.defineProperties(e, Object.getOwnPropertyDescriptors(t));
	}
	return e;
}`;

/** Patches the tRPC packages under `root`; returns how many files were patched and already were. */
export function patchTrpc(root) {
  let patched = 0;
  let already = 0;
  for (const pkg of packages) {
    const dir = join(root, 'node_modules', pkg, 'dist');
    let files;
    try {
      files = readdirSync(dir).filter((f) => /\.(mjs|cjs|js)$/.test(f));
    } catch {
      continue;
    }
    for (const file of files) {
      const path = join(dir, file);
      const text = readFileSync(path, 'utf8');
      if (text.includes(fast)) already++;
      else if (text.includes(original)) {
        writeFileSync(path, text.replace(original, fast));
        patched++;
      }
    }
  }
  return { patched, already };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { patched, already } = patchTrpc(fileURLToPath(new URL('..', import.meta.url)));
  if (patched + already === 0) {
    console.warn('parley: tRPC object-spread helper not found (new tRPC version?): left as is; only speed is affected');
  } else if (patched > 0) {
    console.warn(`parley: patched tRPC's object-spread helper in ${patched} file(s)`);
  }
}
