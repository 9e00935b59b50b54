// node --import ./record-loads.mjs: appends the URL of every module the process loads to the file named by
// IPCOUNT_LOADED_MODULES, to check what a command loads (the hooks run on their own thread, hence a file).
import { register } from 'node:module';

register('./record-loads-hooks.mjs', import.meta.url);
