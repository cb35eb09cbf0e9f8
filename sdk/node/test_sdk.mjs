// Drive a real orgiam server with the official, unmodified `twilio` package from npm.
//
// `sdk/run` starts the server and exports ORGIAM_URL, ORGIAM_CLIENT_ID, ORGIAM_CLIENT_SECRET,
// ORGIAM_ORG, ORGIAM_USER, ORGIAM_ACCOUNT and ORGIAM_SUBACCOUNT. The SDK is pointed at the server
// by overriding the `baseUrl` of its `oauth`, `iam` and `previewIam` domains; no edge or region.
//
// Every request is recorded from axios' response interceptor, where `res.request` is the Node
// ClientRequest that went on the wire (method, path, headers) and `res.config.data` the body.

import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";

const require = createRequire(import.meta.url);
const twilio = require("twilio");
const RequestClient = require("twilio/lib/base/RequestClient");
const OrgsTokenManager = require("twilio/lib/http/bearer_token/OrgsTokenManager").default;
const Page = require("twilio/lib/base/Page").default;
const Version = require("twilio/lib/base/Version").default;
const RestException = require("twilio/lib/base/RestException").default;
const {
  PublicApiCreateRoleAssignmentRequest,
} = require("twilio/lib/rest/previewIam/versionless/organization/roleAssignment");
const {
  IamV1AccountVendorOauthAppCreateRequest,
  IamV1AccountVendorOauthAppUpdateRequest,
} = require("twilio/lib/rest/iam/v1/oAuthApp");
const PINNED_VERSION = "6.2.0";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run sdk/run`);
  return value;
};
const URL_ = env("ORGIAM_URL").replace(/\/+$/, "");
const CLIENT_ID = env("ORGIAM_CLIENT_ID");
const CLIENT_SECRET = env("ORGIAM_CLIENT_SECRET");
const ORG = env("ORGIAM_ORG");
const USER = env("ORGIAM_USER");
const ACCOUNT = env("ORGIAM_ACCOUNT");
const SUBACCOUNT = env("ORGIAM_SUBACCOUNT");

const hex32 = () => randomBytes(16).toString("hex");

/** Everything the SDK sent, as it went on the wire, with the answer. */
class Wire {
  constructor() {
    this.log = [];
  }
  mark() {
    return this.log.length;
  }
  since(mark, { apiOnly = true } = {}) {
    const entries = this.log.slice(mark);
    return apiOnly ? entries.filter((e) => !isTokenRequest(e)) : entries;
  }
  tokens() {
    return this.log.filter(isTokenRequest);
  }
}

/** The SDK's own RequestClient, with an axios interceptor that only records. */
class RecordingRequestClient extends RequestClient {
  constructor(wire) {
    super({});
    this.axios.interceptors.response.use((res) => {
      const req = res.request;
      wire.log.push({
        method: req.method,
        url: `${req.protocol}//${req.getHeader("host")}${req.path}`,
        headers: req.getHeaders(), // lower-cased names
        body: typeof res.config.data === "string" ? res.config.data : undefined,
        status: res.status,
        responseHeaders: res.headers,
        response: res.data,
      });
      return res;
    });
  }
}

function isTokenRequest(entry) {
  const path = new URL(entry.url).pathname;
  return path === "/v1/token" || path === "/v2/token";
}

function query(entry) {
  return new URL(entry.url).searchParams;
}

/**
 * OrgsTokenManager.fetchToken builds a fresh `new Client()` with the oauth domain hard-wired to
 * https://oauth.twilio.com, so it cannot be pointed anywhere. This subclass does exactly what
 * it does (no-auth client, oauth.v2.token.create(params), same error wrapping) with the oauth
 * domain's baseUrl set to orgiam. It is handed to OrgsCredentialProviderBuilder.setTokenManager.
 */
