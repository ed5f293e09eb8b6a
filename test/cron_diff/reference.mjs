// The reference side of the differential cron test (README.md beside this file): reads cases,
// asks cron-parser for each case's fire times, writes one answer line per case.
//
//   node reference.mjs CASES_FILE ANSWERS_FILE
//
// A case line is      ID <tab> EXPRESSION <tab> ZONE <tab> AFTER_MS <tab> COUNT
// where AFTER_MS is the start instant in milliseconds since the Unix epoch. An answer line is
//   ID <tab> R <tab> MESSAGE                      cron-parser rejected the expression
//   ID <tab> F <tab> MS MS ... <tab> MESSAGE      fire times (ms since the epoch, space
//                                                 separated); MESSAGE is empty unless next()
//                                                 threw before COUNT fire times
// One iterator per case, next() COUNT times: the way a cron-parser user walks a schedule.
//
// Exits 3, with a message on stderr, when cron-parser is missing or is not the version that
// package.json pins: a stale or absent node_modules must fail the test, not change its answers.

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);

function fail(message) {
  process.stderr.write(`reference.mjs: ${message}\n`);
  process.exit(3);
}

const pinned = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).dependencies['cron-parser'];
let installed;
let CronExpressionParser;
try {
  installed = require('cron-parser/package.json').version;
  ({ CronExpressionParser } = require('cron-parser'));
} catch (e) {
  fail(
    `cron-parser is not installed beside this script (${e.code ?? e.message}); ` +
      'run scripts/install-deps.sh, which runs npm ci --prefix test/cron_diff',
  );
}
if (installed !== pinned) {
  fail(`cron-parser ${installed} is installed but package.json pins ${pinned}; run scripts/install-deps.sh`);
}

if (process.argv.length !== 4) fail('usage: node reference.mjs CASES_FILE ANSWERS_FILE');
const [casesFile, answersFile] = process.argv.slice(2);

const clean = (text) => String(text).replace(/[\t\n\r]/g, ' ');
const out = [];
for (const line of readFileSync(casesFile, 'utf8').split('\n')) {
  if (line === '') continue;
  const [id, expression, tz, afterMs, countText] = line.split('\t');
  const count = Number(countText);
  let interval;
  try {
    // hashSeed: H picks the same values on every run (hostsweep rejects H; the count must not move).
    interval = CronExpressionParser.parse(expression, { currentDate: new Date(Number(afterMs)), tz, hashSeed: 'hostsweep' });
  } catch (e) {
    out.push(`${id}\tR\t${clean(e.message)}`);
    continue;
  }
  const fires = [];
  let message = '';
  try {
    while (fires.length < count) fires.push(interval.next().getTime());
  } catch (e) {
    message = clean(e.message);
  }
  out.push(`${id}\tF\t${fires.join(' ')}\t${message}`);
}
writeFileSync(answersFile, out.join('\n') + '\n');
process.stdout.write(`reference.mjs: cron-parser ${installed}, ${out.length} cases, node ${process.version}\n`);
