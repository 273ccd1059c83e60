/**
 * Local EC2 endpoint (API version 2016-11-15, `ec2Query` protocol) over the
 * in-memory `World`. Only the actions the control plane and the sandbox use are
 * implemented; anything else answers `InvalidAction` as EC2 does for unknown actions.
 *
 * Request parameter names follow what `@aws-sdk/client-ec2` sends (its
 * `ec2QueryName`s: `InstanceId.1`, `Filter.1.Value.1`, `TagSpecification.1.Tag.1.Key`,
 * `NetworkInterface.1.NetworkInterfaceId`); response element names follow EC2's XML
 * (`reservationSet`, `instancesSet`, `instanceState`, `tagSet`, lists of `<item>`).
 */
import type { InstanceState } from '../../functions/core/types.js';
import {
  AwsApiError,
  QueryParams,
  decodePageToken,
  ec2ErrorXml,
  ec2ResponseXml,
  encodePageToken,
  filterValueMatches,
  isoTimestamp,
  QueryEndpoint,
  type QueryRequest,
  type XmlValue,
} from './query-protocol.js';
import {
  INSTANCE_STATE_CODE,
  type RunInstancesInput,
  type SimInstance,
  type SimLaunchTemplate,
  type SimNetworkInterface,
  type SimSubnet,
  type SimVolume,
  type StateChange,
  type Tags,
  type World,
} from './world.js';

export const EC2_API_VERSION = '2016-11-15';
export const EC2_XMLNS = `http://ec2.amazonaws.com/doc/${EC2_API_VERSION}/`;

type XmlObject = { [key: string]: XmlValue };

interface Filter {
  name: string;
  values: string[];
}

/** For one resource type: filter name → the values of that field on an item (tag filters are handled generically). */
type FilterFields<T> = Record<string, (item: T) => Array<string | undefined>>;

function readFilters(p: QueryParams): Filter[] {
  return p.list('Filter').map((node) => {
    const f = QueryParams.sub(node);
    const name = f.requireStr('Name', 'InvalidParameterValue', 'Each filter must have a Name');
    const values = f.strList('Value');
    if (values.length === 0) throw new AwsApiError('InvalidParameterValue', `The filter '${name}' requires at least one value`);
    return { name, values };
  });
}

function applyFilters<T>(items: T[], filters: Filter[], fields: FilterFields<T>, tagsOf: (item: T) => Tags): T[] {
  for (const f of filters) {
    if (!f.name.startsWith('tag:') && f.name !== 'tag-key' && f.name !== 'tag-value' && fields[f.name] === undefined) {
      throw new AwsApiError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    }
  }
  // Filters AND together; the values of one filter OR together.
  return items.filter((item) =>
    filters.every((f) => {
      let actual: Array<string | undefined>;
      if (f.name.startsWith('tag:')) {
        const key = f.name.slice(4);
        actual = [tagsOf(item)[key]];
      } else if (f.name === 'tag-key') {
        actual = Object.keys(tagsOf(item));
      } else if (f.name === 'tag-value') {
        actual = Object.values(tagsOf(item));
      } else {
        actual = fields[f.name]!(item);
      }
      return actual.some((a) => a !== undefined && f.values.some((v) => filterValueMatches(v, a)));
    }),
  );
}

/** MaxResults/NextToken paging over an already filtered list. */
function paginate<T>(
  items: T[],
  p: QueryParams,
  opts: { min: number; max: number; idsGiven: boolean; idsParam: string; fingerprint: string },
): { page: T[]; nextToken: string | undefined } {
  const maxResults = p.int('MaxResults');
  const token = p.str('NextToken');
  if (maxResults !== undefined) {
    if (opts.idsGiven) {
      throw new AwsApiError('InvalidParameterCombination', `The parameter ${opts.idsParam} cannot be used with the parameter maxResults`);
    }
    if (maxResults < opts.min || maxResults > opts.max) {
      throw new AwsApiError(
        'InvalidParameterValue',
        `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between ${opts.min} and ${opts.max}.`,
      );
    }
  }
  const offset = token !== undefined && token !== '' ? decodePageToken(token, opts.fingerprint, 'nextToken') : 0;
  if (maxResults === undefined) return { page: items.slice(offset), nextToken: undefined };
  const page = items.slice(offset, offset + maxResults);
  const next = offset + maxResults < items.length ? encodePageToken(offset + maxResults, opts.fingerprint) : undefined;
  return { page, nextToken: next };
}

