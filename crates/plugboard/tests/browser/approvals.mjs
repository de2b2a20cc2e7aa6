// Tool calls a person approves, in a real Chromium against a server whose model is the
// fixture model (it calls the tool a message names): the administrator sets the
// calculator's tool to `ask` in the plugins page's policy table; a message makes the model
// call it and the turn pauses with an approval card; the page is reloaded and the card is
// shown again when the conversation is opened; it is approved there with edited arguments
// and the reply arrives, its trace showing the decision; the person then sets the tool to
// "never" in the conversation and the next call is refused. Any console error or failed
// assertion ends with a non-zero exit.
//
// node approvals.mjs <base-url> <screenshot-dir>

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

const [base, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const errors = [];

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(60_000);
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });

  await page.goto(base);
  await page.getByRole("button", { name: "Create an account instead" }).click();
  await page.getByLabel("User name").fill("grace");
  await page.getByLabel("Password", { exact: true }).fill("a long enough password");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("grace (admin)").waitFor();

  // The administrator makes the calculator's tool ask first, in the policy table.
  await page.getByRole("button", { name: "Manage plugins" }).click();
  await page.locator("#tool-policies-admin summary").click();
  const row = page.locator('#tool-policies tr[data-tool="calculator__calculate"]');
  await row.waitFor();
  assert.equal((await row.locator("td").nth(5).textContent()).trim(), "auto", "a plugin tool runs at once by default");
  await row.locator("td").nth(3).locator("select").selectOption("ask");
  await page.waitForFunction(
    () => document.querySelector('#tool-policies tr[data-tool="calculator__calculate"] td:nth-child(6)')?.textContent === "ask",
  );
  await shot("tool-policies");
  await page.locator("#close-admin").click();

  // The model calls the tool: the turn waits, and the page shows the call to approve.
  const input = page.getByLabel("Message", { exact: true });
  await input.fill('tool:calculator__calculate {"expression": "6*7"}');
  await input.press("Enter");
  const card = page.locator(".approval", { hasText: "calculator__calculate" });
  await card.waitFor();
  assert.match(await card.textContent(), /plugin calculator/, "the card names the tool's source");
  assert.match(await card.textContent(), /an administrator set `calculator__calculate` to ask/, "and which policy asked");
  await shot("approval-card");

  // Reloaded, the page finds the pending call again when the conversation is opened.
  await page.reload();
  await page.getByText("grace (admin)").waitFor();
  await page.locator(".conversation").first().click();
  await card.waitFor();
  const argumentsBox = card.getByLabel("Arguments (JSON)");
  assert.deepEqual(JSON.parse(await argumentsBox.inputValue()), { expression: "6*7" });
  // Edited before approving: the tool runs with the person's arguments.
  await argumentsBox.fill('{"expression": "6*9"}');
  await card.getByRole("button", { name: "Approve" }).click();
  await card.waitFor({ state: "detached" });
  // The turn went on without the page that started it: the reply comes through the live feed.
  const finalReply = page.locator(".message.assistant", { hasText: "The tool said: 54" });
  await finalReply.waitFor();
  // Its trace says who decided what.
  await finalReply.getByRole("button", { name: "Trace" }).click();
  await finalReply.locator(".trace-view td", { hasText: "calculator__calculate: approved with edited arguments" }).waitFor();
  await shot("approval-approved");
  assert.equal(await page.locator(".approval").count(), 0, "no card is left");

  // The person narrows the tool to "never" in this conversation: the next call is refused
  // without asking.
  await page.locator("#plugins-menu summary").click();
  const never = page.locator('#plugin-toggles select[name="policy:calculator__calculate"]');
  await never.waitFor();
  const saved = page.waitForResponse((r) => r.request().method() === "PATCH" && r.url().includes("/api/conversations/"));
  await never.selectOption("deny");
  assert.equal((await saved).status(), 200);
  await page.locator("#plugins-menu summary").click();
  await input.fill('tool:calculator__calculate {"expression": "1+1"}');
  await input.press("Enter");
  await page.locator(".message.assistant .body", { hasText: "is not allowed here (policy deny)" }).waitFor();
  assert.equal(await page.locator(".approval").count(), 0, "nothing asked");
  assert.deepEqual(errors, [], "no console errors");
  console.log("approvals: all checks passed");
} finally {
  await browser.close();
}
