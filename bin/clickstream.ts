#!/usr/bin/env node
// Dispatch only; the single top-level catch lives in main().
import { main, reportError } from '../cli/main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = reportError(error);
  },
);
