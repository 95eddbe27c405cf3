import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exportedNames } from './surface.js';

/**
 * The public surface, guarded the way the MCP TypeScript SDK guards its barrel: each entry of
 * package.json's `exports` lists its names here exactly, values and types apart. Adding or
 * removing an export fails this test until the list below changes with it — so a new public
 * name is a decision, not an accident. The root stays at most 40 names. Values are checked
 * three ways: the entry's export statements (TypeScript's parser), the source module's
 * `Object.keys`, and the built dist/<entry>.js and .cjs (needs `npm run build`).
 */
const ROOT = resolve(import.meta.dirname, '../..');

interface Entry {
  subpath: string;
  source: string;
  dist: string;
  values: string[];
  types: string[];
}

const ENTRIES: Entry[] = [
  {
    subpath: 'opencode-flow',
    source: 'src/index.ts',
    dist: 'index',
    values: [
      'FlowError',
      'FlowErrorCode',
      'OpencodeFlow',
      'agentDone',
      'agentFailed',
      'agentMachine',
      'isFlowError',
      'joinAgents',
      'loadPresets',
      'outputFormat',
      'planExecuteInput',
      'planExecuteMachine',
      'promptAgent',
      'promptAgents',
      'reviewLoopMachine',
      'spawnAgent',
      'stopAgent',
      'structuredOf',
      'tool',
    ],
    types: [
      'AgentConfig',
      'AgentEvents',
      'AgentHandle',
      'AgentReport',
      'AgentResult',
      'AgentSpec',
      'AgentSpecInput',
      'ExecuteOptions',
      'FlowEvents',
      'FlowOptions',
      'FlowReport',
      'FlowTool',
      'FlowToolContext',
      'OutputSchema',
      'PlanExecuteOptions',
      'ReplyAnswer',
      'RunEvent',
      'RunOptions',
      'RunReport',
      'RunStatus',
      'StructuredOf',
    ],
  },
  {
    subpath: 'opencode-flow/machines',
    source: 'machines/index.ts',
    dist: 'machines',
    values: [
      'AGGREGATE',
      'DEFAULT_INPUT_POLICY',
      'OutputSchemaError',
      'PLANNER',
      'PLAN_FORMAT',
      'PlanSchema',
      'agentActorId',
      'agentDone',
      'agentFailed',
      'agentMachine',
      'createMemoryClient',
      'decideInput',
      'joinAgents',
      'memoryMachine',
      'outputFormat',
      'parsePlan',
      'planExecuteInput',
      'planExecuteMachine',
      'planPrompt',
      'promptAgent',
      'promptAgents',
      'reviewLoopMachine',
      'spawnAgent',
      'stopAgent',
      'structuredOf',
      'supervisorMachine',
      'taskFor',
      'toOutputJsonSchema',
    ],
    types: [
      'AgentActorRef',
      'AgentAttempt',
      'AgentContext',
      'AgentErrorKind',
      'AgentEvent',
      'AgentEventFor',
      'AgentEvents',
      'AgentInput',
      'AgentNotification',
      'AgentOutcome',
      'AgentResult',
      'AgentSnapshot',
      'AgentSpec',
      'AgentSpecInput',
      'AgentTask',
      'AgentsJoinedEvent',
      'FlowMode',
      'FlowStatus',
      'InputAnswer',
      'InputPolicy',
      'InputRecord',
      'InputRequest',
      'MemoryActorRef',
      'MemoryChange',
      'MemoryClient',
      'MemoryOps',
      'OutputFormat',
      'OutputSchema',
      'Plan',
      'PlanExecuteOptions',
      'ReviewLoopInput',
      'ReviewLoopOutput',
      'StructuredOf',
      'Subtask',
      'SupervisorActorRef',
      'SupervisorEvent',
      'SupervisorInput',
      'SupervisorOutput',
      'SupervisorSnapshot',
    ],
  },
  {
    subpath: 'opencode-flow/router',
    source: 'src/router/index.ts',
    dist: 'router',
    values: [
      'BALANCED_WEIGHTS',
      'Budget',
      'COST_EPSILON',
      'CostLedger',
      'DEFAULT_CHAIN_LENGTH',
      'DEFAULT_COOLDOWN_MS',
      'DEFAULT_EXPECTED_OUTPUT_TOKENS',
      'DEFAULT_FLOORS',
      'DEFAULT_QUALITY',
      'DEFAULT_SPEED',
      'ERROR_KINDS',
      'FloorsSchema',
      'ModelCatalog',
      'ModelIdSchema',
      'ModelRouter',
      'ModelRouterConfigSchema',
      'ModelScoreOverrideSchema',
      'PROMPT_OVERHEAD_TOKENS',
      'QUALITY_TABLE',
      'ROUTING_MODES',
      'RoutingRuleSchema',
      'TASK_TYPES',
      'TaskTypeSchema',
      'buildCatalog',
      'classifyError',
      'classifyTask',
      'comparatorFor',
      'estimateCost',
      'estimatePromptTokens',
      'floorFor',
      'lookupModelScore',
      'parseModelRouterConfig',
      'rankModels',
      'tokenizeModelName',
    ],
    types: [
      'AgentTotals',
      'BudgetCheck',
      'BudgetOptions',
      'ClassifyInput',
      'CostSummary',
      'ErrorKind',
      'LedgerEntry',
      'LedgerJSON',
      'LedgerRecordInput',
      'LedgerRow',
      'ModelInfo',
      'ModelRouterConfig',
      'ModelRouterConfigInput',
      'ModelScore',
      'ModelScoreOverrides',
      'NextInput',
      'ProviderInput',
      'ProviderModelInput',
      'ProvidersAnswer',
      'QualityEntry',
      'RankOptions',
      'RankedModel',
      'Reservation',
      'RoutingMode',
      'RoutingRule',
      'SelectInput',
      'Selection',
      'SelectionSource',
      'SessionTotals',
      'TaskType',
      'Totals',
    ],
  },
  {
    subpath: 'opencode-flow/store',
    source: 'src/store/index.ts',
    dist: 'store',
    values: [
      'FileFlowStore',
      'FlowStoreUriSchema',
      'PostgresFlowStore',
      'SqliteFlowStore',
      'openFlowStore',
      'parseFlowStoreUri',
    ],
    types: ['FlowStore', 'FlowStoreConfig', 'StoredFlow', 'StoredFlowMeta'],
  },
  {
    subpath: 'opencode-flow/memory',
    source: 'src/memory/index.ts',
    dist: 'memory',
    values: [
      'DEFAULT_MAX_VALUE_BYTES',
      'DEFAULT_MEMORY_PATH',
      'DEFAULT_REDIS_PREFIX',
      'FileMemoryBackend',
      'KEY_PATTERN',
      'MAX_JSON_DEPTH',
      'MAX_TTL_MS',
      'MemoryConfigSchema',
      'NAMESPACE_PATTERN',
      'RedisMemoryBackend',
      'SHARED_NAMESPACE',
      'SqliteMemoryBackend',
      'assertKey',
      'assertNamespace',
      'assertPrefix',
      'canonicalJson',
      'compileWatchPattern',
      'createBackendMemoryOps',
      'createMemoryBackend',
      'flowNamespace',
      'parseMemoryUri',
      'resolveMemoryConfig',
    ],
    types: [
      'BackendMemoryOpsOptions',
      'CasResult',
      'CreateMemoryBackendOptions',
      'FileMemoryBackendOptions',
      'JsonValue',
      'MemoryBackend',
      'MemoryBackendKind',
      'MemoryChange',
      'MemoryClient',
      'MemoryConfig',
      'MemoryConfigInput',
      'MemoryEntry',
      'MemoryOps',
      'MemoryReadOptions',
      'MemoryScope',
      'MemorySetOptions',
      'MemoryWriteOptions',
      'RedisMemoryBackendOptions',
      'SqliteMemoryBackendOptions',
    ],
  },
  {
    subpath: 'opencode-flow/opencode',
    source: 'src/opencode/index.ts',
    dist: 'opencode',
    values: [
      'EventHub',
      'OpencodeClient',
      'attachOpencodeServer',
      'checkHealth',
      'outcomeOf',
      'resolveOpencodeBinary',
      'startOpencodeServer',
    ],
    types: [
      'EventHubOptions',
      'ModelRef',
      'OpencodeClientOptions',
      'OpencodeServer',
      'PromptOutcome',
      'ServerEndpoint',
      'StartServerOptions',
    ],
  },
  {
    subpath: 'opencode-flow/testing',
    source: 'src/testing/index.ts',
    dist: 'testing',
    values: [
      'DEFAULT_SCRIPTED_MODELS',
      'isolatedOpencodeEnv',
      'scriptedOpencodeConfig',
      'startScriptedLLM',
      'startTestOpencode',
      'structuredReply',
    ],
    types: [
      'ScriptedLLM',
      'ScriptedLLMOptions',
      'ScriptedMatch',
      'ScriptedModel',
      'ScriptedProviderOptions',
      'ScriptedReply',
      'ScriptedRequest',
      'ScriptedRule',
      'ScriptedToolCall',
      'TestOpencode',
      'TestOpencodeOptions',
    ],
  },
  {
    subpath: 'opencode-flow/client',
    source: 'src/client/index.ts',
    dist: 'client',
    values: ['FlowClient', 'FlowError', 'FlowErrorCode', 'apiErrorCode', 'isFinished'],
    types: [
      'ApiErrorDetails',
      'Cancelling',
      'CreateFlowRequest',
      'FlowAccepted',
      'FlowClientOptions',
      'FlowCostAnswer',
      'FlowReportBody',
      'FlowStreamEvent',
      'FlowSummary',
      'FlowView',
      'FollowOptions',
      'Health',
      'PendingRequestBody',
      'Readiness',
      'ReplyAccepted',
      'ReplyAnswer',
      'RunningFlow',
    ],
  },
  {
    subpath: 'opencode-flow/mcp',
    source: 'src/memory/mcp/index.ts',
    dist: 'mcp',
    values: [
      'AGENT_HEADER',
      'MEMORY_MCP_SERVER_NAME',
      'MEMORY_MCP_SERVER_VERSION',
      'MEMORY_TOOL_NAMES',
      'SHARED_NAMESPACE',
      'callerIdentity',
      'createBackendMemoryOps',
      'createMemoryBackend',
      'createMemoryMcpServer',
      'flowNamespace',
      'memoryMcpStdioOptionsFromEnv',
      'parseMemoryUri',
      'registerMemoryTools',
      'runMemoryMcpStdio',
      'startMemoryMcpHttp',
    ],
    types: [
      'BackendMemoryOpsOptions',
      'McpCallContext',
      'MemoryChange',
      'MemoryClient',
      'MemoryConfig',
      'MemoryConfigInput',
      'MemoryMcpHttpOptions',
      'MemoryMcpHttpServer',
      'MemoryMcpRequestInfo',
      'MemoryMcpServerOptions',
      'MemoryMcpStdioOptions',
      'MemoryMcpStdioServer',
      'MemoryOps',
      'MemoryReadOptions',
      'MemoryScope',
      'MemoryToolsOptions',
      'MemoryWriteOptions',
      'OpencodeRemoteMcpConfig',
    ],
  },
];

