import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { everyOf } from '../../../shared/store/condition.js';
import { startTestStack, type TestStack } from '../../helpers/stack.js';

describe('everyOf: a condition as an OR of ANDs', () => {
  it('writes every combination of one alternative per clause, without parentheses', () => {
    assert.equal(everyOf(['a = :a']), 'a = :a');
    assert.equal(
      everyOf(['a = :a', ['attribute_not_exists(b)', 'b = :b']]),
      'a = :a AND attribute_not_exists(b) OR a = :a AND b = :b',
    );
    assert.equal(
      everyOf([
        ['p', 'q AND r'],
        ['x', 'y'],
      ]),
      'p AND x OR p AND y OR q AND r AND x OR q AND r AND y',
    );
  });

  it('refuses an alternative that has an OR of its own, and a clause with none', () => {
    assert.throws(() => everyOf([['a = :a OR b = :b']]), /may not contain OR/);
    assert.throws(() => everyOf([[]]), /no alternatives/);
  });

  describe('means what the bracketed form means, on dynalite', () => {
    let stack: TestStack;
    before(async () => {
      stack = await startTestStack();
    });
    after(async () => {
      await stack?.stop();
    });

    /** Whether a conditional write under `condition` goes through on an item holding `attributes`. */
    async function holds(
      attributes: Record<string, number>,
      condition: string,
      values: Record<string, number>,
    ): Promise<boolean> {
      const Key = { ip: `c${Math.random()}`, windowStart: 0 };
      await stack.doc.send(
        new PutCommand({ TableName: stack.names.windows, Item: { ...Key, ...attributes } }),
      );
      try {
        await stack.doc.send(
          new UpdateCommand({
            TableName: stack.names.windows,
            Key,
            UpdateExpression: 'SET touched = :one',
            ConditionExpression: condition,
            ExpressionAttributeValues: { ...values, ':one': 1 },
          }),
        );
        return true;
      } catch (error) {
        if ((error as Error).name === 'ConditionalCheckFailedException') return false;
        throw error;
      }
    }

    it('for every state of three attributes, each present (equal or not) or absent', async () => {
      const clauses = [
        ['a = :one'],
        ['attribute_not_exists(b)', 'b = :one'],
        ['c = :one AND a = :one', 'c < :one'],
      ];
      const bracketed =
        'a = :one AND (attribute_not_exists(b) OR b = :one) AND ((c = :one AND a = :one) OR c < :one)';
      const values = { ':one': 1 };
      const states = [undefined, 0, 1];
      let agreed = 0;
      let held = 0;
      for (const a of states)
        for (const b of states)
          for (const c of states) {
            const item = Object.fromEntries(
              Object.entries({ a, b, c }).filter(([, v]) => v !== undefined),
            ) as Record<string, number>;
            const flat = await holds(item, everyOf(clauses), values);
            assert.equal(flat, await holds(item, bracketed, values), `a=${a} b=${b} c=${c}`);
            agreed++;
            if (flat) held++;
          }
      assert.equal(agreed, 27);
      // Both outcomes occur, so the comparison says something: a=1, b absent or 1, c 0 or 1.
      assert.equal(held, 4);
    });
  });
});
