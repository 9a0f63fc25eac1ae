import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../../harness/kubernetes/control-plane';

interface Claim {
  metadata: { name: string; namespace: string; uid: string };
  spec: { storageClassName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string };
}

/**
 * The node's stand-in for a volume provisioner (the role EBS's CSI driver plays on EKS, or
 * local-path-provisioner on a test cluster): every Pending PersistentVolumeClaim gets a
 * PersistentVolume of its size and class on a directory of the node, bound to it by claimRef.
 * It runs until stopped. The directories are under `dir`, so they go with the test's.
 */
export function provisionLocalVolumes(controlPlane: ControlPlane, dir: string): { provisioned: string[]; stop(): Promise<void> } {
  const provisioned: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const claims = await controlPlane.kubectlJson<{ items: Claim[] }>(['get', 'pvc', '--all-namespaces']).catch(() => ({ items: [] }));
      for (const claim of claims.items) {
        if (claim.status?.phase !== 'Pending') continue;
        // By the claim's uid: names of StatefulSets' claims are long, and differ only at the end.
        const name = `local-${claim.metadata.uid}`;
        if (provisioned.includes(name)) continue;
        const path = join(dir, name);
        mkdirSync(path, { recursive: true });
        // The control plane's Pods run as a non-root user the volume's owner does not know.
        chmodSync(path, 0o777);
        const volume = {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name, annotations: { 'orders.test/claim': `${claim.metadata.namespace}/${claim.metadata.name}` } },
          spec: {
            capacity: { storage: claim.spec.resources?.requests?.storage ?? '1Gi' },
            accessModes: claim.spec.accessModes ?? ['ReadWriteOnce'],
            storageClassName: claim.spec.storageClassName ?? '',
            persistentVolumeReclaimPolicy: 'Retain',
            hostPath: { path, type: 'Directory' },
            claimRef: { namespace: claim.metadata.namespace, name: claim.metadata.name, uid: claim.metadata.uid },
          },
        };
        await controlPlane.kubectl(['apply', '-f', '-'], JSON.stringify(volume)).then(() => provisioned.push(name), () => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  })();
  return {
    provisioned,
    async stop() {
      running = false;
      await loop;
    },
  };
}
