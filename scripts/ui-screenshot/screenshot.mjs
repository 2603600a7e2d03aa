// The MLflow web UI in a real browser: Debian's Chromium, driven by
// playwright-core, trusting the CAs of $HOME/.pki/nssdb (the caller puts the
// lab CA there, nothing else), logged in with basic-auth. Opens the
// experiments page, waits for EXPERIMENT to show, saves a screenshot.
//   node screenshot.mjs URL EXPERIMENT PNG   (MLFLOW_USER, MLFLOW_PASSWORD in the environment)
import { chromium } from "playwright-core";

const [url, experiment, png] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({
    httpCredentials: { username: process.env.MLFLOW_USER, password: process.env.MLFLOW_PASSWORD },
    viewport: { width: 1400, height: 900 },
  });
  const page = await context.newPage();
  await page.goto(`${url}/#/experiments`, { waitUntil: "networkidle", timeout: 60000 });
  const shown = page.getByText(experiment, { exact: true }).first();
  const found = await shown.waitFor({ timeout: 30000 }).then(() => true, () => false);
  await page.screenshot({ path: png });
  if (!found) {
    console.error(`the experiments page does not show ${experiment}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
