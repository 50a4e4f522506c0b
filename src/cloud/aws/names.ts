// The names and tags of what Meadowrun creates in an AWS account: everything is prefixed
// `meadowrun-` (the IAM policies grant on that prefix) and tagged meadowrun=true.
export const PREFIX = 'meadowrun-';
export const ALLOCATION_TABLE = 'meadowrun-allocation';
export const SSH_KEY_SECRET = 'meadowrun-ssh-key';
/**
 * User secrets (`meadowrun secret set NAME`) are `meadowrun-secret-NAME`: a prefix of their own, so
 * the instance role may read them and never the SSH key, and listing them never shows it.
 */
export const USER_SECRET_PREFIX = 'meadowrun-secret-';
export const MEADOWRUN_TAGS = [{ Key: 'meadowrun', Value: 'true' }];

/** The bucket of map payloads; at most 63 characters (12 of account id, up to 14 of region). */
export const payloadBucketName = (accountId: string, region: string) => `meadowrun-payloads-${accountId}-${region}`;

/** The attribute of an instance's row that holds the SSH host key the instance published (publishHostKey.py writes it by that name). */
export const HOST_KEY_ATTRIBUTE = 'hostKey';

/** The management function (a scheduled Lambda) and its execution role. */
export const ADJUSTER_FUNCTION = 'meadowrun-adjuster';
export const ADJUSTER_ROLE = 'meadowrun-adjuster';
export const ADJUSTER_RULE = 'meadowrun-adjuster-schedule';
/** Items of the allocation table that are not instances: the management's config, lock and last run. */
export const MANAGEMENT_ITEM_PREFIX = 'management#';
