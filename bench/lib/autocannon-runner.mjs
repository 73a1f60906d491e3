// Runs one autocannon measurement from a JSON specification file and prints
// autocannon's result as JSON. Plain JavaScript, so that the load generator
// pays no TypeScript loader. With several header sets, each connection sends
// them in turn, which rotates credentials across requests.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const requests = spec.headerSets.map((headers) => ({ method: 'GET', headers }));

const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.seconds,
  requests,
  ...(spec.overallRate === undefined ? {} : { overallRate: spec.overallRate }),
});
process.stdout.write(`${JSON.stringify(result)}\n`);
