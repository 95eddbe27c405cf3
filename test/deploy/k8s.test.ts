/**
 * deploy/k8s: every manifest is checked against focused Kubernetes schemas (see
 * k8s-schemas.ts: no kubeconform/kubeval here), against each other (Secret, ConfigMap,
 * volume, Service and probe references), and against the app itself: env names the
 * source reads, the CLI's real flag parser, the memory URI parser, the agent file parser.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { addRunFlags } from '../../src/cli/run.js';
import { normaliseRunOptions, RunOptionsSchema } from '../../src/cli/run-options.js';
import { ExitCode } from '../../src/cli/handle-error.js';
import { serveCommand } from '../../src/cli/serve.js';
import { normaliseServeOptions } from '../../src/cli/serve-options.js';
import { FLOW_CONFIG_FILE, FlowConfigSchema } from '../../src/config/flow-config.js';
import { parseMemoryUri } from '../../src/memory/config.js';
import { parseAgentFile } from '../../src/presets/agent-file.js';
import { PROJECT_AGENTS_DIR } from '../../src/presets/load.js';
import { ServeOptionsSchema } from '../../src/serve/options.js';
import * as K from './k8s-schemas.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const K8S_DIR = join(ROOT, 'deploy/k8s');
const FLOW_IMAGE = 'opencode-flow';

// ---------------------------------------------------------------- loading

interface Loaded {
  file: string;
  obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;
}

const manifestFiles = readdirSync(K8S_DIR)
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
  .sort();

function loadAll(): { loaded: Loaded[]; errors: string[] } {
  const loaded: Loaded[] = [];
  const errors: string[] = [];
  for (const file of manifestFiles) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'))) {
      if ('empty' in doc) continue;
      for (const e of doc.errors) errors.push(`${file}: ${e.message}`);
      const obj: unknown = doc.toJS();
      if (obj === null) continue;
      loaded.push({ file, obj: obj as Loaded['obj'] });
    }
  }
  return { loaded, errors };
}

const { loaded, errors: yamlErrors } = loadAll();
const id = (o: Loaded['obj']) => `${o.kind}/${o.metadata?.name}`;
// Views for the cross-checks. An object that fails its schema is taken as it is (the
// schemas add no defaults), so one bad field fails the schema test, not every test.
const ofKind = <T extends z.ZodType>(kind: string, schema: T): z.infer<T>[] =>
  loaded.filter((l) => l.obj.kind === kind).map((l) => schema.safeParse(l.obj).data ?? (l.obj as z.infer<T>));

const typed = () => ({
  secrets: ofKind('Secret', K.Secret),
  configMaps: ofKind('ConfigMap', K.ConfigMap),
  pvcs: ofKind('PersistentVolumeClaim', K.PersistentVolumeClaim),
  deployments: ofKind('Deployment', K.Deployment),
  statefulSets: ofKind('StatefulSet', K.StatefulSet),
  pdbs: ofKind('PodDisruptionBudget', K.PodDisruptionBudget),
  services: ofKind('Service', K.Service),
  jobs: ofKind('Job', K.Job),
  namespaces: ofKind('Namespace', K.Namespace),
});

interface Workload {
  id: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  pod: K.PodSpecT;
}
function workloads(): Workload[] {
  const t = typed();
  return [
    ...t.deployments.map((d) => ({
      id: `Deployment/${d.metadata.name}`,
      ...d.spec.template.metadata,
      pod: d.spec.template.spec,
    })),
    ...t.statefulSets.map((d) => ({
      id: `StatefulSet/${d.metadata.name}`,
      ...d.spec.template.metadata,
      pod: d.spec.template.spec,
    })),
    ...t.jobs.map((j) => ({ id: `Job/${j.metadata.name}`, ...j.spec.template.metadata, pod: j.spec.template.spec })),
  ];
}
const containersOf = (pod: K.PodSpecT) => [...(pod.initContainers ?? []), ...pod.containers];
const allContainers = () => workloads().flatMap((w) => containersOf(w.pod).map((c) => ({ w, c })));
const imageName = (image: string) => image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
const imageTag = (image: string) => /:([^/:@]+)(@.*)?$/.exec(image)?.[1];
/** Main containers running the opencode-flow image through its ENTRYPOINT (the CLI). */
const flowContainers = () =>
  workloads().flatMap((w) =>
    w.pod.containers.filter((c) => imageName(c.image).endsWith(FLOW_IMAGE)).map((c) => ({ w, c })),
  );
