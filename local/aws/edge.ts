import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * One endpoint for the embedded emulators, as LocalStack's edge port is for its services: Kinesis and
 * DynamoDB requests are forwarded by their X-Amz-Target, and CloudFormation's DescribeStacks is answered
 * for the local deployment, so tools that find a stack by its outputs (`--stack`, the e2e suite) take the
 * same path here as against LocalStack or AWS.
 */
export interface EdgeOptions {
  readonly host: string;
  readonly port: number;
  readonly kinesisEndpoint: string;
  readonly dynamoEndpoint: string;
  /** Stack name → its outputs. */
  readonly stacks: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export interface Edge {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Request bodies above these are refused with 413 before they are read whole: the service limit sits above
 * the largest request either API takes (DynamoDB's BatchWriteItem, 16 MB; Kinesis PutRecords, 10 MiB), and
 * DescribeStacks is a short form.
 */
export const MAX_SERVICE_BODY_BYTES = 32 * 1024 * 1024;
export const MAX_FORM_BODY_BYTES = 64 * 1024;

/** Answers, then drops the connection rather than read whatever body is left. */
function refuseAndClose(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  req.removeAllListeners('data');
  refuse(res, status, message);
  res.once('finish', () => req.destroy());
}

function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`edge: ${message}\n`);
}

/** The declared body length, or undefined when it is not declared (chunked) or not a number. */
function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  return header === undefined || !/^\d+$/.test(header) ? undefined : Number(header);
}

/**
 * Forwards a service request to its emulator. The upstream host and port are fixed by service, never taken
 * from the request; only an origin-form path is passed on, and the body streams through with its size
 * counted, so a client cannot make the edge buffer it or reach another host.
 */
function forward(req: IncomingMessage, res: ServerResponse, endpoint: URL): void {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > MAX_SERVICE_BODY_BYTES) {
    refuseAndClose(req, res, 413, `request body of ${declared} bytes exceeds ${MAX_SERVICE_BODY_BYTES}`);
    return;
  }
  const headers = { ...req.headers, host: endpoint.host };
  const upstream = request({
    host: endpoint.hostname,
    port: endpoint.port,
    path: req.url,
    method: req.method,
    headers,
  });
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', (error) => {
    if (!res.writableEnded) refuse(res, 502, error.message);
  });
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > MAX_SERVICE_BODY_BYTES) {
      upstream.destroy();
      refuseAndClose(req, res, 413, `request body exceeds ${MAX_SERVICE_BODY_BYTES} bytes`);
      return;
    }
    if (!upstream.write(chunk)) {
      req.pause();
      upstream.once('drain', () => req.resume());
    }
  });
  req.on('end', () => upstream.end());
  req.on('error', () => upstream.destroy());
}

function describeStacks(body: string, stacks: EdgeOptions['stacks'], res: ServerResponse): void {
  const form = new URLSearchParams(body);
  const requestId = randomUUID();
  const fail = (status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(
      `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>` +
        `<Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    );
  };
  const action = form.get('Action');
  if (action !== 'DescribeStacks') {
    fail(400, 'InvalidAction', `the embedded edge answers DescribeStacks only, not ${action}`);
    return;
  }
  const name = form.get('StackName') ?? '';
  const outputs = stacks.get(name);
  if (!outputs) {
    fail(400, 'ValidationError', `Stack with id ${name} does not exist`);
    return;
  }
  const members = Object.entries(outputs)
    .map(([k, v]) => `<member><OutputKey>${xml(k)}</OutputKey><OutputValue>${xml(v)}</OutputValue></member>`)
    .join('');
  res.writeHead(200, { 'content-type': 'text/xml' });
  res.end(
    `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>` +
      `<Stacks><member><StackName>${xml(name)}</StackName>` +
      `<StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/${xml(name)}/local</StackId>` +
      `<CreationTime>${new Date(0).toISOString()}</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>` +
      `<Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult>` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></DescribeStacksResponse>`,
  );
}

function readForm(req: IncomingMessage, res: ServerResponse, then: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > MAX_FORM_BODY_BYTES) {
      refuseAndClose(req, res, 413, `request body exceeds ${MAX_FORM_BODY_BYTES} bytes`);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (received <= MAX_FORM_BODY_BYTES) then(Buffer.concat(chunks).toString('utf8'));
  });
  req.on('error', () => {});
}

/** `/` or `/path?query`: the origin form. Absolute (`http://host/`) and `//host/` targets are refused. */
const ORIGIN_FORM = /^\/(?!\/)[\x21-\x7e]*$/;

export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const kinesis = new URL(options.kinesisEndpoint);
  const dynamo = new URL(options.dynamoEndpoint);
  const server = createServer((req, res) => {
    // Whatever a client sends, it gets an answer and the edge (and the emulators' data) stays up.
    try {
      if (!ORIGIN_FORM.test(req.url ?? '')) {
        refuseAndClose(req, res, 400, 'the request target must be a path such as /');
        return;
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target.startsWith('Kinesis_')) forward(req, res, kinesis);
      else if (target.startsWith('DynamoDB_')) forward(req, res, dynamo);
      else readForm(req, res, (body) => describeStacks(body, options.stacks, res));
    } catch (error) {
      refuseAndClose(req, res, 400, (error as Error).message);
    }
  });
  // Requests the HTTP parser cannot read (bad request lines, oversized headers) get a 400, not an exception.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`edge port ${options.port} is already in use`) : error),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host}:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
