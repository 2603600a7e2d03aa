// The MLflow web UI in a real browser: Debian's Chromium, driven by
// playwright-core, trusting the CAs of $HOME/.pki/nssdb (the caller puts the
// lab CA there, nothing else), logged in with basic-auth. Opens the
// experiments page and waits for EXPERIMENT to show, then the Model
// Registry's page of MODEL and waits for its alias `champion`; saves a
// screenshot of each (PNG, and PNG with -model before .png).
//   node screenshot.mjs URL EXPERIMENT MODEL PNG   (MLFLOW_USER, MLFLOW_PASSWORD in the environment)
import { chromium } from "playwright-core";

const [url, experiment, model, png] = process.argv.slice(2);
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
  // Opens a view of the UI in a page of its own (a hash change in one page
  // never reaches "networkidle"), waits for a text, saves a screenshot.
  const show = async (path, text, file) => {
    const page = await context.newPage();
    await page.goto(`${url}/#/${path}`, { waitUntil: "networkidle", timeout: 60000 });
    const shown = page.getByText(text).first();
    const found = await shown.waitFor({ timeout: 30000 }).then(() => true, () => false);
    await page.screenshot({ path: file });
    if (!found) {
      console.error(`${url}/#/${path} does not show ${text}`);
      process.exitCode = 1;
    }
  };
  await show("experiments", experiment, png);
  await show(`models/${encodeURIComponent(model)}`, "champion", png.replace(/\.png$/, "-model.png"));
} finally {
  await browser.close();
}
