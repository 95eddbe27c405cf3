#!/usr/bin/env node
import { config as loadDotenv } from 'dotenv';
import { handleError } from './handle-error.js';
import { buildProgram } from './program.js';
import { serveCommand } from './serve.js';

// Before anything reads the environment; quiet, because `mcp` owns stdout for its protocol.
loadDotenv({ quiet: true });

const program = buildProgram();
program.addCommand(serveCommand());
program.parseAsync(process.argv).catch(handleError);
