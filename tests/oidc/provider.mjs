// A real OpenID Connect provider for ZUGABE's test suite (tests only).
//
// Built on npm's `oidc-provider`, so the sign-in code under test talks to a
// spec-conformant OP (discovery, JWKS, signed ID tokens, client auth) instead
// of a mock. Configuration comes from the environment:
//
//   OIDC_PORT            port to listen on (127.0.0.1 only)
//   OIDC_CLIENT_ID       the single registered client's id
//   OIDC_CLIENT_SECRET   its secret (confidential client)
//   OIDC_REDIRECT_URIS   comma-separated redirect URIs
//   OIDC_POST_LOGOUT_REDIRECT_URIS  optional, comma-separated
//   OIDC_ACCOUNTS        path of a JSON file:
//                        {"<username>": {"password": "...", "claims": {...}}}
//
// Prints `READY <issuer>` on stdout once listening; exits cleanly on SIGTERM.
// Run with NODE_ENV unset (development): everything is plain http.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

function splitList(value) {
  return (value || '').split(',').map((item) => item.trim()).filter(Boolean);
}

const port = Number.parseInt(requireEnv('OIDC_PORT'), 10);
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;
const clientId = requireEnv('OIDC_CLIENT_ID');
const clientSecret = requireEnv('OIDC_CLIENT_SECRET');
const redirectUris = splitList(requireEnv('OIDC_REDIRECT_URIS'));
const postLogoutRedirectUris = splitList(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS);
const accounts = JSON.parse(readFileSync(requireEnv('OIDC_ACCOUNTS'), 'utf8'));

// Claims released per scope. Custom claims (zugabe_org, groups) ride on
// `profile` so a client asking for "openid profile email" receives them
// without requesting an extra scope.
const PROFILE_CLAIMS = [
  'name', 'given_name', 'family_name', 'preferred_username', 'locale',
  'zugabe_org', 'zugabe_departments', 'groups',
];
const EMAIL_CLAIMS = ['email', 'email_verified'];

// A fresh signing key per run: avoids oidc-provider's shared dev keys and
// keeps nothing secret on disk.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test-rs256' };

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // Registered as basic (Authlib's default); oidc-provider also accepts
    // client_secret_post for a client registered with either secret method.
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  responseTypes: ['code'],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: PROFILE_CLAIMS,
    email: EMAIL_CLAIMS,
  },
  // Put the scope-granted claims into the ID token as well, not only into
  // userinfo, so a client that never calls userinfo still sees them.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  // PKCE stays optional for this confidential client, mandatory for public ones.
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
  },
  async findAccount(_ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      // oidc-provider filters these by the granted scopes/claims.
      async claims() {
        return { ...(account.claims || {}), sub };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);

provider.on('server_error', (_ctx, err) => {
  console.error('oidc-provider server_error:', err);
});

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[ch]);
}

function loginPage(uid, { login = '', error = '' } = {}) {
  const errorHtml = error ? `<p id="error" role="alert" style="color:#b00">${escapeHtml(error)}</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - test OIDC provider</title></head>
<body>
<h1>Sign in</h1>
${errorHtml}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label for="login">Username</label>
  <input id="login" name="login" type="text" value="${escapeHtml(login)}" autofocus required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button id="submit" type="submit">Sign in</button>
</form>
</body>
</html>`;
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Consent is granted automatically: everything the client asked for.
async function grantConsent(req, res, details) {
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details || {};
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function handleInteraction(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return sendHtml(res, 404, 'not found');
  const [, uid, loginAction] = match;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return sendHtml(res, 400, 'interaction mismatch');

  if (!loginAction && req.method === 'GET') {
    if (details.prompt.name === 'consent') return grantConsent(req, res, details);
    return sendHtml(res, 200, loginPage(uid));
  }
  if (loginAction && req.method === 'POST') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    const password = form.get('password') || '';
    const account = Object.hasOwn(accounts, login) ? accounts[login] : undefined;
    if (!account || account.password !== password) {
      return sendHtml(res, 200, loginPage(uid, { login, error: 'Invalid username or password.' }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  res.statusCode = 405;
  return res.end();
}

const providerCallback = provider.callback();

const server = createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/interaction/')) {
    handleInteraction(req, res, url).catch((err) => {
      console.error('interaction error:', err);
      if (!res.headersSent) sendHtml(res, 400, `interaction failed: ${escapeHtml(err.message)}`);
      else res.end();
    });
    return;
  }
  providerCallback(req, res);
});

server.listen(port, host, () => {
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
