import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A DynamoDB write with a condition: true when it was made; false, having changed nothing, when its condition did not hold. */
export async function conditionalWrite(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException) return false;
    throw e;
  }
}