class OrgiamOrgsTokenManager extends OrgsTokenManager {
  constructor(params, wire) {
    super(params);
    this.wire = wire;
    this.fetches = 0;
  }
  async fetchToken() {
    this.fetches += 1;
    const client = twilio(undefined, undefined, { httpClient: new RecordingRequestClient(this.wire) });
    client.setCredentialProvider(new twilio.NoAuthCredentialProvider());
    client.oauth.baseUrl = URL_;
    return client.oauth.v2.token
      .create(this.getParams())
      .then((token) => token.accessToken)
      .catch((error) => {
        throw new Error(
          `Error Status Code: ${error.status}\nFailed to fetch access token: ${error.message}`,
        );
      });
  }
}

function makeClient(wire, { clientId = CLIENT_ID, clientSecret = CLIENT_SECRET } = {}) {
  const tokenManager = new OrgiamOrgsTokenManager(
    { grantType: "client_credentials", clientId, clientSecret },
    wire,
  );
  const provider = new twilio.OrgsCredentialProviderBuilder()
    .setClientId(clientId)
    .setClientSecret(clientSecret)
    .setTokenManager(tokenManager)
    .build();
  const client = twilio(undefined, undefined, { httpClient: new RecordingRequestClient(wire) });
  client.setCredentialProvider(provider);
  client.oauth.baseUrl = URL_;
  client.iam.baseUrl = URL_;
  client.previewIam.baseUrl = URL_;
  return { client, tokenManager };
}

class RawPage extends Page {
  getInstance(payload) {
    return payload;
  }
}

/**
 * The Node SDK has no resource for /v2/Organizations/Roles: a list instance built the way the
 * generated ones are (page() on a Version of the iam domain, each/list from Version).
 */
function rolesList(client) {
  const version = new Version(client.iam, "v2");
  const instance = {};
  instance._version = version;
  instance._uri = "/Organizations/Roles";
  instance.page = function page(params = {}) {
    const data = {};
    if (params.search !== undefined) data.Search = params.search;
    if (params.roleProductGroup !== undefined) data.RoleProductGroup = params.roleProductGroup;
    if (params.resourceTypes !== undefined) data.ResourceTypes = params.resourceTypes;
    if (params.expand !== undefined) data.Expand = params.expand;
    if (params.pageSize !== undefined) data.PageSize = params.pageSize;
    if (params.pageNumber !== undefined) data.Page = params.pageNumber;
    if (params.pageToken !== undefined) data.PageToken = params.pageToken;
    return version
      .page({ uri: instance._uri, method: "get", params: data, headers: { Accept: "application/json" } })
      .then((response) => new RawPage(version, response, {}));
  };
  instance.each = version.each;
  instance.list = version.list;
  return instance;
}

const org = (client) => client.previewIam.organization(ORG);

async function rejects(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to fail");
}

let shared;
before(async () => {
  const wire = new Wire();
  const { client } = makeClient(wire);
  const allRoles = await rolesList(client).list({ pageSize: 1000 });
  const subAccountRoles = allRoles.filter(
    (r) => r.lowest_level === "SUB_ACCOUNT" && r.resource_types === null,
  );
  assert.ok(subAccountRoles.length >= 2, "need two built-in roles grantable at any scope");
  shared = { allRoles, subAccountRoles };
});

test("the installed SDK is the pinned one", () => {
  assert.equal(require("twilio/package.json").version, PINNED_VERSION);
});

