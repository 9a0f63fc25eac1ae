import type { ControlPlane } from './control-plane';

/** Where a probe tries to open a TCP connection, and what the result is called. */
export interface ProbeTarget {
  name: string;
  host: string;
  port: number;
}

/** Per target: `connected`, `timed out`, or the error code (ECONNREFUSED: kube-router REJECTs what no policy admits). */
export type ProbeResults = Record<string, string>;

/** How long one connection attempt may take: a policy that drops rather than rejects shows as `timed out`. */
const CONNECT_TIMEOUT_MS = 3_000;

/**
 * Runs in the probing Pod (`node -e`, the app image's Node; no other tool there): opens one TCP
 * connection to every target at once, closes each as soon as it is open, and prints the results
 * as one JSON object. The targets come as its one argument.
 */
const PROBE_SCRIPT = `
const net = require('node:net');
const targets = JSON.parse(process.argv[1]);
Promise.all(targets.map((t) => new Promise((done) => {
  const socket = net.connect({ host: t.host, port: t.port, timeout: ${CONNECT_TIMEOUT_MS} });
  socket.once('connect', () => { socket.destroy(); done([t.name, 'connected']); });
  socket.once('timeout', () => { socket.destroy(); done([t.name, 'timed out']); });
  socket.once('error', (error) => done([t.name, error.code || error.message]));
}))).then((results) => console.log(JSON.stringify(Object.fromEntries(results))));
`;

/** TCP connections from inside a Pod (through `kubectl exec`) to each target, with what each came to. */
export async function probeFrom(controlPlane: ControlPlane, namespace: string, pod: string, targets: ProbeTarget[]): Promise<ProbeResults> {
  const { stdout } = await controlPlane.kubectl(['exec', '-n', namespace, pod, '--', 'node', '-e', PROBE_SCRIPT, JSON.stringify(targets)]);
  return JSON.parse(stdout) as ProbeResults;
}

/**
 * A Pod that only waits to be exec'd into, labelled `app.kubernetes.io/name: <name>`, meeting the
 * `restricted` Pod Security Standard, from an image already on the node (nothing can be pulled).
 * No Dapr annotation: the injector leaves it alone.
 */
export function probePod(name: string, namespace: string, image: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/name': name } },
    spec: {
      automountServiceAccountToken: false,
      // Node as PID 1 ignores SIGTERM: a short grace period, so that deleting it takes a second.
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image,
          imagePullPolicy: 'Never',
          command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
        },
      ],
    },
  };
}
