/**
 * From a schema field's raw string (the environment, a .env file, its default) to its typed
 * value: one zod type per field kind (schema.ts), and the DB range syntax of
 * SOURCE_REDIS_DB_SEARCH_RANGE.
 */
import { z } from 'zod';
import type { FieldSpec } from './schema.js';

/** Zod type of one raw string value, by field kind. Produces the typed value. */
export function zodFor(spec: FieldSpec): z.ZodType<unknown> {
  switch (spec.kind) {
    case 'string':
      return z.string();
    case 'int': {
      let n = z.number().int('must be an integer');
      if (spec.min !== undefined) n = n.min(spec.min, `must be >= ${spec.min}`);
      if (spec.max !== undefined) n = n.max(spec.max, `must be <= ${spec.max}`);
      return z
        .string()
        .trim()
        .regex(/^-?\d+$/, 'must be an integer')
        .transform((v) => Number(v))
        .pipe(n);
    }
    case 'bool':
      return z
        .string()
        .trim()
        .toLowerCase()
        .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(v), 'must be true or false')
        .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
    case 'enum':
      return z
        .string()
        .trim()
        .refine((v) => (spec.values ?? []).includes(v), `must be one of ${(spec.values ?? []).join(', ')}`);
    case 'list':
      return z.string().transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0),
      );
    case 'json-map':
      return z.string().transform((v, ctx) => {
        const text = v.trim() === '' ? '{}' : v.trim();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object like {"device:*:stream": "topic"}' });
          return z.NEVER;
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object like {"device:*:stream": "topic"}' });
          return z.NEVER;
        }
        const entries: [string, string][] = [];
        for (const [k, val] of Object.entries(parsed)) {
          if (typeof val !== 'string' || val === '') {
            ctx.addIssue({ code: 'custom', message: `value of "${k}" must be a non-empty topic name` });
            return z.NEVER;
          }
          entries.push([k, val]);
        }
        return entries;
      });
    case 'db-range':
      return z.string().transform((v, ctx) => {
        const dbs = parseDbRange(v);
        if (typeof dbs === 'string') {
          ctx.addIssue({ code: 'custom', message: dbs });
          return z.NEVER;
        }
        return dbs;
      });
  }
}

/** "0-15" | "0,3,5" | "0-3,7" -> sorted unique DB numbers, or an error message. */
export function parseDbRange(text: string): number[] | string {
  const out = new Set<number>();
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return 'must name at least one DB, like "0-15" or "0,3"';
  for (const part of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return `"${part}" is not a DB number or range like "0-15"`;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return `range "${part}" ends before it starts`;
    if (hi > 10000) return `DB ${hi} is out of range`;
    for (let db = lo; db <= hi; db += 1) out.add(db);
  }
  return [...out].sort((a, b) => a - b);
}
