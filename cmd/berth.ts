#!/usr/bin/env node
// berth: the operator's CLI, in the spirit of containerd's ctr.
import { exitOnError } from './berth/exit-codes.js';
import { buildProgram } from './berth/program.js';

buildProgram().parseAsync(process.argv).catch(exitOnError);