function fingerprint(p: QueryParams): string {
  return JSON.stringify({ ...p.tree, NextToken: undefined, MaxResults: undefined, Action: undefined, Version: undefined });
}

function tagSet(tags: Tags): XmlObject[] {
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}

function stateXml(state: InstanceState): XmlObject {
  return { code: INSTANCE_STATE_CODE[state], name: state };
}

function readTags(nodes: ReturnType<QueryParams['list']>): Tags {
  const out: Tags = {};
  for (const node of nodes) {
    const t = QueryParams.sub(node);
    const key = t.requireStr('Key', 'InvalidParameterValue', 'Tag keys must not be empty');
    if (key.toLowerCase().startsWith('aws:')) {
      throw new AwsApiError('InvalidParameterValue', "Tag keys starting with 'aws:' are reserved for internal use");
    }
    if (key.length > 128) throw new AwsApiError('InvalidParameterValue', `Tag key exceeds the maximum length of 128 characters`);
    const value = t.str('Value') ?? '';
    if (value.length > 256) throw new AwsApiError('InvalidParameterValue', `Tag value exceeds the maximum length of 256 characters`);
    out[key] = value;
  }
  return out;
}

export class Ec2Endpoint extends QueryEndpoint<'ec2'> {
  constructor(private readonly world: World) {
    super({ label: 'EC2', service: 'ec2', faultService: 'ec2', apiVersion: EC2_API_VERSION, faults: world });
  }

  protected renderError(err: AwsApiError, requestId: string): string {
    return ec2ErrorXml(err, requestId);
  }

  protected handleAction(req: QueryRequest): string {
    const p = req.params;
    if (p.bool('DryRun') === true) {
      // EC2 answers a dry run with an error carrying HTTP 412.
      throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }
    const body = this.dispatch(req.action, p);
    return ec2ResponseXml(req.action, EC2_XMLNS, req.requestId, body);
  }

