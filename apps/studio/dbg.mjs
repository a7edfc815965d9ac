import { chromium } from 'playwright-core';
import { preview } from 'vite';
const server = await preview({ root: process.cwd(), logLevel: 'silent', preview: { port: 0, host: '127.0.0.1' } });
const url = server.resolvedUrls.local[0];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'],
});
const page = await browser.newPage();
page.on('console', (m) => console.log('console', m.type(), m.text().slice(0, 1500)));
page.on('pageerror', (e) => console.log('pageerror', e.message));
await page.goto(`${url}?backend=webgpu&steps=2`);
await page.waitForFunction(() => !document.querySelector('#train').disabled, undefined, { timeout: 60000 });
await page.evaluate(() => {
  const b = window.studio.tf.backend();
  const r = b.readSync.bind(b);
  Error.stackTraceLimit = 40;
  b.readSync = (id) => {
    const d = b.tensorMap.get(id);
    if (d && d.values == null) console.log('GPU SYNC READ', new Error().stack);
    return r(id);
  };
});
await page.click('#train');
for (let i = 0; i < 10; i++) {
  await page.waitForTimeout(4000);
  const s = await page.textContent('#status');
  console.log(s);
  if (/Error|Trained/.test(s)) break;
}
await browser.close();
server.httpServer.close();
