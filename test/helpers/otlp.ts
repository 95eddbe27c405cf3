import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OTLP/HTTP receiver on loopback for tests (no collector binary installs here): it takes
 * what the real OpenTelemetry exporters send to `/v1/traces` (and accepts `/v1/metrics`,
 * `/v1/logs`), decodes protobuf through the official OTLP message definitions (the protobufjs
 * code `@opentelemetry/otlp-transformer` 0.52 generated from opentelemetry-proto, installed as
 * `otlp-proto-0.52`) and JSON as OTLP/JSON writes it, and keeps every span in one shape.
 */

const require = createRequire(import.meta.url);
interface ProtoType {
  decode(buf: Uint8Array): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
}
const root = require('otlp-proto-0.52/build/src/generated/root.js') as {
  opentelemetry: {
    proto: {
      collector: {
        trace: { v1: { ExportTraceServiceRequest: ProtoType } };
        metrics: { v1: { ExportMetricsServiceRequest: ProtoType } };
      };
    };
  };
};
const TraceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const MetricsRequest = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

export type AttrValue = string | number | boolean | AttrValue[];

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind number: 1 internal, 2 server, 3 client. */
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttrValue>;
  events: Array<{ name: string; attributes: Record<string, AttrValue> }>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  resource: Record<string, AttrValue>;
  scope: string;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: the value of `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  url: string;
  spans: ReceivedSpan[];
  /** Names of the metrics received. */
  metrics: Set<string>;
  /** Content types of the trace requests, in order (`application/x-protobuf`, `application/json`). */
  contentTypes: string[];
  /** Headers of the trace requests. */
  headers: Array<Record<string, string | string[] | undefined>>;
  close(): Promise<void>;
}

const hex = (v: unknown) =>
  typeof v === 'string'
    ? /^[0-9a-f]*$/i.test(v) && v.length % 2 === 0
      ? v.toLowerCase()
      : Buffer.from(v, 'base64').toString('hex')
    : v instanceof Uint8Array
      ? Buffer.from(v).toString('hex')
      : '';

function anyValue(v: Record<string, unknown> | undefined): AttrValue {
  if (!v) return '';
  if ('stringValue' in v) return v.stringValue as string;
  if ('boolValue' in v) return v.boolValue as boolean;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v)
    return ((v.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map((x) => anyValue(x));
  return '';
}
const attrs = (list: unknown): Record<string, AttrValue> =>
  Object.fromEntries(
    ((list as Array<{ key: string; value: Record<string, unknown> }> | undefined) ?? []).map((a) => [
      a.key,
      anyValue(a.value),
    ]),
  );
const kindNumber = (k: unknown) =>
  typeof k === 'number'
    ? k
    : ({
        SPAN_KIND_INTERNAL: 1,
        SPAN_KIND_SERVER: 2,
        SPAN_KIND_CLIENT: 3,
        SPAN_KIND_PRODUCER: 4,
        SPAN_KIND_CONSUMER: 5,
      }[String(k)] ?? 0);
const statusNumber = (c: unknown) =>
  typeof c === 'number' ? c : ({ STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 }[String(c)] ?? 0);

/** An ExportTraceServiceRequest (decoded protobuf, or OTLP/JSON) → spans. */
function spansOf(req: Record<string, unknown>): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (req.resourceSpans as Array<Record<string, unknown>> | undefined) ?? []) {
    const resource = attrs((rs.resource as { attributes?: unknown } | undefined)?.attributes);
    for (const ss of (rs.scopeSpans as Array<Record<string, unknown>> | undefined) ?? []) {
      const scope = (ss.scope as { name?: string } | undefined)?.name ?? '';
      for (const s of (ss.spans as Array<Record<string, unknown>> | undefined) ?? []) {
        const status = (s.status as { code?: unknown; message?: string } | undefined) ?? {};
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name as string,
          kind: kindNumber(s.kind),
          startMs: Number(BigInt(String(s.startTimeUnixNano ?? 0)) / 1_000_000n),
          endMs: Number(BigInt(String(s.endTimeUnixNano ?? 0)) / 1_000_000n),
          attributes: attrs(s.attributes),
          events: ((s.events as Array<{ name: string; attributes?: unknown }> | undefined) ?? []).map((e) => ({
            name: e.name,
            attributes: attrs(e.attributes),
          })),
          status: { code: statusNumber(status.code), ...(status.message ? { message: status.message } : {}) },
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

function metricNames(req: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const rm of (req.resourceMetrics as Array<Record<string, unknown>> | undefined) ?? [])
    for (const sm of (rm.scopeMetrics as Array<Record<string, unknown>> | undefined) ?? [])
      for (const m of (sm.metrics as Array<{ name: string }> | undefined) ?? []) names.push(m.name);
  return names;
}

/** Start a receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const r: Omit<OtlpReceiver, 'url' | 'close'> = { spans: [], metrics: new Set(), contentTypes: [], headers: [] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = String(req.headers['content-type'] ?? '').split(';')[0]!;
      const path = (req.url ?? '').split('?')[0];
      try {
        const decode = (t: ProtoType) =>
          type === 'application/json'
            ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>)
            : t.toObject(t.decode(body), { longs: String, enums: Number, bytes: String, defaults: false });
        if (path === '/v1/traces') {
          r.contentTypes.push(type);
          r.headers.push(req.headers);
          r.spans.push(...spansOf(decode(TraceRequest)));
        } else if (path === '/v1/metrics') {
          for (const n of metricNames(decode(MetricsRequest))) r.metrics.add(n);
        }
        res
          .writeHead(200, { 'content-type': type || 'application/x-protobuf' })
          .end(type === 'application/json' ? '{}' : '');
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    ...r,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** The spans of one trace as a tree, printed one per line (name, then its children indented). */
export function printTree(spans: ReceivedSpan[], { attributes = false }: { attributes?: boolean } = {}): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, ReceivedSpan[]>();
  for (const s of spans) {
    const p = ids.has(s.parentSpanId) ? s.parentSpanId : '';
    children.set(p, [...(children.get(p) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (parent: string, depth: number) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => a.startMs - b.startMs)) {
      const pad = '  '.repeat(depth);
      lines.push(
        `${pad}${s.name}${attributes ? `  (${Math.round(s.endMs - s.startMs)} ms${s.status.code === 2 ? ', ERROR' : ''})` : ''}`,
      );
      if (attributes) {
        const attrs = Object.entries(s.attributes).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
        if (attrs.length) lines.push(`${pad}    ${attrs.join(' ')}`);
        for (const e of s.events)
          lines.push(
            `${pad}    event ${e.name} ${Object.entries(e.attributes)
              .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
              .join(' ')}`,
          );
      }
      walk(s.spanId, depth + 1);
    }
  };
  walk('', 0);
  return lines.join('\n');
}