  private dispatch(action: string, p: QueryParams): XmlObject {
    switch (action) {
      case 'DescribeInstances':
        return this.describeInstances(p);
      case 'DescribeInstanceStatus':
        return this.describeInstanceStatus(p);
      case 'RunInstances':
        return this.runInstances(p);
      case 'StopInstances':
        return this.stateChanges(this.world.stopInstances(this.instanceIds(p), { force: p.bool('Force') === true }));
      case 'StartInstances':
        return this.stateChanges(this.world.startInstances(this.instanceIds(p)));
      case 'TerminateInstances':
        return this.stateChanges(
          this.world.terminateInstances(this.instanceIds(p), { force: p.bool('Force') === true || p.bool('SkipOsShutdown') === true }),
        );
      case 'DescribeVolumes':
        return this.describeVolumes(p);
      case 'AttachVolume':
        return this.attachVolume(p);
      case 'DetachVolume':
        return this.detachVolume(p);
      case 'DescribeNetworkInterfaces':
        return this.describeNetworkInterfaces(p);
      case 'CreateTags': {
        const ids = p.strList('ResourceId');
        if (ids.length === 0) throw new AwsApiError('MissingParameter', 'The request must contain the parameter resourceIdSet');
        this.world.createTags(ids, readTags(p.list('Tag')));
        return { return: true };
      }
      case 'DeleteTags': {
        const ids = p.strList('ResourceId');
        const keys = p.list('Tag').map((n) => {
          const t = QueryParams.sub(n);
          const value = t.str('Value');
          return { key: t.requireStr('Key'), ...(value !== undefined ? { value } : {}) };
        });
        this.world.deleteTags(ids, keys);
        return { return: true };
      }
      case 'DescribeSubnets':
        return this.describeSubnets(p);
      case 'DescribeLaunchTemplates':
        return this.describeLaunchTemplates(p);
      default:
        throw new AwsApiError('InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private instanceIds(p: QueryParams): string[] {
    const ids = p.strList('InstanceId');
    if (ids.length === 0) throw new AwsApiError('MissingParameter', 'The request must contain the parameter InstanceId');
    return ids;
  }

  /* ---------------- instances ---------------- */

  private static readonly instanceFilters: FilterFields<SimInstance> = {
    'instance-id': (i) => [i.instanceId],
    'instance-state-name': (i) => [i.state],
    'instance-state-code': (i) => [String(INSTANCE_STATE_CODE[i.state])],
    'availability-zone': (i) => [i.availabilityZone],
    'subnet-id': (i) => [i.state === 'terminated' ? undefined : i.subnetId],
    'vpc-id': (i) => [i.state === 'terminated' ? undefined : i.vpcId],
    'private-ip-address': (i) => [i.state === 'terminated' ? undefined : i.privateIpAddress],
    'private-dns-name': (i) => [i.state === 'terminated' ? undefined : i.privateDnsName],
    'instance-type': (i) => [i.instanceType],
    'image-id': (i) => [i.imageId],
    'reservation-id': (i) => [i.reservationId],
    'client-token': (i) => [i.clientToken],
    'launch-time': (i) => [isoTimestamp(i.launchTimeMs)],
  };

  private describeInstances(p: QueryParams): XmlObject {
    const ids = p.strList('InstanceId');
    const filters = readFilters(p);
    const fields: FilterFields<SimInstance> = {
      ...Ec2Endpoint.instanceFilters,
      'network-interface.network-interface-id': (i) => this.world.attachedNetworkInterfaces(i.instanceId).map((e) => e.networkInterfaceId),
      'block-device-mapping.volume-id': (i) => this.world.attachedVolumes(i.instanceId).map((v) => v.volumeId),
      'block-device-mapping.device-name': (i) => this.world.attachedVolumes(i.instanceId).map((v) => v.attachment?.device),
    };
    let items = ids.length > 0 ? this.world.requireInstances(ids) : this.world.instances();
    items = applyFilters(items, filters, fields, (i) => i.tags);
    const { page, nextToken } = paginate(items, p, {
      min: 5,
      max: 1000,
      idsGiven: ids.length > 0,
      idsParam: 'instancesSet',
      fingerprint: fingerprint(p),
    });
    // Instances of one RunInstances call share a reservation; keep them grouped, in order.
    const reservations = new Map<string, SimInstance[]>();
    for (const i of page) {
      const list = reservations.get(i.reservationId) ?? [];
      list.push(i);
      reservations.set(i.reservationId, list);
    }
    return {
      reservationSet: [...reservations.entries()].map(([reservationId, insts]) => this.reservationXml(reservationId, insts)),
      nextToken,
    };
  }

  private reservationXml(reservationId: string, insts: SimInstance[]): XmlObject {
    return {
      reservationId,
      ownerId: this.world.accountId,
      groupSet: [],
      instancesSet: insts.map((i) => this.instanceXml(i)),
    };
  }

  instanceXml(i: SimInstance): XmlObject {
    const gone = i.state === 'terminated';
    const volumes = gone ? [] : this.world.attachedVolumes(i.instanceId);
    const enis = gone ? [] : this.world.attachedNetworkInterfaces(i.instanceId);
    return {
      instanceId: i.instanceId,
      imageId: i.imageId,
      instanceState: stateXml(i.state),
      privateDnsName: gone ? '' : i.privateDnsName,
      dnsName: '',
      reason: i.stateTransitionReason,
      amiLaunchIndex: 0,
      productCodes: [],
      instanceType: i.instanceType,
      launchTime: isoTimestamp(i.launchTimeMs),
      placement: { availabilityZone: i.availabilityZone, groupName: '', tenancy: 'default' },
      monitoring: { state: 'disabled' },
      subnetId: gone ? undefined : i.subnetId,
      vpcId: gone ? undefined : i.vpcId,
      privateIpAddress: gone ? undefined : i.privateIpAddress,
      sourceDestCheck: true,
      groupSet: [],
      stateReason: i.stateReason ? { code: i.stateReason.code, message: i.stateReason.message } : undefined,
      architecture: 'x86_64',
      rootDeviceType: 'ebs',
      rootDeviceName: i.rootDeviceName,
      blockDeviceMapping: volumes.map((v) => ({
        deviceName: v.attachment!.device,
        ebs: {
          volumeId: v.volumeId,
          status: v.attachment!.state,
          attachTime: isoTimestamp(v.attachment!.attachTimeMs),
          deleteOnTermination: v.attachment!.deleteOnTermination,
        },
      })),
      virtualizationType: 'hvm',
      clientToken: i.clientToken ?? '',
      tagSet: Object.keys(i.tags).length > 0 ? tagSet(i.tags) : undefined,
      hypervisor: 'xen',
      networkInterfaceSet: enis.map((e) => this.instanceEniXml(e)),
      ebsOptimized: false,
      enaSupport: true,
      platformDetails: 'Linux/UNIX',
      usageOperation: 'RunInstances',
    };
  }

  private instanceEniXml(e: SimNetworkInterface): XmlObject {
    return {
      networkInterfaceId: e.networkInterfaceId,
      subnetId: e.subnetId,
      vpcId: e.vpcId,
      description: e.description,
      ownerId: this.world.accountId,
      status: e.status,
      macAddress: e.macAddress,
      privateIpAddress: e.privateIpAddress,
      privateDnsName: e.privateDnsName,
      sourceDestCheck: true,
      groupSet: [],
      attachment: e.attachment
        ? {
            attachmentId: e.attachment.attachmentId,
            deviceIndex: e.attachment.deviceIndex,
            status: e.attachment.status,
            attachTime: isoTimestamp(e.attachment.attachTimeMs),
            deleteOnTermination: e.attachment.deleteOnTermination,
            networkCardIndex: 0,
          }
        : undefined,
      privateIpAddressesSet: [{ privateIpAddress: e.privateIpAddress, privateDnsName: e.privateDnsName, primary: true }],
      interfaceType: 'interface',
    };
  }

  private describeInstanceStatus(p: QueryParams): XmlObject {
    const ids = p.strList('InstanceId');
    const includeAll = p.bool('IncludeAllInstances') === true;
    const filters = readFilters(p);
    let items = ids.length > 0 ? this.world.requireInstances(ids) : this.world.instances();
    if (!includeAll) items = items.filter((i) => i.state === 'running');
    const fields: FilterFields<SimInstance> = {
      'availability-zone': (i) => [i.availabilityZone],
      'instance-state-name': (i) => [i.state],
      'instance-state-code': (i) => [String(INSTANCE_STATE_CODE[i.state])],
      'instance-status.status': (i) => [this.world.statusOf(i).instance],
      'system-status.status': (i) => [this.world.statusOf(i).system],
      'instance-status.reachability': (i) => [detailStatus(this.world.statusOf(i).instance)],
      'system-status.reachability': (i) => [detailStatus(this.world.statusOf(i).system)],
    };
    items = applyFilters(items, filters, fields, (i) => i.tags);
    const { page, nextToken } = paginate(items, p, {
      min: 5,
      max: 1000,
      idsGiven: ids.length > 0,
      idsParam: 'instancesSet',
      fingerprint: fingerprint(p),
    });
    return {
      instanceStatusSet: page.map((i) => {
        const s = this.world.statusOf(i);
        const impairedSince = i.statusChecks.impairedSinceMs !== undefined ? isoTimestamp(i.statusChecks.impairedSinceMs) : undefined;
        const check = (status: string, impaired: boolean): XmlObject =>
          status === 'not-applicable'
            ? { status }
            : { status, details: [{ name: 'reachability', status: detailStatus(status), impairedSince: impaired ? impairedSince : undefined }] };
        return {
          instanceId: i.instanceId,
          availabilityZone: i.availabilityZone,
          instanceState: stateXml(i.state),
          systemStatus: check(s.system, s.system === 'impaired'),
          instanceStatus: check(s.instance, s.instance === 'impaired'),
          attachedEbsStatus: check(s.instance === 'not-applicable' ? 'not-applicable' : s.instance === 'initializing' ? 'initializing' : 'ok', false),
        };
      }),
      nextToken,
    };
  }

  private runInstances(p: QueryParams): XmlObject {
    const minCount = p.int('MinCount');
    const maxCount = p.int('MaxCount');
    if (minCount === undefined) throw new AwsApiError('MissingParameter', 'The request must contain the parameter MinCount');
    if (maxCount === undefined) throw new AwsApiError('MissingParameter', 'The request must contain the parameter MaxCount');
    const lt = p.node('LaunchTemplate');
    const ltp = QueryParams.sub(lt);
    const input: RunInstancesInput = {
      minCount,
      maxCount,
      ...(lt !== undefined
        ? {
            launchTemplate: {
              ...(ltp.str('LaunchTemplateId') !== undefined ? { launchTemplateId: ltp.str('LaunchTemplateId')! } : {}),
              ...(ltp.str('LaunchTemplateName') !== undefined ? { launchTemplateName: ltp.str('LaunchTemplateName')! } : {}),
              ...(ltp.str('Version') !== undefined ? { version: ltp.str('Version')! } : {}),
            },
          }
        : {}),
      ...optional('imageId', p.str('ImageId')),
      ...optional('instanceType', p.str('InstanceType')),
      ...optional('subnetId', p.str('SubnetId')),
      ...optional('availabilityZone', p.str('Placement.AvailabilityZone')),
      ...optional('privateIpAddress', p.str('PrivateIpAddress')),
      ...optional('clientToken', p.str('ClientToken')),
    };
    const nis = p.list('NetworkInterface');
    if (nis.length > 0) {
      input.networkInterfaces = nis.map((n) => {
        const ni = QueryParams.sub(n);
        return {
          ...optional('deviceIndex', ni.int('DeviceIndex')),
          ...optional('networkInterfaceId', ni.str('NetworkInterfaceId')),
          ...optional('subnetId', ni.str('SubnetId')),
          ...optional('privateIpAddress', ni.str('PrivateIpAddress')),
          ...optional('deleteOnTermination', ni.bool('DeleteOnTermination')),
        };
      });
    }
    const specs = p.list('TagSpecification');
    if (specs.length > 0) {
      input.tagSpecifications = specs.map((n) => {
        const ts = QueryParams.sub(n);
        return { resourceType: ts.requireStr('ResourceType', 'InvalidParameterValue', 'A tag specification needs a ResourceType'), tags: readTags(ts.list('Tag')) };
      });
    }
    const inst = this.world.runInstances(input);
    return this.reservationXml(inst.reservationId, [inst]);
  }

  private stateChanges(changes: StateChange[]): XmlObject {
    return {
      instancesSet: changes.map((c) => ({
        instanceId: c.instanceId,
        currentState: stateXml(c.currentState),
        previousState: stateXml(c.previousState),
      })),
    };
  }

  /* ---------------- volumes ---------------- */

  private static readonly volumeFilters: FilterFields<SimVolume> = {
    'volume-id': (v) => [v.volumeId],
    status: (v) => [v.state],
    'availability-zone': (v) => [v.availabilityZone],
    'volume-type': (v) => [v.volumeType],
    size: (v) => [String(v.sizeGiB)],
    'attachment.instance-id': (v) => [v.attachment?.instanceId],
    'attachment.device': (v) => [v.attachment?.device],
    'attachment.status': (v) => [v.attachment?.state],
    'attachment.delete-on-termination': (v) => [v.attachment ? String(v.attachment.deleteOnTermination) : undefined],
  };

  private describeVolumes(p: QueryParams): XmlObject {
    const ids = p.strList('VolumeId');
    const filters = readFilters(p);
    let items = ids.length > 0 ? ids.map((id) => this.world.requireVolume(id)) : this.world.allVolumes();
    items = applyFilters(items, filters, Ec2Endpoint.volumeFilters, (v) => v.tags);
    const { page, nextToken } = paginate(items, p, {
      min: 5,
      max: 500,
      idsGiven: ids.length > 0,
      idsParam: 'volumeIds',
      fingerprint: fingerprint(p),
    });
    return { volumeSet: page.map((v) => this.volumeXml(v)), nextToken };
  }

  private volumeXml(v: SimVolume): XmlObject {
    return {
      volumeId: v.volumeId,
      size: v.sizeGiB,
      snapshotId: '',
      availabilityZone: v.availabilityZone,
      status: v.state,
      createTime: isoTimestamp(v.createTimeMs),
      attachmentSet: v.attachment ? [this.attachmentXml(v)] : [],
      volumeType: v.volumeType,
      iops: 3000,
      throughput: 125,
      encrypted: false,
      multiAttachEnabled: false,
      tagSet: Object.keys(v.tags).length > 0 ? tagSet(v.tags) : undefined,
    };
  }

  private attachmentXml(v: SimVolume, att = v.attachment): XmlObject {
    if (att === undefined) return {};
    return {
      volumeId: v.volumeId,
      instanceId: att.instanceId,
      device: att.device,
      status: att.state,
      attachTime: isoTimestamp(att.attachTimeMs),
      deleteOnTermination: att.deleteOnTermination,
    };
  }

  private attachVolume(p: QueryParams): XmlObject {
    const volumeId = p.requireStr('VolumeId');
    const instanceId = p.requireStr('InstanceId');
    const device = p.requireStr('Device');
    const vol = this.world.attachVolume(volumeId, instanceId, device);
    const xml = this.attachmentXml(vol);
    delete xml['deleteOnTermination'];
    return xml;
  }

  private detachVolume(p: QueryParams): XmlObject {
    const volumeId = p.requireStr('VolumeId');
    const instanceId = p.str('InstanceId');
    const device = p.str('Device');
    const { volume, attachment } = this.world.detachVolume(volumeId, {
      ...optional('instanceId', instanceId),
      ...optional('device', device),
      force: p.bool('Force') === true,
    });
    const xml = this.attachmentXml(volume, attachment);
    delete xml['deleteOnTermination'];
    return xml;
  }

  /* ---------------- network interfaces ---------------- */

  private static readonly eniFilters: FilterFields<SimNetworkInterface> = {
    'network-interface-id': (e) => [e.networkInterfaceId],
    'subnet-id': (e) => [e.subnetId],
    'vpc-id': (e) => [e.vpcId],
    'availability-zone': (e) => [e.availabilityZone],
    status: (e) => [e.status],
    'private-ip-address': (e) => [e.privateIpAddress],
    'addresses.private-ip-address': (e) => [e.privateIpAddress],
    'private-dns-name': (e) => [e.privateDnsName],
    description: (e) => [e.description],
    'attachment.instance-id': (e) => [e.attachment?.instanceId],
    'attachment.status': (e) => [e.attachment?.status],
    'attachment.device-index': (e) => [e.attachment ? String(e.attachment.deviceIndex) : undefined],
    'mac-address': (e) => [e.macAddress],
  };

  private describeNetworkInterfaces(p: QueryParams): XmlObject {
    const ids = p.strList('NetworkInterfaceId');
    const filters = readFilters(p);
    let items = ids.length > 0 ? ids.map((id) => this.world.requireNetworkInterface(id)) : this.world.allNetworkInterfaces();
    items = applyFilters(items, filters, Ec2Endpoint.eniFilters, (e) => e.tags);
    const { page, nextToken } = paginate(items, p, {
      min: 5,
      max: 1000,
      idsGiven: ids.length > 0,
      idsParam: 'networkInterfaceIds',
      fingerprint: fingerprint(p),
    });
    return {
      networkInterfaceSet: page.map((e) => ({
        networkInterfaceId: e.networkInterfaceId,
        subnetId: e.subnetId,
        vpcId: e.vpcId,
        availabilityZone: e.availabilityZone,
        description: e.description,
        ownerId: this.world.accountId,
        requesterManaged: false,
        status: e.status,
        macAddress: e.macAddress,
        privateIpAddress: e.privateIpAddress,
        privateDnsName: e.privateDnsName,
        sourceDestCheck: true,
        groupSet: [],
        attachment: e.attachment
          ? {
              attachmentId: e.attachment.attachmentId,
              instanceId: e.attachment.instanceId,
              instanceOwnerId: this.world.accountId,
              deviceIndex: e.attachment.deviceIndex,
              status: e.attachment.status,
              attachTime: isoTimestamp(e.attachment.attachTimeMs),
              deleteOnTermination: e.attachment.deleteOnTermination,
              networkCardIndex: 0,
            }
          : undefined,
        tagSet: tagSet(e.tags),
        privateIpAddressesSet: [{ privateIpAddress: e.privateIpAddress, privateDnsName: e.privateDnsName, primary: true }],
        interfaceType: 'interface',
      })),
      nextToken,
    };
  }

  /* ---------------- subnets and launch templates ---------------- */

  private static readonly subnetFilters: FilterFields<SimSubnet> = {
    'subnet-id': (s) => [s.subnetId],
    'availability-zone': (s) => [s.availabilityZone],
    'availability-zone-id': (s) => [s.availabilityZoneId],
    'vpc-id': (s) => [s.vpcId],
    'cidr-block': (s) => [s.cidrBlock],
    state: () => ['available'],
  };

  private describeSubnets(p: QueryParams): XmlObject {
    const ids = p.strList('SubnetId');
    let items = ids.length > 0 ? ids.map((id) => this.world.requireSubnet(id)) : this.world.allSubnets();
    items = applyFilters(items, readFilters(p), Ec2Endpoint.subnetFilters, (s) => s.tags);
    const { page, nextToken } = paginate(items, p, { min: 5, max: 1000, idsGiven: ids.length > 0, idsParam: 'subnetIds', fingerprint: fingerprint(p) });
    return {
      subnetSet: page.map((s) => ({
        subnetId: s.subnetId,
        subnetArn: `arn:aws:ec2:${this.world.region}:${this.world.accountId}:subnet/${s.subnetId}`,
        state: 'available',
        vpcId: s.vpcId,
        ownerId: this.world.accountId,
        cidrBlock: s.cidrBlock,
        availableIpAddressCount: 2 ** (32 - Number(s.cidrBlock.split('/')[1])) - 5,
        availabilityZone: s.availabilityZone,
        availabilityZoneId: s.availabilityZoneId,
        defaultForAz: false,
        mapPublicIpOnLaunch: false,
        tagSet: Object.keys(s.tags).length > 0 ? tagSet(s.tags) : undefined,
      })),
      nextToken,
    };
  }

  private describeLaunchTemplates(p: QueryParams): XmlObject {
    const ids = p.strList('LaunchTemplateId');
    const names = p.strList('LaunchTemplateName');
    let items: SimLaunchTemplate[] = this.world.allLaunchTemplates();
    if (ids.length > 0 || names.length > 0) {
      const byId = ids.map((id) => this.world.launchTemplate(id));
      if (byId.some((t) => t === undefined)) {
        throw new AwsApiError('InvalidLaunchTemplateId.NotFound', 'At least one of the launch templates specified in the request does not exist.');
      }
      const byName = names.map((n) => items.find((t) => t.launchTemplateName === n));
      if (byName.some((t) => t === undefined)) {
        throw new AwsApiError(
          'InvalidLaunchTemplateName.NotFoundException',
          'At least one of the launch templates specified in the request does not exist.',
        );
      }
      items = [...new Set([...byId, ...byName] as SimLaunchTemplate[])];
    }
    items = applyFilters(
      items,
      readFilters(p),
      { 'launch-template-name': (t) => [t.launchTemplateName], 'create-time': (t) => [isoTimestamp(t.createTimeMs)] },
      (t) => t.tags,
    );
    const { page, nextToken } = paginate(items, p, {
      min: 1,
      max: 200,
      idsGiven: ids.length > 0 || names.length > 0,
      idsParam: 'launchTemplateIds',
      fingerprint: fingerprint(p),
    });
    return {
      launchTemplates: page.map((t) => ({
        launchTemplateId: t.launchTemplateId,
        launchTemplateName: t.launchTemplateName,
        createTime: isoTimestamp(t.createTimeMs),
        createdBy: `arn:aws:iam::${this.world.accountId}:root`,
        defaultVersionNumber: t.defaultVersionNumber,
        latestVersionNumber: t.latestVersionNumber,
        tagSet: Object.keys(t.tags).length > 0 ? tagSet(t.tags) : undefined,
      })),
      nextToken,
    };
  }
}

function detailStatus(status: string): string {
  return status === 'ok' ? 'passed' : status === 'impaired' ? 'failed' : status === 'initializing' ? 'initializing' : 'not-applicable';
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