const opencodeServer = () => {
  const d = typed().statefulSets.find((x) =>
    x.spec.template.spec.containers.some((c) => c.command?.[0] === 'opencode'),
  );
  if (!d) throw new Error('no StatefulSet runs the opencode binary');
  return { d, c: d.spec.template.spec.containers.find((c) => c.command?.[0] === 'opencode')! };
};
/** Volumes of a pod, a StatefulSet's claim templates included. */
const volumeNamesOf = (w: Workload) => [
  ...(w.pod.volumes ?? []).map((v) => v.name),
  ...(typed()
    .statefulSets.find((x) => `StatefulSet/${x.metadata.name}` === w.id)
    ?.spec.volumeClaimTemplates?.map((t) => t.metadata.name) ?? []),
];
const envOf = (c: K.ContainerT, name: string) => c.env?.find((e) => e.name === name);

/** The value an env var gets, following a configMapKeyRef or secretKeyRef into the template. */
function resolveEnv(c: K.ContainerT, name: string): string | undefined {
  const e = envOf(c, name);
  if (!e) return undefined;
  if (e.value !== undefined) return e.value;
  const ref = e.valueFrom?.configMapKeyRef;
  if (ref) return typed().configMaps.find((m) => m.metadata.name === ref.name)?.data[ref.key];
  const sref = e.valueFrom?.secretKeyRef;
  if (sref) return typed().secrets.find((m) => m.metadata.name === sref.name)?.stringData?.[sref.key];
  return undefined;
}

// ---------------------------------------------------------------- the app's source

function readTree(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? readTree(p) : /\.(ts|js|mjs)$/.test(f) ? [readFileSync(p, 'utf8')] : [];
  });
}
/** Code without comments, so a name in a TSDoc example does not count as read. */
const stripComments = (code: string) => code.replace(/^\s*\/\*[\s\S]*?\*\//gm, '').replace(/(^|\s)\/\/.*$/gm, '$1');
const srcText = stripComments(readTree(join(ROOT, 'src')).join('\n'));
const serveText = stripComments(readTree(join(ROOT, 'src/serve')).join('\n'));
const readsEnv = (text: string, name: string) =>
  new RegExp(`\\benv(?:\\.${name}\\b|\\[\\s*['"\`]${name}['"\`]\\s*\\])`).test(text);

/** How the API Deployment runs `opencode-flow serve`; checked against src/serve and src/cli/serve.ts. */
const SERVE_CONTRACT = {
  port: 5000,
  host: '0.0.0.0',
  tokenEnv: 'OPENCODE_FLOW_TOKEN',
  liveness: '/healthz',
  readiness: '/readyz',
  metrics: '/metrics',
};
/** Env the OpenCode server reads (OPENCODE.md, checked against opencode 1.18.33), plus HOME. */
const OPENCODE_ENV = new Set([
  'HOME',
  'OPENCODE_CONFIG',
  'OPENCODE_CONFIG_CONTENT',
  'OPENCODE_DISABLE_AUTOUPDATE',
  'OPENCODE_DISABLE_MODELS_FETCH',
  'OPENCODE_SERVER_PASSWORD',
  'OPENCODE_SERVER_USERNAME',
  'ANTHROPIC_API_KEY',
  'OPENAI_API_KEY',
  'OPENROUTER_API_KEY',
  'GEMINI_API_KEY',
]);
const PROVIDER_ENV = ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'OPENROUTER_API_KEY', 'GEMINI_API_KEY'];

// ---------------------------------------------------------------- tests

