/**
 * The scripted model in a process of its own, for benches that count the CPU of their own
 * process: in-process, the model's HTTP serving would be counted in both arms and make them
 * look closer than they are. `startScriptedLLMProcess()` starts this file as a child; the child
 * prints its base URL and serves until its stdin closes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startScriptedLLM, type ScriptedReply } from '../../src/testing/index.js';

/** A scripted model running in a child process. */
export interface ScriptedLLMProcess {
  baseURL: string;
  pid: number | undefined;
  close(): Promise<void>;
}

/** Start the scripted model, answering every prompt with `reply`, in a child process. */
export async function startScriptedLLMProcess(reply: ScriptedReply): Promise<ScriptedLLMProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(reply)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseURL = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('http'));
      if (line) resolve(line.trim());
    });
    void exited.then(() => reject(new Error('the scripted model process exited before it listened')));
  });
  return {
    baseURL,
    pid: child.pid,
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const llm = await startScriptedLLM({ fallback: JSON.parse(process.argv[2] ?? '{"text":"ok"}') as ScriptedReply });
  process.stdout.write(`${llm.baseURL}\n`);
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await llm.close();
}