describe("oauth through OrgsCredentialProvider", () => {
  test("the token request the SDK sends", async () => {
    const wire = new Wire();
    const { client, tokenManager } = makeClient(wire);
    await org(client).accounts.list();
    await org(client).accounts.list();
    const tokens = wire.tokens();
    const api = wire.since(0);
    // OrgsCredentialProvider.toAuthStrategy() returns a new TokenAuthStrategy (with no token)
    // for every request, so twilio-node 6.2.0 fetches a fresh token before each API call.
    assert.equal(api.length, 2);
    assert.equal(tokens.length, api.length);
    assert.equal(tokenManager.fetches, api.length);
    for (const token of tokens) {
      assert.equal(token.method, "POST");
      assert.equal(token.url, `${URL_}/v2/token`);
      assert.equal(token.status, 200);
      assert.equal(token.headers["content-type"], "application/x-www-form-urlencoded");
      assert.equal(token.headers.accept, "application/json");
      // NoAuthStrategy.getAuthString() is "": the SDK sends an empty Authorization header
      assert.equal(token.headers.authorization, "");
      assert.deepEqual(Object.fromEntries(new URLSearchParams(token.body)), {
        grant_type: "client_credentials",
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      });
      assert.equal(token.response.token_type, "Bearer");
      assert.equal(token.response.access_token.split(".").length, 3);
    }
    api.forEach((entry, i) => {
      assert.equal(entry.headers.authorization, `Bearer ${tokens[i].response.access_token}`);
      assert.match(entry.headers["user-agent"], new RegExp(`^twilio-node/${PINNED_VERSION} `));
    });
  });

  test("a wrong client secret rejects the API call", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire, { clientSecret: "not-the-secret" });
    const error = await rejects(org(client).accounts(ACCOUNT).fetch());
    assert.match(error.message, /^Failed to fetch access token: Error Status Code: 401\n/);
    assert.deepEqual(
      wire.log.map((e) => e.status),
      [401],
    );
    assert.equal(wire.log[0].response.code, 20003);
  });

  test("Account SID + Auth Token are refused on organization APIs", async () => {
    const wire = new Wire();
    const client = twilio(`AC${"0".repeat(32)}`, "auth-token", {
      httpClient: new RecordingRequestClient(wire),
    });
    client.previewIam.baseUrl = URL_;
    const error = await rejects(org(client).accounts(ACCOUNT).fetch());
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 401);
    assert.equal(error.code, 20003);
    assert.match(error.message, /bearer/i);
    assert.match(wire.log[0].headers.authorization, /^Basic /);
  });
});

describe("roles through the generic paging", () => {
  const cases = [
    { search: "a" },
    { roleProductGroup: "messaging" },
    { search: "viewer", expand: "true" },
  ];
  const wireName = { search: "Search", roleProductGroup: "RoleProductGroup", expand: "Expand" };
  for (const filters of cases) {
    test(`list() follows next_page_url and keeps ${JSON.stringify(filters)}`, async () => {
      const wire = new Wire();
      const { client } = makeClient(wire);
      const unpaged = await rolesList(client).list({ ...filters, pageSize: 1000 });
      assert.ok(unpaged.length > 0);
      const pageSize = Math.max(1, Math.floor(unpaged.length / 4));
      const mark = wire.mark();
      const paged = await rolesList(client).list({ ...filters, pageSize });
      const sent = wire.since(mark);
      assert.deepEqual(paged, unpaged);
      assert.equal(new Set(paged.map((r) => r.sid)).size, paged.length);
      assert.ok(sent.length >= 3, `only ${sent.length} pages`);
      sent.forEach((entry, i) => {
        assert.equal(entry.method, "GET");
        assert.equal(entry.status, 200);
        assert.equal(entry.headers.accept, "application/json");
        const q = query(entry);
        for (const [name, value] of Object.entries(filters)) {
          assert.deepEqual(q.getAll(wireName[name]), [value], `page ${i} lost ${name}`);
        }
        assert.deepEqual(q.getAll("PageSize"), [String(pageSize)]);
        const meta = entry.response.meta;
        assert.equal(meta.key, "roles");
        assert.equal(meta.page, i);
        if (i + 1 < sent.length) {
          assert.equal(sent[i + 1].url, meta.next_page_url, "next_page_url followed verbatim");
          assert.ok(meta.next_page_url.startsWith(`${URL_}/v2/Organizations/Roles?`));
        } else {
          assert.equal(meta.next_page_url, null);
        }
      });
      if (filters.expand === "true") {
        assert.ok(paged.every((r) => Array.isArray(r.permissions)));
      }
    });
  }

  test("previousPage() goes back", async () => {
    const { client } = makeClient(new Wire());
    const first = await rolesList(client).page({ search: "a", pageSize: 3 });
    const second = await first.nextPage();
    const third = await second.nextPage();
    assert.deepEqual((await third.previousPage()).instances, second.instances);
    assert.deepEqual((await second.previousPage()).instances, first.instances);
    assert.equal(first.previousPageUrl, undefined);
  });

  test("list({limit}) sends PageSize=limit, and a PageSize above 1000 is clamped", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire);
    const mark = wire.mark();
    const got = await rolesList(client).list({ limit: 5000 });
    const [sent] = wire.since(mark);
    assert.deepEqual(got, shared.allRoles);
    assert.equal(query(sent).get("PageSize"), "5000");
    assert.equal(sent.response.meta.page_size, 1000);
  });

  test("errors on a page are parsed into RestException", async () => {
    const { client } = makeClient(new Wire());
    const error = await rejects(rolesList(client).list({ pageSize: 0 }));
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 400);
    assert.equal(error.code, 20001);
    assert.match(error.message, /PageSize/);
    assert.equal(error.moreInfo, "https://www.twilio.com/docs/errors/20001");
  });

  test("fetch one role through the generic Version", async () => {
    const { client } = makeClient(new Wire());
    const role = shared.allRoles[0];
    const version = new Version(client.iam, "v2");
    const fetched = await version.fetch({ uri: `/Organizations/Roles/${role.sid}`, method: "get" });
    assert.deepEqual(fetched, role);
  });
});

