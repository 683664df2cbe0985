// A real OpenID provider for the sign-on tests: the certified `oidc-provider` package (installed by
// scripts/ensure_oidc_provider.sh), one static confidential client per app the tests play, and a
// few test people with passwords. Its own login and consent pages, so the tests sign in through
// the provider's forms as a person would.
//
// Environment: PORT (required), OIDC_PROVIDER_HOME (where the package is installed),
// REDIRECT_URI (the grader's callback), CLOCK_SKEW_S (seconds added to this process's clock: a
// provider whose clock is behind issues tokens that are already expired).
// Prints "ready <issuer>" on stdout when it listens.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const skewMs = Number(process.env.CLOCK_SKEW_S || 0) * 1000;
if (skewMs) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + skewMs;
}

const home = process.env.OIDC_PROVIDER_HOME || '/opt/grader/oidc-provider';
const { default: Provider } = await import(
  pathToFileURL(`${home}/node_modules/oidc-provider/lib/index.js`).href
);

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirectUri = process.env.REDIRECT_URI || 'http://127.0.0.1/login/sso/callback';

// username -> the claims the provider holds. One password for all (oidc_kit.PASSWORD): test people.
// mallory is nobody the grader knows; eve's unverified email is alice's; alex now has alice's email.
const PASSWORD = 'provider-test-password';
const people = {
  alice: { sub: 'alice-sub', email: 'Alice@Example.ac.uk', email_verified: true, name: 'Alice A', student_number: 's1' },
  lee: { sub: 'lee-sub', email: 'lee@example.ac.uk', email_verified: true, name: 'Lee L' },
  gina: { sub: 'gina-sub', email: 'gina@example.ac.uk', email_verified: true, name: 'Gina G' },
  mallory: { sub: 'mallory-sub', email: 'mallory@example.com', email_verified: true, name: 'Mallory M', student_number: 's999' },
  eve: { sub: 'eve-sub', email: 'alice@example.ac.uk', email_verified: false, name: 'Eve E' },
  // alex: alice's email address and student number, given by the university to a new person.
  alex: { sub: 'alex-sub', email: 'alice@example.ac.uk', email_verified: true, name: 'Alex X', student_number: 's1' },
  carol: { sub: 'carol-sub', email: 'carol@example.ac.uk', email_verified: true, name: 'Carol C', student_number: 's3' },
};

const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret-for-tests-only`,
  redirect_uris: [redirectUri],
  response_types: ['code'],
  grant_types: ['authorization_code'],
});

const provider = new Provider(issuer, {
  clients: [client('grader'), client('other-app')],
  jwks: { keys: [{ ...jwk, kid: `key-${randomUUID()}`, use: 'sig', alg: 'RS256' }] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    student_number: ['student_number'],
  },
  scopes: ['openid', 'email', 'profile', 'student_number'],
  conformIdTokenClaims: false, // the ID token carries the scopes' claims, as Entra's does
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  ttl: { Interaction: 86400, Session: 86400, Grant: 86400, IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const person = Object.values(people).find((p) => p.sub === id);
    return person && { accountId: id, claims: async () => ({ ...person }) };
  },
});

const page = (title, body) => `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

// The login and consent prompts: a form each, like any provider's.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/(login|consent))?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { uid, prompt, params, session } = details;
  ctx.set('cache-control', 'no-store');
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = prompt.name === 'login'
      ? page('Sign in', `<form method="post" action="/interaction/${uid}/login">
          <input name="username"><input name="password" type="password"><button>Sign in</button></form>`)
      : page('Consent', `<p>${params.client_id} asks for ${params.scope}</p>
          <form method="post" action="/interaction/${uid}/consent"><button>Continue</button></form>`);
    return undefined;
  }
  const form = await formBody(ctx.req);
  if (match[3] === 'login') {
    const person = people[form.get('username')];
    if (!person || form.get('password') !== PASSWORD) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Sign in', '<p>Wrong username or password.</p>');
      return undefined;
    }
    return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: person.sub } }, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
