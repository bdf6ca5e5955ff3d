// The routes' request and response schemas (TypeBox): each validates input, serializes output and types the handler.
export * from './common.js';
export * from './sessions.js';
export * from './logouts.js';
export * from './apps.js';
export * from './frontchannel.js';
