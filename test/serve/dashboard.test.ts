import { describe, expect, it } from 'vitest';
import { dashboardCsp, dashboardHtml } from '../../src/serve/dashboard.js';

/** Fast checks of the page itself; the browser tests (dashboard*.int.test.ts) drive it for real. */
describe('dashboard page', () => {
  it("carries one nonce'd script that parses as JavaScript (it lives in a TypeScript template)", () => {
    const html = dashboardHtml('n0nce');
    const scripts = [...html.matchAll(/<script nonce="n0nce">([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(() => new Function(scripts[0]!)).not.toThrow();
    expect(html).not.toMatch(/ style="/); // the CSP allows no inline style attributes
    expect(dashboardCsp('n0nce')).toContain("style-src 'nonce-n0nce'");
  });

  it('is made for phones too: a viewport meta tag and a narrow-screen layout', () => {
    const html = dashboardHtml('n');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toMatch(/@media \(max-width: 640px\)/);
  });
});
