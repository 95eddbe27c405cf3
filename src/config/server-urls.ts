/**
 * OpenCode server URLs as the options take them: one URL, or several separated by commas (a
 * pool: `http://10.0.0.1:4096,http://10.0.0.2:4096`). Pure, no dependencies (the CLI checks its
 * flags with it before loading anything else).
 */

/** What a bad server URL list is told. */
export const SERVER_URLS_EXPECTED =
  'expected a URL such as http://127.0.0.1:4096, or several separated by commas (http://10.0.0.1:4096,http://10.0.0.2:4096), ' +
  'with no user or password in it (set OPENCODE_SERVER_PASSWORD, and OPENCODE_SERVER_USERNAME if not "opencode")';

/** The URLs of a list, trimmed, empty parts dropped. */
export function splitServerUrls(list: string): string[] {
  return list
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/**
 * True when every part is an http(s) URL without credentials and there is at least one, none
 * twice. A password in a URL would be printed, logged and stored with the flow: it goes in
 * `OPENCODE_SERVER_PASSWORD` instead.
 */
export function isServerUrlList(list: string): boolean {
  const urls = splitServerUrls(list);
  if (urls.length === 0 || new Set(urls).size !== urls.length) return false;
  return urls.every((u) => {
    if (!URL.canParse(u)) return false;
    const url = new URL(u);
    if (url.username || url.password) return false;
    return url.protocol === 'http:' || url.protocol === 'https:';
  });
}
