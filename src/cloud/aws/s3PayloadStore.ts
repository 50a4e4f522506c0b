// Map payloads too big for a queue message as S3 objects `jobId/name` in one bucket; a reference is
// the key. A job's payloads go with it (deleteJob); the bucket itself is made by prepare.
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { MeadowrunError } from '../../core/errors';
import { checkPayloadJobId, checkPayloadKey, payloadGone } from '../payloadKeys';
import { PayloadStore } from '../ports';
import { awsClient, AwsSettings, errorName } from './clients';
import { MEADOWRUN_TAGS } from './names';

export class S3PayloadStore implements PayloadStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  static open(settings: AwsSettings, bucket: string): S3PayloadStore {
    return new S3PayloadStore(awsClient(S3Client, settings), bucket);
  }

  async put(key: string, data: Buffer | NodeJS.ReadableStream): Promise<string> {
    checkPayloadKey(key);
    // PutObject needs the length up front: a stream is read whole first (payloads are what one
    // map task takes or returns, which a worker holds in memory anyway).
    const body = Buffer.isBuffer(data) ? data : await collect(data);
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }));
    return key;
  }

  async get(ref: string): Promise<Buffer> {
    checkPayloadKey(ref);
    try {
      const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: ref }));
      return Buffer.from(await Body!.transformToByteArray());
    } catch (e) {
      if (e instanceof NoSuchKey || errorName(e) === 'NoSuchKey') {
        throw payloadGone(ref);
      }
      throw e;
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    checkPayloadJobId(jobId);
    let ContinuationToken: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${jobId}/`, ContinuationToken })).catch((e) => {
        // No bucket yet (no map has needed one): no payloads either.
        if (errorName(e) === 'NoSuchBucket') return { Contents: [], NextContinuationToken: undefined };
        throw e;
      });
      const objects = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (objects.length) {
        const { Errors } = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }));
        if (Errors?.length) throw new MeadowrunError(`S3 could not delete ${Errors.length} payloads of ${jobId}: ${Errors[0].Code} ${Errors[0].Message ?? ''}`.trim());
      }
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
  }
}

/** The payload bucket, private and tagged, created when missing. Returns whether it created it. */
export async function ensurePayloadBucket(s3: S3Client, bucket: string, region: string): Promise<boolean> {
  // Asked first: CreateBucket in us-east-1 also succeeds on a bucket one already owns.
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return false;
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 403) throw new MeadowrunError(`The S3 bucket name ${bucket} is taken by another AWS account: choose another`, 'bad-config');
    if (status !== 404) throw e;
  }
  try {
    // us-east-1 takes no location constraint; every other region needs its own.
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ...(region !== 'us-east-1' && { CreateBucketConfiguration: { LocationConstraint: region as never } }) }));
  } catch (e) {
    if (errorName(e) === 'BucketAlreadyOwnedByYou') return false;
    if (errorName(e) === 'BucketAlreadyExists') throw new MeadowrunError(`The S3 bucket name ${bucket} is taken by another AWS account: choose another`, 'bad-config');
    throw e;
  }
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } }));
  await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: MEADOWRUN_TAGS } }));
  return true;
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Whether the payload bucket exists (for `meadowrun aws status`). */
export async function payloadBucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (e) {
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

/** Deletes the payload bucket with whatever payloads are left in it (a bucket must be empty to go). */
export async function deletePayloadBucket(s3: S3Client, bucket: string): Promise<void> {
  if (!(await payloadBucketExists(s3, bucket))) return;
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
    const objects = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (objects.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch((e) => {
    if (errorName(e) !== 'NoSuchBucket') throw e;
  });
}
