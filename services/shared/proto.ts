import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import type { ProtoGrpcType } from './gen/message_service.js';

export const PROTO_FILE = 'switchboard/v1/message_service.proto';

/** Where the .proto files live: the nearest proto/ above this module (source tree or dist/ alike). */
export const PROTO_ROOT = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'proto', PROTO_FILE))) return join(dir, 'proto');
    if (dirname(dir) === dir) throw new Error(`cannot find proto/${PROTO_FILE} above ${fileURLToPath(import.meta.url)}`);
  }
})();

/**
 * The loader options the generated types in ./gen were made with (see the Makefile's `proto`
 * target); they must stay in step.
 */
export const LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let cached: { definition: PackageDefinition; grpc: ProtoGrpcType } | undefined;

/** The package definition and typed gRPC object of switchboard.v1 (loaded once). */
export function loadSwitchboardProto(): { definition: PackageDefinition; grpc: ProtoGrpcType } {
  if (!cached) {
    const definition = loadSync(PROTO_FILE, LOADER_OPTIONS);
    const grpc = loadPackageDefinition(definition) as unknown as ProtoGrpcType & GrpcObject;
    cached = { definition, grpc };
  }
  return cached;
}

export type { ChatMessage__Output as ChatMessage } from './gen/switchboard/v1/ChatMessage.js';
export type { MessageServiceClient } from './gen/switchboard/v1/MessageService.js';
export type { MessageServiceHandlers } from './gen/switchboard/v1/MessageService.js';
export type { MessageStreamRequest, MessageStreamRequest__Output } from './gen/switchboard/v1/MessageStreamRequest.js';
export type { MessageStreamResponse, MessageStreamResponse__Output } from './gen/switchboard/v1/MessageStreamResponse.js';
export type { SendRequest, SendRequest__Output } from './gen/switchboard/v1/SendRequest.js';
export type { SendResponse, SendResponse__Output } from './gen/switchboard/v1/SendResponse.js';
export type { SendError } from './gen/switchboard/v1/SendError.js';
export type { SendResult__Output } from './gen/switchboard/v1/SendResult.js';
export type { ConversationsResponse__Output } from './gen/switchboard/v1/ConversationsResponse.js';
export type { MarkReadResponse__Output } from './gen/switchboard/v1/MarkReadResponse.js';
