// Debian's noVNC page in Debian's headless Chromium, against gureum's websocket= listener:
//   node novnc_capture.mjs WS_PORT PASSWORD OUT.png [TEXT]
// serves /usr/share/novnc over HTTP on a free loopback port (noVNC is ES modules, which a
// browser does not load from file://), opens vnc.html with autoconnect, waits until the page
// says it is connected and the screen shows something, and writes the canvas's pixels (lossless,
// whatever the page's scaling) to OUT.png. With TEXT, it then types TEXT and Enter on the page
// as a user would, which noVNC sends as key events. Exit status 1 with a sentence on failure.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const NOVNC = '/usr/share/novnc';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json',
  '.ogg': 'audio/ogg', '.mp3': 'audio/mpeg', '.woff': 'font/woff', '.woff2': 'font/woff2',
};

const [wsPort, password, out, text] = process.argv.slice(2);
if (!wsPort || password === undefined || !out) {
  console.error('usage: novnc_capture.mjs WS_PORT PASSWORD OUT.png [TEXT]');
  process.exit(2);
}

function fail(message) {
  console.error(`novnc_capture: ${message}`);
  process.exit(1);
}

// Files under NOVNC only; anything else is 404.
function serveNoVnc() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    try {
      if (path.includes('..')) throw new Error('outside');
      const body = await readFile(join(NOVNC, path === '/' ? 'vnc.html' : path));
      res.writeHead(200, { 'Content-Type': TYPES[extname(path)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// The canvas as a PNG, read through toDataURL: the exact pixels noVNC drew.
async function canvasPng(page) {
  const url = await page.evaluate(() => document.querySelector('#noVNC_container canvas')
    .toDataURL('image/png'));
  return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
}

async function main() {
  const http = await serveNoVnc();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1024 } });
    const messages = [];
    page.on('console', (m) => messages.push(m.text()));
    const query = new URLSearchParams({
      host: '127.0.0.1', port: wsPort, path: '', autoconnect: 'true', password,
      reconnect: 'false', resize: 'off', logging: process.env.NOVNC_LOGGING || 'warn',
    });
    const url = `http://127.0.0.1:${http.address().port}/vnc.html?${query}`;
    await page.goto(url);
    try {
      await page.waitForFunction(
        () => document.documentElement.classList.contains('noVNC_connected'), null,
        { timeout: 30000 });
    } catch {
      const status = await page.textContent('#noVNC_status').catch(() => '');
      fail(`noVNC did not connect to port ${wsPort} in 30 s (status '${status}'; ` +
        `console: ${messages.slice(-5).join(' | ')})`);
    }
    // The first picture arrives after the connection: wait until the canvas is not all black.
    await page.waitForFunction(() => {
      const c = document.querySelector('#noVNC_container canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) if (d[i] | d[i + 1] | d[i + 2]) return true;
      return false;
    }, null, { timeout: 30000, polling: 200 }).catch(() => fail('the canvas stayed black'));
    // Let any update under way land (the guest wrote its lines before we connected).
    await page.waitForTimeout(1000);
    await writeFile(out, await canvasPng(page));
    const status = await page.textContent('#noVNC_status').catch(() => '');
    console.log(`connected: ${status.trim() || 'yes'}`);
    if (text !== undefined) {
      await page.click('#noVNC_container canvas');
      await page.keyboard.type(text, { delay: 30 });
      await page.keyboard.press('Enter');
      await page.waitForTimeout(500);
      console.log(`typed ${text.length + 1} keys`);
    }
    if (process.env.NOVNC_LOGGING) console.log(messages.join('\n'));
  } finally {
    await browser.close();
    http.close();
  }
}

main().catch((e) => fail(e.message));
