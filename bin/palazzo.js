#!/usr/bin/env node
// The `palazzo` command: runs src/cli.ts through tsx (no build step needed).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
