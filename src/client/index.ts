// logout-receiver/client: what an app needs at sign-in, and nothing of the server.
export { registerSession, sessionFromSignIn, SessionRegistrationError, type RegisterOptions, type SessionOptions, type SessionRegistration, type SignInResult } from './register-session.js';
export { SessionRegistrationQueue, type RegistrationQueueOptions } from './registration-queue.js';
