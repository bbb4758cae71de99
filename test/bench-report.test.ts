import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { absoluteTable } from './bench/report.ts';
import { Results } from './bench/results.ts';

function rowOf(table: string, target: string): string {
  return table.split('\n').find((l) => l.includes(`| ${target} `)) ?? '';
}

test('absolute table: a msg/s row notes its rounds spread and CPU per delivery', () => {
  const res = new Results();
  const row = res.row('Many-to-many', '10 pub x 10 members', 'groupcast', {
    unit: 'msg/s',
    better: 'higher',
    checkLoss: true,
  });
  // Rates 2x apart, the same CPU per delivery: 15 ns of server CPU, 20 ns of load CPU.
  for (const rate of [20e6, 40e6, 30e6])
    row.samples.push({ ok: true, value: rate, serverCpu: rate * 15e-9, workerCpu: rate * 20e-9 });
  const line = rowOf(absoluteTable(res), 'groupcast');
  assert.ok(line.includes('rounds 20.00M-40.00M'), line);
  assert.ok(line.includes('CPU per delivery: server 15.0 ns, load 20.0 ns'), line);
});

test('absolute table: 64 KiB deliveries read in µs; rows without CPU keep the spread only', () => {
  const res = new Results();
  const big = res.row('TCP fan-out', '1:10, 64 KiB', 'redis', {
    unit: 'msg/s',
    better: 'higher',
    checkLoss: true,
  });
  big.samples.push({ ok: true, value: 20_000, serverCpu: 0.25, workerCpu: 0.3 });
  const bare = res.row('TCP fan-out', '1:10, 64 KiB', 'forwarder', {
    unit: 'msg/s',
    better: 'higher',
    checkLoss: true,
  });
  bare.samples.push({ ok: true, value: 20_000 });
  const table = absoluteTable(res);
  assert.ok(rowOf(table, 'redis').includes('server 12.5 µs, load 15.0 µs'), rowOf(table, 'redis'));
  assert.ok(/rounds 20.0k-20.0k +\|$/.test(rowOf(table, 'forwarder')), rowOf(table, 'forwarder'));
  assert.not.ok(rowOf(table, 'forwarder').includes('CPU per delivery'));
});

test.run();
