// `npm run docs:config`: writes docs/configuration.md from the option specs.
import { writeFileSync } from 'node:fs';
import { configurationDoc } from '../../shared/options/docs.ts';

const path = new URL('../../docs/configuration.md', import.meta.url);
writeFileSync(path, configurationDoc());
console.log('docs/configuration.md written');
