// The orgiam console in a real browser (Debian's chromium, driven by Playwright), against a
// real server started by ./run: sign in, search roles, open a role, grant and revoke an
// assignment, create an app and see its secret once, find the change in the audit trail,
// run a permission check, effective permissions and holders; a form posted from another
// site is refused; the same flows by keyboard alone; axe-core on every page (no serious or
// critical violation); a screenshot of each page.
//
// Environment (set by ./run): BASE, CLIENT_ID, CLIENT_SECRET, ORG, USER_SID, CHROMIUM,
// SHOTS (where the screenshots go).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("BASE");
const CLIENT_ID = env("CLIENT_ID");
const CLIENT_SECRET = env("CLIENT_SECRET");
const ORG = env("ORG");
const USER_SID = env("USER_SID");
const SHOTS = env("SHOTS");
mkdirSync(SHOTS, { recursive: true });

let passed = 0;
let failed = 0;
const scanned = new Set();

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

/** axe-core on the page as it is now: no serious or critical violation. */
async function axe(page, label) {
  const result = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  scanned.add(label);
  assert.equal(
    bad.length,
    0,
    `${label}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; ")}`,
  );
}

async function shot(page, name, mask = []) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, mask });
}

/** Presses Tab until `locator` has the focus (keyboard only: no clicks). */
async function tabTo(page, locator, max = 150) {
  const handle = await locator.elementHandle();
  assert.ok(handle, "the element to reach is on the page");
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await handle.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`Tab never reached ${locator}`);
}

/** A link of the console's navigation. */
const nav = (page, name) => page.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true });

async function signIn(page) {
  await page.goto(`${BASE}/console`);
  assert.match(page.url(), /\/console\/sign-in$/);
  await page.getByLabel("Client id").fill(CLIENT_ID);
  await page.getByLabel("Client secret").fill(CLIENT_SECRET);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${BASE}/console`);
}

/** The API's count of role assignments of the test user (outside the browser). */
async function apiAssignments() {
  const t = await fetch(`${BASE}/v2/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  }).then((r) => r.json());
  const r = await fetch(`${BASE}/v2/Organizations/RoleAssignments?Identity=${USER_SID}`, {
    headers: { Authorization: `Bearer ${t.access_token}` },
  }).then((r) => r.json());
  return r.content.length;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const viewport = { width: 1200, height: 800 };

