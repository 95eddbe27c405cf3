import * as semconv from '@opentelemetry/semantic-conventions/incubating';
import { describe, expect, it } from 'vitest';
import { ATTR, METRIC, OP, captureContent, contentOf, serverOf, splitModel } from '../../src/telemetry/conventions.js';

/** The names the spans use are the OpenTelemetry semantic conventions' own (its npm package's constants). */
describe('telemetry names', () => {
  const known = new Set<string>(
    Object.values(semconv as Record<string, unknown>).filter((v) => typeof v === 'string') as string[],
  );

  it('every gen_ai.*, server.* and error.* attribute, operation and metric is a name of the conventions', () => {
    const ours = Object.values(ATTR).filter((n) => !n.startsWith('opencode_flow.'));
    expect(ours.length).toBeGreaterThan(20);
    for (const name of ours) expect(known.has(name), name).toBe(true);
    for (const name of Object.values(METRIC)) expect(known.has(name), name).toBe(true);
    expect(OP.workflow).toBe(semconv.GEN_AI_OPERATION_NAME_VALUE_INVOKE_WORKFLOW);
    expect(OP.agent).toBe(semconv.GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT);
    expect(OP.tool).toBe(semconv.GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL);
  });

  it('providers map to the well-known gen_ai.provider.name values', () => {
    expect(splitModel('anthropic/claude-sonnet-4')).toEqual({
      provider: semconv.GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC,
      model: 'claude-sonnet-4',
    });
    expect(splitModel('google/gemini-2.5-pro').provider).toBe(semconv.GEN_AI_PROVIDER_NAME_VALUE_GCP_GEMINI);
    expect(splitModel('amazon-bedrock/x').provider).toBe(semconv.GEN_AI_PROVIDER_NAME_VALUE_AWS_BEDROCK);
    expect(splitModel('openrouter/openai/gpt-5')).toEqual({ provider: 'openrouter', model: 'openai/gpt-5' });
    expect(splitModel('')).toEqual({});
    expect(serverOf('http://127.0.0.1:4100')).toEqual({ address: '127.0.0.1', port: 4100 });
    expect(serverOf('https://user:pw@oc.example')).toEqual({ address: 'oc.example', port: 443 });
  });

  it('content is captured only when the switch says true, and never with a secret in it', () => {
    expect(captureContent({})).toBe(false);
    expect(captureContent({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' })).toBe(true);
    const text = contentOf({
      command: 'curl -H "Authorization: Bearer abc.def" https://u:hunter2@x.io',
      apiKey: 'sk-live-1234567890',
      nested: { password: 'p', ok: 'visible' },
    });
    expect(text).toContain('visible');
    for (const secret of ['abc.def', 'hunter2', 'sk-live-1234567890', '"p"']) expect(text).not.toContain(secret);
    expect(contentOf('x'.repeat(10_000)).length).toBeLessThan(8200);
  });
});
