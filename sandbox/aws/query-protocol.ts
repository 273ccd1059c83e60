/**
 * Wire-protocol helpers shared by the local EC2, ELBv2 and SNS endpoints.
 *
 * All three services speak a form-encoded "query" request (`Action=...&Version=...`
 * plus flattened parameters) and answer with XML. They differ in two ways the
 * unmodified AWS SDK v3 clients depend on (checked against
 * `@aws-sdk/core/protocols` AwsQueryProtocol / AwsEc2QueryProtocol):
 *
 *  - EC2 (`ec2Query`) flattens lists as `InstanceId.1`, `Filter.1.Value.2`; its
 *    responses use lowerCamel element names, lists of `<item>`, no `Result`
 *    wrapper, and errors as `<Response><Errors><Error>...</Error></Errors><RequestID>`.
 *  - ELBv2 and SNS (`awsQuery`) use `Targets.member.1.Id` and `MessageAttributes.entry.1.Name`;
 *    responses wrap the output in `<{Action}Result>`, lists hold `<member>`, and errors
 *    are `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`.
 *
 * The SDK reads the request id for `$metadata` from the `x-amzn-RequestId`
 * header, so every answer carries it there as well as in the body.
 */
import { randomUUID } from 'node:crypto';
import { listenLocal, type LocalServer } from './local-server.js';

/** An error answered on the wire with an AWS error code (e.g. `InvalidInstanceID.NotFound`). */
export class AwsApiError extends Error {
  override readonly name = 'AwsApiError';
  constructor(
    /** AWS error code as the service sends it. */
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
    /** awsQuery `Type`: `Sender` for client faults, `Receiver` for server faults. */
    readonly faultType: 'Sender' | 'Receiver' = 'Sender',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/* ------------------------------------------------------------------ */
/* Request parsing                                                     */
/* ------------------------------------------------------------------ */

/** Flattened query parameters as a tree: `Filter.1.Value.2=x` → `{ Filter: { '1': { Value: { '2': 'x' } } } }`. */
export interface QueryTree {
  [key: string]: QueryNode;
}
export type QueryNode = string | QueryTree;

/** Parses a form-encoded query body into a tree keyed by the dotted path segments. */
export function parseQueryString(body: string): QueryTree {
  const root: QueryTree = Object.create(null) as QueryTree;
  for (const [key, value] of new URLSearchParams(body)) {
    const parts = key.split('.');
    let node: QueryTree = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '__proto__' || part === 'constructor' || part === 'prototype') break;
      if (i === parts.length - 1) {
        if (typeof node[part] !== 'object') node[part] = value;
      } else {
        let next = node[part];
        if (typeof next !== 'object') {
          next = Object.create(null) as QueryTree;
          node[part] = next;
        }
        node = next;
      }
    }
  }
  return root;
}

/** Typed reading of one request's parameters; every accessor validates as the service would. */
export class QueryParams {
  constructor(readonly tree: QueryTree) {}

  static parse(body: string): QueryParams {
    return new QueryParams(parseQueryString(body));
  }

  node(path: string): QueryNode | undefined {
    let cur: QueryNode | undefined = this.tree;
    for (const part of path.split('.')) {
      if (cur === undefined || typeof cur === 'string') return undefined;
      cur = cur[part];
    }
    return cur;
  }

  str(path: string): string | undefined {
    const n = this.node(path);
    return typeof n === 'string' ? n : undefined;
  }

  requireStr(path: string, code = 'MissingParameter', message?: string): string {
    const v = this.str(path);
    if (v === undefined || v === '') {
      throw new AwsApiError(code, message ?? `The request must contain the parameter ${path}`);
    }
    return v;
  }

