import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { ROOT, type RunningProxy, startProxy } from '../support/proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'console-token-0123456789';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');

let origin: Origin;
let proxy: RunningProxy;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (npm test runs scripts/setup.sh, which does)`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  origin = await startOrigin();
  proxy = await startProxy({ UPSTREAM_URL: origin.url, INVALIDATE_TOKEN: TOKEN });
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have there.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await origin?.close();
});

/** Opens the console on a fresh page, collecting every console error and CSP violation. */
async function open(width = 1200): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${proxy.adminUrl}/`);
  return { page, errors };
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

describe('the admin console in a real browser (Debian chromium)', () => {
  it('is served with a strict Content-Security-Policy and no foreign assets', async () => {
    const res = await fetchRaw(`${proxy.adminUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.text()).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    for (const asset of ['/console.js', '/console.css']) {
      const file = await fetchRaw(proxy.adminUrl + asset);
      expect(file.status).toBe(200);
      expect(file.text()).not.toMatch(/(src|href)=["']https?:/);
    }
  });

  it('refuses a wrong token with an error the user can read', async () => {
    const { page, errors } = await open();
    await shot(page, '1-sign-in');
    await page.getByLabel('Admin token').fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Sign-in failed');
    expect(await page.locator('#app').isHidden()).toBe(true);
    await shot(page, '2-wrong-token');
    // The 401 of the API call is the browser's only complaint.
    expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
    expect(errors).toHaveLength(1);
    await page.close();
  });

  it('signs in, looks up a tag, purges it, and shows the entry gone and the purge in history', async () => {
    for (const id of [1, 2]) {
      origin.on(`/products/${id}`, (_req, res) => {
        res
          .writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': `product:1 products` })
          .end(`p${id}`);
      });
      await fetchRaw(`${proxy.url}/products/${id}`, { headers: { host: 'shop.example' } });
    }
    const { page, errors } = await open();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.keyboard.press('Enter'); // keyboard only: the form submits from the field
    await expect.poll(() => page.locator('#app').isVisible()).toBe(true);
    await expect.poll(() => page.locator('#history tbody tr').count()).toBe(0);
    await expect.poll(() => page.locator('#live-updated').textContent()).toContain('updated');
    // Live figures: the proxy's own requests so far, on its one route, and a chart once rates exist.
    await expect.poll(() => page.locator('#routes tbody td').first().textContent()).toBe('all');
    // Hits while the console samples, so the figures and charts have something to show.
    await expect
      .poll(
        async () => {
          await fetchRaw(`${proxy.url}/products/1`, { headers: { host: 'shop.example' } });
          return page.locator('#rate-chart polyline').count();
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe(1);
    expect(await page.locator('#hit-ratio').textContent()).not.toBe('0.0 %');
    await shot(page, '3-signed-in');

    await page.getByLabel('Tag or URL').fill('product:1');
    await page.getByRole('button', { name: 'Look up' }).click();
    await expect
      .poll(() => page.locator('#lookup-status').textContent())
      .toBe('2 entries carry the tag product:1');
    expect((await page.locator('#lookup-result li').allTextContents()).sort()).toEqual([
      'http://shop.example/products/1',
      'http://shop.example/products/2',
    ]);
    await shot(page, '4-tag-lookup');

    await page.getByLabel('Items, one per line').fill('product:1');
    await page.getByRole('button', { name: 'Purge' }).click();
    await expect
      .poll(() => page.locator('#purge-status').textContent())
      .toMatch(/^Purged \(hard\): 2 entries/);
    await expect.poll(() => page.locator('#history tbody tr').count()).toBe(1);
    expect(await page.locator('#history tbody tr td').allTextContents()).toEqual([
      expect.any(String),
      'tags',
      'hard',
      'product:1',
      '2',
      'INVALIDATE_TOKEN',
      expect.any(String),
    ]);
    await page.getByRole('button', { name: 'Look up' }).click();
    await expect
      .poll(() => page.locator('#lookup-status').textContent())
      .toBe('0 entries carry the tag product:1');
    const after = await fetchRaw(`${proxy.url}/products/1`, { headers: { host: 'shop.example' } });
    expect(after.headers['x-cache']).toBe('MISS');
    await shot(page, '5-purged');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('asks before purging everything, and reads on a narrow screen', async () => {
    const { page, errors } = await open(375);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#app').isVisible()).toBe(true);
    await page.getByLabel('Everything').check();
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.getByRole('button', { name: 'Purge' }).click();
    await expect.poll(() => page.locator('#purge-status').textContent()).toBe('Not purged.');
    // Nothing overflows sideways: the page fits 375 px.
    const width = await page.evaluate('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(375);
    await shot(page, '6-narrow');
    expect(errors).toEqual([]);
    await page.close();
  });
});
