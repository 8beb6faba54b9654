// The web client end to end, in headless Chromium, against the running local stack:
// sign-up, silent refresh, projects with a live view in a second browser, a file's round
// trip through S3, a streamed AI answer, sign-out revoking the refresh cookie, the API
// docs, and an error envelope's message on screen.
import { createHash, randomUUID } from "node:crypto";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";

/** Where the step screenshots go: <repo>/.local/e2e-browser. */
function shotsDir(): string {
  const config = test.info().config.configFile ?? path.resolve("playwright.config.ts");
  return path.resolve(path.dirname(config), "../../.local/e2e-browser");
}

// The docs pages are screenshotted as the window shows them: a full-page shot of Swagger
// UI's 140-odd operations once took past the 20 s screenshot timeout on a loaded machine.
async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(shotsDir(), `${name}.png`), fullPage });
}

test("the web client against the local stack", async ({ browser }) => {
  const id = randomUUID().slice(0, 8);
  const email = `web-${id}@example.com`;
  const password = `pw-${randomUUID()}`;
  const first = await browser.newContext();
  const page = await first.newPage();
  let tokenSeconds = 0;

  await test.step("sign up a fresh account", async () => {
    await page.goto("/");
    await expect(page.getByTestId("signed-out")).toBeVisible();
    await page.getByTestId("email").fill(email);
    await page.getByTestId("password").fill(password);
    await page.getByTestId("full-name").fill("Web Client");
    const login = page.waitForResponse((r) => r.url().endsWith("/api/v1/public/auth/login"));
    await page.getByTestId("sign-up").click();
    tokenSeconds = ((await (await login).json()) as { expires_in: number }).expires_in;
    await expect(page.getByTestId("user-email")).toHaveText(email);
    await expect(page.getByTestId("error")).toBeEmpty();
    await shot(page, "01-signed-up");
  });

  await test.step("a reload stays signed in (silent refresh from the cookie)", async () => {
    await page.reload();
    await expect(page.getByTestId("user-email")).toHaveText(email);
    await expect(page.getByTestId("signed-out")).toBeHidden();
    // The access token lives in memory only.
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    await shot(page, "02-reloaded-still-signed-in");
  });

  const name = `Project ${id}`;
  await test.step("create a project", async () => {
    await page.getByTestId("project-name").fill(name);
    await page.getByTestId("create-project").click();
    await expect(page.getByTestId("projects").getByText(name)).toBeVisible();
    await expect(page.getByTestId("live-name")).toHaveText(name);
    await shot(page, "03-project-created");
  });

  const second = await browser.newContext();
  const other = await second.newPage();
  await test.step("a wrong password shows the error envelope's message", async () => {
    await other.goto("/");
    await expect(other.getByTestId("signed-out")).toBeVisible();
    await other.getByTestId("email").fill(email);
    await other.getByTestId("password").fill("not the password");
    await other.getByTestId("sign-in").click();
    await expect(other.getByTestId("error")).toHaveText("Incorrect email or password");
    await expect(other.getByTestId("signed-out")).toBeVisible();
    await shot(other, "04-wrong-password");
  });

  await test.step("a second browser signs in and opens the project's live view", async () => {
    await other.getByTestId("password").fill(password);
    await other.getByTestId("sign-in").click();
    await expect(other.getByTestId("user-email")).toHaveText(email);
    await expect(other.getByTestId("error")).toBeEmpty();
    await other.getByTestId("projects").getByText(name).click();
    await expect(other.getByTestId("live-name")).toHaveText(name);
    await expect(other.getByTestId("live-status")).toHaveText(/^subscribed to project:/);
    await shot(other, "05-second-browser-live-view");
  });

  const renamed = `Renamed ${id}`;
  await test.step("a rename in the first browser shows up live in the second", async () => {
    await page.getByTestId("rename-input").fill(renamed);
    await page.getByTestId("rename").click();
    await expect(page.getByTestId("live-name")).toHaveText(renamed);
    await expect(page.getByTestId("error")).toBeEmpty();
    await expect(other.getByTestId("live-name")).toHaveText(renamed);
    await expect(other.getByTestId("projects").getByText(renamed)).toBeVisible();
    await expect(other.getByTestId("rename-input")).toHaveValue(renamed);
    await shot(page, "06-renamed");
    await shot(other, "07-rename-seen-live");
  });
  await second.close();

  await test.step("the access token expires", async () => {
    expect(
      tokenSeconds,
      "access tokens must be short-lived: JWT_ACCESS_TTL_SECONDS=10 (make e2e-browser sets it)",
    ).toBeLessThanOrEqual(10);
    // The next call, the file upload below, refreshes through the cookie before it is sent.
    await page.waitForTimeout(tokenSeconds * 1000);
  });

  await test.step("upload a file to S3 and download the same bytes", async () => {
    const content = `Hello from the web client test ${id}.\n`;
    const sha256 = createHash("sha256").update(content).digest("hex");
    const upload = page.waitForResponse((r) => r.url().endsWith("/api/v1/app/files/upload-url"));
    const refreshed = page.waitForResponse(
      (r) => r.url().endsWith("/api/v1/public/auth/refresh") && r.status() === 200,
    );
    await page.getByTestId("file-input").setInputFiles({
      name: `hello-${id}.txt`,
      mimeType: "text/plain",
      buffer: Buffer.from(content),
    });
    await refreshed;
    expect((await upload).status(), "the upload's first try carries a valid token").toBe(200);
    const item = page.getByTestId("file-item").filter({ hasText: `hello-${id}.txt` });
    await expect(item).toBeVisible();
    await expect(page.getByTestId("error")).toBeEmpty();
    await item.getByTestId("download").click();
    const link = item.getByTestId("download-link");
    await expect(link).toHaveAttribute("data-sha256", sha256);
    await expect(link).toHaveAttribute("data-size", String(Buffer.byteLength(content)));
    const href = await link.getAttribute("href");
    const downloaded = await page.evaluate(async (url) => (await fetch(url!)).text(), href);
    expect(downloaded).toBe(content);
    await shot(page, "08-file-round-trip");
  });

  await test.step("the AI answer renders as it streams", async () => {
    // The fake provider waits 400 ms between its 8-character deltas.
    await page.getByTestId("ai-prompt").fill("Say hello. fake:*:gap=400");
    await page.getByTestId("ai-send").click();
    const answer = page.getByTestId("ai-answer");
    await expect(answer).toContainText("Hello");
    const partial = await answer.textContent();
    expect(partial).not.toContain("two parts.");
    await shot(page, "09-ai-partial-answer");
    await expect(answer).toHaveAttribute("data-done", "true");
    await expect(answer).toHaveText(/^Hello from .+\.\nThis answer has\n\ntwo parts\.$/);
    await expect(page.getByTestId("ai-usage")).toContainText("tokens");
    await expect(page.getByTestId("error")).toBeEmpty();
    await shot(page, "10-ai-full-answer");
  });

  await test.step("sign-out revokes the refresh cookie", async () => {
    const cookies = await first.cookies();
    expect(cookies.map((c) => c.name)).toContain("aloft_refresh");
    await page.getByTestId("sign-out").click();
    await expect(page.getByTestId("signed-out")).toBeVisible();
    await expect(page.getByTestId("error")).toBeEmpty();
    // Put the old cookie back: the server revoked it, so it no longer signs anyone in.
    await first.addCookies(cookies);
    await page.reload();
    await expect(page.getByTestId("signed-out")).toBeVisible();
    await expect(page.getByTestId("signed-in")).toBeHidden();
    const status = await page.evaluate(async () => {
      const api = `http://${location.hostname}:9000`;
      const answer = await fetch(`${api}/api/v1/public/auth/refresh`, {
        method: "POST",
        credentials: "include",
      });
      return answer.status;
    });
    expect(status).toBe(401);
    await shot(page, "11-signed-out");
  });

  await test.step("the API docs render from the stack's own files", async () => {
    await page.goto("http://localhost:9000/docs");
    await expect.poll(() => page.locator(".opblock").count()).toBeGreaterThan(0);
    // Swagger UI renders a large document lazily, as it scrolls into view: count what
    // it loaded, not what it has drawn.
    const operations = () =>
      page.evaluate(
        () =>
          (window as unknown as { ui: { specSelectors: { operations(): { size: number } } } }).ui
            .specSelectors.operations().size,
      );
    await expect.poll(operations).toBeGreaterThan(100);
    await shot(page, "12-api-docs", false);
    await page.goto("http://localhost:9000/redoc");
    await expect(page.locator("redoc h1").first()).toContainText("Aloft API");
    await shot(page, "13-api-redoc", false);
  });

  await first.close();
});
