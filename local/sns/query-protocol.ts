/**
 * The awsQuery protocol SNS speaks: form-encoded parameters (lists and maps flattened as
 * `Name.entry.N.key`), results and errors as XML in the 2010-03-31 namespace, paged lists.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class LocalSnsError extends Error {
  override name = 'LocalSnsError';
}

/** An SNS API error, answered as the real `<ErrorResponse>` so the SDK raises its typed exception. */
export class SnsRequestError extends LocalSnsError {
  override name = 'SnsRequestError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
/** SNS: 100 items per List* page. */
const PAGE_SIZE = 100;
const MAX_REQUEST_BYTES = 1024 * 1024;

/** `Attributes.entry.N.key` / `.value` maps, as the query protocol flattens them. */
export function mapEntries(
  params: URLSearchParams,
  name: string,
  keyName: string,
  valueName: string,
): Map<string, string> {
  const entries = new Map<string, string>();
  for (let n = 1; params.has(`${name}.entry.${n}.${keyName}`); n++) {
    entries.set(
      params.get(`${name}.entry.${n}.${keyName}`) ?? '',
      params.get(`${name}.entry.${n}.${valueName}`) ?? '',
    );
  }
  return entries;
}

export function required(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') throw invalidParameter(name, `${name} Reason: cannot be empty`);
  return value;
}

export function invalidParameter(what: string, detail = what): SnsRequestError {
  return new SnsRequestError('InvalidParameter', `Invalid parameter: ${detail}`);
}

export function paginate<T>(items: T[], token: string | null): { items: T[]; next?: string } {
  const start = token ? Number.parseInt(token, 10) : 0;
  if (!Number.isInteger(start) || start < 0) throw invalidParameter('NextToken');
  const end = start + PAGE_SIZE;
  return { items: items.slice(start, end), ...(end < items.length ? { next: String(end) } : {}) };
}

export function nextToken(token: string | undefined): string {
  return token === undefined ? '' : `<NextToken>${token}</NextToken>`;
}

export function resultXml(action: string, body: string | undefined, requestId: string): string {
  const resultElement = body === undefined ? '' : `<${action}Result>${body}</${action}Result>`;
  return (
    `<${action}Response xmlns="${XMLNS}">${resultElement}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

export function errorXml(error: SnsRequestError, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${error.type}</Type><Code>${xml(error.code)}</Code>` +
    `<Message>${xml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

export function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function reply(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  requestId: string,
): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    // The SDK reads the request id for $metadata from this header.
    'x-amzn-RequestId': requestId,
  });
  response.end(body);
}

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw invalidParameter('Message too long');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
