// Organizations in the web client, in headless Chromium, against the running local stack:
// A creates an organization, switches to it, creates a project there and invites B; B
// opens the mailed link signed out, signs up, is refused until the address is verified,
// opens the mailed verification link, accepts, switches and sees A's project; a reload
// keeps A in the organization; A's rename shows up live in B's browser.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";

/** The local API front, with the mailbox (`make dev`, `make e2e-browser`). */
const API = "http://127.0.0.1:9000";

/** Where the step screenshots go: <repo>/.local/e2e-browser. */
function shotsDir(): string {
  const config = test.info().config.configFile ?? path.resolve("playwright.config.ts");
  return path.resolve(path.dirname(config), "../../.local/e2e-browser");
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(shotsDir(), `${name}.png`), fullPage: true });
}

/** The newest `<APP_URL>/<page>?token=…` link mailed to `to` (the local mailbox). */
async function mailedLink(request: APIRequestContext, to: string, page: string): Promise<string> {
  const pattern = new RegExp(`\\S+/${page}\\?token=[\\w-]+`);
  let link = "";
  await expect
    .poll(
      async () => {
        const answer = await request.get(`${API}/_local/mail`, { params: { to } });
        if (!answer.ok()) return `the mailbox answered ${answer.status()}`;
        const { items } = (await answer.json()) as { items: { text: string }[] };
        link = items.map((mail) => pattern.exec(mail.text)?.[0] ?? "").find(Boolean) ?? "";
        return link;
      },
      { message: `a ${page} link mailed to ${to}`, timeout: 30_000 },
    )
    .toMatch(pattern);
  return link;
}

async function signUp(page: Page, email: string, password: string, name: string): Promise<void> {
  await expect(page.getByTestId("signed-out")).toBeVisible();
  await page.getByTestId("email").fill(email);
  await page.getByTestId("password").fill(password);
  await page.getByTestId("full-name").fill(name);
  await page.getByTestId("sign-up").click();
  await expect(page.getByTestId("user-email")).toHaveText(email);
}

