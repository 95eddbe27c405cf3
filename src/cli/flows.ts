import { Command } from 'commander';
import { FlowError, FlowErrorCode } from '../errors.js';
import { optionsFromEnv } from '../flow/env.js';
import { ExitCode } from './handle-error.js';

/** The flags that name a flow store. */
interface StoreFlags {
  store?: string;
  dir?: string;
}

const STORE_HELP =
  'flow store: file:DIR, sqlite:PATH or postgres://USER@HOST:PORT/DB (default: $OPENCODE_FLOW_STORE, else file:.opencode-flow/flows)';

/**
 * What the actions use, loaded when one runs: building the commands for `--help` must not
 * load zod, the flow store or the table printer.
 */
async function load() {
  const [
    { z },
    { default: Table },
    { zodToFlowError },
    { MemoryUriSchema },
    { defaultFlowsDir, openFlowStore, parseFlowStoreUri },
    { formatReport, usd },
  ] = await Promise.all([
    import('zod'),
    import('cli-table3'),
    import('../config/errors.js'),
    import('../config/flow-config.js'),
    import('../store/uri.js'),
    import('./output.js'),
  ]);
  return {
    z,
    Table,
    zodToFlowError,
    MemoryUriSchema,
    formatReport,
    usd,
    /**
     * The flow store a command names: `--store URI`, else `--dir DIR` (the file store), else
     * `OPENCODE_FLOW_STORE`, else `.opencode-flow/flows` in the working directory. A bad URI
     * is an `invalid_config` error (exit 2) naming the flag or variable.
     */
    storeOf: (opts: StoreFlags) => {
      if (opts.store !== undefined && opts.dir !== undefined)
        throw new FlowError(
          FlowErrorCode.InvalidConfig,
          'give --store or --dir, not both (--dir DIR is --store file:DIR)',
        );
      if (opts.dir !== undefined)
        return { uri: `file:${opts.dir}`, store: openFlowStore({ backend: 'file', dir: opts.dir }) };
      const env = optionsFromEnv().store;
      const uri = opts.store ?? env;
      if (uri === undefined)
        return { uri: undefined, store: openFlowStore({ backend: 'file', dir: defaultFlowsDir() }) };
      try {
        parseFlowStoreUri(uri);
      } catch (e) {
        throw new FlowError(
          FlowErrorCode.InvalidConfig,
          `invalid ${opts.store !== undefined ? 'option --store' : 'OPENCODE_FLOW_STORE'}: ${(e as Error).message}`,
          { cause: e },
        );
      }
      return { uri, store: openFlowStore(uri) };
    },
    FlowIdSchema: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected a flow id such as flow_20261124012345_ab12cd' }),
  };
}

/**
 * `opencode-flow flows`: the flows stored in this project (`.opencode-flow/flows`), newest
 * first, with status and cost. A flow whose process died shows `running`: resume it.
 */
export function flowsCommand(): Command {
  return new Command('flows')
    .description('list the flows stored in this project, with status and cost')
    .option('--json', 'print them as JSON')
    .option('--store <uri>', STORE_HELP)
    .option('--dir <path>', 'the file store in this directory (--store file:DIR)')
    .action(async (opts: { json?: boolean } & StoreFlags) => {
      const { storeOf, Table, usd } = await load();
      const { store } = storeOf(opts);
      const flows = await store.list().finally(() => store.close());
      if (opts.json) {
        process.stdout.write(JSON.stringify(flows) + '\n');
        return;
      }
      if (flows.length === 0) {
        process.stdout.write(`No stored flows in ${store.location}.\n`);
        return;
      }
      const table = new Table({
        head: ['flow', 'status', 'mode', 'agents', 'cost', 'started', 'task'],
        style: { head: [], border: [] },
      });
      for (const f of flows) {
        table.push([
          f.flowId,
          f.status,
          f.mode,
          f.agents.join(','),
          usd(f.cost),
          new Date(f.startedAt).toISOString().replace('T', ' ').slice(0, 19),
          f.task.slice(0, 40),
        ]);
      }
      process.stdout.write(table.toString() + '\n');
    });
}

/**
 * `opencode-flow cost [flowId]`: what a stored flow spent, per agent and per model (the
 * latest flow when no id is given).
 */
