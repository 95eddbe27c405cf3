/**
 * Just enough of the Dockerfile and .dockerignore formats to check the repository's own
 * files (no Docker engine here): instructions with their `--flags`, continuation lines,
 * comments, exec and shell forms, stages; `.dockerignore` patterns with `**`, `*`, `?`
 * and `!` exceptions, a match on a directory excluding everything under it.
 */
import { posix } from 'node:path';

export interface Instruction {
  /** Upper-cased: `RUN`, `COPY`, ... */
  cmd: string;
  /** Leading `--name=value` flags (`--from`, `--chown`, `--interval`, ...). */
  flags: Record<string, string>;
  /** The rest, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  index: number;
  /** The image or earlier stage it starts from. */
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** The instructions of a Dockerfile, continuation lines joined, comments dropped. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue;
    const start = i + 1;
    let joined = first;
    // A trailing backslash continues the instruction (backslash and newline are removed, as
    // Docker does); comment lines inside it are skipped.
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, '');
      const next = lines[++i]!;
      if (/^\s*#/.test(next)) {
        joined += '\\';
        continue;
      }
      joined += next;
    }
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(joined)!;
    let rest = m[2]!.trim();
    const flags: Record<string, string> = {};
    for (let f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
      flags[f[1]!] = f[2] ?? '';
      rest = rest.slice(f[0].length);
    }
    out.push({ cmd: m[1]!.toUpperCase(), flags, args: rest, line: start });
  }
  return out;
}

/** The stages of a Dockerfile, each with the instructions after its FROM. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.cmd === 'FROM') {
      const [from, as, name] = ins.args.split(/\s+/);
      stages.push({
        index: stages.length,
        from: from!,
        ...(as?.toUpperCase() === 'AS' && name ? { name } : {}),
        instructions: [],
      });
    } else if (stages.length) {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return stages;
}

/** An instruction's command as argv: exec form (JSON array) as written, shell form under `sh -c`. */
export function execForm(args: string): string[] {
  if (args.trimStart().startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/** A COPY's sources and its destination resolved against the stage's WORKDIR at that point. */
export interface Copy {
  from?: string;
  sources: string[];
  /** Absolute path in the image of each source's copy. */
  targets: string[];
}

/** Every COPY of a stage, with destinations made absolute. */
export function copiesOf(stage: Stage): Copy[] {
  let workdir = '/';
  const out: Copy[] = [];
  for (const ins of stage.instructions) {
    if (ins.cmd === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
    if (ins.cmd !== 'COPY') continue;
    const parts = ins.args.startsWith('[') ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
    const dest = parts.at(-1)!;
    const sources = parts.slice(0, -1);
    const base = posix.resolve(workdir, dest);
    // `COPY a b ./` puts a and b inside the directory; `COPY src ./src` copies src as ./src.
    const intoDir = dest.endsWith('/') || sources.length > 1;
    out.push({
      ...(ins.flags.from ? { from: ins.flags.from } : {}),
      sources,
      targets: sources.map((s) => (intoDir ? posix.join(base, posix.basename(s)) : base)),
    });
  }
  return out;
}

/** The `.dockerignore` rule set as a predicate: true when the path is left out of the context. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).trim().replace(/^\/+/, '')).replace(/\/+$/, '');
      return { negate, re: globToRegExp(pattern) };
    });
  return (path) => {
    const parts = posix.normalize(path).replace(/^\/+/, '').split('/');
    // A pattern matching a directory leaves out everything under it.
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
