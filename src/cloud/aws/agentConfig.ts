// What the agent on an EC2 instance is told about it (written by the user data to
// /etc/meadowrun/agent.json, see ../cloudInit.ts): the region and table, queue and bucket names it
// opens with the instance role's credentials, and where the spot notice appears (IMDSv2).
import { AgentConfig } from '../ports';

export type AwsAgentConfig = AgentConfig<
  { tableName: string },
  { queuePrefix: string },
  { imdsEndpoint: string },
  { bucket?: string }
> & {
  provider: 'aws';
  region: string;
  /** Another AWS endpoint (an emulator in tests, or a VPC endpoint); the SDK's default when absent. */
  endpoint?: string;
};