export function costCommand(): Command {
  return new Command('cost')
    .description('what a stored flow spent, per agent and per model (default: the latest flow)')
    .argument('[flowId]', 'flow id (see opencode-flow flows)')
    .option('--json', 'print the figures as JSON')
    .option('--store <uri>', STORE_HELP)
    .option('--dir <path>', 'the file store in this directory (--store file:DIR)')
    .action(async (flowId: string | undefined, opts: { json?: boolean } & StoreFlags) => {
      const { storeOf, Table, usd, FlowIdSchema, zodToFlowError } = await load();
      let id = flowId;
      if (id !== undefined) {
        const parsed = FlowIdSchema.safeParse(id);
        if (!parsed.success) throw zodToFlowError(parsed.error, 'flowId');
      }
      const { store } = storeOf(opts);
      const stored = await (async () => {
        if (id === undefined) {
          id = (await store.list())[0]?.flowId;
          // Nothing stored is an answer, as `flows` gives it (exit 0), not a usage error.
          if (!id) return undefined;
        }
        return store.load(id);
      })().finally(() => store.close());
      if (!stored) {
        process.stdout.write(opts.json ? '{"flowId":null}\n' : `No stored flows in ${store.location}.\n`);
        return;
      }
      const { meta } = stored;
      // The report's own figures (the same ledger as a live run's).
      const { storedReport } = await import('../flow/report.js');
      const report = storedReport(stored);
      const results = report.results;
      const { total, byAgent, byModel } = report.cost;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ flowId: id, status: meta.status, cost: report.cost }) + '\n');
        return;
      }
      const table = new Table({
        head: ['agent', 'model', 'status', 'tokens in/out', 'cost'],
        style: { head: [], border: [] },
      });
      for (const r of results)
        table.push([r.agent, r.model, r.status, `${r.tokens.input}/${r.tokens.output}`, usd(r.cost)]);
      table.push(['total', '', meta.status, '', usd(total)]);
      process.stdout.write(
        `flow ${id} (${meta.status})\n${table.toString()}\nby model: ${
          Object.entries(byModel)
            .map(([m, c]) => `${m} ${usd(c)}`)
            .join(', ') || '-'
        }\n`,
      );
    });
}

/**
 * `opencode-flow resume <flowId>`: continue a flow whose process died. Finished agents are
 * not run again; an agent that was mid-prompt takes the answer its session got meanwhile.
 */
export function resumeCommand(): Command {
  return new Command('resume')
    .description('continue a stored flow whose process died (finished agents are not re-run)')
    .argument('<flowId>', 'flow id (see opencode-flow flows)')
    .option(
      '-s, --server <urls>',
      'OpenCode server, or a pool: url1,url2 (default: $OPENCODE_SERVER_URL, else start one)',
    )
    .option('--json', 'print the flow report as one JSON object')
    .option('--store <uri>', STORE_HELP)
    .option('--dir <path>', 'the file store in this directory (--store file:DIR)')
    .option(
      '--memory <uri>',
      'the shared memory the flow ran with: file:PATH, sqlite:PATH or redis://HOST:PORT/DB (default: $OPENCODE_FLOW_MEMORY, else file:.opencode-flow/memory.json)',
    )
    .action(async (flowId: string, opts: { server?: string; json?: boolean; memory?: string } & StoreFlags) => {
      const { storeOf, z, FlowIdSchema, zodToFlowError, MemoryUriSchema, formatReport } = await load();
      const parsed = FlowIdSchema.safeParse(flowId);
      if (!parsed.success) throw zodToFlowError(parsed.error, 'flowId');
      const env = optionsFromEnv();
      const memory = opts.memory ?? env.memory;
      if (memory !== undefined) {
        const m = MemoryUriSchema.safeParse(memory);
        if (!m.success)
          throw new FlowError(
            FlowErrorCode.InvalidConfig,
            `invalid option --memory: ${m.error.issues[0]?.message}, found "${memory}"`,
          );
      }
      const server = opts.server ?? env.serverUrl;
      if (server !== undefined && !z.string().url().safeParse(server).success) {
        throw new FlowError(
          FlowErrorCode.InvalidConfig,
          `--server: expected a URL such as http://127.0.0.1:4096, got "${server}"`,
        );
      }
      const { uri, store } = storeOf(opts);
      await store.load(flowId).finally(() => store.close()); // a clear error before any server starts
      const { OpencodeFlow } = await import('../flow/index.js');
      const flow = new OpencodeFlow({
        serverUrl: server,
        password: env.password,
        username: env.username,
        store: uri ?? store.location,
        memory,
        // A CLI run's flow id is its flow object's id, and so its memory namespace
        // (flow:<id>): the resumed agents see what the first run wrote.
        id: flowId,
      });
      let interrupted = false;
      const onSignal = () => {
        interrupted = true;
        flow.cancel(undefined, 'interrupted');
      };
      process.on('SIGINT', onSignal);
      try {
        await flow.start();
        // Ctrl-C while the server started: there was no flow yet to cancel.
        if (interrupted) {
          process.exitCode = ExitCode.Cancelled;
          return;
        }
        const report = await flow.resume(flowId);
        process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : formatReport(report));
        process.exitCode =
          report.status === 'completed'
            ? ExitCode.Ok
            : report.status === 'cancelled'
              ? ExitCode.Cancelled
              : ExitCode.Failed;
      } finally {
        process.off('SIGINT', onSignal);
        await flow.shutdown();
      }
    });
}