  int(path: string): number | undefined {
    const v = this.str(path);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) {
      throw new AwsApiError('InvalidParameterValue', `Value (${v}) for parameter ${path} is invalid. Expecting an integer.`);
    }
    return Number(v);
  }

  bool(path: string): boolean | undefined {
    const v = this.str(path);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') {
      throw new AwsApiError('InvalidParameterValue', `Value (${v}) for parameter ${path} is invalid. Expecting true or false.`);
    }
    return v === 'true';
  }

  /**
   * The items of a flattened list. EC2 numbers items directly under the list name
   * (`InstanceId.1`); awsQuery nests them under a wrapper (`Targets.member.1`).
   */
  list(path: string, wrapper?: 'member' | 'entry'): QueryNode[] {
    let n = this.node(path);
    if (n === undefined || typeof n === 'string') return [];
    if (wrapper !== undefined) {
      const inner: QueryNode | undefined = n[wrapper];
      if (inner === undefined || typeof inner === 'string') return [];
      n = inner;
    }
    const tree = n;
    return Object.keys(tree)
      .filter((k) => /^\d+$/.test(k))
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => tree[k]!);
  }

  strList(path: string, wrapper?: 'member' | 'entry'): string[] {
    return this.list(path, wrapper).filter((v): v is string => typeof v === 'string');
  }

  /** Sub-parameters of a structure or list item, for nested reading. */
  static sub(node: QueryNode | undefined): QueryParams {
    return new QueryParams(node !== undefined && typeof node !== 'string' ? node : (Object.create(null) as QueryTree));
  }
}

/* ------------------------------------------------------------------ */
/* XML writing                                                         */
/* ------------------------------------------------------------------ */

export type XmlValue = string | number | boolean | Date | null | undefined | XmlValue[] | { [key: string]: XmlValue };

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === "'" ? '&apos;' : '&quot;',
  );
}

/** AWS XML timestamps are ISO 8601 with milliseconds, e.g. `2026-11-22T10:15:30.000Z`. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Writes the members of an object as XML elements. Arrays become a wrapper element
 * holding one `<itemTag>` per entry (EC2: `item`, awsQuery: `member`); `undefined`
 * and `null` members are omitted, as the services omit absent fields.
 */
export function toXml(value: { [key: string]: XmlValue }, itemTag: 'item' | 'member'): string {
  let out = '';
  for (const [key, v] of Object.entries(value)) out += element(key, v, itemTag);
  return out;
}

function element(name: string, v: XmlValue, itemTag: 'item' | 'member'): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) {
    if (v.length === 0) return `<${name}/>`;
    return `<${name}>${v.map((item) => element(itemTag, item, itemTag)).join('')}</${name}>`;
  }
  if (v instanceof Date) return `<${name}>${v.toISOString()}</${name}>`;
  if (typeof v === 'object') return `<${name}>${toXml(v, itemTag)}</${name}>`;
  return `<${name}>${xmlEscape(String(v))}</${name}>`;
}

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function ec2ResponseXml(action: string, xmlns: string, requestId: string, body: { [key: string]: XmlValue }): string {
  return `${XML_DECL}<${action}Response xmlns="${xmlns}"><requestId>${requestId}</requestId>${toXml(body, 'item')}</${action}Response>`;
}

