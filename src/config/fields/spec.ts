/** One variable's declaration (src/config/schema.ts gathers them all into FIELDS). */
export type FieldKind = 'string' | 'int' | 'bool' | 'enum' | 'list' | 'json-map' | 'db-range';

export interface FieldSpec {
  readonly env: string;
  readonly kind: FieldKind;
  readonly default: string;
  readonly description: string;
  readonly unit?: string;
  readonly secret?: boolean;
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly group: 'source' | 'target' | 'stream' | 'keys' | 'kafka' | 'sync' | 'service';
}

export const f = (spec: FieldSpec): FieldSpec => spec;
