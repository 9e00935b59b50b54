import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmergedWindows } from '../../shared/emit-due-windows.js';
import type { PipelineSettings } from '../../shared/settings.js';
import { AlertStore } from '../../shared/store/alert-store.js';
import { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import { PaneStore } from '../../shared/store/pane-store.js';
import { ResultStore } from '../../shared/store/result-store.js';
import { ShardReader } from '../../shared/store/shard-reader.js';
import { ShardStateStore } from '../../shared/store/shard-state-store.js';
import type { ResourceNames } from '../../shared/tables.js';
import { DashboardFeed } from './dashboard-feed.js';
import { type DashboardServer, startDashboardServer } from './dashboard-server.js';

/** The page of one deployment (a local run's emulators, LocalStack or a stack on AWS), by its resources. */
export interface DashboardOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly kinesis: KinesisClient;
  readonly names: ResourceNames;
  readonly settings: Pick<
    PipelineSettings,
    'windowSeconds' | 'timeZone' | 'alertThreshold' | 'idleTimeoutSeconds' | 'emitIntervalSeconds'
  >;
  readonly host: string;
  readonly port: number;
  readonly onError: (error: unknown) => void;
}

/** The page refreshes as often as the emitter makes a pass, and at most once a second. */
export function dashboardTickMs(settings: Pick<PipelineSettings, 'emitIntervalSeconds'>): number {
  return Math.max(1_000, settings.emitIntervalSeconds * 1000);
}

export async function startDashboard(options: DashboardOptions): Promise<DashboardServer> {
  const { doc, kinesis, names, settings } = options;
  const shardState = new ShardStateStore(doc, names.shardState, names.stream);
  const results = new ResultStore(doc, names.windows);
  const panes = new PaneStore(doc, names.shardState, names.stream, 0);
  const feed = new DashboardFeed(
    {
      shardState,
      unmerged: () => unmergedWindows({ panes, results, shardState }),
      results,
      deadLetters: new DeadLetterStore(doc, names.deadLetters),
      alerts: new AlertStore(doc, names.shardState, names.stream),
      reader: new ShardReader(kinesis, names.stream),
    },
    {
      windowMs: settings.windowSeconds * 1000,
      timeZone: settings.timeZone,
      alertThreshold: settings.alertThreshold,
      ...(settings.idleTimeoutSeconds === 'off' ? {} : { idleTimeoutMs: settings.idleTimeoutSeconds * 1000 }),
      history: 60,
      topN: 15,
      topLines: 5,
    },
  );
  return startDashboardServer({
    host: options.host,
    port: options.port,
    tickMs: dashboardTickMs(settings),
    snapshot: () => feed.snapshot(Date.now()),
    onError: options.onError,
  });
}
