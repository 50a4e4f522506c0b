// `meadowrun aws prepare|status|uninstall`: what Meadowrun creates in an AWS account (see
// src/cloud/aws/account.ts).
import { Command } from 'commander';
import { awsCloud, CloudSettings } from '../cloud/registry';
import { addAccountCommands } from './account';

export function addAwsCommands(program: Command, settings: () => CloudSettings, printJson: (v: unknown) => void): void {
  addAccountCommands(
    program,
    {
      name: 'aws',
      description: 'what Meadowrun keeps in your AWS account (--profile, --region)',
      prepare: 'create the allocation table, SSH key secret, payload bucket, instance role and security group (else the first launch does)',
      status: "list Meadowrun's instances and resources in the region",
      uninstall: "terminate Meadowrun's instances and remove everything it created in the region",
      open: () => awsCloud(settings().aws),
      where: (cloud) => ({ region: cloud.region }),
    },
    printJson,
  );
}