// ------------------------------------------------------------------------------------------
// The flows, with the mouse.
{
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const cspViolations = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  let roleSid = "";
  let roleName = "";
  let permission = "";
  let assignment = "";

  await step("sign in", async () => {
    await page.goto(`${BASE}/console`);
    assert.match(page.url(), /\/console\/sign-in$/);
    await axe(page, "sign-in");
    await shot(page, "sign-in");
    await page.getByLabel("Client id").fill(CLIENT_ID);
    await page.getByLabel("Client secret").fill(CLIENT_SECRET);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${BASE}/console`);
    await assert.doesNotReject(page.getByRole("heading", { level: 1, name: "Console" }).waitFor());
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "orgiam_console");
    assert.ok(session, "the session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.equal(await page.evaluate(() => document.cookie.includes("orgiam_console=")), false, "scripts cannot read the token");
    await axe(page, "home");
    await shot(page, "home");
  });

  await step("search roles, filter by product group, open a role", async () => {
    await nav(page, "Roles").click();
    await page.waitForURL(/\/console\/roles/);
    const first = page.locator("tbody tr td a").first();
    roleName = (await first.textContent()).trim();
    const word = roleName.split(/\s+/)[0];
    await page.getByLabel("Search (name or SID)").fill(word);
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/search=/);
    const names = await page.locator("tbody tr td:first-child").allTextContents();
    assert.ok(names.length > 0, "the search finds roles");
    for (const n of names) assert.ok(n.toLowerCase().includes(word.toLowerCase()), `${n} matches ${word}`);
    await axe(page, "roles");
    await shot(page, "roles");
    // A product group filter.
    const options = await page.locator("select[name=group] option").evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    assert.ok(options.length > 0, "product groups are listed");
    await page.getByLabel("Search (name or SID)").fill("");
    await page.getByLabel("Product group").selectOption(options[0]);
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/group=/);
    assert.ok((await page.locator("tbody tr").count()) > 0);
    // Back to the unfiltered list; open a role whose policy grants catalog permissions.
    await page.goto(`${BASE}/console/roles`);
    const links = await page.locator("tbody tr td:first-child a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    for (const href of links) {
      await page.goto(`${BASE}${href}`);
      const perms = await page.locator("tbody tr td code").allTextContents();
      const level = (await page.locator("dt:has-text('Lowest level') + dd").textContent()).trim();
      const types = (await page.locator("dt:has-text('Resource types') + dd").textContent()).trim();
      if (perms.length > 0 && types === "—" && level !== "SUB_ACCOUNT_ONLY") {
        permission = perms[0].trim();
        roleSid = href.split("/").pop();
        break;
      }
    }
    assert.ok(roleSid, "a role that grants permissions");
    assert.match(await page.locator("h1").textContent(), /^Role: /);
    await axe(page, "role");
    await shot(page, "role");
  });

  await step("grant a role", async () => {
    await page.getByRole("link", { name: "Grant this role to a user" }).click();
    await page.waitForURL(/\/console\/assignments\?role_sid=/);
    assert.equal(await page.getByLabel("Role SID").inputValue(), roleSid);
    await page.getByLabel("User SID (identity)").fill(USER_SID);
    await page.getByLabel("Scope (organization or account SID)").fill(ORG);
    await page.getByRole("button", { name: "Grant" }).click();
    await page.waitForURL(/granted=IY/);
    assignment = new URL(page.url()).searchParams.get("granted");
    await assert.doesNotReject(page.getByRole("status").filter({ hasText: assignment }).waitFor());
    assert.equal(await apiAssignments(), 1);
    await axe(page, "assignments");
    await shot(page, "assignments");
  });

  await step("can this user do that here? (allowed, with the explanation)", async () => {
    await nav(page, "Check").click();
    await page.getByLabel("User SID").fill(USER_SID);
    await page.getByLabel("Permission").fill(permission);
    await page.getByLabel("Scope").fill(ORG);
    await page.getByRole("button", { name: "Check" }).click();
    await page.waitForURL(/\/console\/check\?/);
    assert.equal((await page.locator("#answer").textContent()).trim(), "Allowed");
    assert.ok((await page.content()).includes(assignment), "the grant names the assignment");
    await axe(page, "check");
    await shot(page, "check");
  });

  await step("effective permissions and who can", async () => {
    await page.goto(`${BASE}/console/users`);
    await axe(page, "users");
    await shot(page, "users");
    await page.locator(`tr:has-text("${USER_SID}")`).getByRole("link", { name: "Effective permissions" }).click();
    await page.waitForURL(/\/console\/effective\?/);
    assert.ok((await page.locator("tbody tr").count()) > 0, "the user holds permissions");
    assert.ok((await page.content()).includes(permission));
    await axe(page, "effective");
    await shot(page, "effective");
    await nav(page, "Who can").click();
    await page.getByLabel("Permission").fill(permission);
    await page.getByRole("button", { name: "Who can" }).click();
    await page.waitForURL(/\/console\/holders\?/);
    assert.ok((await page.content()).includes(USER_SID), "the user is a holder");
    await axe(page, "holders");
    await shot(page, "holders");
  });

  await step("revoke the assignment", async () => {
    await page.goto(`${BASE}/console/assignments?identity=${USER_SID}`);
    await page.getByRole("button", { name: `Revoke assignment ${assignment}` }).click();
    await page.waitForURL(/revoked=IY/);
    assert.equal(await apiAssignments(), 0);
  });

  await step("create an app and see its secret once; disable and rotate", async () => {
    await nav(page, "OAuth apps").click();
    await page.getByLabel("Name").fill("console test app");
    await page.getByLabel("Allowed permissions (one per line)").fill("/twilio/iam/role-assignments/list");
    await page.getByRole("button", { name: "Create app" }).click();
    const secret = (await page.getByLabel("Client secret").textContent()).trim();
    assert.ok(secret.length >= 32, "a secret is shown");
    const shown = await page.locator("main code").first().textContent();
    await shot(page, "app-secret", [page.getByLabel("Client secret")]);
    await axe(page, "app-secret");
    await page.getByRole("link", { name: "Back to the apps" }).click();
    assert.ok(!(await page.content()).includes(secret), "the secret is not shown again");
    assert.ok((await page.content()).includes(shown));
    await axe(page, "apps");
    await shot(page, "apps");
    await page.getByRole("button", { name: `Disable app ${shown}` }).click();
    await page.waitForURL(/changed=/);
    assert.ok(await page.getByRole("button", { name: `Enable app ${shown}` }).isVisible());
  });

  await step("find the changes in the audit trail", async () => {
    await nav(page, "Audit trail").click();
    await page.getByLabel("Target").fill(assignment);
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/target=IY/);
    const rows = await page.locator("tbody tr").allTextContents();
    assert.equal(rows.length, 2, `granted and revoked: ${rows}`);
    await axe(page, "audit");
    await shot(page, "audit");
  });

  await step("accounts", async () => {
    await nav(page, "Accounts").click();
    assert.ok((await page.locator("tbody tr").count()) > 0);
    await axe(page, "accounts");
    await shot(page, "accounts");
  });

  await step("no Content-Security-Policy violation on any page", async () => {
    assert.deepEqual(cspViolations, []);
  });

  await step("a form posted from another site is refused", async () => {
    const before = await apiAssignments();
    // A page on another origin with a form aimed at the console (clicked, no script).
    await page.route("http://evil.example/**", (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!doctype html><html lang="en"><title>x</title><body>
          <form method="post" action="${BASE}/console/assignments">
            <input type="hidden" name="csrf" value="guess">
            <input type="hidden" name="role_sid" value="${roleSid}">
            <input type="hidden" name="identity" value="${USER_SID}">
            <input type="hidden" name="scope" value="${ORG}">
            <button>win a prize</button></form>
          <form method="post" action="${BASE}/console/sign-in">
            <input type="hidden" name="client_id" value="${CLIENT_ID}">
            <input type="hidden" name="client_secret" value="x">
            <button>sign in elsewhere</button></form></body></html>`,
      }),
    );
    await page.goto("http://evil.example/");
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${BASE}/console/assignments` && r.request().method() === "POST"),
      page.getByRole("button", { name: "win a prize" }).click(),
    ]);
    assert.notEqual(res.status(), 200);
    assert.ok(![200, 201].includes(res.status()), `refused: ${res.status()}`);
    assert.equal(await apiAssignments(), before, "nothing was granted");
    await page.goto("http://evil.example/");
    const [signin] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${BASE}/console/sign-in` && r.request().method() === "POST"),
      page.getByRole("button", { name: "sign in elsewhere" }).click(),
    ]);
    assert.equal(signin.status(), 403);
    assert.match(await page.content(), /another site/);
  });

  await step("sign out", async () => {
    await page.goto(`${BASE}/console`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/console\/sign-in/);
    const cookies = await context.cookies();
    assert.ok(!cookies.some((c) => c.name === "orgiam_console" && c.value), "the cookie is gone");
    await page.goto(`${BASE}/console/roles`);
    assert.match(page.url(), /\/console\/sign-in$/);
  });
  await context.close();
}

