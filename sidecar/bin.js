#!/usr/bin/env node
// The package's command. Node 20 cannot run TypeScript itself, so tsx is registered first.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
await main(process.argv.slice(2));
