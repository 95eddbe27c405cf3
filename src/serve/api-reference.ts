import type { OpenApiDocument } from './openapi.js';

/** The reference page's CSP: no script at all, one nonce'd style block, nothing loaded. */
export function apiReferenceCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const esc = (s: unknown) =>
  String(s).replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );

/** `code` spans of the document's Markdown, the only markup its descriptions use. */
const md = (s: unknown) => esc(s ?? '').replace(/`([^`]+)`/g, '<code>$1</code>');

const REF = '#/components/schemas/';
const anchor = (name: string) => `schema-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** A schema as indented JSON, each `$ref` a link to its component. */
function schemaHtml(schema: unknown): string {
  const text = esc(JSON.stringify(schema, null, 2));
  return `<pre>${text.replace(
    /&quot;\$ref&quot;: &quot;#\/components\/schemas\/([^&]+)&quot;/g,
    (_m, name: string) => `&quot;$ref&quot;: <a href="#${anchor(name)}">${esc(name)}</a>`,
  )}</pre>`;
}

/** `{ $ref }` → a link; anything else inline. */
function schemaRef(schema: unknown): string {
  const ref = (schema as { $ref?: string } | undefined)?.$ref;
  if (ref?.startsWith(REF)) {
    const name = ref.slice(REF.length);
    return `<a href="#${anchor(name)}">${esc(name)}</a>`;
  }
  return schemaHtml(schema);
}

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #1d2330; }
h1 { margin-bottom: .2rem } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccd; }
.op { border: 1px solid #d8dbe5; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.m { display: inline-block; min-width: 4.5rem; font-weight: 700; text-transform: uppercase; }
.get { color: #1a7f37 } .post { color: #0550ae } .delete { color: #cf222e }
code, pre { font: 13px/1.4 ui-monospace, monospace; background: #f4f5f8; }
pre { padding: .5rem; overflow-x: auto; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; vertical-align: top; padding: .2rem .5rem; border-top: 1px solid #e4e6ee; }
.dim { color: #667; } nav a { margin-right: .8rem; }
`;

/**
 * A readable API reference, rendered from the OpenAPI document on the server: one
 * self-contained HTML page (no script, no request to anywhere), so it opens with no internet.
 *
 * @example
 * ```ts
 * app.get('/docs', async (c) => c.html(apiReferenceHtml(await openApiDocument(app), nonce)));
 * ```
 */
export function apiReferenceHtml(doc: OpenApiDocument, nonce: string): string {
  const out: string[] = [];
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8">`);
  out.push(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
  out.push(`<title>${esc(doc.info.title)} ${esc(doc.info.version)} — API reference</title>`);
  out.push(`<style nonce="${esc(nonce)}">${STYLE}</style></head><body>`);
  out.push(`<h1>${esc(doc.info.title)} <span class="dim">${esc(doc.info.version)}</span></h1>`);
  out.push(`<p>${md(doc.info.description)}</p>`);
  out.push(
    `<p class="dim">OpenAPI ${esc(doc.openapi)} — the document itself: <a href="/openapi.json">/openapi.json</a></p>`,
  );
  for (const [name, scheme] of Object.entries(doc.components?.securitySchemes ?? {})) {
    const s = scheme as { type?: string; scheme?: string; description?: string };
    out.push(
      `<p><strong>Auth</strong> (<code>${esc(name)}</code>): ${esc(s.type)} ${esc(s.scheme ?? '')} — ${md(s.description)}</p>`,
    );
  }
  out.push(`<nav>${(doc.tags ?? []).map((t) => `<a href="#tag-${anchor(t.name)}">${esc(t.name)}</a>`).join('')}`);
  out.push(`<a href="#schemas">schemas</a></nav>`);

  const ops: Array<{ tag: string; html: string }> = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item?.[method];
      if (!op) continue;
      const h: string[] = [];
      h.push(`<div class="op" id="op-${esc(op.operationId ?? '')}">`);
      h.push(`<div><span class="m ${method}">${method}</span> <code>${esc(path)}</code> — ${md(op.summary)}</div>`);
      if (op.description) h.push(`<p>${md(op.description)}</p>`);
      const open = op.security && op.security.length === 0;
      h.push(`<p class="dim">${open ? 'no auth' : 'bearer token'} · operation <code>${esc(op.operationId)}</code></p>`);
      const params = (op.parameters ?? []) as Array<{
        name: string;
        in: string;
        required?: boolean;
        description?: string;
      }>;
      if (params.length) {
        h.push('<table><tr><th>parameter</th><th>in</th><th></th></tr>');
        for (const p of params)
          h.push(
            `<tr><td><code>${esc(p.name)}</code>${p.required ? '' : ' <span class="dim">optional</span>'}</td><td>${esc(p.in)}</td><td>${md(p.description)}</td></tr>`,
          );
        h.push('</table>');
      }
      const body = op.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined;
      for (const [media, m] of Object.entries(body?.content ?? {}))
        h.push(`<p><strong>Body</strong> <code>${esc(media)}</code>: ${schemaRef(m.schema)}</p>`);
      h.push('<table><tr><th>status</th><th>answer</th><th>body</th></tr>');
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        const res = r as { description?: string; content?: Record<string, { schema?: unknown }> };
        const bodies = Object.entries(res.content ?? {})
          .map(([media, m]) => `<code>${esc(media)}</code> ${m.schema ? schemaRef(m.schema) : ''}`)
          .join('<br>');
        h.push(`<tr><td><strong>${esc(status)}</strong></td><td>${md(res.description)}</td><td>${bodies}</td></tr>`);
      }
      h.push('</table></div>');
      ops.push({ tag: op.tags?.[0] ?? 'other', html: h.join('') });
    }
  }
  for (const t of doc.tags ?? []) {
    out.push(`<h2 id="tag-${anchor(t.name)}">${esc(t.name)}</h2><p class="dim">${md(t.description)}</p>`);
    for (const o of ops) if (o.tag === t.name) out.push(o.html);
  }
  out.push(`<h2 id="schemas">Schemas</h2>`);
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    out.push(`<h3 id="${anchor(name)}">${esc(name)}</h3>`);
    const d = (schema as { description?: string }).description;
    if (d) out.push(`<p>${md(d)}</p>`);
    out.push(schemaHtml(schema));
  }
  out.push('</body></html>');
  return out.join('\n');
}