// ------------------------------------------------------------------------------------------
// The same flows by keyboard alone.
{
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const kb = page.keyboard;
  let assignment = "";
  let roleSid = "";
  let permission = "";

  await step("keyboard: sign in", async () => {
    await page.goto(`${BASE}/console/sign-in`);
    await tabTo(page, page.getByLabel("Client id"));
    await kb.type(CLIENT_ID);
    await kb.press("Tab");
    await kb.type(CLIENT_SECRET);
    await kb.press("Enter");
    await page.waitForURL(`${BASE}/console`);
  });

  await step("keyboard: skip link comes first and moves to the content", async () => {
    await kb.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  });

  await step("keyboard: search roles and open one", async () => {
    await tabTo(page, nav(page, "Roles"));
    await kb.press("Enter");
    await page.waitForURL(/\/console\/roles$/);
    await tabTo(page, page.getByLabel("Search (name or SID)"));
    await kb.type("a");
    await kb.press("Enter");
    await page.waitForURL(/search=a/);
    // Open roles until one grants permissions without resource types.
    const count = await page.locator("tbody tr").count();
    for (let i = 0; i < count && !roleSid; i++) {
      await tabTo(page, page.locator("tbody tr td:first-child a").nth(i));
      await kb.press("Enter");
      await page.waitForURL(/\/console\/roles\/IX/);
      const perms = await page.locator("tbody tr td code").allTextContents();
      const types = (await page.locator("dt:has-text('Resource types') + dd").textContent()).trim();
      if (perms.length > 0 && types === "—") {
        roleSid = page.url().split("/").pop();
        permission = perms[0].trim();
      } else {
        await page.goBack();
      }
    }
    assert.ok(roleSid);
  });

  await step("keyboard: grant and revoke", async () => {
    await tabTo(page, page.getByRole("link", { name: "Grant this role to a user" }));
    await kb.press("Enter");
    await page.waitForURL(/role_sid=/);
    await tabTo(page, page.getByLabel("User SID (identity)"));
    await kb.type(USER_SID);
    await kb.press("Tab");
    await kb.type(ORG);
    await kb.press("Enter");
    await page.waitForURL(/granted=IY/);
    assignment = new URL(page.url()).searchParams.get("granted");
    assert.equal(await apiAssignments(), 1);
    await tabTo(page, page.getByRole("button", { name: `Revoke assignment ${assignment}` }));
    await kb.press("Enter");
    await page.waitForURL(/revoked=IY/);
    assert.equal(await apiAssignments(), 0);
  });

  await step("keyboard: permission check", async () => {
    await tabTo(page, nav(page, "Check"));
    await kb.press("Enter");
    await page.waitForURL(/\/console\/check$/);
    await tabTo(page, page.getByLabel("User SID"));
    await kb.type(USER_SID);
    await kb.press("Tab");
    await kb.type(permission);
    await kb.press("Tab");
    await kb.type(ORG);
    await kb.press("Enter");
    await page.waitForURL(/\/console\/check\?/);
    assert.equal((await page.locator("#answer").textContent()).trim(), "Not allowed", "revoked: no longer allowed");
  });

  await step("keyboard: create an app, see its secret", async () => {
    await tabTo(page, nav(page, "OAuth apps"));
    await kb.press("Enter");
    await page.waitForURL(/\/console\/apps$/);
    await tabTo(page, page.getByLabel("Name"));
    await kb.type("keyboard app");
    await tabTo(page, page.getByLabel("Allowed permissions (one per line)"));
    await kb.type("/twilio/iam/accounts/list");
    await tabTo(page, page.getByRole("button", { name: "Create app" }));
    await kb.press("Enter");
    await page.getByLabel("Client secret").waitFor();
    assert.ok(((await page.getByLabel("Client secret").textContent()) || "").trim().length >= 32);
  });

  await step("keyboard: the audit trail", async () => {
    await tabTo(page, nav(page, "Audit trail"));
    await kb.press("Enter");
    await page.waitForURL(/\/console\/audit$/);
    await tabTo(page, page.getByLabel("Target"));
    await kb.type(assignment);
    await kb.press("Enter");
    await page.waitForURL(/target=IY/);
    assert.equal(await page.locator("tbody tr").count(), 2);
  });

  await step("keyboard: sign out", async () => {
    await tabTo(page, page.getByRole("button", { name: "Sign out" }));
    await kb.press("Enter");
    await page.waitForURL(/\/console\/sign-in/);
  });
  await context.close();
}

// ------------------------------------------------------------------------------------------
// Pages the flows above did not scan: the permission-lacking page of a narrow app.
await step("every page was scanned by axe-core", async () => {
  const want = ["sign-in", "home", "roles", "role", "users", "accounts", "assignments", "apps", "app-secret", "audit", "check", "effective", "holders"];
  assert.deepEqual(want.filter((w) => !scanned.has(w)), []);
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
