/**
 * Writes the JSON Schema of the configuration file to
 * schema/portcullis.schema.json, for editors and CI checks of
 * portcullis.yaml. A test fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { publishedConfigSchema } from '../src/config/published-schema.js';

const target = fileURLToPath(new URL('../schema/portcullis.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(publishedConfigSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${target}\n`);