describe('deploy/k8s: parsing and schemas', () => {
  it('every file is YAML whose documents are Kubernetes objects, and the required ones are there', () => {
    expect(yamlErrors).toEqual([]);
    for (const { file, obj } of loaded) {
      expect(typeof obj.apiVersion, `${file}: apiVersion`).toBe('string');
      expect(typeof obj.kind, `${file}: kind`).toBe('string');
      expect(typeof obj.metadata?.name, `${file}: metadata.name`).toBe('string');
    }
    const kinds = loaded.map((l) => l.obj.kind);
    const count = (k: string) => kinds.filter((x) => x === k).length;
    expect(count('Namespace')).toBe(1);
    expect(count('Secret')).toBeGreaterThanOrEqual(1);
    expect(count('ConfigMap')).toBeGreaterThanOrEqual(1);
    expect(count('Deployment')).toBe(1); // the API
    expect(count('StatefulSet')).toBe(1); // the OpenCode servers
    expect(count('PodDisruptionBudget')).toBe(2);
    expect(count('Service')).toBe(2);
    expect(count('Job')).toBe(1);
  });

  it.each(loaded.map((l) => [`${l.file} ${id(l.obj)}`, l] as const))('%s matches its schema', (_name, { obj }) => {
    const schema = K.schemaByKind[`${obj.apiVersion}/${obj.kind}`];
    expect(schema, `no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`).toBeDefined();
    const r = schema!.safeParse(obj);
    expect(r.success ? '' : z.prettifyError(r.error)).toBe('');
  });

  it('the Job schema rejects a podFailurePolicy condition without status, as Kubernetes 1.30 does', () => {
    const job = loaded.find((l) => l.obj.kind === 'Job')!.obj as unknown as {
      spec: { podFailurePolicy: { rules: { onPodConditions?: { status?: string }[] }[] } };
    };
    expect(K.Job.safeParse(job).success).toBe(true);
    const copy = structuredClone(job);
    const pattern = copy.spec.podFailurePolicy.rules.flatMap((r) => r.onPodConditions ?? [])[0]!;
    delete pattern.status;
    const r = K.Job.safeParse(copy);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(
      'spec.podFailurePolicy.rules.1.onPodConditions.0.status',
    );
  });

  it('names are unique per kind and every object sits in the one Namespace', () => {
    const ids = loaded.map((l) => id(l.obj));
    expect(new Set(ids).size).toBe(ids.length);
    const ns = typed().namespaces[0]!.metadata.name;
    for (const { obj } of loaded.filter((l) => l.obj.kind !== 'Namespace'))
      expect(obj.metadata.namespace, id(obj)).toBe(ns);
  });
});

describe('deploy/k8s: kustomization', () => {
  const kustomization = K.Kustomization.parse(parseYaml(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')));

  it('lists every manifest in the directory and nothing that is not there', () => {
    expect([...kustomization.resources].sort()).toEqual(manifestFiles);
    expect(new Set(kustomization.resources).size).toBe(kustomization.resources.length);
  });

  it('sets the namespace the Namespace object declares, and no selector-changing labels', () => {
    expect(kustomization.namespace).toBe(typed().namespaces[0]!.metadata.name);
    // Selectors of Deployments and Jobs are immutable: common labels must not reach them.
    for (const l of kustomization.labels ?? []) expect(l.includeSelectors ?? false).toBe(false);
  });

  it('pins the opencode-flow image to the package version, everywhere', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const flowImages = allContainers().filter(({ c }) => imageName(c.image) === FLOW_IMAGE);
    expect(flowImages.length).toBeGreaterThanOrEqual(3); // Job init + Job + API
    for (const { w, c } of flowImages) expect(imageTag(c.image), `${w.id} ${c.name}`).toBe(version);
    const entry = kustomization.images?.find((i) => i.name === FLOW_IMAGE);
    expect(entry?.newTag).toBe(version);
  });

  const hasKubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
      return true;
    } catch {
      return false;
    }
  })();

  // kubectl is not on every machine; where it is, its own kustomize builds the directory.
  it.skipIf(!hasKubectl)('kubectl kustomize builds exactly the objects of the files, namespaced and labelled', () => {
    const out = execFileSync('kubectl', ['kustomize', K8S_DIR], { encoding: 'utf8', timeout: 60_000 });
    const built = parseAllDocuments(out).map((d) => d.toJS() as Loaded['obj']);
    expect(built.map(id).sort()).toEqual(loaded.map((l) => id(l.obj)).sort());
    for (const o of built.filter((b) => b.kind !== 'Namespace'))
      expect(o.metadata.namespace, id(o)).toBe(kustomization.namespace);
    for (const o of built)
      expect((o.metadata as { labels?: Record<string, string> }).labels?.['app.kubernetes.io/managed-by'], id(o)).toBe(
        'kustomize',
      );
  });
});