describe("role assignments through client.previewIam.organization(OR).roleAssignments", () => {
  test("create, list with Identity/Scope, page, duplicate, remove", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire);
    const ra = org(client).roleAssignments;
    const created = [];
    try {
      for (const role of shared.subAccountRoles.slice(0, 2)) {
        for (const scope of [ORG, ACCOUNT, SUBACCOUNT]) {
          const mark = wire.mark();
          // `data = params` is sent as JSON as given: use the wire (snake_case) names
          const item = await ra.create({ role_sid: role.sid, scope, identity: USER });
          const [sent] = wire.since(mark);
          assert.equal(sent.method, "POST");
          assert.equal(sent.url, `${URL_}/Organizations/${ORG}/RoleAssignments`);
          assert.equal(sent.headers["content-type"], "application/json");
          assert.equal(sent.headers.accept, "application/json");
          assert.deepEqual(JSON.parse(sent.body), { role_sid: role.sid, scope, identity: USER });
          assert.equal(sent.status, 201);
          assert.match(item.sid, /^IY[0-9a-f]{32}$/);
          assert.deepEqual([item.roleSid, item.scope, item.identity], [role.sid, scope, USER]);
          assert.equal(item.resourceType, null);
          assert.equal(item.resourceId, null);
          created.push(item);
        }
      }
      const sids = new Set(created.map((a) => a.sid));

      const mine = await ra.list({ identity: USER });
      const mineSids = mine.map((a) => a.sid);
      for (const sid of sids) assert.ok(mineSids.includes(sid));
      assert.ok(mine.every((a) => a.identity === USER));

      let mark = wire.mark();
      const paged = await ra.list({ identity: USER, pageSize: 2 });
      let sent = wire.since(mark);
      assert.deepEqual(
        paged.map((a) => a.sid),
        mineSids,
      );
      assert.ok(sent.length >= 3);
      sent.forEach((entry, i) => {
        assert.deepEqual(query(entry).getAll("Identity"), [USER]);
        assert.deepEqual(query(entry).getAll("PageSize"), ["2"]);
        assert.equal(entry.response.meta.key, "content");
        if (i + 1 < sent.length) assert.equal(sent[i + 1].url, entry.response.meta.next_page_url);
      });

      const atAccount = await ra.list({ identity: USER, scope: ACCOUNT });
      assert.deepEqual(
        new Set(atAccount.map((a) => a.sid)),
        new Set(created.filter((a) => a.scope === ACCOUNT).map((a) => a.sid)),
      );
      const atSub = await ra.list({ scope: SUBACCOUNT });
      assert.ok(atSub.every((a) => a.scope === SUBACCOUNT));
      for (const a of created.filter((x) => x.scope === SUBACCOUNT)) {
        assert.ok(atSub.some((b) => b.sid === a.sid));
      }

      // limit without pageSize: PageSize=limit, above the maximum of 100
      mark = wire.mark();
      const limited = await ra.list({ identity: USER, limit: 500 });
      [sent] = wire.since(mark);
      assert.equal(query(sent).get("PageSize"), "500");
      assert.equal(sent.response.meta.page_size, 100);
      assert.deepEqual(
        limited.map((a) => a.sid),
        mineSids,
      );

      const dup = await rejects(
        ra.create({ role_sid: created[0].roleSid, scope: created[0].scope, identity: USER }),
      );
      assert.ok(dup instanceof RestException);
      assert.equal(dup.status, 409);
      assert.equal(dup.code, 20409);

      for (const item of [...created]) {
        mark = wire.mark();
        assert.equal(await ra(item.sid).remove(), true);
        [sent] = wire.since(mark);
        assert.equal(sent.method, "DELETE");
        assert.equal(sent.url, `${URL_}/Organizations/${ORG}/RoleAssignments/${item.sid}`);
        assert.equal(sent.status, 204);
        created.splice(created.indexOf(item), 1);
      }
      const gone = await rejects(ra([...sids][0]).remove());
      assert.ok(gone instanceof RestException);
      assert.equal(gone.status, 404);
      assert.equal(gone.code, 20404);
      const after = await ra.list({ identity: USER });
      assert.ok(after.every((a) => !sids.has(a.sid)));
    } finally {
      for (const item of created) await ra(item.sid).remove().catch(() => {});
    }
  });

  test("create with the SDK's typed PublicApiCreateRoleAssignmentRequest", async () => {
    // twilio-node declares create(params: PublicApiCreateRoleAssignmentRequest) whose properties
    // are roleSid/scope/identity/resourceType/resourceId, and sends `params` as JSON unchanged:
    // a TypeScript user (or one passing the SDK's own request class) puts camelCase on the wire.
    const wire = new Wire();
    const { client } = makeClient(wire);
    const ra = org(client).roleAssignments;
    const role = shared.subAccountRoles[0];
    const request = new PublicApiCreateRoleAssignmentRequest({
      role_sid: role.sid,
      scope: SUBACCOUNT,
      identity: USER,
    });
    const mark = wire.mark();
    let item;
    try {
      item = await ra.create(request);
    } finally {
      const [sent] = wire.since(mark);
      assert.deepEqual(JSON.parse(sent.body), { roleSid: role.sid, scope: SUBACCOUNT, identity: USER });
    }
    try {
      assert.deepEqual([item.roleSid, item.scope, item.identity], [role.sid, SUBACCOUNT, USER]);
    } finally {
      await ra(item.sid).remove();
    }
  });

  test("create errors name the field", async () => {
    const { client } = makeClient(new Wire());
    const ra = org(client).roleAssignments;
    const base = { role_sid: shared.subAccountRoles[0].sid, scope: ACCOUNT, identity: USER };
    for (const [field, value] of [
      ["role_sid", "IXnot-a-sid"],
      ["scope", `AC${"0".repeat(32)}`],
      ["identity", `US${"0".repeat(32)}`],
    ]) {
      const error = await rejects(ra.create({ ...base, [field]: value }));
      assert.ok(error instanceof RestException);
      assert.equal(error.status, 400);
      assert.equal(error.code, 20001);
      assert.ok(error.message.includes(field), `${field}: ${error.message}`);
    }
    const orgRole = shared.allRoles.find((r) => r.lowest_level === "ORGANIZATION");
    const error = await rejects(ra.create({ ...base, role_sid: orgRole.sid }));
    assert.equal(error.status, 400);
    assert.match(error.message, /scope/);
  });

  test("another organization's path is a 404", async () => {
    const { client } = makeClient(new Wire());
    const other = client.previewIam.organization(`OR${hex32()}`);
    const listed = await rejects(other.roleAssignments.list());
    assert.equal(listed.status, 404);
    assert.equal(listed.code, 20404);
    const removed = await rejects(other.roleAssignments(`IY${"0".repeat(32)}`).remove());
    assert.equal(removed.status, 404);
  });
});

