// stepup's test OpenID provider: oidc-provider with its real authorization-code
// flow, minimal login pages, two assurance levels and key rotation.
//
// Usage:
//   node tests/idp/idp.mjs --port 0 [--redirect-uri URI]... [--access-ttl SECONDS]
//                          [--ignore-stdin] [--issuer URL]
//
// Listens on 127.0.0.1 only (port 0 picks a free one). When ready it prints
// exactly one JSON line on stdout, {"issuer":"http://127.0.0.1:PORT","port":PORT};
// --issuer replaces the issuer (and so every URL in discovery and every `iss`)
// with another address that forwards to this one, e.g. a test's delaying
// proxy in front of the IdP; the ready line then carries that issuer.
// everything else goes to stderr. It exits on SIGTERM/SIGINT and when its stdin
// closes (so a test process that dies never leaves it running), unless
// --ignore-stdin is given.
//
// Clients:  stepup / stepup-secret  redirect_uris: every --redirect-uri plus
//                                   http://127.0.0.1/cb
//           tester / tester-secret  redirect_uri http://127.0.0.1/cb
//           Both confidential (client_secret_basic or client_secret_post),
//           authorization_code (+ refresh_token), PKCE S256 required.
//           robot / robot-secret    client_credentials only (client_secret_basic):
//                                   a JWT access token for the resource with
//                                   sub = client_id = "robot", no user, so no
//                                   acr, amr, auth_time, email or groups.
// Users:    alice, bob, carol; the password is "pw-<name>"; the one-time code
//           is always 123456.
// Levels:   password only        -> acr urn:stepup:pwd, amr ["pwd"]
//           password + OTP code  -> acr urn:stepup:mfa, amr ["pwd","otp","mfa"]
//           The OTP page is shown when the authorization request asks for
//           urn:stepup:mfa in acr_values or as an essential acr in the claims
//           parameter. A session whose acr is not urn:stepup:mfa must log in
//           again when urn:stepup:mfa is asked for in acr_values (step-up).
// Resources (RFC 8707) -> JWT access tokens (RFC 9068), aud "shop":
//           urn:stepup:shop:rs256  signed RS256 (also the default resource)
//           urn:stepup:shop:es256  signed ES256
//           They carry sub, acr, amr, auth_time (of the login), email, groups.
//           TTL: --access-ttl seconds (default 600).
// ID tokens: RS256; always acr, amr, auth_time; email/email_verified with
//           scope email, groups with scope groups (or via the claims
//           parameter); nonce as sent. Consent is automatic (everything asked
//           for is granted). Needs Node.js >= 20.18 (`npm ci --prefix tests/idp`).
//
// Test-only controls (this is a test fixture, never run it as a real IdP):
//   * The login form POST (/interaction/:uid/login) and the one-time code POST
//     (/interaction/:uid/otp) accept an optional integer field
//     `auth_time_offset` (seconds, e.g. -600): the login's auth_time becomes
//     now + offset. The value given with the OTP wins over the password one.
//   * POST /__admin/rotate?alg=RS256|ES256 generates a new key of that kind,
//     signs with it from now on (ID tokens and access tokens), keeps the old
//     keys in the JWKS, and answers {"kid":"<new kid>"}.
//   * POST /__admin/drop-old-keys keeps only the newest key per algorithm and
//     answers {"kids":[...]} (the kids left).
//   * POST /__admin/auth-time-offset?seconds=N sets the offset used by logins
//     whose form has no auth_time_offset field (default 0), for browser tests
//     that cannot add the field; answers {"seconds":N}.
//   * POST /__admin/clock?offset=N shifts the IdP's clock (Date.now, which
//     oidc-provider uses for iat/exp) by N seconds while it answers token
//     endpoint requests, to issue tokens as a skewed IdP would (N=-7200:
//     already expired). The login steps keep the real clock, so their
//     cookies and the code stay valid. Answers {"offset":N}.
//   * POST /__admin/sign with a JSON body {"claims":{...}, "header":{...},
//     "alg":"RS256"|"ES256"} signs `claims` exactly as given (nothing added,
//     nothing checked) as a compact JWS with the provider's current signing
//     key of that alg (default RS256): the key the JWKS publishes, so the
//     token verifies against the IdP's real keys. The JOSE header is
//     {"alg","typ":"JWT","kid"} with `header`'s members merged over it (they
//     may even lie about alg or kid). Answers {"token":"<JWS>","kid":"<kid>"}.
//     For tokens a real IdP would never issue: a wrong iss, nbf or auth_time
//     in the future, an acr that is not a string.
//   Rotation builds a new Provider instance and swaps the HTTP handler; the
//   stored sessions/grants live in the process-wide memory adapter and the
//   cookie keys do not change, so sessions survive it.

