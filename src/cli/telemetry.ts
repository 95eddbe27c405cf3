/**
 * The CLI's (and so `serve`'s) OpenTelemetry: the standard Node SDK, started only when the
 * standard variables ask for it, loaded lazily so a run without them loads no SDK module.
 * The library itself speaks `@opentelemetry/api` only (src/telemetry/).
 */

/** Exit codes wait this long at most for the last spans to leave. */
const FLUSH_TIMEOUT_MS = 5_000;

interface Sdk {
  shutdown(): Promise<void>;
}

let sdk: Sdk | undefined;
let flushing: Promise<void> | undefined;

const truthy = (v: string | undefined) => ['true', '1', 'yes'].includes((v ?? '').trim().toLowerCase());
const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/**
 * Whether the environment asks for telemetry: an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or a traces exporter named (`OTEL_TRACES_EXPORTER`,
 * other than `none`), and `OTEL_SDK_DISABLED` not true.
 */
export function telemetryWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if (truthy(env.OTEL_SDK_DISABLED)) return false;
  const exporters = list(env.OTEL_TRACES_EXPORTER);
  if (exporters.includes('none')) return false;
  return Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || exporters.length,
  );
}

/**
 * Starts `@opentelemetry/sdk-node` when {@link telemetryWanted}: OTLP over HTTP, protobuf unless
 * `OTEL_EXPORTER_OTLP_PROTOCOL` (or `..._TRACES_PROTOCOL`) says `http/json`, with the SDK's own
 * reading of `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME` (default `opencode-flow`),
 * `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER`. No auto-instrumentation: the spans are
 * the flow's own. From then on every `process.exit` waits for the spans to be flushed first.
 */
export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (sdk || !telemetryWanted(env)) return;
  let mod: typeof import('@opentelemetry/sdk-node');
  try {
    mod = await import('@opentelemetry/sdk-node');
  } catch {
    process.stderr.write(
      'opencode-flow: OTEL_* variables ask for traces, but @opentelemetry/sdk-node is not installed (an optional dependency): npm install @opentelemetry/sdk-node\n',
    );
    return;
  }
  const named =
    Boolean(env.OTEL_SERVICE_NAME?.trim()) ||
    list(env.OTEL_RESOURCE_ATTRIBUTES).some((kv) => kv.startsWith('service.name='));
  const { envDetector, hostDetector, osDetector } = mod.resources;
  const started = new mod.NodeSDK({
    ...(named ? {} : { serviceName: 'opencode-flow' }),
    instrumentations: [],
    // Not the process detector: its command line may carry a password (a server URL's).
    resourceDetectors: [envDetector, hostDetector, osDetector],
  });
  started.start();
  sdk = started;
  // A command that ends by running out of work (a run's report printed, its exit code set)
  // flushes once the event loop is empty; the flush's own work keeps the process up till done.
  process.once('beforeExit', () => void flushTelemetry());
  const exit = process.exit.bind(process);
  // Every way the CLI ends with process.exit (an error, a second Ctrl-C, serve's shutdown)
  // flushes the spans first.
  process.exit = ((code?: number | string | null) => {
    void flushTelemetry().finally(() => exit(code ?? undefined));
  }) as typeof process.exit;
}

/** Exports what is left and stops the SDK (at most {@link FLUSH_TIMEOUT_MS}); nothing when none started. */
export function flushTelemetry(): Promise<void> {
  if (!sdk) return Promise.resolve();
  const s = sdk;
  flushing ??= Promise.race([
    s.shutdown().catch((e: unknown) => {
      process.stderr.write(`opencode-flow: could not export traces: ${e instanceof Error ? e.message : String(e)}\n`);
    }),
    new Promise<void>((r) => setTimeout(r, FLUSH_TIMEOUT_MS).unref()),
  ]);
  return flushing;
}
