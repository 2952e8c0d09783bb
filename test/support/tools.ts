import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tool } from '../env/servers.js';

/* The field's own command-line tools, run against the product as a user would run them. */

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking this process (the services under test run in it). */
export function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** grpcurl against `target` with reflection only (no .proto given): `grpcurl -plaintext [flags] target [verb…]`. */
export function grpcurl(target: string, flags: string[], verb: string[], input?: string): Promise<Run> {
  return run(tool('grpcurl'), ['-plaintext', '-max-time', '10', ...flags, target, ...verb], input);
}

/** grpcurl with a JSON request on stdin, expecting success; returns the replies (several for a stream). */
export async function invoke(target: string, method: string, request: object, flags: string[] = []): Promise<unknown[]> {
  const r = await grpcurl(target, ['-d', '@', ...flags], [method], JSON.stringify(request));
  assert.equal(r.status, 0, `grpcurl ${method}: ${r.stderr}`);
  // grpcurl prints each reply as an indented JSON object.
  return r.stdout
    .split(/\n(?=\{)/)
    .filter((s) => s.trim())
    .map((s) => JSON.parse(s) as unknown);
}
