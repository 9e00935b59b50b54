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

function forward(req: IncomingMessage, res: ServerResponse, endpoint: string): void {
  const target = new URL(req.url ?? '/', endpoint);
  const upstream = request(
    target,
    { method: req.method, headers: { ...req.headers, host: target.host } },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`edge: ${error.message}`);
  });
  req.pipe(upstream);
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

function readBody(req: IncomingMessage, then: (body: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => then(Buffer.concat(chunks).toString('utf8')));
}

export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const server = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('Kinesis_')) forward(req, res, options.kinesisEndpoint);
    else if (target.startsWith('DynamoDB_')) forward(req, res, options.dynamoEndpoint);
    else readBody(req, (body) => describeStacks(body, options.stacks, res));
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
