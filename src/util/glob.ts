/**
 * Redis-style glob matching (the syntax of SCAN MATCH and KEYS): `*` any run, `?` one character,
 * `[abc]`, `[a-z]`, `[^a]` classes, `\x` a literal x. Used so that a pattern means the same thing
 * in discovery (server side) and in topic mapping (client side).
 */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i] as string;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) {
      i += 1;
      re += escapeRe(glob[i] as string);
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Ordered glob -> value map: the first pattern that matches wins. */
export class GlobMap<V> {
  private readonly rules: { re: RegExp; value: V }[];
  constructor(entries: Iterable<readonly [string, V]>) {
    this.rules = [...entries].map(([g, value]) => ({ re: globToRegExp(g), value }));
  }
  match(name: string): V | undefined {
    for (const rule of this.rules) if (rule.re.test(name)) return rule.value;
    return undefined;
  }
}