describe("accounts through client.previewIam.organization(OR).accounts", () => {
  test("list, page, limit", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire);
    const listed = await org(client).accounts.list();
    const sids = listed.map((a) => a.accountSid);
    assert.ok(sids.includes(ACCOUNT) && sids.includes(SUBACCOUNT));
    assert.equal(new Set(sids).size, sids.length);

    let mark = wire.mark();
    const paged = await org(client).accounts.list({ pageSize: 1 });
    let sent = wire.since(mark);
    assert.deepEqual(
      paged.map((a) => a.accountSid),
      sids,
    );
    assert.equal(sent.length, sids.length);
    for (const entry of sent) {
      assert.equal(entry.status, 200);
      assert.equal(query(entry).get("PageSize"), "1");
    }

    mark = wire.mark();
    const limited = await org(client).accounts.list({ limit: 1000 });
    [sent] = wire.since(mark);
    assert.equal(query(sent).get("PageSize"), "1000");
    assert.equal(sent.response.meta.page_size, 100);
    assert.deepEqual(
      limited.map((a) => a.accountSid),
      sids,
    );
  });

  test("fetch", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire);
    const mark = wire.mark();
    const account = await org(client).accounts(ACCOUNT).fetch();
    const [sent] = wire.since(mark);
    assert.equal(sent.url, `${URL_}/Organizations/${ORG}/Accounts/${ACCOUNT}`);
    assert.equal(sent.headers.accept, "application/json");
    assert.equal(account.accountSid, ACCOUNT);
    assert.equal(account.friendlyName, "Prod");
    assert.equal(account.status, "active");
    assert.ok(account.ownerSid === null || /^US/.test(account.ownerSid));
    assert.ok(account.dateCreated instanceof Date && !Number.isNaN(account.dateCreated.getTime()));
    const sub = await org(client).accounts(SUBACCOUNT).fetch();
    assert.equal(sub.accountSid, SUBACCOUNT);
  });

  test("unknown account is a 404, malformed SID a 400", async () => {
    const { client } = makeClient(new Wire());
    const unknown = await rejects(org(client).accounts(`AC${hex32()}`).fetch());
    assert.ok(unknown instanceof RestException);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.code, 20404);
    const malformed = await rejects(org(client).accounts("ACnope").fetch());
    assert.equal(malformed.status, 400);
    assert.equal(malformed.code, 20001);
  });
});

