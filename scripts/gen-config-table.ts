// Prints the configuration table of the README from the one schema (src/config/schema.ts).
import { FIELDS } from '../src/config/schema.js';

const rows = FIELDS.map((f) => {
  const def = f.default === '' ? '(empty)' : `\`${f.default.replace(/\|/g, '\\|')}\``;
  return `| \`${f.env}\` | ${def} | ${f.unit ?? ''} | ${f.description.replace(/\|/g, '\\|')} |`;
});
process.stdout.write(['| Variable | Default | Unit | Meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n');
