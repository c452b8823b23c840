// A real OpenID Connect provider (npm `oidc-provider`) for the shop's sign-in tests.
//
// It stands in for the Amazon Cognito hosted UI: one confidential client, PKCE required,
// RS256 ID tokens that carry `email`, `email_verified` and `cognito:groups` (as Cognito's do),
// a plain e-mail/password sign-in page and no consent screen (Cognito shows none to first-party
// apps). Loopback only, started and stopped by the test session (tests/oidc_provider/fixtures.py).
//
// Configuration comes as JSON in the TEST_OIDC_CONFIG environment variable:
//   {"port": 5xxxx, "client_id": "...", "client_secret": "...",
//    "redirect_uris": [...], "post_logout_redirect_uris": [...]}
// Users come from users.json beside this file. Tests may change a user's claims at run time with
// PUT /__test__/accounts/<sub> (JSON body merged into the claims), e.g. to drop a group. A user's
// "amr" is not a claim of the account but the sign-in methods the login form reports.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.TEST_OIDC_CONFIG || '{}');
const port = Number(config.port);
if (!port) {
  console.error('TEST_OIDC_CONFIG must give a port');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const users = JSON.parse(readFileSync(new URL('./users.json', import.meta.url), 'utf8'));
const accounts = new Map(users.map((user) => [user.sub, { ...user }]));

// Cognito marks its ID tokens with token_use "id" (its access tokens say "access").
function claimsOf(account, use) {
  const { password: _password, username: _username, amr: _amr, ...claims } = account;
  return use === 'id_token' ? { ...claims, token_use: 'id' } : claims;
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      post_logout_redirect_uris: config.post_logout_redirect_uris || [],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Cognito puts the user's attributes and groups in the ID token itself.
  conformIdTokenClaims: false,
  claims: {
    // amr: the sign-in methods of the login (Cognito's ["pwd", "otp", "mfa"] after a TOTP code).
    openid: ['sub', 'amr', 'cognito:groups', 'token_use'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // First-party client: grant what it asks for, no consent screen (as Cognito's hosted UI).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    grant.addOIDCClaims(['cognito:groups', 'token_use']);
    await grant.save();
    return grant;
  },
  async findAccount(_ctx, sub) {
    const account = accounts.get(sub);
    if (!account) {
      return undefined;
    }
    return { accountId: sub, claims: async (use) => claimsOf(accounts.get(sub), use) };
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<p class="error">${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
  },
});

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const STYLE = `body{font-family:system-ui,sans-serif;background:#f2f3f3;margin:0;color:#16191f}
main{max-width:22rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:4px;box-shadow:0 1px 3px #0003}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #aab7b8;border-radius:2px;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.7rem;border:0;border-radius:2px;background:#ec7211;color:#fff;font-size:1rem;cursor:pointer}
button.secondary{background:#fff;color:#16191f;border:1px solid #aab7b8}
.error{color:#d13212}.note{font-size:.8rem;color:#545b64}a{color:#0073bb}`;

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>
<style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

function loginPage(uid, { error = '', username = '' } = {}) {
  return page('Sign in', `<h1>Sign in with your e-mail and password</h1>
<p class="note">Test identity provider (stands in for the Cognito hosted UI).</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}" autocomplete="off">
<label for="username">E-mail</label><input id="username" name="username" type="text" value="${escape(username)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>
<p><a href="/interaction/${escape(uid)}/abort">Cancel</a></p>`);
}

async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Sign out', `<h1>Sign out of the test provider?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" class="secondary" form="op.logoutForm">No, stay signed in</button>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

provider.use(async (ctx, next) => {
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)(\/abort)?$/);
  if (interaction) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction[2]) {
      ctx.respond = false;
      return provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'The user cancelled sign-in' }, { mergeWithLastSubmission: false });
    }
    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = loginPage(details.uid);
      return undefined;
    }
    if (ctx.method === 'POST') {
      const form = await readForm(ctx.req);
      const username = form.get('username') || '';
      const account = users.find((user) => user.username === username);
      if (!account || account.password !== form.get('password')) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginPage(details.uid, { error: 'Incorrect e-mail or password.', username });
        return undefined;
      }
      ctx.respond = false;
      // The methods used go into the ID token's amr (Cognito: ["pwd", "otp", "mfa"] after a TOTP code);
      // tests change them with PUT /__test__/accounts/<sub> {"amr": [...]}, seen at the next login form.
      const { amr } = accounts.get(account.sub);
      const login = Array.isArray(amr) ? { accountId: account.sub, amr } : { accountId: account.sub };
      return provider.interactionFinished(ctx.req, ctx.res, { login }, { mergeWithLastSubmission: false });
    }
  }
  const testAccount = ctx.path.match(/^\/__test__\/accounts\/([^/]+)$/);
  if (testAccount && ctx.method === 'PUT') {
    const account = accounts.get(decodeURIComponent(testAccount[1]));
    if (!account) {
      ctx.status = 404;
      return undefined;
    }
    const chunks = [];
    for await (const chunk of ctx.req) {
      chunks.push(chunk);
    }
    Object.assign(account, JSON.parse(Buffer.concat(chunks).toString('utf8')));
    ctx.status = 204;
    return undefined;
  }
  return next();
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`test OIDC provider on ${issuer}`);
});
