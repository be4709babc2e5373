import { acceptsConnections } from './src/stack/process.ts';
const t0 = Date.now();
let acc = false;
const iv = setInterval(async () => {
  if (!acc && await acceptsConnections(19092, '127.0.0.1', 200)) { acc = true; console.log('accepts at', Date.now()-t0); }
}, 100);
const m = await import('./src/stack/kafka-broker.ts');
await m.startKafka(console.log);
console.log('ready at', Date.now()-t0);
clearInterval(iv);