describe("role permissions through client.iam.v1.rolePermission", () => {
  test("match the expanded role, and page", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire);
    const version = new Version(client.iam, "v2");
    let expanded;
    for (const role of shared.allRoles) {
      const candidate = await version.fetch({
        uri: `/Organizations/Roles/${role.sid}`,
        method: "get",
        params: { Expand: "true" },
      });
      if (candidate.permissions.length >= 5 && candidate.permissions.length <= 200) {
        expanded = candidate;
        break;
      }
    }
    assert.ok(expanded, "no built-in role with 5..200 permissions");
    const permissions = await client.iam.v1.rolePermission(expanded.sid).list();
    const key = (p) => JSON.stringify([p.sid, p.namespace, p.product, p.resource, p.action, p.description]);
    assert.deepEqual(
      new Set(permissions.map((p) => key({ ...p, description: p.externalDescription }))),
      new Set(expanded.permissions.map((p) => key({ ...p, description: p.external_description }))),
    );
    assert.ok(permissions.every((p) => /^IZ[0-9a-f]{32}$/.test(p.sid)));

    const mark = wire.mark();
    const paged = await client.iam.v1.rolePermission(expanded.sid).list({ pageSize: 2 });
    const sent = wire.since(mark);
    assert.deepEqual(
      paged.map((p) => p.sid),
      permissions.map((p) => p.sid),
    );
    assert.ok(sent.length >= 3);
    assert.ok(sent[0].url.startsWith(`${URL_}/v1/Roles/${expanded.sid}/Permissions?`));
    sent.forEach((entry, i) => {
      assert.equal(entry.response.meta.key, "permissions");
      if (i + 1 < sent.length) assert.equal(sent[i + 1].url, entry.response.meta.next_page_url);
    });
  });

  test("unknown role is a 404", async () => {
    const { client } = makeClient(new Wire());
    const error = await rejects(client.iam.v1.rolePermission(`IX${hex32()}`).list());
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 404);
    assert.equal(error.code, 20404);
  });
});

