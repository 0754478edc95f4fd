// Runs `npm run build` when an output is missing or older than any source file, so
// `npm start` on a fresh clone (or after an edit) serves what is in the tree.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const outputs = ['dist/server/cli/main.js', 'sdk/dist/node.js', 'demo-dist/index.html'];
const sources = ['server', 'protocol', 'sdk/src', 'demo', 'package.json', 'tsconfig.json'];

function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const builtAt = Math.min(...outputs.map((o) => (existsSync(o) ? statSync(o).mtimeMs : 0)));
if (builtAt === 0 || Math.max(...sources.map(newest)) > builtAt) {
  console.warn('parley: building…');
  execSync('npm run build --silent', { stdio: 'inherit' });
}
