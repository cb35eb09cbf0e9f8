// SCIM 2.0 users through the official, unmodified `twilio` package from npm:
// client.previewIam.organization(OR).users — create, list (with filter), fetch, update (PUT),
// patch and remove, against a real orgiam server started by `sdk/run`.
//
// The client is set up as in test_sdk.mjs (organization credentials through
// OrgsCredentialProvider, the domains' baseUrl pointed at orgiam); the few lines that do it are
// repeated here so that this file runs on its own.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";

const require = createRequire(import.meta.url);
const twilio = require("twilio");
const RequestClient = require("twilio/lib/base/RequestClient");
const OrgsTokenManager = require("twilio/lib/http/bearer_token/OrgsTokenManager").default;
const RestException = require("twilio/lib/base/RestException").default;
const {
  ScimUser,
  ScimPatchRequest,
  UserInstance,
} = require("twilio/lib/rest/previewIam/versionless/organization/user");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run sdk/run`);
  return value;
};
const URL_ = env("ORGIAM_URL").replace(/\/+$/, "");
const CLIENT_ID = env("ORGIAM_CLIENT_ID");
const CLIENT_SECRET = env("ORGIAM_CLIENT_SECRET");
const ORG = env("ORGIAM_ORG");

const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";
const USERS_URL = `${URL_}/Organizations/${ORG}/scim/Users`;

class Wire {
  constructor() {
    this.log = [];
  }
  mark() {
    return this.log.length;
  }
  since(mark) {
    return this.log.slice(mark).filter((e) => !/\/v[12]\/token$/.test(new URL(e.url).pathname));
  }
}

class RecordingRequestClient extends RequestClient {
  constructor(wire) {
    super({});
    this.axios.interceptors.response.use((res) => {
      const req = res.request;
      wire.log.push({
        method: req.method,
        url: `${req.protocol}//${req.getHeader("host")}${req.path}`,
        headers: req.getHeaders(),
        body: typeof res.config.data === "string" ? res.config.data : undefined,
        status: res.status,
        responseHeaders: res.headers,
        response: res.data,
      });
      return res;
    });
  }
}

/** OrgsTokenManager with the oauth domain pointed at orgiam (see test_sdk.mjs for why). */
class OrgiamOrgsTokenManager extends OrgsTokenManager {
  constructor(params, wire) {
    super(params);
    this.wire = wire;
  }
  async fetchToken() {
    const client = twilio(undefined, undefined, { httpClient: new RecordingRequestClient(this.wire) });
    client.setCredentialProvider(new twilio.NoAuthCredentialProvider());
    client.oauth.baseUrl = URL_;
    const token = await client.oauth.v2.token.create(this.getParams());
    return token.accessToken;
  }
}

