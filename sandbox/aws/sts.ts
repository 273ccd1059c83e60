/**
 * A local STS endpoint answering GetCallerIdentity only (awsQuery, API version
 * 2011-06-15), so `vault-ha pause` run against the sandbox records who paused
 * the way it does on AWS — through the SDK's standard `AWS_ENDPOINT_URL_STS` —
 * without any call leaving 127.0.0.1. The identity is an assumed-role ARN whose
 * session name is the local user, the shape SSO and role sessions have on AWS.
 */
import { AwsApiError, checkVersion, queryErrorXml, queryResponseXml, startQueryServer, type RunningServer } from './query-protocol.js';

export const STS_API_VERSION = '2011-06-15';
const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

export class StsEndpoint {
  private server: RunningServer | undefined;

  constructor(private readonly identity: { accountId: string; roleName: string; sessionName: string }) {}

  get arn(): string {
    return `arn:aws:sts::${this.identity.accountId}:assumed-role/${this.identity.roleName}/${this.identity.sessionName}`;
  }

  async start(): Promise<string> {
    this.server ??= await startQueryServer({
      service: 'sts',
      handle: (req) => {
        checkVersion(req.version, STS_API_VERSION);
        if (req.action !== 'GetCallerIdentity') throw new AwsApiError('InvalidAction', `Could not find operation ${req.action} for version ${STS_API_VERSION}`);
        return queryResponseXml('GetCallerIdentity', STS_XMLNS, req.requestId, {
          Arn: this.arn,
          UserId: `AROASANDBOX:${this.identity.sessionName}`,
          Account: this.identity.accountId,
        });
      },
      renderError: (err, requestId) => queryErrorXml(err, STS_XMLNS, requestId),
    });
    return this.server.url;
  }

  get url(): string {
    if (!this.server) throw new Error('STS endpoint not started');
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
