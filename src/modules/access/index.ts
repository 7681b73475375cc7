export { isScope, type Principal, SCOPES, type Scope } from './scopes.js';
export { createTokenSet, ENV_TOKEN_NAME, parseTokensText, sha256, type TokenSet } from './token-set.js';
export { createTokenSource, type TokenSource, type TokenSourceOptions } from './token-source.js';