export function ec2ErrorXml(error: AwsApiError, requestId: string): string {
  return (
    `${XML_DECL}<Response><Errors><Error><Code>${xmlEscape(error.code)}</Code>` +
    `<Message>${xmlEscape(error.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
  );
}

export function queryResponseXml(action: string, xmlns: string, requestId: string, result: { [key: string]: XmlValue } | undefined): string {
  const resultXml = result === undefined ? '' : `<${action}Result>${toXml(result, 'member')}</${action}Result>`;
  return (
    `${XML_DECL}<${action}Response xmlns="${xmlns}">${resultXml}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

export function queryErrorXml(error: AwsApiError, xmlns: string, requestId: string): string {
  return (
    `${XML_DECL}<ErrorResponse xmlns="${xmlns}"><Error><Type>${error.faultType}</Type>` +
    `<Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

/* ------------------------------------------------------------------ */
/* Pagination tokens                                                   */
/* ------------------------------------------------------------------ */

/**
 * Opaque page token bound to the request that produced it: reusing a token with
 * different filters is rejected, as AWS does, instead of silently skipping items.
 */
export function encodePageToken(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, f: fingerprint }), 'utf8').toString('base64url');
}

export function decodePageToken(token: string, fingerprint: string, paramName: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown; f?: unknown };
    if (typeof parsed.o === 'number' && Number.isInteger(parsed.o) && parsed.o >= 0 && parsed.f === fingerprint) return parsed.o;
  } catch {
    /* fall through to the error below */
  }
  throw new AwsApiError('InvalidParameterValue', `Invalid value '${token}' for ${paramName}`);
}

/* ------------------------------------------------------------------ */
/* HTTP server                                                         */
/* ------------------------------------------------------------------ */

export interface QueryRequest {
  action: string;
  version: string | undefined;
  params: QueryParams;
  requestId: string;
}

export interface QueryServerOptions {
  /** Service name for logs and `InvalidAction` messages. */
  service: string;
  /** Handles one parsed request; returns the response XML body. Throw `AwsApiError` for AWS errors. */
  handle(request: QueryRequest): Promise<string> | string;
  /** Renders an error body in the service's error format. */
  renderError(error: AwsApiError, requestId: string): string;
  /** Bodies larger than this are refused (the services limit request size too). */
  maxBodyBytes?: number;
}

export type RunningServer = LocalServer;

/** Starts a query-protocol HTTP server on 127.0.0.1 with an ephemeral port. */
export async function startQueryServer(opts: QueryServerOptions): Promise<RunningServer> {
  const maxBody = opts.maxBodyBytes ?? 1_048_576;
  return listenLocal((req, res) => {
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    const send = (status: number, body: string): void => {
      if (res.headersSent) return;
      res.writeHead(status, {
        'content-type': 'text/xml;charset=UTF-8',
        'x-amzn-requestid': requestId,
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    };
    const fail = (err: unknown): void => {
      const apiErr =
        err instanceof AwsApiError
          ? err
          : new AwsApiError('InternalError', 'An internal error has occurred', 500, 'Receiver', { cause: err });
      send(apiErr.httpStatus, opts.renderError(apiErr, requestId));
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        aborted = true;
        fail(new AwsApiError('RequestEntityTooLarge', 'Request body too large', 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (aborted) return;
      const raw = Buffer.concat(chunks).toString('utf8');
      const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
      const params = QueryParams.parse(req.method === 'GET' ? query : raw);
      const action = params.str('Action');
      if (action === undefined) {
        fail(new AwsApiError('MissingAction', 'The request must contain the parameter Action'));
        return;
      }
      Promise.resolve()
        .then(() => opts.handle({ action, version: params.str('Version'), params, requestId }))
        .then((body) => send(200, body), fail);
    });
    req.on('error', () => {
      /* client went away; nothing to answer */
    });
  });
}

/** Rejects a request whose `Version` is not the API version this endpoint implements. */
export function checkVersion(version: string | undefined, expected: string): void {
  if (version === undefined) throw new AwsApiError('MissingParameter', 'The request must contain the parameter Version');
  if (version !== expected) {
    throw new AwsApiError('InvalidAction', `Could not find operation for version ${version}`);
  }
}

/** Matches an EC2 filter value, where `*` matches any run of characters and `?` one character. */
export function filterValueMatches(pattern: string, value: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === value;
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
    's',
  );
  return re.test(value);
}

export function newRequestId(): string {
  return randomUUID();
}

/** Where an endpoint looks for faults injected by a scenario (World implements it). */
export interface FaultSource<S extends string> {
  takeFault(service: S, action: string): AwsApiError | undefined;
}

/**
 * One query-protocol service endpoint: its own server on 127.0.0.1, the API
 * version check and injected faults, then the service's own action handling.
 */
export abstract class QueryEndpoint<S extends string> {
  private server: RunningServer | undefined;

  protected constructor(
    private readonly spec: { label: string; service: string; faultService: S; apiVersion: string; faults: FaultSource<S> },
  ) {}

  /** Answers one action (after the version check and injected faults) with the response XML. */
  protected abstract handleAction(req: QueryRequest): string;
  /** Renders an error body in the service's error format. */
  protected abstract renderError(err: AwsApiError, requestId: string): string;

  async start(): Promise<string> {
    this.server = await startQueryServer({
      service: this.spec.service,
      handle: (req) => {
        checkVersion(req.version, this.spec.apiVersion);
        const fault = this.spec.faults.takeFault(this.spec.faultService, req.action);
        if (fault) throw fault;
        return this.handleAction(req);
      },
      renderError: (err, requestId) => this.renderError(err, requestId),
    });
    return this.server.url;
  }

  get url(): string {
    if (this.server === undefined) throw new Error(`${this.spec.label} endpoint not started`);
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
