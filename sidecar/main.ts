// `npm start` entry: the same command line as the package's `groupcast` bin.
import { main } from './cli.ts';

await main(process.argv.slice(2));
