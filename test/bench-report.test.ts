import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goals } from './bench/goals.ts';
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

test("targets: Node's floor is read against the baseline and groupcast against the floor", () => {
  const res = new Results();
  const rates: Record<string, [number, number]> = {
    groupcast: [20_000, 150_000],
    nchan: [30_000, 100_000],
    'node-http': [16_000, 60_000],
    'node-floor': [40_000, 125_000],
  };
  for (const [target, [one, ten]] of Object.entries(rates))
    for (const [kase, value] of [
      ['1:1', one],
      ['1:10', ten],
    ] as const) {
      const row = res.row('POST -> SSE', kase, target, {
        unit: 'msg/s',
        better: 'higher',
        checkLoss: true,
      });
      row.samples.push({ ok: true, value });
    }
  const floor = goals(res).filter((g) => g.goal.includes("Node's floor"));
  assert.equal(
    floor.map((g) => [g.goal, g.measured, g.status]),
    [
      [
        "POST -> SSE 1:1: Node's floor vs node-http, groupcast vs the floor",
        '2.50x, 0.50x',
        'info',
      ],
      ["POST -> SSE 1:10: Node's floor vs nchan, groupcast vs the floor", '1.25x, 1.20x', 'info'],
    ],
  );
  // No floor in the run: no such rows.
  const none = new Results();
  none.row('POST -> SSE', '1:10', 'groupcast', {
    unit: 'msg/s',
    better: 'higher',
    checkLoss: true,
  });
  assert.equal(goals(none).filter((g) => g.goal.includes("Node's floor")).length, 0);
});

test.run();
