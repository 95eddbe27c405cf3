import { metrics, trace, type Histogram, type Tracer } from '@opentelemetry/api';
import { packageInfo } from '../package-root.js';
import { METRIC } from './conventions.js';

/** The instrumentation scope of every span and metric: the package's name and version. */
const SCOPE = 'opencode-flow';

/**
 * The package's tracer, through the global API: a no-op until the application (or the CLI)
 * registers a tracer provider, the provider's from then on. Asked for per run (not cached for
 * the process): a provider registered, disabled or replaced later is the one a new run uses.
 */
export function tracer(): Tracer {
  return trace.getTracer(SCOPE, packageInfo().version);
}

let instruments: { tokens: Histogram; duration: Histogram } | undefined;
/** The conventions' client metrics, through the global metrics API (no-ops without a meter provider). */
export function genAiMetrics(): { tokens: Histogram; duration: Histogram } {
  if (instruments) return instruments;
  const meter = metrics.getMeter(SCOPE, packageInfo().version);
  return (instruments = {
    tokens: meter.createHistogram(METRIC.tokenUsage, {
      unit: '{token}',
      description: 'Number of input and output tokens used, per agent run',
      advice: { explicitBucketBoundaries: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576] },
    }),
    duration: meter.createHistogram(METRIC.operationDuration, {
      unit: 's',
      description: 'Duration of an agent run (invoke_agent)',
      advice: { explicitBucketBoundaries: [0.01, 0.04, 0.16, 0.64, 2.56, 10.24, 40.96, 163.84, 655.36] },
    }),
  });
}
