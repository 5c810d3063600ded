/**
 * Shared by the deployment tests: the repository root, reading template.yaml (with the
 * CloudFormation short tags), finding binaries, and the rule for tools missing locally.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { createScratchDatabase, withDatabase } from '../support/scratch-database';

export const ROOT = resolve(__dirname, '..', '..');

type YamlType = unknown;
type JsYaml = {
  Type: new (tag: string, options: { kind: 'scalar' | 'sequence' | 'mapping'; construct: (data: unknown) => unknown }) => YamlType;
  /** v3 */
  Schema?: { create(types: YamlType[]): unknown };
  /** v4 (v3 has one too, without extend) */
  DEFAULT_SCHEMA?: { extend?(types: YamlType[]): unknown };
  load(text: string, options?: { schema?: unknown; filename?: string }): unknown;
  loadAll(text: string): unknown[];
};

/**
 * js-yaml comes with jest (babel-plugin-istanbul); the project adds no YAML parser of its own
 * for two test files. v3 and v4 differ only in how a schema is extended.
 */
function jsYaml(): JsYaml {
  return require('js-yaml') as JsYaml;
}

const INTRINSICS = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAZs',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'And',
  'Equals',
  'If',
  'Not',
  'Or',
];

let cfnSchema: unknown;

/** The CloudFormation short tags (`!Ref X`, `!Sub '...'`) as their long forms (`{Ref: X}`, `{'Fn::Sub': '...'}`). */
function cloudFormationSchema(): unknown {
  if (cfnSchema !== undefined) return cfnSchema;
  const y = jsYaml();
  const types: YamlType[] = [];
  const kinds = ['scalar', 'sequence', 'mapping'] as const;
  for (const kind of kinds) {
    types.push(new y.Type('!Ref', { kind, construct: (d) => ({ Ref: d }) }));
    types.push(new y.Type('!Condition', { kind, construct: (d) => ({ Condition: d }) }));
    types.push(new y.Type('!GetAtt', { kind, construct: (d) => ({ 'Fn::GetAtt': typeof d === 'string' ? d.split('.', 2) : d }) }));
    for (const name of INTRINSICS) types.push(new y.Type(`!${name}`, { kind, construct: (d) => ({ [`Fn::${name}`]: d }) }));
  }
  cfnSchema =
    typeof y.DEFAULT_SCHEMA?.extend === 'function'
      ? y.DEFAULT_SCHEMA.extend(types)
      : (y.Schema as { create(t: YamlType[]): unknown }).create(types);
  return cfnSchema;
}

/** Parses a YAML file of the repository (CloudFormation tags allowed). */
export function readYaml<T = Record<string, unknown>>(relativePath: string): T {
  const file = join(ROOT, relativePath);
  return jsYaml().load(readFileSync(file, 'utf8'), { schema: cloudFormationSchema(), filename: file }) as T;
}

/** Parses YAML text (one document). */
export function parseYaml<T = Record<string, unknown>>(text: string): T {
  return jsYaml().load(text) as T;
}

/** Parses a YAML stream of `---`-separated documents, leaving out empty ones. */
export function parseYamlAll<T = Record<string, unknown>>(text: string): T[] {
  return jsYaml()
    .loadAll(text)
    .filter((d) => d !== null && d !== undefined) as T[];
}

/** The absolute path of an executable on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Why a check cannot run here because a tool it needs is missing, or null (for
 * describeUnless/itUnless). .ci/run installs docker-compose and says so when it cannot;
 * cfn-lint comes with these machines.
 */
export function toolMissing(name: string, install: string): string | null {
  return which(name) === null ? `${name} is not installed: skipping its check (${install})` : null;
}

/** A tool the check needs is missing: print why its check is skipped; true when it is. */
export function missingTool(name: string, install: string): boolean {
  const reason = toolMissing(name, install);
  if (reason !== null) console.warn(`${reason}.`);
  return reason !== null;
}

export type SamFunction = {
  logicalId: string;
  /** the handler folder under functions/ its entry point names */
  dir: string;
  entryPoint: string;
  properties: Record<string, unknown>;
  buildProperties: Record<string, unknown>;
  events: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
};

export type Template = {
  Globals?: { Function?: Record<string, unknown> };
  Parameters?: Record<string, Record<string, unknown>>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown }>;
};

export const ENTRY_POINT = /^(?:\.\/)?functions\/([a-z0-9-]+)\/handler\.ts$/;

/** Every AWS::Serverless::Function of template.yaml with its entry point and events. */
export function samFunctions(template: Template): SamFunction[] {
  const out: SamFunction[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Serverless::Function') continue;
    const buildProperties = ((resource.Metadata?.BuildProperties as Record<string, unknown>) ?? {}) as Record<string, unknown>;
    const entries = (buildProperties.EntryPoints as string[] | undefined) ?? [];
    const entryPoint = entries[0] ?? '';
    out.push({
      logicalId,
      dir: ENTRY_POINT.exec(entryPoint)?.[1] ?? '',
      entryPoint,
      properties: resource.Properties ?? {},
      buildProperties: { ...buildProperties, BuildMethod: resource.Metadata?.BuildMethod },
      events: (resource.Properties?.Events as SamFunction['events']) ?? {},
    });
  }
  return out;
}

/** A connection string to another database on the same server. */
export const databaseUrl = withDatabase;

export type FreshDatabase = { url: string; drop(): Promise<void> };

/**
 * Creates an empty database on the TEST_DATABASE_URL server, migrated with
 * functions/shared/db/migrate.ts unless `migrated` is false.
 */
export function createFreshDatabase(serverUrl: string, prefix: string, migrated = true): Promise<FreshDatabase> {
  return createScratchDatabase(serverUrl, { prefix, migrated });
}

/** Why a check that needs PostgreSQL cannot run here, or null (for describeUnless/itUnless). */
export function testDatabaseMissing(what: string): string | null {
  return process.env.TEST_DATABASE_URL ? null : `TEST_DATABASE_URL is not set: skipping ${what}`;
}

/** Prints why a check that needs PostgreSQL is skipped; true when it is. */
export function noTestDatabase(what: string): boolean {
  const reason = testDatabaseMissing(what);
  if (reason !== null) console.warn(`${reason}.`);
  return reason !== null;
}
