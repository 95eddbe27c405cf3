/**
 * The rules of the Prometheus text format that `promtool check metrics` enforces and that
 * our output could break, checked in plain JS so the suite needs no Go binary:
 * valid metric and label names; one `# HELP` and one `# TYPE` per family, before its
 * samples; counters end in `_total`; gauges and untyped metrics do not; every sample
 * belongs to a declared family (histograms and summaries by their suffixes); values parse.
 * Returns the problems found, one line each (empty when the text is clean).
 */
export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const sampled = new Set<string>();
  const familyOf = (name: string): string | undefined => {
    if (types.has(name)) return name;
    for (const suffix of ['_bucket', '_sum', '_count', '_created']) {
      const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
      if (base && ['histogram', 'summary'].includes(types.get(base) ?? '')) return base;
    }
    return undefined;
  };
  text.split('\n').forEach((line, i) => {
    const at = `line ${i + 1}`;
    if (line === '') return;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta as unknown as [string, string, string, string?];
      if (!METRIC.test(name)) problems.push(`${at}: invalid metric name "${name}"`);
      if (kind === 'HELP') {
        if (helps.has(name)) problems.push(`${at}: second HELP for ${name}`);
        if (rest.trim() === '') problems.push(`${at}: empty HELP for ${name}`);
        helps.add(name);
        return;
      }
      if (types.has(name)) problems.push(`${at}: second TYPE for ${name}`);
      if (sampled.has(name)) problems.push(`${at}: TYPE for ${name} after its samples`);
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
        problems.push(`${at}: unknown type "${rest}" for ${name}`);
      if (rest === 'counter' && !name.endsWith('_total'))
        problems.push(`${name}: a counter's name should end in _total`);
      if ((rest === 'gauge' || rest === 'untyped') && name.endsWith('_total'))
        problems.push(`${name}: a ${rest} must not end in _total`);
      types.set(name, rest);
      return;
    }
    if (line.startsWith('#')) return;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) {
      problems.push(`${at}: not a sample line: ${line.slice(0, 120)}`);
      return;
    }
    const [, name, labels = '', value] = m as unknown as [string, string, string | undefined, string];
    if (!METRIC.test(name)) problems.push(`${at}: invalid metric name "${name}"`);
    const family = familyOf(name);
    if (!family) problems.push(`${at}: sample of ${name} without a TYPE`);
    else {
      sampled.add(family);
      if (!helps.has(family)) problems.push(`${at}: sample of ${name} without a HELP`);
    }
    const rest = labels.replace(/([^=,\s]+)="((?:[^"\\]|\\.)*)",?/g, (_all, label: string) => {
      if (!LABEL.test(label) || label.startsWith('__')) problems.push(`${at}: invalid label name "${label}"`);
      return '';
    });
    if (rest.trim() !== '') problems.push(`${at}: malformed labels {${labels}}`);
    // Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client prints "Nan").
    if (!/^([+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|[+-]?inf(inity)?|nan)$/i.test(value))
      problems.push(`${at}: bad value "${value}"`);
  });
  return problems;
}