import * as crypto from 'node:crypto';

// The test-controlled clock skew (see /__admin/clock), installed before
// oidc-provider is loaded so every timestamp it makes goes through it.
const realNow = Date.now.bind(Date);
let clockOffsetMs = 0;
let tokenRequests = 0;
Date.now = () => realNow() + (tokenRequests > 0 ? clockOffsetMs : 0);
import * as http from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints notices with console.info; stdout carries only the
// ready line, so every console channel goes to stderr.
for (const name of ['log', 'info', 'debug']) {
  console[name] = (...args) => console.error(...args);
}

const ACR_PWD = 'urn:stepup:pwd';
const ACR_MFA = 'urn:stepup:mfa';
const AMR_PWD = ['pwd'];
const AMR_MFA = ['pwd', 'otp', 'mfa'];
const OTP_CODE = '123456';
const RESOURCES = {
  'urn:stepup:shop:rs256': 'RS256',
  'urn:stepup:shop:es256': 'ES256',
};
const DEFAULT_RESOURCE = 'urn:stepup:shop:rs256';
const AUDIENCE = 'shop';

const USERS = {
  alice: { email: 'alice@example.com', groups: ['shop-admins', 'staff'] },
  bob: { email: 'bob@example.com', groups: ['staff'] },
  carol: { email: 'carol@example.com', groups: [] },
};

// ---------------------------------------------------------------- arguments