describe('deploy/k8s: references between objects', () => {
  it('every secretKeyRef names a Secret and a key of the template', () => {
    const secrets = typed().secrets;
    let refs = 0;
    for (const { w, c } of allContainers()) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        refs++;
        const s = secrets.find((x) => x.metadata.name === ref.name);
        expect(s, `${w.id} ${c.name} ${e.name}: Secret ${ref.name}`).toBeDefined();
        expect(Object.keys(s!.stringData ?? s!.data ?? {}), `${w.id} ${c.name} ${e.name}`).toContain(ref.key);
      }
    }
    expect(refs).toBeGreaterThanOrEqual(8);
  });

  it('every configMapKeyRef and configMap volume names a ConfigMap and its keys', () => {
    const maps = typed().configMaps;
    const keysOf = (name: string) => {
      const m = maps.find((x) => x.metadata.name === name);
      expect(m, `ConfigMap ${name}`).toBeDefined();
      return Object.keys(m!.data);
    };
    let refs = 0;
    for (const { w, c } of allContainers()) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.configMapKeyRef;
        if (ref) {
          refs++;
          expect(keysOf(ref.name), `${w.id} ${c.name} ${e.name}`).toContain(ref.key);
        }
      }
    }
    for (const w of workloads()) {
      for (const v of w.pod.volumes ?? []) {
        if (!v.configMap) continue;
        refs++;
        const keys = keysOf(v.configMap.name);
        for (const item of v.configMap.items ?? []) expect(keys, `${w.id} volume ${v.name}`).toContain(item.key);
      }
    }
    expect(refs).toBeGreaterThanOrEqual(5);
  });

  it('every volume mount names a volume of its pod, every volume is mounted, every claim exists', () => {
    const claims = typed().pvcs.map((p) => p.metadata.name);
    for (const w of workloads()) {
      const declared = volumeNamesOf(w);
      expect(new Set(declared).size, w.id).toBe(declared.length);
      const mounted = new Set<string>();
      for (const c of containersOf(w.pod)) {
        const paths = (c.volumeMounts ?? []).map((m) => m.mountPath);
        expect(new Set(paths).size, `${w.id} ${c.name}: a path mounted twice`).toBe(paths.length);
        for (const m of c.volumeMounts ?? []) {
          expect(declared, `${w.id} ${c.name} mounts ${m.name}`).toContain(m.name);
          mounted.add(m.name);
        }
      }
      expect([...mounted].sort(), `${w.id}: volumes nobody mounts`).toEqual([...declared].sort());
      for (const v of w.pod.volumes ?? [])
        if (v.persistentVolumeClaim) expect(claims, `${w.id} ${v.name}`).toContain(v.persistentVolumeClaim.claimName);
    }
  });

  it('each Service selects exactly one workload and targets one of its container ports', () => {
    for (const s of typed().services) {
      const matches = workloads().filter((w) => Object.entries(s.spec.selector).every(([k, v]) => w.labels[k] === v));
      expect(
        matches.map((m) => m.id),
        `Service ${s.metadata.name}`,
      ).toHaveLength(1);
      expect(
        /^(Deployment|StatefulSet)\//.test(matches[0]!.id),
        `Service ${s.metadata.name} selects ${matches[0]!.id}`,
      ).toBe(true);
      const ports = matches[0]!.pod.containers.flatMap((c) => c.ports ?? []);
      for (const p of s.spec.ports) {
        const target = p.targetPort ?? p.port;
        const hit = ports.find((cp) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target));
        expect(hit, `Service ${s.metadata.name} port ${p.port} -> ${target}`).toBeDefined();
        expect(hit!.protocol ?? 'TCP').toBe(p.protocol ?? 'TCP');
      }
    }
  });

  it('probe ports are ports the container declares', () => {
    let probes = 0;
    for (const { w, c } of allContainers()) {
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port === undefined) continue;
        probes++;
        const ok = (c.ports ?? []).some((p) => (typeof port === 'number' ? p.containerPort === port : p.name === port));
        expect(ok, `${w.id} ${c.name} probe port ${port}`).toBe(true);
      }
    }
    expect(probes).toBeGreaterThanOrEqual(4);
  });
});

