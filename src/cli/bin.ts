/** Process entry of the CLI (bin/redis-kafka-sync.js loads the compiled copy of this file). */
import { main } from './main.js';

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`redis-kafka-sync: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
