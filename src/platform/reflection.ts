/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) answered from a
 * @bufbuild/protobuf registry of the generated file descriptors, so grpcurl,
 * `buf curl` and Postman can discover and call Lotty's services without the
 * .proto files.
 *
 * Behaviour follows grpc-go's reference implementation: file descriptors are
 * returned together with their transitive imports (breadth first, requested
 * file first), and an import already sent on the same stream is not sent again.
 * The embedded descriptors carry no source code info, so clients see no
 * comments.
 */
import { toBinary, type DescExtension, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import type { FileRegistry, Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

export interface ReflectionOptions {
  /**
   * Names answered to `list_services`, evaluated on every request. Defaults to
   * every service registered on the router the routes are added to.
   */
  serviceNames?: () => readonly string[];
}

/**
 * Routes serving grpc.reflection.v1.ServerReflection and
 * grpc.reflection.v1alpha.ServerReflection.
 *
 * `registry` holds the files to describe, for example
 * `createRegistry(file_lotty_access_v1_access, file_grpc_health_v1_health)`;
 * their imports (google/protobuf/*.proto included) are found through
 * `DescFile.dependencies` and need not be listed.
 */
export function reflectionRoutes(
  registry: Registry,
  options: ReflectionOptions = {},
): (router: ConnectRouter) => void {
  const index = new DescriptorIndex(registry);
  return (router) => {
    const serviceNames = options.serviceNames ?? (() => registeredServiceNames(router));
    // v1 and v1alpha are wire-identical and generate the same TypeScript shapes;
    // only the service descriptor differs.
    router.service(ServerReflectionV1, {
      serverReflectionInfo: (requests) => answerReflectionStream(index, serviceNames, requests),
    });
    router.service(ServerReflectionV1alpha, {
      serverReflectionInfo: (requests) => answerReflectionStream(index, serviceNames, requests),
    });
  };
}

/** The names of the services registered on `router` so far, without duplicates. */
export function registeredServiceNames(router: ConnectRouter): string[] {
  return [...new Set(router.handlers.map((handler) => handler.service.typeName))];
}

/** The fields of ServerReflectionRequest that both versions share. */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename"; value: string }
    | { case: "fileContainingSymbol"; value: string }
    | {
        case: "fileContainingExtension";
        value: { containingType: string; extensionNumber: number };
      }
    | { case: "allExtensionNumbersOfType"; value: string }
    | { case: "listServices"; value: string }
    | { case: undefined; value?: undefined };
}

/** ServerReflectionResponse.message_response, valid for both versions. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: "allExtensionNumbersResponse";
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

async function* answerReflectionStream<R extends ReflectionRequest>(
  index: DescriptorIndex,
  serviceNames: () => readonly string[],
  requests: AsyncIterable<R>,
): AsyncIterable<{ validHost: string; originalRequest: R; messageResponse: ReflectionAnswer }> {
  const sentFiles = new Set<string>();
  for await (const request of requests) {
    yield {
      validHost: request.host,
      originalRequest: request,
      messageResponse: answerReflectionRequest(index, serviceNames, request, sentFiles),
    };
  }
}

function answerReflectionRequest(
  index: DescriptorIndex,
  serviceNames: () => readonly string[],
  { messageRequest }: ReflectionRequest,
  sentFiles: Set<string>,
): ReflectionAnswer {
  switch (messageRequest.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: { service: serviceNames().map((name) => ({ name })) },
      };
    case "fileByFilename": {
      const file = index.fileByName(messageRequest.value);
      return file
        ? index.fileDescriptorResponse(file, sentFiles)
        : notFound(`file not found: ${messageRequest.value}`);
    }
    case "fileContainingSymbol": {
      const file = index.fileContainingSymbol(messageRequest.value);
      return file
        ? index.fileDescriptorResponse(file, sentFiles)
        : notFound(`symbol not found: ${messageRequest.value}`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = messageRequest.value;
      const extension = index.extension(containingType, extensionNumber);
      return extension
        ? index.fileDescriptorResponse(extension.file, sentFiles)
        : notFound(`extension ${extensionNumber} of ${containingType} not found`);
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersOf(messageRequest.value);
      return numbers
        ? {
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: messageRequest.value, extensionNumber: numbers },
          }
        : notFound(`message type not found: ${messageRequest.value}`);
    }
    case undefined:
      // grpc-go ends the stream the same way.
      throw new ConnectError("reflection request names no message_request", Code.InvalidArgument);
  }
}

function notFound(errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage } };
}

/**
 * Every file reachable from a registry, and every fully qualified name declared
 * in them (messages, fields, oneofs, enums, enum values, services, methods,
 * extensions) mapped to its file.
 */
class DescriptorIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly messages = new Set<string>();
  /** Extendee type name → extension number → extension. */
  private readonly extensions = new Map<string, Map<number, DescExtension>>();
  private readonly encoded = new Map<string, Uint8Array>();

  constructor(registry: Registry) {
    if (isFileRegistry(registry)) {
      for (const file of registry.files) this.addFile(file);
    }
    for (const desc of registry) this.addFile(desc.file);
  }

  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol);
  }

  extension(extendee: string, fieldNumber: number): DescExtension | undefined {
    return this.extensions.get(extendee)?.get(fieldNumber);
  }

  /** Known extension numbers of a message type, ascending; undefined for an unknown type. */
  extensionNumbersOf(typeName: string): number[] | undefined {
    if (!this.messages.has(typeName)) return undefined;
    return [...(this.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * `file` and its transitive imports, breadth first, leaving out imports
   * already in `sentFiles` (which is updated), as grpc-go does.
   */
  fileDescriptorResponse(file: DescFile, sentFiles: Set<string>): ReflectionAnswer {
    const fileDescriptorProto: Uint8Array[] = [];
    const queue: DescFile[] = [file];
    const visited = new Set<string>();
    for (let current = queue.shift(); current; current = queue.shift()) {
      if (visited.has(current.name)) continue;
      visited.add(current.name);
      if (current === file || !sentFiles.has(current.name)) {
        fileDescriptorProto.push(this.encode(current));
        sentFiles.add(current.name);
      }
      queue.push(...current.dependencies);
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file.proto.name);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file.proto.name, bytes);
    }
    return bytes;
  }

  private addFile(file: DescFile): void {
    // DescFile.name has no ".proto" suffix; reflection clients use the path.
    const path = file.proto.name;
    if (this.files.has(path)) return;
    this.files.set(path, file);
    for (const dependency of file.dependencies) this.addFile(dependency);
    for (const message of file.messages) this.addMessage(message);
    for (const enumDesc of file.enums) this.addEnum(enumDesc.typeName, enumDesc.values, file);
    for (const extension of file.extensions) this.addExtension(extension);
    for (const service of file.services) {
      this.symbols.set(service.typeName, file);
      for (const method of service.methods) {
        this.symbols.set(`${service.typeName}.${method.name}`, file);
      }
    }
  }

  private addMessage(message: DescMessage): void {
    const { file, typeName } = message;
    this.symbols.set(typeName, file);
    this.messages.add(typeName);
    for (const field of message.fields) this.symbols.set(`${typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) this.symbols.set(`${typeName}.${oneof.name}`, file);
    for (const nested of message.nestedMessages) this.addMessage(nested);
    for (const nested of message.nestedEnums) this.addEnum(nested.typeName, nested.values, file);
    for (const extension of message.nestedExtensions) this.addExtension(extension);
  }

  private addEnum(typeName: string, values: readonly { name: string }[], file: DescFile): void {
    this.symbols.set(typeName, file);
    // Enum values are scoped like siblings of their enum (C++ scoping rules).
    const scope = typeName.includes(".") ? typeName.slice(0, typeName.lastIndexOf(".") + 1) : "";
    for (const value of values) this.symbols.set(`${scope}${value.name}`, file);
  }

  private addExtension(extension: DescExtension): void {
    this.symbols.set(extension.typeName, extension.file);
    const extendee = extension.extendee.typeName;
    let byNumber = this.extensions.get(extendee);
    if (!byNumber) {
      byNumber = new Map();
      this.extensions.set(extendee, byNumber);
    }
    byNumber.set(extension.number, extension);
  }
}

function isFileRegistry(registry: Registry): registry is FileRegistry {
  return "files" in registry;
}
