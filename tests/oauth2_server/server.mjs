// A real OAuth2 authorization server for keyswap's tests: oidc-provider (an OpenID-certified
// implementation) with the client credentials grant, plus a protected resource and a few
// test-only admin routes. Started by the Rust and Python tests on 127.0.0.1 with a free port.
//
//   node server.mjs <config.json>
//
// config.json: { "ttl": 2, "clients": [{ "client_id", "client_secret"?, "auth_method"?,
//                "public_key_pem"?, "ttl"?, "advertise_ttl"? }] }
// (ttl: token lifetime in seconds; advertise_ttl: the expires_in the client is told instead)
// On stdout, once listening: `listening <port>`.
//
// Routes besides oidc-provider's own (`/token`, discovery, ...):
//   GET  /api                      the protected resource: 200 with a valid bearer token,
//                                  else 401 `WWW-Authenticate: Bearer error="invalid_token"`
//   POST /admin/secret             {"client_id", "client_secret"}: the old secret is refused
//                                  from the next request on
//   POST /admin/token-down         {"ms"}: the token endpoint drops connections for that long
//   GET  /admin/stats              {"token_requests": {client_id: n}, "refused_grants":
//                                  {client_id: n}, "api": {"ok", "refused"}}
//   POST /admin/reset-stats
//
// Token lifetime: oidc-provider writes `exp` in whole seconds, so a 2 s token issued at x.9 s
// would die at x+2 s, 1.1 s later, though `expires_in` says 2. The storage adapter below keeps
// each token for exactly its `expires_in` from issuance, in milliseconds, and the resource
// checks tokens against it (`ignoreExpiration` skips the whole-second check), as a resource
// server with an exact clock would.
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ttl = config.ttl ?? 2;

const clients = new Map();
const advertiseOf = new Map(config.clients.filter((c) => c.advertise_ttl).map((c) => [c.client_id, c.advertise_ttl]));
const ttlOf = new Map(config.clients.filter((c) => c.ttl).map((c) => [c.client_id, c.ttl]));
function clientMetadata(c) {
  const meta = {
    client_id: c.client_id,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'api:read api:write',
    token_endpoint_auth_method: c.auth_method ?? 'client_secret_basic',
  };
  if (c.client_secret !== undefined) meta.client_secret = c.client_secret;
  if (c.public_key_pem) {
    const jwk = createPublicKey(c.public_key_pem).export({ format: 'jwk' });
    meta.jwks = { keys: [jwk] };
    meta.token_endpoint_auth_signing_alg = 'ES256';
  }
  return meta;
}
for (const c of config.clients) clients.set(c.client_id, clientMetadata(c));

// Storage with exact (millisecond) expiry; clients come from the mutable map above.
const stores = new Map();
class Adapter {
  constructor(model) {
    this.model = model;
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }
  async upsert(id, payload, expiresIn) {
    const until = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, until });
  }
  async find(id) {
    if (this.model === 'Client') return clients.get(id);
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.until <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { this.store.delete(id); }
  async revokeByGrantId() {}
}

const stats = { token_requests: {}, refused_grants: {}, api: { ok: 0, refused: 0 } };
let tokenDownUntil = 0;

function basicClientId(req) {
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(auth.slice(6), 'base64').toString();
  return decodeURIComponent(decoded.split(':')[0]);
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

function json(res, status, value, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    adapter: Adapter,
    clients: [],
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
    },
    scopes: ['api:read', 'api:write'],
    ttl: { ClientCredentials: (ctx, token, client) => ttlOf.get(client.clientId) ?? ttl },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  });
  // Counts token requests per client (failed ones too) and plays "down" for the test.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/token' || ctx.method !== 'POST') return next();
    if (Date.now() < tokenDownUntil) {
      ctx.req.socket.destroy();
      return undefined;
    }
    try {
      await next();
      // A client configured with `advertise_ttl` is told a longer lifetime than its tokens
      // have: they die early, as revoked ones do, and only a 401 tells.
      const advertised = advertiseOf.get(ctx.oidc?.client?.clientId);
      if (advertised && ctx.body?.expires_in) ctx.body = { ...ctx.body, expires_in: advertised };
    } finally {
      const id = basicClientId(ctx.req) ?? ctx.oidc?.body?.client_id ?? ctx.oidc?.client?.clientId ?? 'unknown';
      stats.token_requests[id] = (stats.token_requests[id] ?? 0) + 1;
      if (ctx.status === 401 || ctx.status === 400) {
        stats.refused_grants[id] = (stats.refused_grants[id] ?? 0) + 1;
      }
    }
    return undefined;
  });
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    // Nagle + delayed ACK would add ~40 ms to keep-alive requests.
    req.socket.setNoDelay(true);
    const url = new URL(req.url, issuer);
    try {
      if (url.pathname === '/api') {
        const auth = req.headers.authorization ?? '';
        const token = auth.startsWith('Bearer ')
          ? await provider.ClientCredentials.find(auth.slice(7), { ignoreExpiration: true })
          : undefined;
        const client = token && clients.get(token.clientId);
        if (!client) {
          stats.api.refused += 1;
          json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
          return;
        }
        stats.api.ok += 1;
        json(res, 200, { client_id: token.clientId, scope: token.scope ?? null });
        return;
      }
      if (url.pathname === '/admin/secret' && req.method === 'POST') {
        const { client_id, client_secret } = JSON.parse((await readBody(req)).toString());
        clients.set(client_id, { ...clients.get(client_id), client_secret });
        json(res, 200, { ok: true });
        return;
      }
      if (url.pathname === '/admin/token-down' && req.method === 'POST') {
        const { ms } = JSON.parse((await readBody(req)).toString());
        tokenDownUntil = Date.now() + ms;
        json(res, 200, { ok: true });
        return;
      }
      if (url.pathname === '/admin/stats') {
        json(res, 200, stats);
        return;
      }
      if (url.pathname === '/admin/reset-stats' && req.method === 'POST') {
        stats.token_requests = {};
        stats.refused_grants = {};
        stats.api = { ok: 0, refused: 0 };
        json(res, 200, { ok: true });
        return;
      }
      callback(req, res);
    } catch (err) {
      json(res, 500, { error: String(err) });
    }
  });
  process.stdout.write(`listening ${port}\n`);
});

// Ends with the test that started it (its stdin closes).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
