// Replaces the object-spread helper compiled into @trpc/server and @trpc/client with an
// equivalent that is several times faster: the original copies each property with
// Object.defineProperty inside a forEach closure, and tRPC calls it several times per
// request (each middleware, each response). Measured as ~20% of a relay's CPU (see
// shared perf notes and README "Performance"). The helper is defined once per file, so
// the original text is matched exactly. Idempotent; runs on postinstall. When a
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

// Same result as the original for the objects tRPC passes (own data properties; no
// accessors added to Object.prototype, no getter that deletes a later key): odd arguments
// have their own enumerable string and symbol keys copied as data properties (a
// "__proto__" key stays an own property, never a prototype change), even arguments have
// their own property descriptors defined. Where Object.assign does exactly that (no "__proto__" key, plain
// data slots in the target and, for even arguments, only plain data properties), it uses
// Object.assign, which V8 runs on its fast path; Babel's forEach + defineProperty and
// Object.getOwnPropertyDescriptors (~7 µs for a three-key literal here) are left for the
// rare rest. Measured on a tRPC call with one middleware and an input parser: ~34 µs
// with the original helper, ~10-14 µs with this one.
export const fast = `function _objectSpread2(e) {
	/* parley: fast object spread (scripts/patch-trpc-object-spread.mjs) */
	for (var r = 1; r < arguments.length; r++) {
		var t = arguments[r];
		if (t == null) continue;
		var copy = r % 2 === 1;
		if (_parleyAssignable(e, Object(t), copy)) Object.assign(e, t);
		else _parleyDefineEach(e, Object(t), copy);
	}
	return e;
}
function _parleyAssignable(e, t, copy) {
	if (Object.getPrototypeOf(e) !== Object.prototype || !Object.isExtensible(e)) return false;
	var keys = Reflect.ownKeys(t);
	for (var i = 0; i < keys.length; i++) {
		var k = keys[i];
		if (k === "__proto__") return false;
		if (!copy) {
			var d = Object.getOwnPropertyDescriptor(t, k);
			if (!("value" in d) || !d.writable || !d.enumerable || !d.configurable) return false;
		}
		if (Object.prototype.hasOwnProperty.call(e, k)) {
			var own = Object.getOwnPropertyDescriptor(e, k);
			if (!("value" in own) || !own.writable || !own.enumerable || !own.configurable) return false;
		}
	}
	return true;
}
function _parleyDefineEach(e, t, copy) {
	var keys = Reflect.ownKeys(t);
	for (var i = 0; i < keys.length; i++) {
		var k = keys[i];
		if (!copy) Object.defineProperty(e, k, Object.getOwnPropertyDescriptor(t, k));
		else if (Object.prototype.propertyIsEnumerable.call(t, k)) Object.defineProperty(e, k, { value: t[k], writable: true, enumerable: true, configurable: true });
	}
}`;

/** The helper as earlier versions of this script wrote it: replaced too, on an existing install. */
const earlier = [`function _objectSpread2(e) {
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
}`];

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
      if (text.includes(fast)) {
        already++;
        continue;
      }
      const found = [original, ...earlier].find((helper) => text.includes(helper));
      if (found) {
        writeFileSync(path, text.replace(found, fast));
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
