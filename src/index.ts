// The package's public surface: build the service in-process, or use its core pieces.
export { buildApp, type AppDependencies } from './server.js';
export { loadConfig, resolveConfig, ConfigError, type Config } from './config/load.js';
export { verifyLogoutToken, BACKCHANNEL_LOGOUT_EVENT } from './core/verify-logout-token.js';
export { InvalidLogoutToken } from './core/errors.js';
export { removeAccountFromPartition, removeAccountsFromPartition } from './cache-formats/msal-json.js';
export type { Session, LogoutReport, LogoutTarget } from './core/model.js';
export { sessionFromSignIn, registerSession, SessionRegistrationError, SessionRegistrationQueue, type SessionRegistration, type SessionOptions } from './client/index.js';
