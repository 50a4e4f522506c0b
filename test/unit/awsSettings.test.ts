// meadowrun.aws.ami / --ami and meadowrun.aws.sshFrom / --ssh-from reach the EC2 provider; a
// setting wins over the MEADOWRUN_AWS_* variable (which tests and scripts still use); a value
// that is neither an AMI id nor a parameter is one message naming the setting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAwsCloud } from '../../src/cloud/aws';
import { clientCidr } from '../../src/cloud/clientAddress';
import { tempDir } from '../support/tempDir';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

test('the AMI and SSH source come from the settings, else from MEADOWRUN_AWS_AMI / _SSH_FROM; bad values name the setting', async () => {
  const saved = { ami: process.env.MEADOWRUN_AWS_AMI, from: process.env.MEADOWRUN_AWS_SSH_FROM, dir: process.env.MEADOWRUN_AWS_DIR };
  process.env.MEADOWRUN_AWS_DIR = tempDir('aws-settings');
  try {
    process.env.MEADOWRUN_AWS_AMI = 'ami-0123456789abcdef0';
    process.env.MEADOWRUN_AWS_SSH_FROM = '10.0.0.0/16';
    const fromEnv = await createAwsCloud({ region: 'eu-west-1' });
    const options = (c: typeof fromEnv) => (c.provider as unknown as { o: { ami?: object; sshFrom?: string } }).o;
    assert.deepEqual([options(fromEnv).ami, options(fromEnv).sshFrom], [{ id: 'ami-0123456789abcdef0' }, '10.0.0.0/16']);
    const fromSettings = await createAwsCloud({ region: 'eu-west-1', ami: '/my/images/latest', sshFrom: '192.0.2.0/24' });
    assert.deepEqual([options(fromSettings).ami, options(fromSettings).sshFrom], [{ parameter: '/my/images/latest' }, '192.0.2.0/24']);
    await assert.rejects(createAwsCloud({ region: 'eu-west-1', ami: 'ubuntu' }), /meadowrun\.aws\.ami \(--ami\) must be an AMI id .* or an SSM parameter .*\(got "ubuntu"\)/);
    await assert.rejects(clientCidr('my-vpn'), /meadowrun\.aws\.sshFrom \(--ssh-from\) must be an IPv4 CIDR/);
  } finally {
    for (const [k, v] of [['MEADOWRUN_AWS_AMI', saved.ami], ['MEADOWRUN_AWS_SSH_FROM', saved.from], ['MEADOWRUN_AWS_DIR', saved.dir]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
