// Drives a real VS Code (code-server) in Debian's headless Chromium as a person would, for
// tests/test_vscode_e2e.py: open a.py, see the problem, fix it by typing, save; open b.py (the
// same problem under other names), see CodeCortex's hint, hover it, apply the past fix from the
// quick-fix menu, save. Every step waits on what the screen shows (no sleeps), takes a
// screenshot, and the observations and timings go to stdout as one JSON object.
//
// Environment: E2E_PLAYWRIGHT (playwright-core folder), E2E_CHROMIUM, E2E_URL, E2E_SHOTS,
// E2E_BROWSER_PROFILE, E2E_TIMEOUT_MS (per wait).
'use strict';

const path = require('node:path');

const { chromium } = require(process.env.E2E_PLAYWRIGHT);

const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 180000);
const SHOTS = process.env.E2E_SHOTS;
const result = { steps: [], timings: {}, blockedRequests: [] };
let shot = 0;

function note(message) {
  process.stderr.write(`[drive ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function screenshot(page, name) {
  shot += 1;
  const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

async function step(page, name, fn) {
  note(name);
  const started = Date.now();
  try {
    const value = await fn();
    const file = await screenshot(page, name);
    result.steps.push({ name, ms: Date.now() - started, screenshot: file });
    return value;
  } catch (err) {
    result.failedStep = name;
    result.error = String(err && err.stack ? err.stack : err);
    try {
      result.failureScreenshot = await screenshot(page, `FAILED-${name}`);
      result.notifications = await notifications(page);
    } catch {
      // the page may be gone
    }
    throw err;
  }
}

/** Text of the active editor, line by line, as Monaco renders it (small files: all lines). */
async function editorText(page) {
  return page.evaluate(() => {
    const editor = document.querySelector('.editor-instance .monaco-editor .view-lines');
    if (editor === null) {
      return null;
    }
    const lines = [...editor.querySelectorAll(':scope > .view-line')].map((el) => ({
      top: parseFloat(el.style.top || '0'),
      text: el.textContent.replace(/\u00a0/g, ' '),
    }));
    lines.sort((a, b) => a.top - b.top);
    return lines.map((l) => l.text).join('\n');
  });
}

async function waitForEditorText(page, predicate, what) {
  const deadline = Date.now() + TIMEOUT;
  let last = null;
  while (Date.now() < deadline) {
    last = await editorText(page);
    if (last !== null && predicate(last)) {
      return last;
    }
    await page.waitForTimeout(100); // polling interval, not an assertion
  }
  throw new Error(`timed out waiting for ${what}; editor shows:\n${last}`);
}

/** The CodeCortex status bar item's text ("1 · 1" = problems · solutions). */
async function statusText(page) {
  return page.evaluate(() => {
    // The item the extension created as `codecortex.status` (not its status bar messages).
    const item = [...document.querySelectorAll('.statusbar-item')].find((el) => el.id.endsWith('codecortex.status'));
    return item === undefined ? null : (item.textContent || '').trim();
  });
}

async function waitForStatus(page, pattern, what) {
  const deadline = Date.now() + TIMEOUT;
  let last = null;
  while (Date.now() < deadline) {
    last = await statusText(page);
    if (last !== null && pattern.test(last)) {
      return last;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`timed out waiting for the status bar to show ${what}; it shows ${JSON.stringify(last)}`);
}

/** Every notification of the session (the notification center lists toasts that went away). */
async function notifications(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.notifications-list-container .monaco-list-row, .notification-toast')].map(
      (row) => ({
        text: (row.textContent || '').trim(),
        severity: row.querySelector('.codicon-error')
          ? 'error'
          : row.querySelector('.codicon-warning')
            ? 'warning'
            : 'info',
      }),
    ),
  );
}

async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: TIMEOUT });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.keyboard.press('Enter');
}

async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: TIMEOUT });
  await input.fill(name);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first();
  await row.waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.keyboard.press('Enter');
  await page
    .locator('.tabs-container .tab.active', { hasText: name })
    .waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.locator('.editor-instance .monaco-editor textarea').first().focus();
}

/** Quick Open's `:line:column` (what Ctrl+G does in the desktop app). */
async function goTo(page, line, column) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: TIMEOUT });
  await input.fill(`:${line}:${column}`);
  await page
    .locator('.quick-input-widget .monaco-list-row', { hasText: `line ${line}` })
    .first()
    .waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: TIMEOUT });
}

/** Squiggles of the active editor by kind (error, warning, info, hint). */
async function squiggles(page) {
  return page.evaluate(() => {
    const out = { error: 0, warning: 0, info: 0, hint: 0 };
    const editor = document.querySelector('.editor-instance .monaco-editor');
    if (editor === null) {
      return out;
    }
    for (const kind of Object.keys(out)) {
      out[kind] = editor.querySelectorAll(`.squiggly-${kind}`).length;
    }
    return out;
  });
}

async function waitForSquiggles(page, predicate, what) {
  const deadline = Date.now() + TIMEOUT;
  let last = null;
  while (Date.now() < deadline) {
    last = await squiggles(page);
    if (predicate(last)) {
      return last;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`timed out waiting for ${what}; squiggles: ${JSON.stringify(last)}`);
}

async function save(page) {
  await page.keyboard.press('Control+S');
  await page
    .locator('.tabs-container .tab.active.dirty')
    .waitFor({ state: 'detached', timeout: TIMEOUT });
}

/** a.py: see the problem, fix it by typing, save; b.py: hint, hover, apply the past fix, save. */
async function learnAndApply(page, opened) {
  await step(page, 'a.py-problem-shown', async () => {
    await openFile(page, 'a.py');
    await waitForEditorText(page, (t) => t.includes('value == None'), 'a.py');
    await waitForSquiggles(page, (s) => s.error + s.warning > 0, "ruff's E711 on a.py");
    result.timings.window_to_first_diagnostic_s = (Date.now() - opened) / 1000;
    result.statusBeforeFix = await statusText(page);
  });

  await step(page, 'a.py-fixed-by-typing-and-saved', async () => {
    await goTo(page, 2, 14); // `    if value == None:` — before `==`
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.type('is');
    await waitForEditorText(page, (t) => t.includes('value is None'), 'the typed fix');
    await save(page);
    await waitForSquiggles(page, (s) => s.error + s.warning === 0, 'the problem to go away');
    result.statusAfterLearning = await waitForStatus(page, /\b1\s*·\s*1\b/, '1 problem · 1 solution');
  });

  const bOpened = Date.now();
  await step(page, 'b.py-hint-shown', async () => {
    await openFile(page, 'b.py');
    await waitForEditorText(page, (t) => t.includes('item == None'), 'b.py');
    await waitForSquiggles(page, (s) => s.hint > 0 && s.error + s.warning > 0, "the problem and CodeCortex's hint");
    result.timings.open_b_to_hint_s = (Date.now() - bOpened) / 1000;
    result.timings.window_to_first_hint_s = (Date.now() - opened) / 1000;
    result.statusBeforeApply = await statusText(page);
  });

  await step(page, 'b.py-hover', async () => {
    // The cursor on the problem (`None`, where ruff's warning and CodeCortex's hint are), then
    // the hover from the keyboard (Ctrl+K Ctrl+I).
    await goTo(page, 2, 32);
    const deadline = Date.now() + TIMEOUT;
    let text = '';
    let askedAt = 0;
    while (Date.now() < deadline) {
      if (Date.now() - askedAt > 10000) {
        // (again every 10 s: a hover asked for too early does not update itself)
        await page.keyboard.press('Escape');
        await page.keyboard.press('Control+K');
        await page.keyboard.press('Control+I');
        askedAt = Date.now();
      }
      text = await page.evaluate(() =>
        [...document.querySelectorAll('.monaco-hover')]
          .filter((el) => !el.classList.contains('hidden') && el.offsetParent !== null)
          .map((el) => el.innerText)
          .join('\n'),
      );
      if (/Past fix/.test(text)) {
        break; // CodeCortex's hover (not only the diagnostics' messages) has arrived
      }
      await page.waitForTimeout(100);
    }
    if (!/Past fix/.test(text)) {
      throw new Error(`no CodeCortex hover; the hover shows: ${JSON.stringify(text)}`);
    }
    result.hover = text.trim();
  });

  await step(page, 'b.py-quick-fix-menu', async () => {
    await page.keyboard.press('Escape');
    await goTo(page, 2, 32); // on `None` in `... if item == None else ...`
    const menu = page.locator('.action-widget').first();
    const pastFix = menu.locator('.monaco-list-row', { hasText: 'apply past fix' }).first();
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      await page.keyboard.press('Control+.');
      try {
        await pastFix.waitFor({ state: 'visible', timeout: 15000 });
        break;
      } catch (err) {
        if (Date.now() > deadline) {
          throw err;
        }
        await page.keyboard.press('Escape'); // a menu asked for too early: ask again
      }
    }
    result.quickFixes = (await menu.locator('.monaco-list-row').allInnerTexts()).map((t) => t.trim());
  });

  await step(page, 'b.py-past-fix-applied', async () => {
    const applied = Date.now();
    await page.locator('.action-widget').first().locator('.monaco-list-row', { hasText: 'apply past fix' }).first().click();
    result.bufferAfterApply = await waitForEditorText(page, (t) => t.includes('item is None'), 'the past fix in b.py');
    result.timings.apply_to_edited_buffer_s = (Date.now() - applied) / 1000;
  });

  await step(page, 'b.py-saved', async () => {
    await save(page);
    await waitForSquiggles(page, (s) => s.error + s.warning === 0, 'the problem in b.py to go away');
    result.statusAfterApply = await waitForStatus(
      page,
      new RegExp(`^(?!${(result.statusBeforeApply ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$)`),
      'a changed count',
    );
  });

  await step(page, 'notifications', async () => {
    await runCommand(page, 'Notifications: Show Notifications');
    const center = page.locator('.notifications-center');
    await center.waitFor({ state: 'visible' });
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    result.notificationCenter = (await center.locator('.notifications-center-header-title').innerText()).trim();
    result.notifications = await notifications(page);
  });
}

/** No server anywhere: the "not found" message offers Install Server; run it from there. */
async function installServer(page) {
  await step(page, 'not-found-offers-install', async () => {
    await openFile(page, 'a.py'); // activates the extension (onLanguage:python)
    const toast = page.locator('.notification-toast', { hasText: 'language server was not found' });
    await toast.waitFor({ state: 'visible' });
    result.notFound = (await toast.innerText()).trim();
    await toast.locator('.monaco-button', { hasText: 'Install Server' }).waitFor({ state: 'visible' });
  });

  await step(page, 'install-server-result', async () => {
    await page
      .locator('.notification-toast', { hasText: 'language server was not found' })
      .locator('.monaco-button', { hasText: 'Install Server' })
      .click();
    const done = page.locator('.notification-toast', { hasText: 'installing the server failed' });
    await done.waitFor({ state: 'visible' });
    result.installResult = (await done.innerText()).trim();
  });
}

/** `codecortex.enable: false`: the extension activates on a.py but starts no server. */
async function disabled(page) {
  await step(page, 'disabled-status', async () => {
    await openFile(page, 'a.py');
    const item = page.locator('.statusbar-item[id$="codecortex.status"]');
    await item.waitFor({ state: 'visible' });
    await page.waitForFunction(
      () => /disabled/.test(document.querySelector('.statusbar-item[id$="codecortex.status"] a')?.getAttribute('aria-label') ?? ''),
      undefined,
      { timeout: TIMEOUT },
    );
    result.status = (await item.innerText()).trim();
    result.statusLabel = await item.locator('a').first().getAttribute('aria-label');
  });
}

const SCENARIOS = { 'learn-and-apply': learnAndApply, 'install-server': installServer, disabled };

async function main() {
  const context = await chromium.launchPersistentContext(process.env.E2E_BROWSER_PROFILE, {
    executablePath: process.env.E2E_CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: TIMEOUT,
  });
  const base = new URL(process.env.E2E_URL);
  // Nothing but code-server: every other request is refused (and reported).
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === base.host || url.protocol === 'data:' || url.protocol === 'blob:') {
      return route.continue();
    }
    result.blockedRequests.push(url.origin);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  try {
    const opened = Date.now();
    await step(page, 'window', async () => {
      await page.goto(process.env.E2E_URL, { timeout: TIMEOUT });
      await page.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible' });
      await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ state: 'visible' });
    });
    const scenario = SCENARIOS[process.env.E2E_SCENARIO || 'learn-and-apply'];
    await scenario(page, opened);
  } finally {
    await context.close();
  }
}

main().then(
  () => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (err) => {
    result.error = result.error ?? String(err && err.stack ? err.stack : err);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exitCode = 1;
  },
);