test("organizations: switch, invite, accept, see a project live", async ({ browser, request }) => {
  const id = randomUUID().slice(0, 8);
  const ownerEmail = `org-owner-${id}@example.com`;
  const guestEmail = `org-guest-${id}@example.com`;
  const password = `pw-${randomUUID()}`;
  const organization = `Org ${id}`;
  const project = `Team project ${id}`;
  const first = await browser.newContext();
  const owner = await first.newPage();
  const second = await browser.newContext();
  const guest = await second.newPage();
  const active = (page: Page) => page.locator("[data-testid=tenant-select] option:checked");

  await test.step("A signs up and creates an organization", async () => {
    await owner.goto("/");
    await signUp(owner, ownerEmail, password, "Owner A");
    await expect(active(owner)).toHaveText("Owner A (personal)");
    await expect(owner.getByTestId("members-view")).toBeHidden();
    await owner.getByTestId("organization-name").fill(organization);
    await owner.getByTestId("create-organization").click();
    await expect(owner.getByTestId("tenant-select").locator("option")).toHaveText([
      "Owner A (personal)",
      organization,
    ]);
    await expect(owner.getByTestId("error")).toBeEmpty();
    await shot(owner, "org-01-organization-created");
  });

  await test.step("A switches to it and creates a project there", async () => {
    const switched = owner.waitForResponse(
      (r) => r.url().endsWith("/switch") && r.request().method() === "POST",
    );
    await owner.getByTestId("tenant-select").selectOption({ label: organization });
    expect((await switched).status()).toBe(200);
    await expect(active(owner)).toHaveText(organization);
    const ownerRow = owner.getByTestId("member-item").filter({ hasText: ownerEmail });
    await expect(ownerRow.getByTestId("member-role")).toHaveText("owner");
    await expect(owner.getByTestId("projects").getByRole("listitem")).toHaveCount(0);
    await owner.getByTestId("project-name").fill(project);
    await owner.getByTestId("create-project").click();
    await expect(owner.getByTestId("live-name")).toHaveText(project);
    await expect(owner.getByTestId("error")).toBeEmpty();
    await shot(owner, "org-02-switched-project-created");
  });

  await test.step("A invites B as a member", async () => {
    await owner.getByTestId("invite-email").fill(guestEmail);
    await owner.getByTestId("invite-role").selectOption("member");
    await owner.getByTestId("invite").click();
    await expect(owner.getByTestId("invitation-item")).toContainText(`${guestEmail} as member`);
    await expect(owner.getByTestId("error")).toBeEmpty();
    await shot(owner, "org-03-invited");
  });

  const invitation = await mailedLink(request, guestEmail, "accept-invitation");
  await test.step("B opens the mailed link signed out: sign in or up first", async () => {
    expect(new URL(invitation).pathname).toBe("/accept-invitation");
    await guest.goto(invitation);
    await expect(guest.getByTestId("invitation")).toBeVisible();
    await expect(guest.getByTestId("signed-out")).toBeVisible();
    await shot(guest, "org-04-invitation-signed-out");
  });

  await test.step("B signs up there; unverified, the invitation is refused", async () => {
    await signUp(guest, guestEmail, password, "Guest B");
    await expect(guest.getByTestId("error")).toContainText("not verified");
    await expect(guest.getByTestId("signed-in")).toBeVisible();
    expect(new URL(guest.url()).pathname).toBe("/accept-invitation");
    await shot(guest, "org-05-invitation-needs-verification");
  });

  await test.step("B opens the mailed verification link: the address is verified", async () => {
    const link = await mailedLink(request, guestEmail, "verify-email");
    expect(new URL(link).pathname).toBe("/verify-email");
    await guest.goto(link);
    const status = guest.getByTestId("verification-status");
    await expect(status).toHaveText("Your email is verified.");
    await expect(status).toHaveAttribute("data-state", "verified");
    expect(new URL(guest.url()).pathname, "the used link leaves the address bar").toBe("/");
    await expect(guest.getByTestId("user-email")).toHaveText(guestEmail);
    await expect(guest.getByTestId("error")).toBeEmpty();
    await shot(guest, "org-06-email-verified");
  });

  await test.step("B opens the link again and joins", async () => {
    await guest.goto(invitation);
    await expect(guest.getByTestId("invitation-text")).toHaveText(
      `You joined ${organization} as member.`,
    );
    await expect(guest.getByTestId("error")).toBeEmpty();
    expect(new URL(guest.url()).pathname, "the used link leaves the address bar").toBe("/");
    await shot(guest, "org-07-invitation-accepted");
  });

  await test.step("B switches to the organization and sees A's project", async () => {
    await guest.getByTestId("invitation-switch").click();
    await expect(active(guest)).toHaveText(organization);
    await expect(guest.getByTestId("invitation")).toBeHidden();
    await guest.getByTestId("projects").getByText(project).click();
    await expect(guest.getByTestId("live-name")).toHaveText(project);
    await expect(guest.getByTestId("live-status")).toHaveText(/^subscribed to project:/);
    await expect(guest.getByTestId("error")).toBeEmpty();
    await shot(guest, "org-08-guest-in-organization");
  });

  await test.step("a reload keeps A in the organization, B among its members", async () => {
    await owner.reload();
    await expect(owner.getByTestId("user-email")).toHaveText(ownerEmail);
    await expect(active(owner)).toHaveText(organization);
    const guestRow = owner.getByTestId("member-item").filter({ hasText: guestEmail });
    await expect(guestRow.getByTestId("member-role")).toHaveValue("member");
    await expect(owner.getByTestId("invitation-item")).toHaveCount(0);
    await expect(owner.getByTestId("projects").getByText(project)).toBeVisible();
    await shot(owner, "org-09-reloaded-members");
  });

  const renamed = `Renamed ${id}`;
  await test.step("A's rename shows up live in B's browser", async () => {
    await owner.getByTestId("projects").getByText(project).click();
    await owner.getByTestId("rename-input").fill(renamed);
    await owner.getByTestId("rename").click();
    await expect(owner.getByTestId("live-name")).toHaveText(renamed);
    await expect(owner.getByTestId("error")).toBeEmpty();
    await expect(guest.getByTestId("live-name")).toHaveText(renamed);
    await expect(guest.getByTestId("projects").getByText(renamed)).toBeVisible();
    await shot(owner, "org-10-renamed");
    await shot(guest, "org-11-rename-seen-live");
  });

  await second.close();
  await first.close();
});