describe('deploy/k8s: security and resources', () => {
  it('every pod runs non-root under RuntimeDefault seccomp without a service account token', () => {
    for (const w of workloads()) {
      const sc = w.pod.securityContext;
      expect(sc.runAsNonRoot, w.id).toBe(true);
      expect(sc.runAsUser, w.id).toBeGreaterThan(0);
      expect(sc.seccompProfile.type, w.id).toBe('RuntimeDefault');
      expect(w.pod.automountServiceAccountToken, w.id).toBe(false);
    }
  });

  it('every container has a read-only root, no privilege escalation, no capabilities, and a writable /tmp', () => {
    for (const w of workloads()) {
      const emptyDirs = new Set((w.pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
      for (const c of containersOf(w.pod)) {
        const where = `${w.id} ${c.name}`;
        expect(c.securityContext.readOnlyRootFilesystem, where).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation, where).toBe(false);
        expect(c.securityContext.capabilities.drop, where).toEqual(['ALL']);
        expect(c.securityContext.capabilities.add ?? [], where).toEqual([]);
        if (w.pod.containers.includes(c)) {
          const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          expect(tmp && emptyDirs.has(tmp.name), `${where}: /tmp is an emptyDir`).toBe(true);
        }
      }
    }
  });

  it('the Secret template holds only marked placeholders, in stringData', () => {
    for (const s of typed().secrets) {
      expect(s.data, s.metadata.name).toBeUndefined();
      const entries = Object.entries(s.stringData ?? {});
      expect(entries.length, s.metadata.name).toBeGreaterThan(0);
      for (const [k, v] of entries) expect(v, `${s.metadata.name}.${k}`).toMatch(/^REPLACE_ME/);
    }
  });

  it('provider keys go to the OpenCode server only, never to a flow process', () => {
    const { c } = opencodeServer();
    for (const name of PROVIDER_ENV) expect(envOf(c, name)?.valueFrom?.secretKeyRef, name).toBeDefined();
    for (const { w, c: fc } of flowContainers())
      for (const name of PROVIDER_ENV) expect(envOf(fc, name), `${w.id} ${fc.name}`).toBeUndefined();
  });
});

describe('deploy/k8s: the contract with the app', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const workdir = [...dockerfile.matchAll(/^WORKDIR\s+(\S+)/gm)].at(-1)?.[1];

  it('the image runs the CLI as its entrypoint, so flow containers pass args and never a command', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/app\/dist\/cli\.js"\]/m);
    expect(workdir).toBe('/home/node');
    const fc = flowContainers();
    expect(fc.length).toBe(2);
    for (const { w, c } of fc) {
      expect(c.command, `${w.id} ${c.name}`).toBeUndefined();
      expect(c.args?.length, `${w.id} ${c.name}`).toBeGreaterThan(0);
    }
  });

  it('flow containers set the env the source reads to reach OpenCode and memory', () => {
    const required = ['OPENCODE_SERVER_URL', 'OPENCODE_SERVER_PASSWORD', 'OPENCODE_FLOW_MEMORY'];
    for (const name of required) expect(readsEnv(srcText, name), `src/ reads ${name}`).toBe(true);
    for (const { w, c } of flowContainers()) {
      for (const name of required) expect(envOf(c, name), `${w.id} ${c.name} ${name}`).toBeDefined();
      // Nothing the app does not read (a typo would be silently ignored).
      for (const e of c.env ?? []) {
        expect(readsEnv(srcText, e.name), `${w.id} ${c.name}: src/ never reads ${e.name}`).toBe(true);
      }
    }
  });

  it('OPENCODE_SERVER_URL lists every OpenCode server by its own name, each serving on that port on all interfaces', () => {
    const { d, c: oc } = opencodeServer();
    const svc = typed().services.find((s) =>
      Object.entries(s.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v),
    );
    expect(svc).toBeDefined();
    // Headless and named by the StatefulSet: a DNS name per server, no load balancing.
    expect(svc!.spec.clusterIP).toBe('None');
    expect(d.spec.serviceName).toBe(svc!.metadata.name);
    const svcPort = svc!.spec.ports[0]!;
    const containerPort = oc.ports?.find(
      (p) => p.name === svcPort.targetPort || p.containerPort === svcPort.targetPort,
    )?.containerPort;
    expect(oc.args).toEqual(['serve', '--port', String(containerPort), '--hostname', '0.0.0.0']);
    const pool = Array.from(
      { length: d.spec.replicas ?? 1 },
      (_, i) => `http://${d.metadata.name}-${i}.${svc!.metadata.name}:${svcPort.port}`,
    ).join(',');
    for (const { w, c } of flowContainers()) {
      expect(resolveEnv(c, 'OPENCODE_SERVER_URL'), `${w.id} ${c.name}`).toBe(pool);
    }
  });

  it('OPENCODE_FLOW_MEMORY is a URI the app parses, and a file or db path lies on a writable volume', () => {
    for (const { w, c } of flowContainers()) {
      const uri = resolveEnv(c, 'OPENCODE_FLOW_MEMORY');
      expect(uri, `${w.id} ${c.name}`).toBeDefined();
      const cfg = parseMemoryUri(uri!);
      if (cfg.backend === 'redis') continue;
      expect(posix.isAbsolute(cfg.path), `${uri} is absolute (the pod's cwd is not the user's)`).toBe(true);
      const writable = (c.volumeMounts ?? []).filter(
        (m) => !m.readOnly && w.pod.volumes?.some((v) => v.name === m.name && (v.emptyDir || v.persistentVolumeClaim)),
      );
      // The deepest mount holding the path decides: it must be writable.
      const holder = (c.volumeMounts ?? [])
        .filter((m) => cfg.path.startsWith(`${m.mountPath}/`))
        .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
      expect(holder && writable.includes(holder), `${w.id} ${c.name}: ${cfg.path} on a writable volume`).toBe(true);
    }
  });

  it('agents in the ConfigMap parse as agent files and are mounted where the CLI looks for project agents', () => {
    const agentsDir = posix.join(workdir!, PROJECT_AGENTS_DIR.split('\\').join('/'));
    const mdKeys = typed().configMaps.flatMap((m) =>
      Object.entries(m.data)
        .filter(([k]) => k.endsWith('.md'))
        .map(([k, v]) => ({ map: m.metadata.name, k, v })),
    );
    expect(mdKeys.length).toBeGreaterThan(0);
    for (const { k, v } of mdKeys) expect(parseAgentFile(v, k).name).toBe(k.replace(/\.md$/, ''));
    for (const { w, c } of flowContainers()) {
      const mount = c.volumeMounts?.find((m) => m.mountPath === agentsDir);
      expect(mount?.readOnly, `${w.id} ${c.name} mounts agents at ${agentsDir}`).toBe(true);
      const vol = w.pod.volumes?.find((v) => v.name === mount!.name);
      expect(vol?.configMap?.items?.map((i) => i.path).sort()).toEqual(mdKeys.map((x) => x.k).sort());
    }
  });

  it('the Job runs the spec flow with flags the real CLI accepts', () => {
    const job = typed().jobs[0]!;
    const c = job.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(['--agents', 'reviewer', '--task', 'Review PR #123', '--json']);
    const cmd = addRunFlags(new Command('opencode-flow'))
      .exitOverride()
      .configureOutput({ writeErr: () => {}, writeOut: () => {} });
    cmd.parse(c.args!, { from: 'user' });
    const opts = RunOptionsSchema.parse(
      normaliseRunOptions(cmd.opts(), { OPENCODE_SERVER_URL: resolveEnv(c, 'OPENCODE_SERVER_URL') }),
    );
    expect(opts).toMatchObject({
      agents: ['reviewer'],
      task: 'Review PR #123',
      json: true,
      server: 'http://opencode-server-0.opencode-server:4096,http://opencode-server-1.opencode-server:4096',
    });
    // Each agent is a bundled preset or one the pod mounts.
    const mounted = typed()
      .configMaps.flatMap((m) => Object.keys(m.data))
      .filter((k) => k.endsWith('.md'));
    for (const a of opts.agents ?? [])
      expect(existsSync(join(ROOT, 'agents', `${a}.md`)) || mounted.includes(`${a}.md`), a).toBe(true);
  });

  it('the Job mounts a flow config that src/config/flow-config.ts accepts, ending the flow before the deadline', () => {
    const job = typed().jobs[0]!;
    const c = job.spec.template.spec.containers[0]!;
    const mount = c.volumeMounts?.find((m) => m.mountPath === posix.join(workdir!, 'flow.config.json'));
    expect(mount?.readOnly, 'flow.config.json mounted read-only in the working directory').toBe(true);
    const item = job.spec.template.spec.volumes
      ?.find((v) => v.name === mount!.name)
      ?.configMap?.items?.find((i) => i.path === mount!.subPath);
    expect(item).toBeDefined();
    const text = typed()
      .configMaps.flatMap((m) => Object.entries(m.data))
      .find(([k]) => k === item!.key)?.[1];
    const config = JSON.parse(text!) as { coordination?: { timeout?: number } };
    // The flow gives up (and still prints its report) before Kubernetes kills the pod.
    expect(config.coordination?.timeout).toBeGreaterThan(0);
    expect(config.coordination!.timeout!).toBeLessThan(job.spec.activeDeadlineSeconds!);
    const parsed = FlowConfigSchema.safeParse(config);
    expect(parsed.success ? '' : z.prettifyError(parsed.error)).toBe('');
    expect(mount!.mountPath).toBe(posix.join(workdir!, FLOW_CONFIG_FILE));
  });

  it('the Job never restarts in place, is bounded, retries little, and fails at once on a usage error', () => {
    const job = typed().jobs[0]!;
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.spec.backoffLimit).toBeGreaterThanOrEqual(0);
    expect(job.spec.backoffLimit).toBeLessThanOrEqual(2);
    expect(job.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    // Created suspended: applying the directory must not start paid LLM calls.
    expect(job.spec.suspend).toBe(true);
    const failJob = job.spec.podFailurePolicy?.rules.find((r) => r.action === 'FailJob');
    expect(failJob?.onExitCodes?.values).toEqual([ExitCode.Usage]);
    expect(failJob?.onExitCodes?.containerName).toBe(job.spec.template.spec.containers[0]!.name);
  });

  it('the API Deployment runs serve as src/serve and src/cli/serve.ts implement it', () => {
    const api = flowContainers().find(({ c }) => c.args?.[0] === 'serve');
    expect(api).toBeDefined();
    const c = api!.c;
    expect(c.args).toEqual(['serve', '--port', String(SERVE_CONTRACT.port), '--host', SERVE_CONTRACT.host]);
    const http = c.ports?.find((p) => p.containerPort === SERVE_CONTRACT.port);
    expect(http).toBeDefined();
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: SERVE_CONTRACT.liveness });
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: SERVE_CONTRACT.readiness });
    expect([http!.name, http!.containerPort]).toContain(c.livenessProbe!.httpGet!.port);
    // A non-loopback bind needs the token: it must come from a Secret.
    expect(envOf(c, SERVE_CONTRACT.tokenEnv)?.valueFrom?.secretKeyRef).toBeDefined();
    // /metrics needs the token as well: the README's scrape job sends it.
    expect(readFileSync(join(ROOT, 'deploy/README.md'), 'utf8')).toContain(`metrics_path: ${SERVE_CONTRACT.metrics}`);
    for (const path of [SERVE_CONTRACT.liveness, SERVE_CONTRACT.readiness, SERVE_CONTRACT.metrics]) {
      expect(serveText, `src/serve has a route ${path}`).toMatch(new RegExp(`['"\`]${path}['"\`]`));
    }
    // The real `serve` command turns these args and this env into valid options.
    const cmd = serveCommand()
      .action(() => {}) // parse only: never start a server here
      .configureOutput({ writeErr: () => {}, writeOut: () => {} });
    cmd.parse(c.args!.slice(1), { from: 'user' });
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, resolveEnv(c, e.name)]));
    const parsed = ServeOptionsSchema.safeParse(normaliseServeOptions(cmd.opts(), env));
    expect(parsed.success ? '' : z.prettifyError(parsed.error)).toBe('');
    expect(parsed.data).toMatchObject({
      port: SERVE_CONTRACT.port,
      host: SERVE_CONTRACT.host,
      token: env[SERVE_CONTRACT.tokenEnv],
      server: env.OPENCODE_SERVER_URL,
      flowOptions: { memory: env.OPENCODE_FLOW_MEMORY, password: env.OPENCODE_SERVER_PASSWORD },
    });
  });

  it('the OpenCode server gets only env it reads, its password from the Secret, and no unauthenticated httpGet probe', () => {
    const { d, c } = opencodeServer();
    for (const e of c.env ?? []) expect(OPENCODE_ENV.has(e.name), `OpenCode does not read ${e.name}`).toBe(true);
    const pw = envOf(c, 'OPENCODE_SERVER_PASSWORD')?.valueFrom?.secretKeyRef;
    expect(pw).toBeDefined();
    // The flows attach with the same password the server checks.
    for (const { w, c: fc } of flowContainers())
      expect(envOf(fc, 'OPENCODE_SERVER_PASSWORD')?.valueFrom?.secretKeyRef, `${w.id}`).toEqual(pw);
    // With a password every route, /global/health included, answers 401 without auth.
    for (const p of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(p?.httpGet).toBeUndefined();
    expect(c.readinessProbe?.exec?.command.join(' ')).toMatch(/\/global\/health/);
    // HOME (session db, config, cache) is on a writable volume; so is the working directory.
    const vols = d.spec.template.spec.volumes ?? [];
    const claims = (d.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name);
    for (const path of [envOf(c, 'HOME')?.value, c.workingDir]) {
      const m = c.volumeMounts?.find((x) => x.mountPath === path);
      expect(
        m &&
          !m.readOnly &&
          (claims.includes(m.name) || vols.some((v) => v.name === m.name && (v.emptyDir || v.persistentVolumeClaim))),
        `${path} writable`,
      ).toBe(true);
    }
    // HOME, the session db, is each server's own claim.
    expect(claims).toContain(c.volumeMounts?.find((x) => x.mountPath === envOf(c, 'HOME')?.value)?.name);
  });

  it('OPENCODE_CONFIG points at a mounted ConfigMap file holding OpenCode JSON config', () => {
    const { d, c } = opencodeServer();
    const path = envOf(c, 'OPENCODE_CONFIG')?.value;
    expect(path).toBeDefined();
    const mount = c.volumeMounts?.find((m) => path!.startsWith(`${m.mountPath}/`));
    const vol = d.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
    const item = vol?.configMap?.items?.find((i) => posix.join(mount!.mountPath, i.path) === path);
    expect(item).toBeDefined();
    const map = typed().configMaps.find((m) => m.metadata.name === vol!.configMap!.name)!;
    const config = JSON.parse(map.data[item!.key]!) as Record<string, unknown>;
    expect(config).toMatchObject({ autoupdate: false, share: 'disabled' });
  });
});