function makeClient(wire) {
  const tokenManager = new OrgiamOrgsTokenManager(
    { grantType: "client_credentials", clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    wire,
  );
  const provider = new twilio.OrgsCredentialProviderBuilder()
    .setClientId(CLIENT_ID)
    .setClientSecret(CLIENT_SECRET)
    .setTokenManager(tokenManager)
    .build();
  const client = twilio(undefined, undefined, { httpClient: new RecordingRequestClient(wire) });
  client.setCredentialProvider(provider);
  client.oauth.baseUrl = URL_;
  client.previewIam.baseUrl = URL_;
  return client;
}

const users = (client, org = ORG) => client.previewIam.organization(org).users;
const uniqueName = () => `node-${randomBytes(6).toString("hex")}@example.com`;

function scimUser(userName, extra = {}) {
  return new ScimUser({
    schemas: [USER_SCHEMA],
    userName,
    externalId: `ext-${userName}`,
    displayName: "Grace Hopper",
    name: { givenName: "Grace", familyName: "Hopper" },
    emails: [{ value: userName, type: "work", primary: true }],
    active: true,
    locale: "en-US",
    timezone: "America/New_York",
    ...extra,
  });
}

async function rejects(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to fail");
}

const sentJson = (entry) => JSON.parse(entry.body);

describe("SCIM users through client.previewIam.organization(OR).users", () => {
  test("create sends the user and reads it back", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const name = uniqueName();
    const mark = wire.mark();
    const created = await users(client).create(scimUser(name));
    const [entry] = wire.since(mark);
    assert.equal(entry.method, "POST");
    assert.equal(entry.url, USERS_URL);
    assert.equal(entry.headers["content-type"], "application/json");
    assert.equal(entry.headers.accept, "application/scim+json");
    assert.equal(sentJson(entry).userName, name);
    assert.equal(entry.status, 201);
    assert.equal(entry.responseHeaders.location, `${USERS_URL}/${created.id}`);
    assert.match(entry.responseHeaders.etag, /^W\/"/);

    assert.ok(created instanceof UserInstance);
    assert.match(created.id, /^US[0-9a-f]{32}$/);
    assert.equal(created.userName, name);
    assert.equal(created.externalId, `ext-${name}`);
    assert.equal(created.displayName, "Grace Hopper");
    assert.equal(created.name.givenName, "Grace");
    assert.equal(created.name.familyName, "Hopper");
    assert.equal(created.emails[0].value, name);
    assert.equal(created.active, true);
    assert.equal(created.locale, "en-US");
    assert.equal(created.timezone, "America/New_York");
    assert.ok(created.schemas.includes(USER_SCHEMA));
    assert.equal(created.meta.resourceType, "User");
    assert.equal(created.meta.version, entry.responseHeaders.etag);
  });

  test("fetch returns the same user", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const created = await users(client).create(scimUser(uniqueName()));
    const mark = wire.mark();
    const fetched = await users(client)(created.id).fetch();
    const [entry] = wire.since(mark);
    assert.equal(entry.method, "GET");
    assert.equal(entry.url, `${USERS_URL}/${created.id}`);
    assert.equal(entry.responseHeaders.etag, created.meta.version);
    assert.equal(fetched.id, created.id);
    assert.equal(fetched.userName, created.userName);
  });

  test("list, and list with userName and externalId filters", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const a = await users(client).create(scimUser(uniqueName()));
    const b = await users(client).create(scimUser(uniqueName()));

    const mark = wire.mark();
    const found = await users(client).list({ filter: `userName eq "${a.userName}"` });
    const [entry] = wire.since(mark);
    assert.equal(new URL(entry.url).searchParams.get("filter"), `userName eq "${a.userName}"`);
    assert.ok(entry.response.schemas.includes(LIST_SCHEMA));
    assert.equal(entry.response.totalResults, 1);
    // The SDK's Page takes the first array among the payload's keys as the records: the
    // users must come out as users, not as the ListResponse's schema URIs.
    assert.deepEqual(
      found.map((u) => u.id),
      [a.id],
    );
    assert.ok(found[0] instanceof UserInstance);

    const upper = await users(client).list({ filter: `userName eq "${b.userName.toUpperCase()}"` });
    assert.deepEqual(
      upper.map((u) => u.id),
      [b.id],
    );
    const byExternal = await users(client).list({ filter: `externalId eq "ext-${b.userName}"` });
    assert.deepEqual(
      byExternal.map((u) => u.id),
      [b.id],
    );
    const none = await users(client).list({ filter: `userName eq "nobody-${uniqueName()}"` });
    assert.deepEqual(none, []);

    const everyone = new Set((await users(client).list()).map((u) => u.id));
    assert.ok(everyone.has(a.id) && everyone.has(b.id));
  });

  test("update replaces the user, with If-Match", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const created = await users(client).create(scimUser(uniqueName()));
    const mark = wire.mark();
    const replaced = await users(client)(created.id).update(
      new ScimUser({
        schemas: [USER_SCHEMA],
        userName: created.userName,
        displayName: "Rear Admiral Hopper",
        name: { givenName: "Grace", familyName: "Hopper" },
        emails: [{ value: created.userName, type: "work", primary: true }],
        active: true,
      }),
      { "If-Match": created.meta.version },
    );
    const [entry] = wire.since(mark);
    assert.equal(entry.method, "PUT");
    assert.equal(entry.headers["if-match"], created.meta.version);
    assert.equal(entry.status, 200);
    assert.equal(replaced.displayName, "Rear Admiral Hopper");
    assert.notEqual(replaced.meta.version, created.meta.version);

    // The same version again is stale now: 412, and nothing changes.
    const error = await rejects(
      users(client)(created.id).update(scimUser(created.userName, { displayName: "stale" }), {
        "If-Match": created.meta.version,
      }),
    );
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 412);
    assert.equal((await users(client)(created.id).fetch()).displayName, "Rear Admiral Hopper");
  });

  test("patch with the generated ScimPatchRequest class", async () => {
    // ScimPatchRequest's constructor keeps the operations as `operations` (lower case), so
    // that is the member name the SDK puts on the wire: attribute names are case-insensitive
    // in SCIM (RFC 7643 §2.1), and the server must read it.
    const wire = new Wire();
    const client = makeClient(wire);
    const created = await users(client).create(scimUser(uniqueName()));
    const mark = wire.mark();
    const patched = await users(client)(created.id).patch(
      new ScimPatchRequest({
        schemas: [PATCH_SCHEMA],
        Operations: [
          { op: "replace", path: "name.familyName", value: "Murray" },
          { op: "Replace", value: { displayName: "Grace Murray", active: false } },
        ],
      }),
      { "If-Match": created.meta.version },
    );
    const [entry] = wire.since(mark);
    assert.equal(entry.method, "PATCH");
    assert.deepEqual(Object.keys(sentJson(entry)).sort(), ["operations", "schemas"]);
    assert.equal(entry.status, 200);
    assert.equal(patched.name.familyName, "Murray");
    assert.equal(patched.name.givenName, "Grace");
    assert.equal(patched.displayName, "Grace Murray");
    assert.equal(patched.active, false);
  });

  test("patch with a plain object, as RFC 7644 spells it", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const created = await users(client).create(scimUser(uniqueName()));
    const patched = await users(client)(created.id).patch({
      schemas: [PATCH_SCHEMA],
      Operations: [{ op: "replace", path: "active", value: false }],
    });
    assert.equal(patched.active, false);
  });

  test("remove, then fetch is a 404", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const created = await users(client).create(scimUser(uniqueName()));
    const mark = wire.mark();
    assert.equal(await users(client)(created.id).remove(), true);
    const [entry] = wire.since(mark);
    assert.equal(entry.method, "DELETE");
    assert.equal(entry.status, 204);
    const error = await rejects(users(client)(created.id).fetch());
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 404);
  });

  test("a duplicate userName is a 409 with the SCIM error body", async () => {
    const wire = new Wire();
    const client = makeClient(wire);
    const created = await users(client).create(scimUser(uniqueName()));
    const mark = wire.mark();
    const error = await rejects(users(client).create(scimUser(created.userName.toUpperCase())));
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 409);
    assert.equal(error.code, 20409);
    const [entry] = wire.since(mark);
    const body = typeof entry.response === "string" ? JSON.parse(entry.response) : entry.response;
    assert.deepEqual(body.schemas, [ERROR_SCHEMA]);
    assert.equal(body.status, "409");
    assert.equal(body.scimType, "uniqueness");
    assert.equal(body.moreInfo, "https://www.twilio.com/docs/errors/20409");
  });

  test("users of another organization are 404", async () => {
    const client = makeClient(new Wire());
    const created = await users(client).create(scimUser(uniqueName()));
    const other = `OR${randomBytes(16).toString("hex")}`;
    const error = await rejects(users(client, other)(created.id).fetch());
    assert.equal(error.status, 404);
  });
});
