import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { describeCache } from './stores.js';

let n = 0;
const path = () => `/vary${++n}`;

describeCache('Vary (RFC 9111 §4.1)', {}, (h) => {
  const byLanguage = (p: string, vary = 'Accept-Language') =>
    h.origin.on(p, (req, res, c) => {
      res
        .writeHead(200, { vary, 'cache-control': 'max-age=60' })
        .end(`${req.headers['accept-language'] ?? 'none'} #${c}`);
    });

  it('keeps one entry per variant', async () => {
    const p = path();
    byLanguage(p);
    const en1 = await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'en' } });
    const fr1 = await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'fr' } });
    const en2 = await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'en' } });
    const fr2 = await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'fr' } });
    expect([en1.text(), fr1.text(), en2.text(), fr2.text()]).toEqual(['en #1', 'fr #2', 'en #1', 'fr #2']);
    expect(en2.headers['x-cache']).toBe('HIT');
    expect(h.origin.count(p)).toBe(2);
  });

  it('tells an absent request field from a present one', async () => {
    const p = path();
    byLanguage(p);
    await fetchRaw(h.proxy.url + p);
    const withField = await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'en' } });
    expect(withField.headers['x-cache']).toBe('MISS');
    const again = await fetchRaw(h.proxy.url + p);
    expect(again.text()).toBe('none #1');
  });

  it('matches field names whatever their case, order and whitespace', async () => {
    const p = path();
    byLanguage(p, ' accept-LANGUAGE ,  Accept-Encoding');
    await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'en', 'accept-encoding': 'gzip' } });
    const hit = await fetchRaw(h.proxy.url + p, {
      headers: { 'accept-language': 'en', 'accept-encoding': 'gzip' },
    });
    expect(hit.headers['x-cache']).toBe('HIT');
  });

  it('reports a vary-miss in Cache-Status', async () => {
    const p = path();
    byLanguage(p);
    await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'en' } });
    const other = await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': 'de' } });
    expect(other.headers['cache-status']).toContain('fwd=vary-miss');
  });
});