describe('deploy/k8s: the Job waits for OpenCode', () => {
  const job = () => typed().jobs[0]!;
  const script = () => {
    const init = job().spec.template.spec.initContainers?.find((c) => c.name === 'wait-for-opencode');
    expect(init?.command?.slice(0, 2)).toEqual(['node', '-e']);
    expect(resolveEnv(init!, 'OPENCODE_SERVER_URL')).toBe(
      resolveEnv(job().spec.template.spec.containers[0]!, 'OPENCODE_SERVER_URL'),
    );
    return init!.command![2]!;
  };
  const run = (url: string, timeout: string) =>
    new Promise<{ code: number; stderr: string; ms: number }>((done) => {
      const t0 = Date.now();
      execFile(
        process.execPath,
        ['-e', script()],
        { env: { PATH: process.env.PATH, OPENCODE_SERVER_URL: url, WAIT_TIMEOUT_SECONDS: timeout }, timeout: 20_000 },
        (err, _o, stderr) =>
          done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr, ms: Date.now() - t0 }),
      );
    });
  const listen = () =>
    new Promise<Server>((ok) => {
      const s = createServer((sock) => sock.end());
      s.listen(0, '127.0.0.1', () => ok(s));
    });
  const portOf = (s: Server) => (s.address() as { port: number }).port;

  it('exits 0 once the server accepts connections', async () => {
    const s = await listen();
    try {
      const r = await run(`http://127.0.0.1:${portOf(s)}`, '10');
      expect(r.code).toBe(0);
    } finally {
      await new Promise((ok) => s.close(ok));
    }
  });

  it('exits 1 with a clear message when nothing listens before the deadline', async () => {
    const s = await listen();
    const port = portOf(s);
    await new Promise((ok) => s.close(ok));
    const r = await run(`http://127.0.0.1:${port}`, '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`OpenCode server at http://127.0.0.1:${port} is not reachable`);
    expect(r.ms).toBeLessThan(10_000);
  });
});

