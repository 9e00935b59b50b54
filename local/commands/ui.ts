import type { Writable } from 'node:stream';
import { type PipelineSettings, STACK_DEFAULTS } from '../../shared/settings.js';
import { type AwsTarget, createDocumentClient, createKinesisClient } from '../../shared/store/clients.js';
import { SettingsStore } from '../../shared/store/settings-store.js';
import { resourceNames } from '../../shared/tables.js';
import {
  type DeploymentRef,
  namesFromOutputs,
  settingsFromOutputs,
  stackOutputs,
} from '../aws/deployment.js';
import { startDashboard } from '../ui/dashboard.js';

/** `ipcount ui`: the live page of a deployment, by its stack's outputs or by prefix at an endpoint. */
export interface UiOptions {
  readonly target: AwsTarget;
  readonly deployment: DeploymentRef;
  readonly host: string;
  readonly port: number;
}

export interface UiIo {
  readonly stderr: Writable;
  /** Aborting stops the page (Ctrl-C). */
  readonly signal: AbortSignal;
}

export async function ui(options: UiOptions, io: UiIo): Promise<void> {
  const say = (message: string) => io.stderr.write(`ipcount: ${message}\n`);
  const doc = createDocumentClient(options.target);
  const kinesis = createKinesisClient(options.target);
  try {
    const ref = options.deployment;
    const outputs = 'stack' in ref ? await stackOutputs(options.target, ref.stack) : undefined;
    const names = 'stack' in ref ? namesFromOutputs(outputs ?? {}, ref.stack) : resourceNames(ref.prefix);
    // The settings the stack's functions run with: from its outputs, or what a local run stored.
    let settings: PipelineSettings | undefined = outputs ? settingsFromOutputs(outputs) : undefined;
    if (!settings && !outputs) {
      const stored = await new SettingsStore(doc, names.shardState, names.stream).get();
      if (stored) settings = stored;
    }
    if (!settings) say('the deployment publishes no settings; assuming the stack defaults');
    const page = await startDashboard({
      doc,
      kinesis,
      names,
      settings: settings ?? STACK_DEFAULTS,
      host: options.host,
      port: options.port,
      onError: (error) => say(`reading the tables failed, will try again: ${(error as Error).message}`),
    });
    say(
      `page of ${'stack' in ref ? `stack ${ref.stack}` : `prefix ${ref.prefix}`} at ${page.url}; Ctrl-C stops`,
    );
    await new Promise((resolve) => {
      if (io.signal.aborted) resolve(undefined);
      io.signal.addEventListener('abort', resolve, { once: true });
    });
    await page.close();
  } finally {
    doc.destroy();
    kinesis.destroy();
  }
}
