import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import type { IDescriptorProto, IFileDescriptorProto } from 'protobufjs/ext/descriptor/index.js';
import type { Server } from '@grpc/grpc-js';
import { LOADER_OPTIONS } from '../../shared/proto.js';

/**
 * Server reflection for every service the pod serves (switchboard.v1.MessageService and
 * grpc.health.v1.Health), from descriptors that protoc-based tools can read: grpcurl, Postman
 * and grpc-health-probe resolve methods and types through it alone.
 */
export function addReflection(server: Server, switchboard: PackageDefinition): void {
  const health = loadSync(healthProtoPath, LOADER_OPTIONS);
  new ReflectionService(readableDescriptors({ ...switchboard, ...health })).addToServer(server);
}

/**
 * The package definition with each file descriptor made valid for protoc's readers, which refuse
 * a file as a whole over either of two things protobufjs writes differently from protoc:
 * - a message's reserved ranges with an inclusive end (`reserved 4;` as 4 to 4), where
 *   descriptor.proto's end is exclusive (4 to 5): "reserved ranges has invalid range: 4 to 3"
 *   (grpc-node#2709);
 * - a map field's entry type named after the field (`Statuses`), where protoc names it
 *   `StatusesEntry`: "is an invalid map: incorrect implicit map entry name".
 */
export function readableDescriptors(definition: PackageDefinition): PackageDefinition {
  const fixed = new Map<Buffer, Buffer>();
  const fix = (bin: Buffer): Buffer => {
    let out = fixed.get(bin);
    if (!out) {
      const file = descriptor.FileDescriptorProto.decode(bin) as IFileDescriptorProto;
      for (const m of file.messageType ?? []) asProtocWrites(m);
      out = Buffer.from(descriptor.FileDescriptorProto.encode(file).finish());
      fixed.set(bin, out);
    }
    return out;
  };
  const out: PackageDefinition = {};
  for (const [name, def] of Object.entries(definition)) {
    const protos = (def as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    out[name] = Array.isArray(protos) ? ({ ...def, fileDescriptorProtos: protos.map(fix) } as typeof def) : def;
  }
  return out;
}

function asProtocWrites(m: IDescriptorProto): void {
  for (const r of m.reservedRange ?? []) r.end = (r.end ?? r.start ?? 0) + 1;
  for (const entry of (m.nestedType ?? []).filter((n) => n.options?.mapEntry)) {
    const field = (m.field ?? []).find((f) => f.typeName === entry.name || f.typeName?.endsWith(`.${entry.name}`));
    if (!field?.name) continue;
    const name = `${field.name.replace(/(?:^|_)([a-z0-9])/g, (_, c: string) => c.toUpperCase())}Entry`;
    field.typeName = field.typeName!.slice(0, field.typeName!.length - entry.name!.length) + name;
    entry.name = name;
  }
  for (const nested of m.nestedType ?? []) asProtocWrites(nested);
}
