/**
 * A reader of the small kustomize subset infra/k8s uses (resources, namespace, images, patches by
 * path), so the manifests are checked where kustomize is not installed. k8s.test.ts holds it
 * against `kubectl kustomize` where that exists. Any other field is refused, never ignored.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseYaml, parseYamlAll } from './helpers';

export type Resource = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
};

type Image = { name: string; newName?: string; newTag?: string };
type Kustomization = {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  namespace?: string;
  images?: Image[];
  patches?: { path: string }[];
};

const KNOWN = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'ClusterTriggerAuthentication',
]);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Merges a patch into a resource: maps key by key, scalars replaced; lists are refused (they need strategic-merge keys). */
function merge(target: Json, patch: Json, where: string): void {
  for (const [key, value] of Object.entries(patch)) {
    if (Array.isArray(value)) throw new Error(`${where}.${key}: list patches are not supported by this reader`);
    if (isObject(value) && isObject(target[key])) merge(target[key] as Json, value, `${where}.${key}`);
    else target[key] = value;
  }
}

/** The pod specs of a resource (Deployments, Jobs and the like), for the images transformer. */
function podSpecs(resource: Resource): Json[] {
  const template = (resource.spec as Json | undefined)?.template as Json | undefined;
  const spec = template?.spec as Json | undefined;
  return spec ? [spec] : [];
}

/** Splits `registry/name:tag` into name and tag (a port in the registry part is not a tag). */
function splitImage(image: string): { name: string; tag: string | null } {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? { name: image.slice(0, at), tag: image.slice(at + 1) } : { name: image, tag: null };
}

function setImages(resources: Resource[], images: Image[]): void {
  for (const resource of resources) {
    for (const spec of podSpecs(resource)) {
      for (const list of ['initContainers', 'containers']) {
        for (const container of (spec[list] as Json[] | undefined) ?? []) {
          const { name, tag } = splitImage(container.image as string);
          const rule = images.find((i) => i.name === name);
          if (!rule) continue;
          const newTag = rule.newTag ?? tag;
          container.image = `${rule.newName ?? name}${newTag ? `:${newTag}` : ''}`;
        }
      }
    }
  }
}

/** The resources `kustomize build dir` would print, for the subset above. */
export function buildKustomization(dir: string): Resource[] {
  const k = parseYaml<Kustomization>(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  const unknown = Object.keys(k).filter((key) => !KNOWN.has(key));
  if (unknown.length > 0) throw new Error(`${dir}/kustomization.yaml: ${unknown.join(', ')} not supported by this reader`);
  const out: Resource[] = [];
  for (const entry of k.resources ?? []) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...buildKustomization(path));
    else out.push(...parseYamlAll<Resource>(readFileSync(path, 'utf8')));
  }
  for (const { path } of k.patches ?? []) {
    for (const patch of parseYamlAll<Resource>(readFileSync(join(dir, path), 'utf8'))) {
      const target = out.find((r) => r.kind === patch.kind && r.metadata.name === patch.metadata.name);
      if (!target) throw new Error(`${dir}/${path}: no ${patch.kind} ${patch.metadata.name} to patch`);
      const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = patch;
      merge(target as Json, rest, `${patch.kind}/${patch.metadata.name}`);
    }
  }
  if (k.images) setImages(out, k.images);
  if (k.namespace) {
    for (const r of out) if (!CLUSTER_SCOPED.has(r.kind)) r.metadata.namespace = k.namespace;
  }
  return out;
}
