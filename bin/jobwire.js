#!/usr/bin/env node
// The published entry point: the compiled CLI lives in dist/ (npm run build).
import { runCli } from '../dist/src/cli/main.js';

process.exitCode = await runCli(process.argv);
