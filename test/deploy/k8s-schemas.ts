/**
 * Focused zod schemas of the Kubernetes objects deploy/k8s uses, written from the API
 * reference (core/v1, apps/v1, batch/v1 as of 1.30) because no schema validator
 * (kubeconform, kubeval) can be installed here. They cover the fields these manifests
 * use and reject every other one (strict objects), so a misspelt or misplaced field
 * fails like it would under `kubeconform -strict`. Rules the API server enforces beyond
 * the shape (selector matches template labels, requests <= limits, restartPolicy of a
 * Job's pod, one volume source) are refinements here.
 */
import { z } from 'zod';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** IANA_SVC_NAME: what a named port must be. */
const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
/** A label key with an optional DNS prefix, and a label value. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const label = z.string().max(63).regex(DNS1123_LABEL, 'must be a DNS-1123 label');
const subdomain = z.string().max(253).regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain');
const port = z.number().int().min(1).max(65535);
const intOrPortName = z.union([port, z.string().regex(PORT_NAME, 'must be an IANA service name')]);
const nonNegative = z.number().int().min(0);
const positive = z.number().int().min(1);
const quantity = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 250m, 1, 512Mi');
const absPath = z.string().startsWith('/', 'must be an absolute path');
const labels = z.record(
  z.string().max(317).regex(LABEL_KEY, 'bad label key'),
  z.string().max(63).regex(LABEL_VALUE, 'bad label value'),
);

/** Parses a quantity to a number (cores or bytes) to compare requests and limits. */
export function parseQuantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const scale: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m[1]) * scale[m[2] ?? '']!;
}

export const ObjectMeta = z.strictObject({
  name: subdomain,
  namespace: label.optional(),
  labels: labels.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const KeyRef = z.strictObject({ name: subdomain, key: z.string().regex(CONFIG_KEY), optional: z.boolean().optional() });

export const EnvVar = z
  .strictObject({
    name: z.string().regex(ENV_NAME, 'must be a C identifier'),
    value: z.string().optional(),
    valueFrom: z
      .strictObject({
        secretKeyRef: KeyRef.optional(),
        configMapKeyRef: KeyRef.optional(),
        fieldRef: z.strictObject({ fieldPath: z.string(), apiVersion: z.string().optional() }).optional(),
      })
      .refine((v) => Object.keys(v).length === 1, 'valueFrom takes exactly one source')
      .optional(),
  })
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), 'an env var has either value or valueFrom');

const HTTPGetAction = z.strictObject({
  path: absPath,
  port: intOrPortName,
  scheme: z.enum(['HTTP', 'HTTPS']).optional(),
  httpHeaders: z.array(z.strictObject({ name: z.string(), value: z.string() })).optional(),
});

export const Probe = z
  .strictObject({
    httpGet: HTTPGetAction.optional(),
    tcpSocket: z.strictObject({ port: intOrPortName }).optional(),
    exec: z.strictObject({ command: z.array(z.string()).min(1) }).optional(),
    initialDelaySeconds: nonNegative.optional(),
    periodSeconds: positive.optional(),
    timeoutSeconds: positive.optional(),
    successThreshold: positive.optional(),
    failureThreshold: positive.optional(),
  })
  .refine((p) => [p.httpGet, p.tcpSocket, p.exec].filter(Boolean).length === 1, 'a probe has exactly one handler');

const ResourceList = z.strictObject({ cpu: quantity, memory: quantity });

/** Both requests and limits are required here (house rule, not the API's). */
export const Resources = z
  .strictObject({ requests: ResourceList, limits: ResourceList })
  .refine((r) => parseQuantity(r.requests.cpu) <= parseQuantity(r.limits.cpu), 'cpu request exceeds its limit')
  .refine(
    (r) => parseQuantity(r.requests.memory) <= parseQuantity(r.limits.memory),
    'memory request exceeds its limit',
  );

export const ContainerSecurityContext = z.strictObject({
  allowPrivilegeEscalation: z.boolean(),
  readOnlyRootFilesystem: z.boolean(),
  capabilities: z.strictObject({ drop: z.array(z.string()), add: z.array(z.string()).optional() }),
  runAsNonRoot: z.boolean().optional(),
  runAsUser: nonNegative.optional(),
});

