/**
 * Validates Kubernetes and KEDA resources against their published schemas with kubernetes-models
 * and @kubernetes-models/keda. Both packages are ESM-only (no `require` export), which jest's
 * CommonJS runtime cannot load, so k8s.test.ts runs this file with plain node.
 * stdin: a JSON array of resources. stdout: a JSON array of { kind, name, error } (error null when valid).
 */
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';

const MODELS = { Deployment, Service, Namespace, PodDisruptionBudget, ScaledObject, TriggerAuthentication };

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;

const results = JSON.parse(input).map((resource) => {
  const Model = MODELS[resource.kind];
  const name = resource.metadata?.name ?? null;
  if (!Model) return { kind: resource.kind, name, error: `no schema here for ${resource.apiVersion} ${resource.kind}` };
  if (resource.apiVersion !== Model.apiVersion) {
    return { kind: resource.kind, name, error: `apiVersion ${resource.apiVersion}, the schema is for ${Model.apiVersion}` };
  }
  try {
    new Model(resource).validate();
    return { kind: resource.kind, name, error: null };
  } catch (error) {
    return { kind: resource.kind, name, error: error instanceof Error ? error.message : String(error) };
  }
});
process.stdout.write(JSON.stringify(results));
