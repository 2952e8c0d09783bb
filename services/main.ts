/**
 * The container's entry point: `node dist/services/main.js message|connect|client [--setting=value…]`.
 * One image runs either service (or the test client, for `helm test`).
 */
const [command, ...rest] = process.argv.slice(2);
const entries: Record<string, string> = { message: './message/main.js', connect: './connect/main.js', client: './client/main.js' };
const entry = command === undefined ? undefined : entries[command];
if (!entry) {
  process.stderr.write(`usage: main.js message|connect|client [--setting=value…]\n`);
  process.exit(2);
}
// Each entry point reads its own settings from argv after the script name.
process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
await import(entry);