export const Container = z.strictObject({
  name: label,
  image: z.string().min(1),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  command: z.array(z.string()).min(1).optional(),
  args: z.array(z.string()).optional(),
  workingDir: absPath.optional(),
  ports: z
    .array(
      z.strictObject({
        name: z.string().regex(PORT_NAME).optional(),
        containerPort: port,
        protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
      }),
    )
    .optional(),
  env: z.array(EnvVar).optional(),
  resources: Resources,
  startupProbe: Probe.optional(),
  livenessProbe: Probe.optional(),
  readinessProbe: Probe.optional(),
  securityContext: ContainerSecurityContext,
  volumeMounts: z
    .array(
      z.strictObject({
        name: label,
        mountPath: absPath,
        readOnly: z.boolean().optional(),
        subPath: z.string().optional(),
      }),
    )
    .optional(),
});

export const Volume = z
  .strictObject({
    name: label,
    emptyDir: z.strictObject({ medium: z.enum(['', 'Memory']).optional(), sizeLimit: quantity.optional() }).optional(),
    configMap: z
      .strictObject({
        name: subdomain,
        items: z.array(z.strictObject({ key: z.string().regex(CONFIG_KEY), path: z.string().min(1) })).optional(),
        defaultMode: z.number().int().optional(),
        optional: z.boolean().optional(),
      })
      .optional(),
    persistentVolumeClaim: z.strictObject({ claimName: subdomain, readOnly: z.boolean().optional() }).optional(),
  })
  .refine(
    (v) => [v.emptyDir, v.configMap, v.persistentVolumeClaim].filter(Boolean).length === 1,
    'a volume has exactly one source',
  );

export const PodSpec = z.strictObject({
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
  automountServiceAccountToken: z.boolean().optional(),
  serviceAccountName: subdomain.optional(),
  securityContext: z.strictObject({
    runAsNonRoot: z.boolean(),
    runAsUser: nonNegative,
    runAsGroup: nonNegative.optional(),
    fsGroup: nonNegative.optional(),
    seccompProfile: z.strictObject({ type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']) }),
  }),
  initContainers: z.array(Container).optional(),
  containers: z.array(Container).min(1),
  volumes: z.array(Volume).optional(),
});

const PodTemplate = z.strictObject({
  metadata: z.strictObject({ labels, annotations: z.record(z.string(), z.string()).optional() }),
  spec: PodSpec,
});

const selectorMatchesTemplate = (s: {
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> } };
}) => Object.entries(s.selector.matchLabels).every(([k, v]) => s.template.metadata.labels[k] === v);

export const Namespace = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: ObjectMeta,
});

export const Secret = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: ObjectMeta,
    type: z.string().optional(),
    stringData: z.record(z.string().regex(CONFIG_KEY), z.string()).optional(),
    data: z.record(z.string().regex(CONFIG_KEY), z.base64()).optional(),
  })
  .refine((s) => s.stringData ?? s.data, 'a Secret needs data or stringData');

export const ConfigMap = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ConfigMap'),
  metadata: ObjectMeta,
  data: z.record(z.string().regex(CONFIG_KEY), z.string()),
});

export const PersistentVolumeClaim = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('PersistentVolumeClaim'),
  metadata: ObjectMeta,
  spec: z.strictObject({
    accessModes: z.array(z.enum(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'])).min(1),
    storageClassName: z.string().optional(),
    resources: z.strictObject({ requests: z.strictObject({ storage: quantity }) }),
  }),
});

export const Deployment = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  metadata: ObjectMeta,
  spec: z
    .strictObject({
      replicas: nonNegative.optional(),
      strategy: z
        .strictObject({
          type: z.enum(['Recreate', 'RollingUpdate']),
          rollingUpdate: z
            .strictObject({
              maxSurge: z.union([z.number(), z.string()]).optional(),
              maxUnavailable: z.union([z.number(), z.string()]).optional(),
            })
            .optional(),
        })
        .optional(),
      selector: z.strictObject({ matchLabels: labels }),
      template: PodTemplate,
    })
    .refine(selectorMatchesTemplate, 'spec.selector must match spec.template.metadata.labels')
    .refine((s) => (s.template.spec.restartPolicy ?? 'Always') === 'Always', 'a Deployment pod restarts Always'),
});