describe('public surface', () => {
  it('the root exports at most 40 names', () => {
    const root = ENTRIES[0]!;
    expect(root.subpath).toBe('opencode-flow');
    expect(root.values.length + root.types.length).toBeLessThanOrEqual(40);
  });

  it('the README names every root export and every public method of the host (a user reads them there, not in the source)', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const named = (n: string) => new RegExp(`\\b${n}\\b`).test(readme);
    const root = ENTRIES[0]!;
    expect([...root.values, ...root.types].filter((n) => !named(n))).toEqual([]);
    const { OpencodeFlow } = await import('../../src/flow/host.js');
    const methods = Object.getOwnPropertyNames(OpencodeFlow.prototype).filter((n) => n !== 'constructor');
    expect(methods.length).toBeGreaterThan(10);
    expect(methods.filter((n) => !new RegExp(`\\b${n}\\(|\\.${n}\\b`).test(readme))).toEqual([]);
  });

  it('package.json exports exactly these entries, each with its types', async () => {
    const pkg = (await import(pathToFileURL(join(ROOT, 'package.json')).href, { with: { type: 'json' } })).default as {
      exports: Record<string, unknown>;
      typesVersions: Record<string, Record<string, string[]>>;
    };
    const subpaths = ENTRIES.map((e) => (e.subpath === 'opencode-flow' ? '.' : `./${e.subpath.slice(14)}`));
    expect(Object.keys(pkg.exports).sort()).toEqual([...subpaths, './package.json'].sort());
    expect(Object.keys(pkg.typesVersions['*']!).sort()).toEqual(
      subpaths
        .filter((s) => s !== '.')
        .map((s) => s.slice(2))
        .sort(),
    );
  });

  describe.each(ENTRIES)('$subpath', (entry) => {
    it('lists its names explicitly (no export *), exactly as above', () => {
      const found = exportedNames(join(ROOT, entry.source));
      expect(found.star).toBe(false);
      expect(found.values).toEqual([...entry.values].sort());
      expect(found.types).toEqual([...entry.types].sort());
    });

    it('its module has exactly the listed values at run time', async () => {
      const mod = (await import(pathToFileURL(join(ROOT, entry.source)).href)) as Record<string, unknown>;
      expect(Object.keys(mod).sort()).toEqual([...entry.values].sort());
    });

    it('the built ESM and CommonJS entries have exactly the listed values, and declarations', async () => {
      for (const ext of ['js', 'cjs', 'd.ts', 'd.cts']) {
        if (!existsSync(join(ROOT, `dist/${entry.dist}.${ext}`)))
          throw new Error(`dist/${entry.dist}.${ext} is missing: run \`npm run build\` first`);
      }
      const esm = (await import(pathToFileURL(join(ROOT, `dist/${entry.dist}.js`)).href)) as Record<string, unknown>;
      expect(Object.keys(esm).sort()).toEqual([...entry.values].sort());
      const cjs = (await import(pathToFileURL(join(ROOT, `dist/${entry.dist}.cjs`)).href)) as Record<string, unknown>;
      expect(
        Object.keys(cjs)
          .filter((k) => k !== 'default' && k !== 'module.exports')
          .sort(),
      ).toEqual([...entry.values].sort());
    });
  });
});
