/**
 * @module parley-server
 * The Parley server under test: the built `dist/server` started exactly as `parley serve`
 * starts it (`createServer(loadConfig())`, configuration from the environment), plus the
 * bench's IPC probe so the orchestrator can read this process's CPU time and memory.
 */
import type * as ServerModule from '../server/index.js';
import { installServerProbe } from './server-probe.js';

// Compiled to dist/bench/, so the built server is one directory up.
const serverModule = new URL('../server/index.js', import.meta.url).href;
const { createServer, loadConfig } = (await import(serverModule)) as typeof ServerModule;

let close: () => Promise<void> = async () => {};
const probe = installServerProbe(() => close());
const server = await createServer(loadConfig());
close = () => server.close();
probe.ready(server.url);
