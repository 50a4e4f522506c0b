// What the management function's execution role may do, and no more (every call it makes is checked
// against this document in test/integration/awsManagement.test.ts): its items and the instances' rows
// in the allocation table; list Meadowrun's instances and read the catalog; launch only instances
// (and their volumes) tagged meadowrun=true, with the instance role and nothing else passed; end only
// instances tagged so; delete stale map queues and their payloads; write its own logs.
import { ADJUSTER_FUNCTION } from '../names';
import { INSTANCE_ROLE } from '../prepare';

const TAGGED = { StringEquals: { 'aws:ResourceTag/meadowrun': 'true' } };
const LOG_GROUP = `arn:aws:logs:*:*:log-group:/aws/lambda/${ADJUSTER_FUNCTION}`;

export function adjusterRolePolicy(o: { tableName: string; bucket: string }): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Table',
        Effect: 'Allow',
        Action: ['dynamodb:Scan', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        Resource: `arn:aws:dynamodb:*:*:table/${o.tableName}`,
      },
      // Describe* and the catalog's sources have no resource-level permissions: "*" is all IAM takes.
      {
        Sid: 'Read',
        Effect: 'Allow',
        Action: [
          'ec2:DescribeInstances',
          'ec2:DescribeInstanceTypes',
          'ec2:DescribeInstanceTypeOfferings',
          'ec2:DescribeSpotPriceHistory',
          'ec2:DescribeImages',
          'ec2:DescribeSecurityGroups',
          'pricing:GetProducts',
        ],
        Resource: '*',
      },
      { Sid: 'DefaultImage', Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: 'arn:aws:ssm:*::parameter/aws/service/canonical/*' },
      { Sid: 'OwnInstances', Effect: 'Allow', Action: ['ec2:TerminateInstances', 'ec2:GetConsoleOutput'], Resource: 'arn:aws:ec2:*:*:instance/*', Condition: TAGGED },
      {
        Sid: 'LaunchTagged',
        Effect: 'Allow',
        Action: ['ec2:RunInstances'],
        Resource: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*'],
        Condition: { StringEquals: { 'aws:RequestTag/meadowrun': 'true' } },
      },
      {
        Sid: 'LaunchWith',
        Effect: 'Allow',
        Action: ['ec2:RunInstances'],
        Resource: ['arn:aws:ec2:*::image/*', 'arn:aws:ec2:*:*:subnet/*', 'arn:aws:ec2:*:*:network-interface/*', 'arn:aws:ec2:*:*:security-group/*'],
      },
      // The tags of RunInstances' TagSpecifications, and no other tagging.
      {
        Sid: 'TagAtLaunch',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*'],
        Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      },
      {
        Sid: 'PassInstanceRole',
        Effect: 'Allow',
        Action: ['iam:PassRole'],
        Resource: `arn:aws:iam::*:role/${INSTANCE_ROLE}`,
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      },
      { Sid: 'ListQueues', Effect: 'Allow', Action: ['sqs:ListQueues'], Resource: '*' },
      { Sid: 'Queues', Effect: 'Allow', Action: ['sqs:GetQueueUrl', 'sqs:ListQueueTags', 'sqs:DeleteQueue'], Resource: 'arn:aws:sqs:*:*:meadowrun-*' },
      { Sid: 'PayloadList', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: `arn:aws:s3:::${o.bucket}` },
      { Sid: 'Payloads', Effect: 'Allow', Action: ['s3:DeleteObject'], Resource: `arn:aws:s3:::${o.bucket}/*` },
      { Sid: 'LogGroup', Effect: 'Allow', Action: ['logs:CreateLogGroup'], Resource: LOG_GROUP },
      { Sid: 'Logs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `${LOG_GROUP}:*` },
    ],
  });
}

export const LAMBDA_TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});