describe('deploy/README.md', () => {
  const readme = readFileSync(join(ROOT, 'deploy/README.md'), 'utf8');

  it('names every manifest file, object, Secret key and ConfigMap key', () => {
    for (const f of manifestFiles) expect(readme, f).toContain(`\`${f}\``);
    for (const { obj } of loaded) expect(readme, id(obj)).toContain(obj.metadata.name);
    for (const s of typed().secrets)
      for (const k of Object.keys(s.stringData ?? {})) expect(readme, `${s.metadata.name}.${k}`).toContain(`\`${k}\``);
    for (const m of typed().configMaps)
      for (const k of Object.keys(m.data)) expect(readme, `${m.metadata.name}.${k}`).toContain(`\`${k}\``);
  });

  it('states the minimum Kubernetes version: the one where podFailurePolicy and DisruptionTarget are on', () => {
    // podFailurePolicy (beta, on by default) and the DisruptionTarget pod condition: 1.26.
    expect(readme).toMatch(/Kubernetes \*\*1\.26\*\* or newer/);
    expect(readFileSync(join(K8S_DIR, 'job-code-review.yaml'), 'utf8')).toContain('podFailurePolicy');
  });

  it('its kubectl commands name objects that exist', () => {
    const short: Record<string, string> = {
      job: 'Job',
      deployment: 'Deployment',
      statefulset: 'StatefulSet',
      pdb: 'PodDisruptionBudget',
      svc: 'Service',
      service: 'Service',
      secret: 'Secret',
      configmap: 'ConfigMap',
    };
    const refs = [...readme.matchAll(/\b(job|deployment|statefulset|pdb|svc|service|secret|configmap)\/([a-z0-9-]+)/g)];
    expect(refs.length).toBeGreaterThanOrEqual(4);
    const ids = new Set(loaded.map((l) => id(l.obj)));
    for (const [, kind, name] of refs) expect(ids.has(`${short[kind!]}/${name}`), `${kind}/${name}`).toBe(true);
    expect(readme).toContain('kubectl apply -k deploy/k8s');
  });
});
