/**
 * @module parley
 * Embedding API: start a Parley server from code (tests, other programs).
 */
export { createServer, type ParleyServer, type ServerOptions } from './app.js';
export { loadConfig, defaultConfig, ConfigError, type Config } from './config.js';
export type { AppRouter } from './router/app-router.js';
export type { Message, Conversation } from './messages/message.js';
