/**
 * Runs a command in a mount namespace of its own (`unshare -m`, which needs root) in which some
 * system files are replaced by the test's: the host's files are never touched, and nothing else on
 * the machine sees the change.
 *
 * - `hosts`: /etc/hosts. The certificate Sentry issues to Dapr's sidecar injector names only its
 *   in-cluster Service, dapr-sidecar-injector.dapr-system.svc; with no cluster DNS or kube-proxy,
 *   kube-apiserver reaches the webhook at that name through a hosts file that maps it to 127.0.0.1.
 * - `resolvConf`: /etc/resolv.conf. Sentry in Kubernetes mode looks up kubernetes.default.svc to
 *   learn the cluster domain; pointed at 127.0.0.1, where nothing answers DNS, the lookup fails at
 *   once (Sentry then keeps its default) and no query leaves the machine.
 * - `sentryTokenDir`: mounted at /var/run/secrets/dapr.io/sentrytoken, the fixed path where Dapr's
 *   control-plane services read the Pod-bound service-account token they present to Sentry
 *   (pkg/security/token.go of dapr/dapr). /run is a private tmpfs first, so nothing is created on
 *   the host.
 */
export interface PrivateMounts {
  hosts?: string;
  resolvConf?: string;
  sentryTokenDir?: string;
}

/** The command and arguments that run `command args` with the given files in place. */
export function withPrivateMounts(mounts: PrivateMounts, command: string, args: string[]): { command: string; args: string[] } {
  const steps: string[] = [];
  const files: string[] = [];
  // Paths go in as positional parameters, never pasted into the script.
  const bind = (source: string, target: string) => {
    files.push(source);
    steps.push(`mount --bind "$${files.length}" ${target}`);
  };
  if (mounts.hosts) bind(mounts.hosts, '/etc/hosts');
  if (mounts.resolvConf) bind(mounts.resolvConf, '/etc/resolv.conf');
  if (mounts.sentryTokenDir) {
    steps.push('mount -t tmpfs tmpfs /run', 'mkdir -p /run/secrets/dapr.io/sentrytoken');
    bind(mounts.sentryTokenDir, '/run/secrets/dapr.io/sentrytoken');
  }
  const script = `set -e; ${steps.join('; ')}; shift ${files.length}; exec "$@"`;
  return { command: 'unshare', args: ['-m', 'sh', '-c', script, 'private-mounts', ...files, command, ...args] };
}
