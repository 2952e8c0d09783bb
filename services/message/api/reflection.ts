import { create, createRegistry, toBinary, type DescFile } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import {
  ServerReflection,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from '../../shared/gen-es/grpc/reflection/v1/reflection_pb.js';

/**
 * gRPC server reflection (grpc.reflection.v1) for the services of `files`, from the descriptors
 * the code generator embedded (protoc's own form): grpcurl, Postman and grpcui list the services
 * and resolve their methods and types through it alone.
 */
export function addReflection(router: ConnectRouter, files: readonly DescFile[], services: readonly string[]): void {
  /** Files and every file they import, each once. */
  const closure = (roots: readonly DescFile[]): Set<DescFile> => {
    const seen = new Set<DescFile>();
    const walk = (f: DescFile): void => {
      if (seen.has(f)) return;
      seen.add(f);
      f.dependencies.forEach(walk);
    };
    roots.forEach(walk);
    return seen;
  };
  const all = new Map([...closure([...files, ServerReflection.file])].map((f) => [f.proto.name, f] as const));
  const registry = createRegistry(...all.values());
  const listed = [...services, ServerReflection.typeName];

  /** The file and every file it imports, each once, encoded. */
  const withImports = (file: DescFile): Uint8Array[] => [...closure([file])].map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
  /** The file declaring a fully qualified symbol: a message, enum, service, or a service's method. */
  const fileOf = (symbol: string): DescFile | undefined => {
    const found = registry.get(symbol) ?? registry.getService(symbol.slice(0, symbol.lastIndexOf('.')));
    return found?.file;
  };

  const answer = (req: ServerReflectionRequest): ServerReflectionResponse => {
    const base = { validHost: req.host, originalRequest: req };
    const notFound = (what: string): ServerReflectionResponse =>
      create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: 'errorResponse', value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } },
      });
    const files = (file: DescFile | undefined, what: string): ServerReflectionResponse =>
      file
        ? create(ServerReflectionResponseSchema, {
            ...base,
            messageResponse: { case: 'fileDescriptorResponse', value: { fileDescriptorProto: withImports(file) } },
          })
        : notFound(what);
    switch (req.messageRequest.case) {
      case 'listServices':
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: 'listServicesResponse', value: { service: listed.map((name) => ({ name })) } },
        });
      case 'fileByFilename':
        return files(all.get(req.messageRequest.value), `file ${req.messageRequest.value}`);
      case 'fileContainingSymbol':
        return files(fileOf(req.messageRequest.value), `symbol ${req.messageRequest.value}`);
      case 'fileContainingExtension':
        return notFound(`extension ${req.messageRequest.value.containingType}.${req.messageRequest.value.extensionNumber}`);
      case 'allExtensionNumbersOfType':
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: 'allExtensionNumbersResponse', value: { baseTypeName: req.messageRequest.value, extensionNumber: [] } },
        });
      default:
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: 'errorResponse', value: { errorCode: Code.InvalidArgument, errorMessage: 'no request' } },
        });
    }
  };

  router.service(ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield answer(req);
    },
  });
}
