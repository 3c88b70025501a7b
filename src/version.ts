import { readFileSync } from 'node:fs';
import { findPackageRoot } from './package-root.js';

/** Read once from package.json so `stox --version` can never disagree with what npm installed. */
export const VERSION: string = (JSON.parse(readFileSync(`${findPackageRoot()}/package.json`, 'utf8')) as { version: string }).version;
