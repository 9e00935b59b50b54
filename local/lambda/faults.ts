import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Random } from '../sources/generate.js';

/**
 * Fault injection for the local runtime, at the DynamoDB client: per handler invocation, with probability
 * `rate`, either a crash after a random number of writes (the invocation dies: no further request goes out,
 * and replies to writes still in flight are lost) or a burst of throttling errors on one write, which the
 * SDK retries with backoff and which, when longer than its retries, fails the write for real.
 */
export type FaultPlan =
  | { readonly kind: 'none' }
  | { readonly kind: 'crash'; readonly afterWrites: number }
  | {
      readonly kind: 'throttle';
      readonly atWrite: number;
      readonly failures: number;
      readonly errorName: 'ProvisionedThroughputExceededException' | 'ThrottlingException';
    };

export class InjectedCrash extends Error {
  override readonly name = 'InjectedCrash';
}

export interface FaultStats {
  invocations: number;
  faults: number;
  crashes: number;
  throttleBursts: number;
  throttleErrors: number;
}

interface InvocationState {
  readonly plan: FaultPlan;
  writes: number;
  crashed: boolean;
  throttlesLeft: number;
}

const WRITES = new Set(['UpdateItemCommand', 'PutItemCommand', 'BatchWriteItemCommand', 'DeleteItemCommand']);

function throttlingError(name: string): Error {
  return Object.assign(new Error(`injected ${name}`), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400, attempts: 1 },
    $retryable: { throttling: true },
  });
}

export class FaultInjector {
  readonly stats: FaultStats = {
    invocations: 0,
    faults: 0,
    crashes: 0,
    throttleBursts: 0,
    throttleErrors: 0,
  };
  private readonly invocation = new AsyncLocalStorage<InvocationState>();

  /**
   * @param rate probability per invocation of a fault
   * @param random seeded, so a run is reproducible
   * @param maxWrites crash positions are drawn from 0..maxWrites; a position past the invocation's last
   *   write is a crash after all its writes, before it could respond
   */
  constructor(
    private readonly rate: number,
    private readonly random: Random,
    private readonly maxWrites = 40,
  ) {
    if (!(rate >= 0 && rate <= 1)) throw new Error(`fault rate must be between 0 and 1, got ${rate}`);
  }

  draw(): FaultPlan {
    if (this.rate === 0 || this.random() >= this.rate) return { kind: 'none' };
    if (this.random() < 0.5)
      return { kind: 'crash', afterWrites: Math.floor(this.random() * (this.maxWrites + 1)) };
    return {
      kind: 'throttle',
      atWrite: Math.floor(this.random() * 4),
      // Up to 8 failures: often absorbed by the SDK's retries (5 attempts), sometimes not.
      failures: 1 + Math.floor(this.random() * 8),
      errorName: this.random() < 0.5 ? 'ProvisionedThroughputExceededException' : 'ThrottlingException',
    };
  }

  /** Runs one handler invocation under a fault plan (drawn at random unless given). */
  async around<T>(invoke: () => Promise<T>, plan: FaultPlan = this.draw()): Promise<T> {
    this.stats.invocations++;
    if (plan.kind !== 'none') this.stats.faults++;
    if (plan.kind === 'throttle') this.stats.throttleBursts++;
    const state: InvocationState = {
      plan,
      writes: 0,
      crashed: false,
      throttlesLeft: plan.kind === 'throttle' ? plan.failures : 0,
    };
    let result: T;
    try {
      result = await this.invocation.run(state, invoke);
    } catch (error) {
      if (state.crashed && !(error instanceof InjectedCrash))
        throw new InjectedCrash(`invocation crashed (${error})`);
      throw error;
    }
    // A crashed process answers nothing, whatever the handler would have returned.
    if (state.crashed) throw new InjectedCrash(`invocation crashed after ${state.writes} writes`);
    if (plan.kind === 'crash') {
      this.stats.crashes++;
      throw new InjectedCrash(`invocation crashed after all ${state.writes} writes, before responding`);
    }
    return result;
  }

  /** Installs the fault points on a client: crashes outside the SDK's retries, throttles inside them. */
  attach(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const state = this.invocation.getStore();
        if (!state) return next(args);
        if (state.crashed) throw new InjectedCrash('the invocation has crashed');
        const isWrite = WRITES.has(context.commandName ?? '');
        if (isWrite && state.plan.kind === 'crash' && state.writes >= state.plan.afterWrites) {
          state.crashed = true;
          this.stats.crashes++;
          throw new InjectedCrash(`invocation crashed after ${state.writes} writes`);
        }
        if (isWrite) state.writes++;
        (context as { ipcountWrite?: number }).ipcountWrite = isWrite ? state.writes : undefined;
        const output = await next(args);
        // The write happened, but a crash while it was in flight means nobody hears back.
        if (state.crashed) throw new InjectedCrash('the invocation crashed while this request was in flight');
        return output;
      },
      { step: 'initialize', name: 'ipcountInjectCrash', override: true },
    );
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const state = this.invocation.getStore();
        const write = (context as { ipcountWrite?: number }).ipcountWrite;
        const plan = state?.plan;
        if (state && plan?.kind === 'throttle' && write === plan.atWrite + 1 && state.throttlesLeft > 0) {
          state.throttlesLeft--;
          this.stats.throttleErrors++;
          throw throttlingError(plan.errorName);
        }
        return next(args);
      },
      { step: 'deserialize', name: 'ipcountInjectThrottle', override: true },
    );
  }
}