/** A StatefulSet: stable pod names (`<name>-<ordinal>.<serviceName>`) and a volume claim per pod. */
export const StatefulSet = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('StatefulSet'),
  metadata: ObjectMeta,
  spec: z
    .strictObject({
      replicas: nonNegative.optional(),
      serviceName: label,
      podManagementPolicy: z.enum(['OrderedReady', 'Parallel']).optional(),
      selector: z.strictObject({ matchLabels: labels }),
      template: PodTemplate,
      volumeClaimTemplates: z
        .array(
          z.strictObject({
            metadata: z.strictObject({ name: label, labels: labels.optional() }),
            spec: PersistentVolumeClaim.shape.spec,
          }),
        )
        .optional(),
    })
    .refine(selectorMatchesTemplate, 'spec.selector must match spec.template.metadata.labels')
    .refine((s) => (s.template.spec.restartPolicy ?? 'Always') === 'Always', 'a StatefulSet pod restarts Always'),
});

/** policy/v1 PodDisruptionBudget: exactly one of minAvailable and maxUnavailable. */
export const PodDisruptionBudget = z.strictObject({
  apiVersion: z.literal('policy/v1'),
  kind: z.literal('PodDisruptionBudget'),
  metadata: ObjectMeta,
  spec: z
    .strictObject({
      minAvailable: z.union([nonNegative, z.string().regex(/^\d+%$/)]).optional(),
      maxUnavailable: z.union([nonNegative, z.string().regex(/^\d+%$/)]).optional(),
      selector: z.strictObject({ matchLabels: labels }),
    })
    .refine(
      (s) => (s.minAvailable === undefined) !== (s.maxUnavailable === undefined),
      'a PodDisruptionBudget sets exactly one of minAvailable and maxUnavailable',
    ),
});

export const Service = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: ObjectMeta.extend({ name: label }),
  spec: z.strictObject({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).optional(),
    /** `None`: a headless Service (a DNS name per pod, for a StatefulSet). */
    clusterIP: z.literal('None').optional(),
    selector: labels,
    ports: z
      .array(
        z.strictObject({
          name: z.string().regex(PORT_NAME).optional(),
          port,
          targetPort: intOrPortName.optional(),
          protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
        }),
      )
      .min(1),
  }),
});

const PodFailurePolicyRule = z
  .strictObject({
    action: z.enum(['FailJob', 'FailIndex', 'Ignore', 'Count']),
    onExitCodes: z
      .strictObject({
        containerName: label.optional(),
        operator: z.enum(['In', 'NotIn']),
        values: z.array(z.number().int()).min(1).max(255),
      })
      .optional(),
    // PodFailurePolicyOnPodConditionsPattern: `type` and `status` are both required in the
    // batch/v1 OpenAPI schema of 1.26–1.30 (kubeconform rejects a pattern without status).
    onPodConditions: z
      .array(z.strictObject({ type: z.string().min(1), status: z.enum(['True', 'False', 'Unknown']) }))
      .min(1)
      .optional(),
  })
  .refine(
    (r) => (r.onExitCodes === undefined) !== (r.onPodConditions === undefined),
    'a rule has onExitCodes or onPodConditions',
  );

export const Job = z.strictObject({
  apiVersion: z.literal('batch/v1'),
  kind: z.literal('Job'),
  metadata: ObjectMeta,
  spec: z
    .strictObject({
      suspend: z.boolean().optional(),
      backoffLimit: nonNegative.optional(),
      activeDeadlineSeconds: positive.optional(),
      ttlSecondsAfterFinished: nonNegative.optional(),
      podFailurePolicy: z.strictObject({ rules: z.array(PodFailurePolicyRule).min(1) }).optional(),
      template: PodTemplate,
    })
    .refine(
      (s) => ['Never', 'OnFailure'].includes(s.template.spec.restartPolicy ?? 'Always'),
      'a Job pod must restart Never or OnFailure',
    )
    .refine(
      (s) => !s.podFailurePolicy || s.template.spec.restartPolicy === 'Never',
      'podFailurePolicy needs restartPolicy Never',
    ),
});

export const Kustomization = z.strictObject({
  apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
  kind: z.literal('Kustomization'),
  namespace: label.optional(),
  labels: z
    .array(
      z.strictObject({
        pairs: labels,
        includeSelectors: z.boolean().optional(),
        includeTemplates: z.boolean().optional(),
      }),
    )
    .optional(),
  resources: z.array(z.string()).min(1),
  images: z
    .array(z.strictObject({ name: z.string(), newName: z.string().optional(), newTag: z.string().optional() }))
    .optional(),
});

/** The schema of each apiVersion/kind pair deploy/k8s may use. */
export const schemaByKind: Record<string, z.ZodType> = {
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'batch/v1/Job': Job,
};

export type ContainerT = z.infer<typeof Container>;
export type PodSpecT = z.infer<typeof PodSpec>;
