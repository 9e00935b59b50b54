#!/usr/bin/env node
// The CLI is TypeScript, run through tsx's loader: no build step between `npm install` and `ipcount`.
import { register } from 'tsx/esm/api';

register();
await import('../local/commands/cli.ts');