function fail(message) {
  console.error(`idp: ${message}`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'redirect-uri': { type: 'string', multiple: true, default: [] },
      'access-ttl': { type: 'string', default: '600' },
      'ignore-stdin': { type: 'boolean', default: false },
      issuer: { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}

const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${args.port}`);
const accessTtl = Number(args['access-ttl']);
if (!Number.isInteger(accessTtl) || accessTtl <= 0) fail(`bad --access-ttl ${args['access-ttl']}`);
for (const uri of args['redirect-uri']) {
  if (!URL.canParse(uri)) fail(`bad --redirect-uri ${uri}`);
}
if (args.issuer !== undefined && !URL.canParse(args.issuer)) fail(`bad --issuer ${args.issuer}`);

// --------------------------------------------------------------------- keys

let keySerial = 0;

// A private signing JWK of the given kind with a fresh, distinct kid.
function generateKey(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    default:
      throw new Error(`unsupported alg ${alg}`);
  }
  keySerial += 1;
  const kid = `${alg.toLowerCase()}-${keySerial}-${crypto.randomBytes(6).toString('hex')}`;
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

// Newest first: oidc-provider signs with the first key that fits an alg.
let keys = [generateKey('RS256'), generateKey('ES256')];

// oidc-provider is loaded after the first keys exist: a synchronous key
// generation just after this import hung node 20 (OpenSSL 3.0) in about one
// start in 80 with several starting at once (main thread waiting on a futex,
// the harness seeing no ready line); generated before it, 0 in 600.
const { default: Provider, errors, interactionPolicy } = await import('oidc-provider');

function signingKid(alg) {
  return keys.find((k) => k.alg === alg).kid;
}

// ----------------------------------------------------------------- accounts

function findAccount(_ctx, id) {
  const user = USERS[id];
  if (!user) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: user.email,
        email_verified: true,
        groups: [...user.groups],
      };
    },
  };
}

// Does the authorization request ask for the MFA level?
function wantsMfa(params) {
  const acrValues = String(params.acr_values ?? '').split(' ');
  if (acrValues.includes(ACR_MFA)) return true;
  if (params.claims) {
    let claims;
    try {
      claims = JSON.parse(params.claims);
    } catch {
      return false;
    }
    for (const where of ['id_token', 'userinfo']) {
      const acr = claims?.[where]?.acr;
      if (acr?.essential && (acr.value === ACR_MFA || (Array.isArray(acr.values) && acr.values.includes(ACR_MFA)))) {
        return true;
      }
    }
  }
  return false;
}

// ------------------------------------------------------------ configuration

const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

function interactionPolicyWithStepUp() {
  const policy = interactionPolicy.base();
  // oidc-provider treats acr_values as voluntary; a real step-up IdP asks a
  // session that has a weaker acr to log in again.
  policy.get('login').checks.add(new interactionPolicy.Check(
    'acr_values_step_up',
    'requested ACR urn:stepup:mfa is stronger than the session\'s',
    (ctx) => {
      const { oidc } = ctx;
      const asked = String(oidc.params.acr_values ?? '').split(' ');
      if (asked.includes(ACR_MFA) && oidc.session.accountId && oidc.acr !== ACR_MFA
        && !oidc.result?.login) {
        return interactionPolicy.Check.REQUEST_PROMPT;
      }
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    },
  ));
  return policy;
}

// Consent is automatic: every requested OIDC scope, claim and resource scope
// is granted (on top of what the session's grant already holds).
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const { Grant } = oidc.provider;
  const accountId = oidc.session.accountId;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId || grant.clientId !== oidc.client.clientId) {
    grant = new Grant({ accountId, clientId: oidc.client.clientId });
  }
  const scopes = [...oidc.requestParamOIDCScopes].join(' ');
  if (scopes) grant.addOIDCScope(scopes);
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    if (server.scope) grant.addResourceScope(indicator, server.scope);
  }
  await grant.save();
  return grant;
}

// acr, amr and auth_time are not part of oidc-provider's JWT access token
// payload; they live on the grant source (the authorization code or refresh
// token being exchanged), which is an entity of the token request.
async function extraTokenClaims(ctx, token) {
  if (!token.accountId) return undefined;
  const source = ctx?.oidc?.entities?.AuthorizationCode ?? ctx?.oidc?.entities?.RefreshToken;
  const user = USERS[token.accountId];
  return {
    ...(source?.acr ? { acr: source.acr } : undefined),
    ...(source?.amr ? { amr: source.amr } : undefined),
    ...(source?.authTime ? { auth_time: source.authTime } : undefined),
    ...(user ? { email: user.email, groups: [...user.groups] } : undefined),
  };
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

const STYLE = `
  body { font-family: system-ui, sans-serif; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; color: #111; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { display: block; width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; font-size: 1rem; }
  button { margin-top: 1.25rem; padding: .6rem 1.2rem; font-size: 1rem; }
  .error { color: #a00; border: 1px solid #a00; padding: .5rem; }
  .hint { color: #444; font-size: .9rem; }`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - stepup test IdP</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('\n');
  ctx.body = page('Error', `<dl>\n${rows}\n</dl>`);
}

function configuration() {
  const stepupRedirects = [...new Set([...args['redirect-uri'], 'http://127.0.0.1/cb'])];
  const clientCommon = {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  };
  return {
    clients: [
      {
        ...clientCommon, client_id: 'stepup', client_secret: 'stepup-secret', redirect_uris: stepupRedirects,
      },
      {
        ...clientCommon, client_id: 'tester', client_secret: 'tester-secret', redirect_uris: ['http://127.0.0.1/cb'],
      },
      {
        client_id: 'robot',
        client_secret: 'robot-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: keys.map((k) => ({ ...k })) },
    cookies: { keys: cookieKeys },
    acrValues: [ACR_PWD, ACR_MFA],
    scopes: ['openid', 'offline_access', 'email', 'groups'],
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
      // acr, amr and auth_time of the login go into every ID token (without
      // this oidc-provider adds them only when acr_values, max_age or the
      // claims parameter ask for them).
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Scope-requested claims go into the ID token even when the access token
    // is for a resource server (stepup reads email/groups from the ID token).
    conformIdTokenClaims: false,
    findAccount,
    loadExistingGrant,
    extraTokenClaims,
    renderError,
    pkce: { required: () => true },
    interactions: {
      policy: interactionPolicyWithStepUp(),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      claimsParameter: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : DEFAULT_RESOURCE),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          const alg = RESOURCES[indicator];
          if (!alg) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            audience: AUDIENCE,
            scope: 'shop',
            accessTokenFormat: 'jwt',
            accessTokenTTL: accessTtl,
            jwt: { sign: { alg, kid: signingKid(alg) } },
          };
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTtl,
      AuthorizationCode: 60,
      ClientCredentials: accessTtl,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 24 * 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
  };
}

// ------------------------------------------------------------------ server

let issuer;
let provider;
let providerHandler;

function buildProvider() {
  const next = new Provider(issuer, configuration());
  next.on('server_error', (_ctx, err) => console.error('idp: server_error', err));
  next.on('authorization.error', (_ctx, err) => console.error('idp: authorization.error', err.message, err.error_description ?? ''));
  next.on('grant.error', (_ctx, err) => console.error('idp: grant.error', err.message, err.error_description ?? ''));
  provider = next;
  providerHandler = next.callback();
}

function send(res, status, type, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

function sendJson(res, status, value) {
  send(res, status, 'application/json', `${JSON.stringify(value)}\n`);
}

// A request body, at most 64 KiB.
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readForm(req) {
  return new URLSearchParams(await readBody(req));
}

// A compact JWS of `claims` signed with the current key of `alg` (see
// /__admin/sign in the header comment).
function signJws(claims, headerOverrides, alg) {
  const key = keys.find((k) => k.alg === alg);
  const header = { alg, typ: 'JWT', kid: key.kid, ...headerOverrides };
  const segment = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${segment(header)}.${segment(claims)}`;
  const privateKey = crypto.createPrivateKey({ key, format: 'jwk' });
  // JWS ES256 signatures are r || s (IEEE P1363), not DER.
  const signer = alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey;
  const signature = crypto.sign('sha256', Buffer.from(input), signer);
  return { token: `${input}.${signature.toString('base64url')}`, kid: key.kid };
}

function parseOffset(value) {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
}

function loginPage(uid, { error, username = '', offset } = {}) {
  const errorHtml = error ? `<p class="error" role="alert" id="error">${escapeHtml(error)}</p>\n` : '';
  const offsetHtml = offset === undefined ? '' : `<input type="hidden" name="auth_time_offset" value="${escapeHtml(offset)}">\n`;
  return page('Sign in', `${errorHtml}<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus value="${escapeHtml(username)}"${error ? ' aria-describedby="error"' : ''}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
${offsetHtml}<button type="submit">Sign in</button>
</form>
<p class="hint">Test users: alice, bob, carol (password pw-&lt;name&gt;).</p>`);
}

function otpPage(uid, { error } = {}) {
  const errorHtml = error ? `<p class="error" role="alert" id="error">${escapeHtml(error)}</p>\n` : '';
  return page('Verification code', `${errorHtml}<p>This application asks for a second factor.</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/otp">
<label for="otp">One-time code</label>
<input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required autofocus${error ? ' aria-describedby="error"' : ''}>
<button type="submit">Verify</button>
</form>
<p class="hint">The test code is ${OTP_CODE}.</p>`);
}

// Interactions whose password step passed and that wait for the OTP, by uid.
const pendingMfa = new Map();

// auth_time offset for logins whose form does not carry one.
let defaultOffset = 0;

async function finishLogin(req, res, accountId, mfa, offset) {
  const result = {
    login: {
      accountId,
      acr: mfa ? ACR_MFA : ACR_PWD,
      amr: mfa ? AMR_MFA : AMR_PWD,
      ts: Math.floor(Date.now() / 1000) + (offset ?? defaultOffset),
      remember: true,
    },
  };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

// Consent fallback: loadExistingGrant normally grants everything up front.
async function finishConsent(req, res, details) {
  const { Grant } = provider;
  const { prompt, params, session, grantId } = details;
  const grant = grantId ? await Grant.find(grantId)
    : new Grant({ accountId: session.accountId, clientId: params.client_id });
  const d = prompt.details ?? {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const id = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId: id } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, url) {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|otp))?$/.exec(url.pathname);
  if (!match) return send(res, 404, 'text/plain', 'not found\n');
  const [, uid, step] = match;

  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return send(res, 400, 'text/html; charset=utf-8', page('Sign-in expired', `<p role="alert">${escapeHtml(err.message)}. Start again from the application.</p>`));
  }
  if (details.uid !== uid) {
    return send(res, 400, 'text/html; charset=utf-8', page('Sign-in expired', '<p role="alert">This sign-in page does not belong to the current sign-in. Start again from the application.</p>'));
  }

  if (req.method === 'GET' && !step) {
    if (details.prompt.name === 'consent') return finishConsent(req, res, details);
    if (pendingMfa.has(uid)) return send(res, 200, 'text/html; charset=utf-8', otpPage(uid));
    return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, { username: details.params.login_hint ?? '' }));
  }
  if (req.method !== 'POST' || !step) {
    res.setHeader('Allow', step ? 'POST' : 'GET');
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }

  const form = await readForm(req);
  if (step === 'login') {
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const offset = parseOffset(form.get('auth_time_offset'));
    if (!Object.hasOwn(USERS, username) || password !== `pw-${username}`) {
      return send(res, 400, 'text/html; charset=utf-8', loginPage(uid, { error: 'Wrong username or password.', username, offset }));
    }
    if (wantsMfa(details.params)) {
      pendingMfa.set(uid, { accountId: username, offset, at: Date.now() });
      return send(res, 200, 'text/html; charset=utf-8', otpPage(uid));
    }
    return finishLogin(req, res, username, false, offset);
  }

  // step === 'otp'
  const pending = pendingMfa.get(uid);
  if (!pending) {
    return send(res, 400, 'text/html; charset=utf-8', loginPage(uid, { error: 'Sign in with your password first.' }));
  }
  if ((form.get('otp') ?? '').trim() !== OTP_CODE) {
    return send(res, 400, 'text/html; charset=utf-8', otpPage(uid, { error: 'Wrong verification code.' }));
  }
  pendingMfa.delete(uid);
  const offset = parseOffset(form.get('auth_time_offset')) ?? pending.offset;
  return finishLogin(req, res, pending.accountId, true, offset);
}

async function admin(req, res, url) {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    return sendJson(res, 405, { error: 'method not allowed' });
  }
  switch (url.pathname) {
    case '/__admin/rotate': {
      const alg = url.searchParams.get('alg') ?? 'RS256';
      if (alg !== 'RS256' && alg !== 'ES256') return sendJson(res, 400, { error: `unsupported alg ${alg}` });
      const key = generateKey(alg);
      keys = [key, ...keys];
      buildProvider();
      console.error(`idp: rotated ${alg}, now signing with ${key.kid}`);
      return sendJson(res, 200, { kid: key.kid });
    }
    case '/__admin/drop-old-keys': {
      const seen = new Set();
      keys = keys.filter((k) => {
        if (seen.has(k.alg)) return false;
        seen.add(k.alg);
        return true;
      });
      buildProvider();
      return sendJson(res, 200, { kids: keys.map((k) => k.kid) });
    }
    case '/__admin/clock': {
      const offset = parseOffset(url.searchParams.get('offset'));
      if (offset === undefined) return sendJson(res, 400, { error: 'offset must be an integer' });
      clockOffsetMs = offset * 1000;
      return sendJson(res, 200, { offset });
    }
    case '/__admin/sign': {
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch (err) {
        return sendJson(res, 400, { error: `body is not JSON: ${err.message}` });
      }
      const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
      if (!isObject(body) || !isObject(body.claims)) return sendJson(res, 400, { error: 'claims must be a JSON object' });
      if (body.header !== undefined && !isObject(body.header)) return sendJson(res, 400, { error: 'header must be a JSON object' });
      const alg = body.alg ?? 'RS256';
      if (alg !== 'RS256' && alg !== 'ES256') return sendJson(res, 400, { error: `unsupported alg ${alg}` });
      return sendJson(res, 200, signJws(body.claims, body.header ?? {}, alg));
    }
    case '/__admin/auth-time-offset': {
      const seconds = parseOffset(url.searchParams.get('seconds'));
      if (seconds === undefined) return sendJson(res, 400, { error: 'seconds must be an integer' });
      defaultOffset = seconds;
      return sendJson(res, 200, { seconds });
    }
    default:
      return sendJson(res, 404, { error: 'not found' });
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  let handled;
  if (url.pathname.startsWith('/interaction/')) {
    handled = interaction(req, res, url);
  } else if (url.pathname.startsWith('/__admin/')) {
    handled = admin(req, res, url);
  } else {
    if (url.pathname === '/token') {
      tokenRequests += 1;
      res.on('close', () => {
        tokenRequests -= 1;
      });
    }
    providerHandler(req, res);
    return;
  }
  handled.catch((err) => {
    console.error('idp: handler error', err);
    if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    else res.destroy();
  });
});

// Forget pending OTP steps after an hour (the interaction TTL).
setInterval(() => {
  const limit = Date.now() - 3600 * 1000;
  for (const [uid, p] of pendingMfa) if (p.at < limit) pendingMfa.delete(uid);
}, 60 * 1000).unref();

function shutdown(why) {
  console.error(`idp: exiting (${why})`);
  server.close();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (!args['ignore-stdin']) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

server.on('error', (err) => fail(`listen: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  issuer = args.issuer ?? `http://127.0.0.1:${actual}`;
  buildProvider();
  process.stdout.write(`${JSON.stringify({ issuer, port: actual })}\n`);
  console.error(`idp: listening on ${issuer} (keys ${keys.map((k) => k.kid).join(', ')})`);
});
