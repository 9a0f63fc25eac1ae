import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { Construct } from 'constructs';

/**
 * Turns on EKS Auto Mode's enforcement of Kubernetes NetworkPolicies, as AWS documents it
 * (https://docs.aws.amazon.com/eks/latest/userguide/auto-net-pol.html): the network policy
 * controller is enabled by the `amazon-vpc-cni` ConfigMap in kube-system. The built-in node pools'
 * NodeClass keeps its default, DefaultAllow: Pods no policy selects stay open, and `orders`
 * denies by default with its own policy (deploy/network-policies.yaml).
 */
export class NetworkPolicyEnforcement extends Construct {
  readonly manifest: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: { cluster: eks.ICluster }) {
    super(scope, id);
    this.manifest = new eks.KubernetesManifest(this, 'Controller', {
      cluster: props.cluster,
      overwrite: true,
      manifest: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'amazon-vpc-cni', namespace: 'kube-system' },
          data: { 'enable-network-policy-controller': 'true' },
        },
      ],
    });
  }
}
