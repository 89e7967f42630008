// The console's main flow in Firefox (Debian's firefox-esr) over WebDriver BiDi, run by
// tests/console/test_console_firefox.py, which starts the control plane and passes:
// CONSOLE_URL, ADMIN_KEY, VIEWER_KEY, FIREFOX (the binary), SCREENSHOTS (a directory).
// Prints "ok: <step>" per step; any failure exits non-zero with its reason.
import puppeteer from "puppeteer-core";

const { CONSOLE_URL, ADMIN_KEY, VIEWER_KEY, FIREFOX, SCREENSHOTS } = process.env;
const WAIT = { timeout: 60_000 }; // a bound on each wait, never an assertion on time
const ok = (step) => console.log(`ok: ${step}`);
const text = (page, selector) => page.$eval(selector, (element) => element.textContent);

async function signIn(page, key) {
  await page.goto(`${CONSOLE_URL}/ui`);
  await page.waitForSelector("#api-key", WAIT);
  await page.type("#api-key", key);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "Databases", WAIT);
}

async function clickButton(page, label) {
  await page.$$eval("main button", (buttons, wanted) => buttons.find((b) => b.textContent === wanted).click(), label);
}

async function confirm(page, question) {
  await page.waitForFunction(() => document.getElementById("confirm").open, WAIT);
  const title = await text(page, "#confirm-title");
  if (title !== question) throw new Error(`dialog asks ${JSON.stringify(title)}, not ${JSON.stringify(question)}`);
  await page.click("#confirm-ok");
}

const browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));

  await signIn(page, ADMIN_KEY);
  ok(`signed in as ${await text(page, "#identity-text")}`);

  await page.click("a[href='#/databases/new']");
  await page.waitForFunction(() => document.querySelectorAll("#new-version option").length > 0, WAIT);
  await page.type("#new-name", "Bad Name");
  await page.select("#new-version", "16.13");
  await page.click("form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#new-name-error")?.textContent, WAIT);
  ok(`refused with the API's message: ${await text(page, "#new-name-error")}`);

  await page.$eval("#new-name", (input) => { input.value = ""; });
  await page.type("#new-name", "orders");
  await page.click("form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "orders", WAIT);
  await page.waitForFunction(() => document.querySelector("[aria-labelledby=status-title] .badge")?.textContent === "ready", WAIT);
  ok("created and ready");

  await page.waitForFunction(() => document.getElementById("scale-replicas").value === "1", WAIT);
  await page.$eval("#scale-replicas", (input) => { input.value = ""; });
  await page.type("#scale-replicas", "3");
  await page.click("form[aria-label=Scale] button");
  await confirm(page, "Scale orders to 3 replicas?");
  await page.waitForFunction(() => document.querySelector(".timeline li[data-type=scale] .badge")?.textContent === "succeeded", WAIT);
  ok("scaled to 3, the timeline says succeeded");

  await clickButton(page, "Reveal credentials");
  await page.waitForSelector(".secret", WAIT);
  ok("credentials revealed");
  await page.screenshot({ path: `${SCREENSHOTS}/firefox-database-1280x800.png`, fullPage: true });
  await page.setViewport({ width: 390, height: 844 });
  await page.screenshot({ path: `${SCREENSHOTS}/firefox-database-390x844.png`, fullPage: true });
  await page.setViewport({ width: 1280, height: 800 });

  await clickButton(page, "Delete");
  await confirm(page, "Delete orders?");
  await page.waitForFunction(() => document.querySelector(".notice")?.textContent === "orders was deleted.", WAIT);
  ok("deleted");

  await page.click("#sign-out");
  await page.waitForSelector("#api-key", WAIT);
  await signIn(page, VIEWER_KEY);
  await page.waitForSelector("a[href^='#/databases/']", WAIT);
  if (await page.$("a[href='#/databases/new']")) throw new Error("a viewer is offered New database");
  await page.click("a[href^='#/databases/']");
  await page.waitForSelector(".timeline li", WAIT);
  const controls = await page.$$eval("main button, main form, main input, main select", (found) => found.length);
  if (controls !== 0) throw new Error(`a viewer sees ${controls} controls`);
  ok("a viewer sees no controls");

  if (errors.length > 0) throw new Error(`page errors: ${errors.join("; ")}`);
  ok(`no page errors (${await browser.version()})`);
} finally {
  await browser.close();
}
