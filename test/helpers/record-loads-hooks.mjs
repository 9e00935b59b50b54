// Module customization hooks for record-loads.mjs: one line per loaded module URL.
import { appendFileSync } from 'node:fs';

export async function load(url, context, nextLoad) {
  if (process.env.IPCOUNT_LOADED_MODULES) appendFileSync(process.env.IPCOUNT_LOADED_MODULES, `${url}\n`);
  return nextLoad(url, context);
}