describe("OAuth apps through client.iam.v1.oAuthApps", () => {
  test("create, update and delete an app; the new app gets a token at once", async () => {
    const wire = new Wire();
    const { client } = makeClient(wire);
    const mark = wire.mark();
    const app = await client.iam.v1.oAuthApps.create(
      new IamV1AccountVendorOauthAppCreateRequest({
        type: "client_credentials",
        friendly_name: "made by the npm SDK",
        description: "sdk/node",
        policy: { allow: ["/twilio/iam/accounts/list"], deny: null },
        access_token_ttl: 600,
      }),
    );
    const [sent] = wire.since(mark);
    assert.equal(sent.method, "POST");
    assert.equal(new URL(sent.url).pathname, "/v1/Account/OAuthApps");
    assert.equal(sent.status, 201);
    assert.match(app.sid, /^OQ[0-9a-f]{32}$/);
    assert.equal(sent.response.client_sid, app.sid);
    assert.equal(sent.response.owner_sid, ORG);
    assert.ok(app.dateCreated instanceof Date && !Number.isNaN(app.dateCreated.getTime()));
    assert.equal(app.friendlyName, "made by the npm SDK");
    assert.equal(app.accessTokenTtl, 600);
    assert.equal(app.status, "active");
    assert.deepEqual(app.policy.allow, ["/twilio/iam/accounts/list"]);
    assert.ok(app.secret && app.secret.length >= 32, "the secret, shown once");

    // The new app's credentials work at once.
    const { client: created } = makeClient(new Wire(), { clientId: app.sid, clientSecret: app.secret });
    const accounts = await org(created).accounts.list();
    assert.ok(accounts.some((a) => a.accountSid === ACCOUNT));

    const updated = await client.iam.v1.oAuthApps
      .get(app.sid)
      .update(
        new IamV1AccountVendorOauthAppUpdateRequest({
          friendly_name: "renamed by the npm SDK",
          access_token_ttl: 900,
        }),
      );
    assert.equal(updated.sid, app.sid);
    assert.equal(updated.friendlyName, "renamed by the npm SDK");
    assert.equal(updated.accessTokenTtl, 900);
    assert.equal(updated.description, "sdk/node");
    assert.ok(!updated.secret, "no secret after creation");

    // No escalation: the new app cannot create one more powerful than itself.
    const error = await rejects(
      created.iam.v1.oAuthApps.create(
        new IamV1AccountVendorOauthAppCreateRequest({
          type: "client_credentials",
          friendly_name: "too much",
          policy: { allow: ["/twilio/*"] },
        }),
      ),
    );
    assert.ok(error instanceof RestException);
    assert.equal(error.status, 403);

    assert.equal(await client.iam.v1.oAuthApps.get(app.sid).remove(), true);
    const gone = await rejects(
      client.iam.v1.oAuthApps.get(app.sid).update(new IamV1AccountVendorOauthAppUpdateRequest({ friendly_name: "x" })),
    );
    assert.equal(gone.status, 404);
  });
});

describe("throughput of one Node client", () => {
  // Last in the file: it spends the client's token budget.
  test("300 sequential API calls succeed (each one makes the SDK fetch a new token)", async () => {
    const wire = new Wire();
    const { client, tokenManager } = makeClient(wire);
    const calls = 300;
    let done = 0;
    try {
      for (; done < calls; done += 1) {
        await org(client).accounts(ACCOUNT).fetch();
      }
    } catch (error) {
      const limited = wire.tokens().find((e) => e.status === 429);
      assert.fail(
        `call ${done + 1} of ${calls} failed: ${JSON.stringify(error.message)}` +
          (limited ? ` (POST /v2/token answered 429, Retry-After: ${limited.responseHeaders["retry-after"]})` : ""),
      );
    }
    assert.equal(tokenManager.fetches, calls);
  });
});
