// `meadowrun azure prepare|status|uninstall`: what Meadowrun creates in an Azure subscription (see
// src/cloud/azure/prepare.ts).
import { Command } from 'commander';
import { azureCloud, CloudSettings } from '../cloud/registry';
import { addAccountCommands } from './account';

export function addAzureCommands(program: Command, settings: () => CloudSettings, printJson: (v: unknown) => void): void {
  addAccountCommands(
    program,
    {
      name: 'azure',
      description: 'what Meadowrun keeps in your Azure subscription (--subscription, --resource-group, --location)',
      prepare: "create the resource group, storage account, Key Vault, the VMs' managed identity and its roles, and the network (else the first launch does)",
      status: "list Meadowrun's VMs and resources in the resource group",
      uninstall: "delete Meadowrun's VMs and everything else it created in the resource group",
      open: () => azureCloud(settings().azure),
      where: (cloud) => ({ subscription: cloud.subscription, resourceGroup: cloud.resourceGroup, location: cloud.region }),
    },
    printJson,
  );
}
